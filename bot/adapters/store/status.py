"""The status page's reads: small, bounded, and only of what the page may show.

- `recent_deliveries` and `dead_letters`: the provenance records (bot/adapters/store/records.py),
  turned into the page's rows, with each record's cost from the price table (bot/core/costs/pricing.py);
- `queue_state`: arq's queue sorted set (`keys.QUEUE`: job id by the time it is due, in ms) and
  the in-progress markers of its oldest jobs; queued jobs are counted, never read (a command's job
  holds the comment's text);
- budgets and agreement come from data sources other parts of hookwise own. Each is a reader
  (`BudgetReader`, `AgreementReader`); `StatusSources` says how to make one from the process's Redis
  and Settings. Without one, the page says "not recorded yet" for that section.

`DEFAULT_SOURCES` is what `create_app` uses: plug the daily budget (issue 8) and triage agreement
(issue 10) readers in there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.codec import text
from bot.adapters.store.records import JobRecord, Records
from bot.config import Settings
from bot.core.costs import pricing
from bot.core.model.providers import provider_price
from bot.core.views.status import BudgetUse, DeadLetter, DeliveryRow, QueueView, RepoAgreement

__all__ = [
    "DEFAULT_SOURCES",
    "INSPECTED_JOBS",
    "AgreementReader",
    "BudgetReader",
    "StatusReaders",
    "StatusSources",
    "dead_letters",
    "delivery_row",
    "queue_state",
    "recent_deliveries",
]

INSPECTED_JOBS = 100  # the oldest jobs of the queue checked for a worker running them


class BudgetReader(Protocol):
    async def budgets_today(self) -> Sequence[BudgetUse]:
        """Each installation that used the model in the current UTC day: tokens used (input, output
        and cache, all counted, as MODEL_TOKENS_PER_DAY counts them), the limit that applies to it,
        events skipped for the budget today and, when known, the cost. Most used first."""
        ...


class AgreementReader(Protocol):
    async def agreement(self) -> Sequence[RepoAgreement]:
        """Per repository with triaged issues: issues judged, exact matches among them, issues still
        pending and whether triage is in shadow mode there (the `accuracy` report's default period)."""
        ...


BudgetFactory = Callable[[Redis, Settings], BudgetReader]
AgreementFactory = Callable[[Redis, Settings], AgreementReader]


@dataclass(frozen=True, slots=True)
class StatusSources:
    """How to make the readers of the sections whose data other modules own; None: not recorded yet."""

    budgets: BudgetFactory | None = None
    agreement: AgreementFactory | None = None

    def readers(self, redis: Redis, settings: Settings) -> StatusReaders:
        return StatusReaders(
            budgets=self.budgets(redis, settings) if self.budgets is not None else None,
            agreement=self.agreement(redis, settings) if self.agreement is not None else None,
        )


@dataclass(frozen=True, slots=True)
class StatusReaders:
    budgets: BudgetReader | None = None
    agreement: AgreementReader | None = None


# Issue 8 (daily budget per installation) and issue 10 (triage agreement) plug their readers in here,
# e.g. StatusSources(budgets=lambda redis, settings: TokenBudget(redis, settings.MODEL_TOKENS_PER_DAY)).
DEFAULT_SOURCES = StatusSources(
    budgets=lambda redis, settings: _cost_ledger(redis, settings.MODEL_TOKENS_PER_DAY),
    agreement=lambda redis, settings: _agreement_store(redis),
)


def _cost_ledger(redis: Redis, tokens_per_day: int) -> BudgetReader:
    from bot.adapters.store.costs import Spending

    return Spending(redis, tokens_per_day=tokens_per_day)


def _agreement_store(redis: Redis) -> AgreementReader:
    from bot.adapters.store.agreement import AgreementStore

    return AgreementStore(redis)


def delivery_row(record: JobRecord) -> DeliveryRow:
    cost: float | None = None
    note = ""
    if record.model and record.provider:  # priced when the call was made, at its provider
        cost = record.cost_usd
        note = provider_price(record.provider, record.model, pricing.DEFAULT_PRICES).note
        if record.estimated_calls:
            note = (note + "; " if note else "") + "tokens estimated: the answer carried no usage"
    elif record.model:
        usage = pricing.Usage.of(record)
        cost = pricing.cost_usd(record.model, usage)
        note = pricing.resolve_price(record.model).note
    return DeliveryRow(
        delivery_id=record.delivery_id,
        event=_event_name(record),
        repository=record.repository,
        target=record.target,
        outcome=record.outcome,
        detail=record.detail,
        finished_at=record.finished_at,
        duration_ms=record.duration_ms,
        latency_ms=record.latency_ms,
        waited_ms=record.waited_ms,
        worked_ms=record.worked_ms,
        job_try=record.job_try,
        model=record.model,
        provider=record.provider,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cache_tokens=record.cache_write_tokens + record.cache_read_tokens,
        cost_usd=cost,
        cost_note=note,
        error=record.error,
        origin=record.origin,
    )


def _event_name(record: JobRecord) -> str:
    return f"{record.event}.{record.action}" if record.action else record.event


async def recent_deliveries(redis: Redis, count: int = 50) -> list[DeliveryRow]:
    return [delivery_row(record) for record in await Records(redis).recent(count)]


async def dead_letters(redis: Redis, count: int = 20) -> list[DeadLetter]:
    return [
        DeadLetter(
            delivery_id=r.delivery_id,
            event=_event_name(r),
            repository=r.repository,
            target=r.target,
            failed_at=r.finished_at,
            job_try=r.job_try,
            error=r.error,
        )
        for r in await Records(redis).recent(count, dead_only=True)
    ]


async def queue_state(redis: Redis, now: float | None = None, *, inspected: int = INSPECTED_JOBS) -> QueueView:
    """Depth of arq's queue, how much of it is due, how many of its oldest jobs run, and the oldest
    due job no worker has taken yet (arq keeps a running job in the queue until it ends)."""
    now_ms = int((time.time() if now is None else now) * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(keys.QUEUE)
        pipe.zcount(keys.QUEUE, "-inf", now_ms)
        pipe.zrange(keys.QUEUE, 0, inspected - 1, withscores=True)
        depth, due, oldest = await pipe.execute()
    jobs = [(text(member), float(score)) for member, score in oldest]
    running_flags: list[Any] = []
    if jobs:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id, _score in jobs:
                pipe.exists(keys.IN_PROGRESS + job_id)
            running_flags = await pipe.execute()
    running = sum(1 for flag in running_flags if flag)
    waiting = next(
        (
            (job_id, score)
            for (job_id, score), flag in zip(jobs, running_flags, strict=True)
            if not flag and score <= now_ms
        ),
        None,
    )
    return QueueView(
        depth=int(depth),
        due=int(due),
        running=running,
        inspected=min(len(jobs), inspected),
        oldest_waiting_job=waiting[0] if waiting else None,
        oldest_waiting_since=waiting[1] / 1000 if waiting else None,
    )
