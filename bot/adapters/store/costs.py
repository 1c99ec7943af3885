"""The cost ledger and the daily budget per installation, in Redis (keys: bot/adapters/store/keys.py).

`Spending` is what the installations' model calls cost (the cost ledger, `python -m bot costs`) and
the daily budget. Its `meter(installation, repository, task)` is the `Meter` a job's ModelClient
calls around every model call (bot/adapters/llm.py): before a call it refuses (`BudgetExhausted`)
when the installation has used `MODEL_TOKENS_PER_DAY` tokens in the current UTC day; after a call
it files the call's tokens and cost under its UTC hour (installation, repository, task, provider,
model) and adds its tokens to the installation's day. Counting after each call and checking before
each one is what bounds the overshoot to the call in flight. The day comes from `clock`, so a test
moves to the next day by passing another clock, not by waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.errors import REDIS_DOWN
from bot.adapters.store.trends import count_cost
from bot.core.costs.ledger import (
    RETENTION_DAYS,
    BudgetLine,
    CostRow,
    field_name,
    hours_between,
    rows_from_hashes,
    utc_day,
    utc_hour,
)
from bot.core.errors import BudgetExhausted
from bot.core.outcome import ModelUsage
from bot.core.views.status import BudgetUse

log = logging.getLogger("hookwise.costs")

HOUR_TTL_S = RETENTION_DAYS * 24 * 3600
DAY_TTL_S = 2 * 24 * 3600

Clock = Callable[[], float]


class Spending:
    """The cost ledger and the daily budget (not the ledger of deliveries: bot/adapters/store/ledger.py)."""

    def __init__(self, redis: Redis, *, tokens_per_day: int, clock: Clock = time.time) -> None:
        self._redis = redis
        self.tokens_per_day = tokens_per_day
        self.clock = clock

    def today(self) -> str:
        return utc_day(self.clock())

    # -- the budget -------------------------------------------------------------------------------

    async def used_today(self, installation_id: int) -> int:
        raw = await self._redis.get(keys.budget(installation_id, self.today()))
        return int(raw) if raw else 0

    async def check(self, installation_id: int) -> None:
        """Raise `BudgetExhausted` when the installation has used today's budget (0: no limit)."""
        if self.tokens_per_day <= 0 or not installation_id:
            return
        used = await self.used_today(installation_id)
        if used >= self.tokens_per_day:
            raise BudgetExhausted(installation_id, used, self.tokens_per_day, self.today())

    async def status(self, installation_id: int) -> BudgetLine:
        return BudgetLine(installation_id, await self.used_today(installation_id), self.tokens_per_day)

    # -- the Meter around each model call ----------------------------------------------------------

    def meter(self, installation_id: int, repository: str, task: str) -> TaskMeter:
        """The `Meter` of one job's calls for one task (bot/adapters/llm.py: ModelClient)."""
        return TaskMeter(self, installation_id, repository, task)

    async def record(self, installation_id: int, repository: str, task: str, usage: ModelUsage) -> None:
        now = self.clock()
        hour = keys.cost_hour(utc_hour(now))
        day = keys.budget(installation_id, utc_day(now))

        def name(column: str) -> str:
            return field_name(installation_id, repository, task, usage.provider, usage.model, column)

        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(hour, name("calls"), usage.calls)
            pipe.hincrby(hour, name("input"), usage.input_tokens)
            pipe.hincrby(hour, name("output"), usage.output_tokens)
            pipe.hincrby(hour, name("cache_write"), usage.cache_write_tokens)
            pipe.hincrby(hour, name("cache_read"), usage.cache_read_tokens)
            pipe.hincrbyfloat(hour, name("usd"), usage.cost_usd)
            if usage.estimated_calls:
                pipe.hincrby(hour, name("estimated"), usage.estimated_calls)
            pipe.expire(hour, HOUR_TTL_S)
            pipe.incrby(day, usage.total_tokens)
            pipe.expire(day, DAY_TTL_S)
            count_cost(pipe, usage.cost_usd, usage.total_tokens, usage.calls, now)  # the status page's chart
            await pipe.execute()

    async def skipped(self, installation_id: int, repository: str, task: str) -> None:
        """File an event skipped for the budget (the `skipped` column of `costs`)."""
        hour = keys.cost_hour(utc_hour(self.clock()))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(hour, field_name(installation_id, repository, task, "", "", "skipped"), 1)
            pipe.expire(hour, HOUR_TTL_S)
            await pipe.execute()

    # -- the report --------------------------------------------------------------------------------

    async def rows(self, since_s: float) -> list[CostRow]:
        """Every call and skip filed from the UTC hour holding `since_s` until now."""
        hours = hours_between(since_s, self.clock())
        async with self._redis.pipeline(transaction=False) as pipe:
            for hour in hours:
                pipe.hgetall(keys.cost_hour(hour))
            found: list[dict[bytes, bytes]] = await pipe.execute()
        return rows_from_hashes({k.decode(): v.decode() for k, v in counters.items()} for counters in found)

    async def budgets_today(self) -> list[BudgetUse]:
        """The status page's section (a BudgetReader): each installation that used the model or had
        events skipped for the budget in the current UTC day, most tokens used first."""
        now = self.clock()
        spent: dict[int, float] = {}
        skipped: dict[int, int] = {}
        for row in await self.rows(now - now % 86_400):
            spent[row.installation_id] = spent.get(row.installation_id, 0.0) + row.usd
            skipped[row.installation_id] = skipped.get(row.installation_id, 0) + row.skipped
        uses = [
            BudgetUse(installation, await self.used_today(installation), self.tokens_per_day,
                      skipped.get(installation, 0), spent.get(installation))
            for installation in sorted(set(spent) | set(skipped)) if installation
        ]  # fmt: skip
        return sorted(uses, key=lambda use: (-use.used_tokens, use.installation_id))

    async def budgets(self, installations: Iterable[int]) -> list[BudgetLine]:
        return [await self.status(installation) for installation in sorted(set(installations)) if installation]


class TaskMeter:
    """The cost ledger bound to who pays for a call: checks the installation's budget before each
    call, files each call under its installation, repository and task after it."""

    def __init__(self, ledger: Spending, installation_id: int, repository: str, task: str) -> None:
        self.ledger = ledger
        self.installation_id = installation_id
        self.repository = repository
        self.task = task

    async def before_call(self, model: str) -> None:
        await self.ledger.check(self.installation_id)

    async def after_call(self, usage: ModelUsage) -> None:
        """File one call. Best effort: the answer is paid for already, and losing it to a Redis blip
        would only pay for it twice; the miss is logged."""
        try:
            await self.ledger.record(self.installation_id, self.repository, self.task, usage)
        except REDIS_DOWN as exc:
            log.error("could not record a model call's cost (%s): %s", exc, usage)
