"""What a job went through before this run, for the time-bound retry policy (bot/core/operations/retry.py).

arq counts every run of a job (`job_try`), waits on a breaker included, so tries cannot be the
bound. Per job, one small hash keeps when it was first held up (`since`), its own transient
failures and how many of its runs ended (so a run that never ended, a crashed worker, shows up as
`job_try - 1 - ended`). A job that succeeds on its first run never touches it. The key is a
digest of the job's id (ids of triage rounds name their repository) and the hash holds numbers
only; it lives RETRY_FOR and a day.

Each deferral also pushes back the expiry of arq's own job key, so a job retried for longer than
a day is not dropped by arq as "expired".
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.breakers import job_digest
from bot.core.operations.retry import Attempt

log = logging.getLogger("hookwise.retry")

DAY_S = 86_400


def _number(raw: dict[Any, Any], name: str) -> float | None:
    value = raw.get(name.encode(), raw.get(name))
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class RetryStates:
    def __init__(self, redis: Redis, *, retry_for_s: float, base_s: float) -> None:
        self._redis = redis
        self.retry_for_s = retry_for_s
        self.base_s = base_s

    def _key(self, job_id: str) -> str:
        return keys.RETRY_STATE + job_digest(job_id)

    async def load(self, job_id: str, number: int) -> tuple[Attempt, int]:
        """The job's `Attempt` on its `number`-th run, and how many of its runs ended."""
        if number <= 1:
            return Attempt(number, retry_for_s=self.retry_for_s, base_s=self.base_s), 0
        raw = await self._redis.hgetall(self._key(job_id))  # type: ignore[misc]
        since = _number(raw, "since")
        attempt = Attempt(
            number=number,
            failures=int(_number(raw, "failures") or 0),
            since=since,
            retry_for_s=self.retry_for_s,
            base_s=self.base_s,
        )
        return attempt, int(_number(raw, "ended") or 0)

    async def deferred(self, job_id: str, *, now: float, failed: bool, delay_s: float) -> None:
        """The run ends and the job runs again in `delay_s`: after a failure of its own (`failed`)
        or a wait on a breaker."""
        key = self._key(job_id)
        keep_s = int(self.retry_for_s + DAY_S)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "since", repr(now))
            pipe.hincrby(key, "ended", 1)
            if failed:
                pipe.hincrby(key, "failures", 1)
            pipe.expire(key, keep_s)
            # arq's job key must outlive the wait (the ledger gave it a few days at acceptance).
            pipe.pexpire(keys.JOB + job_id, int((delay_s + DAY_S) * 1000))
            await pipe.execute()

    async def ended(self, job_id: str) -> None:
        """A run handed back unfinished (the worker was asked to stop): it is not a crash."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(self._key(job_id), "ended", 1)
            pipe.expire(self._key(job_id), int(self.retry_for_s + DAY_S))
            await pipe.execute()

    async def clear(self, job_id: str) -> None:
        await self._redis.delete(self._key(job_id))
