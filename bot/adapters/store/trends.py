"""Compact counters behind the status page's charts and warnings (keys: bot/adapters/store/keys.py).

- deliveries per UTC hour by how they ended (`done`, `skipped`, `failed`, written with the
  delivery's record by `Records.save`; `rejected`, deliveries the web refused for their signature);
- deliveries refused for their signature per UTC minute, `missing` or `mismatch`, for "in the last
  hour" (a wrong WEBHOOK_SECRET refuses every delivery);
- model cost per UTC day (`usd`, `tokens`, `calls`, written with each call by the cost ledger), so
  14 days are 14 small reads instead of 336 hourly hashes of every repository.

They hold counts only: no repository, installation or user name.

`SignatureFailures.note` is called on the web's 401 path. It never waits for Redis: it adds to a
count in memory and, when no write is under way, starts one; a write takes whatever has been
counted meanwhile, so a flood of bad deliveries costs one pipeline per Redis round trip, and an
accepted delivery costs nothing at all. A count lost to a Redis outage is only a count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from bot.adapters.store import keys
from bot.adapters.store.errors import REDIS_DOWN
from bot.core.costs.ledger import RETENTION_DAYS, utc_day, utc_hour
from bot.core.views.status import DayCost, HourCount, SignatureFailureCount

__all__ = [
    "CHART_DAYS",
    "CHART_HOURS",
    "SignatureFailures",
    "cost_by_day",
    "count_cost",
    "count_outcome",
    "deliveries_by_hour",
    "signature_failures",
]

log = logging.getLogger("hookwise.status")

CHART_HOURS = 24
CHART_DAYS = 14
HOUR_TTL_S = 2 * 24 * 3600
MINUTE_TTL_S = 2 * 3600
DAY_TTL_S = RETENTION_DAYS * 24 * 3600
FLUSH_WAIT_S = 2.0  # at shutdown, how long the last count may take to be written
WARN_EVERY_S = 60.0  # the log's warning about refused signatures, at most once a minute per process
COUNTED_OUTCOMES = ("done", "skipped", "failed")

Clock = Callable[[], float]


def utc_minute(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(epoch_s))


def _number(value: bytes | str | None) -> float:
    try:
        return float(value) if value is not None else 0.0
    except ValueError:
        return 0.0


def count_outcome(pipe: Pipeline, outcome: str, now: float) -> None:
    """Add one delivery that ended with `outcome` to its UTC hour, in the caller's pipeline."""
    if outcome in COUNTED_OUTCOMES:
        hour = keys.deliveries_hour(utc_hour(now))
        pipe.hincrby(hour, outcome, 1)
        pipe.expire(hour, HOUR_TTL_S)


def count_cost(pipe: Pipeline, usd: float, tokens: int, calls: int, now: float) -> None:
    """Add a model call's cost to its UTC day, in the caller's pipeline."""
    day = keys.cost_day(utc_day(now))
    pipe.hincrbyfloat(day, "usd", usd)
    pipe.hincrby(day, "tokens", tokens)
    pipe.hincrby(day, "calls", calls)
    pipe.expire(day, DAY_TTL_S)


class SignatureFailures:
    """The web's count of deliveries refused for their signature (see the module's docstring)."""

    def __init__(self, redis: Redis, *, clock: Clock = time.time) -> None:
        self._redis = redis
        self._clock = clock
        self._pending: Counter[str] = Counter()
        self._writing: asyncio.Task[None] | None = None
        self._warned_at: float | None = None

    def note(self, *, missing: bool) -> None:
        """Count one refused delivery (`missing`: it had no X-Hub-Signature-256 at all). Never waits.
        The first one in a minute is also a warning in the log, saying what it likely means."""
        self._pending["missing" if missing else "mismatch"] += 1
        moment = time.monotonic()
        if self._warned_at is None or moment - self._warned_at >= WARN_EVERY_S:
            self._warned_at = moment
            log.warning(
                "delivery refused: %s; if GitHub sent it, WEBHOOK_SECRET is not the App's webhook secret "
                "(GET /status counts them; this line repeats at most once a minute)",
                "no X-Hub-Signature-256" if missing else "X-Hub-Signature-256 matches no secret in WEBHOOK_SECRET",
            )
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        while self._pending:
            taken, self._pending = self._pending, Counter()
            now = self._clock()
            minute, hour = keys.signature_failures(utc_minute(now)), keys.deliveries_hour(utc_hour(now))
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for kind, count in taken.items():
                        pipe.hincrby(minute, kind, count)
                    pipe.expire(minute, MINUTE_TTL_S)
                    pipe.hincrby(hour, "rejected", sum(taken.values()))
                    pipe.expire(hour, HOUR_TTL_S)
                    await pipe.execute()
            except REDIS_DOWN as exc:
                log.debug("could not count %d signature failure(s): %s", sum(taken.values()), exc)

    async def flush(self) -> None:
        """Wait (bounded) for the counts noted so far to be written: at shutdown, and in tests."""
        if self._writing is not None and not self._writing.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._writing), FLUSH_WAIT_S)


async def _hashes(redis: Redis, names: list[str]) -> list[dict[bytes, bytes]]:
    """Each counter hash of `names`, in order, in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(name)
        found: list[dict[bytes, bytes]] = await pipe.execute()
    return found


async def signature_failures(redis: Redis, now: float) -> SignatureFailureCount:
    """Deliveries refused for their signature in the 60 minutes up to `now`, and the latest minute with one."""
    minutes = [int(now // 60) - back for back in range(60)]
    found = await _hashes(redis, [keys.signature_failures(utc_minute(minute * 60)) for minute in minutes])
    missing = mismatch = 0
    latest: float | None = None
    for minute, counts in zip(minutes, found, strict=True):
        missing += int(_number(counts.get(b"missing")))
        mismatch += int(_number(counts.get(b"mismatch")))
        if counts and latest is None:
            latest = minute * 60.0
    return SignatureFailureCount(missing=missing, mismatch=mismatch, latest_minute=latest)


async def deliveries_by_hour(redis: Redis, now: float, hours: int = CHART_HOURS) -> list[HourCount]:
    """The last `hours` UTC hours, the current one last, each with its deliveries by outcome."""
    starts = [(int(now // 3600) - back) * 3600 for back in reversed(range(hours))]
    found = await _hashes(redis, [keys.deliveries_hour(utc_hour(start)) for start in starts])
    return [
        HourCount(
            start=float(start),
            done=int(_number(counts.get(b"done"))),
            skipped=int(_number(counts.get(b"skipped"))),
            failed=int(_number(counts.get(b"failed"))),
            rejected=int(_number(counts.get(b"rejected"))),
        )
        for start, counts in zip(starts, found, strict=True)
    ]


async def cost_by_day(redis: Redis, now: float, days: int = CHART_DAYS) -> list[DayCost]:
    """The last `days` UTC days, today last, each with its model cost, tokens and calls."""
    starts = [(int(now // 86_400) - back) * 86_400 for back in reversed(range(days))]
    found = await _hashes(redis, [keys.cost_day(utc_day(start)) for start in starts])
    return [
        DayCost(
            start=float(start),
            usd=_number(counts.get(b"usd")),
            tokens=int(_number(counts.get(b"tokens"))),
            calls=int(_number(counts.get(b"calls"))),
        )
        for start, counts in zip(starts, found, strict=True)
    ]
