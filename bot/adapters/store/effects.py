"""Exactly-once effects across workers: a short lock per target and keys for work already done.

An effect key is derived from the work (repository, number, merge commit, task), not from the
delivery, so two deliveries of the same merge - or a re-run after a crash - produce one effect.
The lock is redis-py's own `Lock` (a token only its holder can release, with a TTL).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import LockError

from bot.adapters.store import keys
from bot.core.errors import LockBusy

log = logging.getLogger("hookwise.effects")

EFFECT_TTL_S = 30 * 24 * 3600
DRAFT_TTL_S = 3600
LOCK_WAIT_S = 5.0
LOCK_POLL_S = 0.05

M = TypeVar("M", bound=BaseModel)


class Effects:
    def __init__(self, redis: Redis, *, lock_ttl_s: float, dry_run: bool = False) -> None:
        self._redis = redis
        self._dry_run = dry_run
        self._lock_ttl_s = lock_ttl_s

    @asynccontextmanager
    async def lock(self, repository: str, number: int) -> AsyncIterator[None]:
        """Serialise writes to one issue or PR; raises LockBusy (transient) if held too long."""
        name = keys.LOCK + keys.target(repository, number)
        lock = self._redis.lock(
            name, timeout=self._lock_ttl_s, sleep=LOCK_POLL_S, blocking_timeout=LOCK_WAIT_S, thread_local=False
        )
        if not await lock.acquire():
            raise LockBusy(name, max(await self._redis.pttl(name), 0) / 1000 + 0.5)
        try:
            yield
        finally:
            try:
                await lock.release()
            except LockError:  # it expired while we held it: another worker may hold it now
                log.warning("lock %s expired before it was released", name)

    @asynccontextmanager
    async def exactly_once(self, effect: str, repository: str, number: int, *, force: bool) -> AsyncIterator[bool]:
        """Yields False when `effect` is already done (nothing to do); otherwise True, holding the
        target's lock, so concurrent deliveries of the same work make one model call and one write.
        `force` (a maintainer's command) ignores the effect but still takes the lock."""
        if not force and await self.done(effect):
            yield False
            return
        async with self.lock(repository, number):
            yield force or not await self.done(effect)

    async def draft(self, key: str, model: type[M], compute: Callable[[], Awaitable[M]]) -> M:
        """An expensive result (the model's answer) computed once per job: a retry after a GitHub
        5xx reuses what an earlier try paid for instead of asking the model again."""
        saved = await self._redis.get(keys.DRAFT + key)
        if saved:
            return model.model_validate_json(saved)
        value = await compute()
        await self._redis.set(keys.DRAFT + key, value.model_dump_json(), ex=DRAFT_TTL_S)
        return value

    async def done(self, key: str) -> str | None:
        raw = await self._redis.get(keys.EFFECT + key)
        return raw.decode() if isinstance(raw, bytes) else raw

    async def record(self, key: str, value: str) -> None:
        """Remember that `key`'s effect happened. Not in a dry run: nothing happened, and the real
        run after the trial must still do it."""
        if not self._dry_run:
            await self._redis.set(keys.EFFECT + key, value, ex=EFFECT_TTL_S)
