"""Exactly-once effects across workers: a short lock per target and keys for work already done.

An effect key is derived from the work (repository, number, merge commit, task), not from the
delivery, so two deliveries of the same merge - or a re-run after a crash - produce one effect.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from pydantic import BaseModel
from redis.asyncio import Redis

from bot.core.retry import LockBusy

LOCK_PREFIX = "hookwise:lock:"
EFFECT_PREFIX = "hookwise:effect:"
EFFECT_TTL_S = 30 * 24 * 3600
DRAFT_PREFIX = "hookwise:draft:"
DRAFT_TTL_S = 3600
LOCK_WAIT_S = 5.0

M = TypeVar("M", bound=BaseModel)

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Effects:
    def __init__(self, redis: Redis, *, lock_ttl_s: float, dry_run: bool = False) -> None:
        self._redis = redis
        self._dry_run = dry_run
        self._lock_ttl_ms = int(lock_ttl_s * 1000)
        self._release = redis.register_script(_RELEASE)

    @asynccontextmanager
    async def lock(self, repository: str, number: int) -> AsyncIterator[None]:
        """Serialise writes to one issue or PR; raises LockBusy (transient) if held too long."""
        key = f"{LOCK_PREFIX}{repository}#{number}"
        token = secrets.token_hex(8)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_WAIT_S
        delay = 0.02
        while not await self._redis.set(key, token, nx=True, px=self._lock_ttl_ms):
            if loop.time() >= deadline:
                raise LockBusy(key, max(await self._redis.pttl(key), 0) / 1000 + 0.5)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            await self._release(keys=[key], args=[token])

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
        saved = await self._redis.get(DRAFT_PREFIX + key)
        if saved:
            return model.model_validate_json(saved)
        value = await compute()
        await self._redis.set(DRAFT_PREFIX + key, value.model_dump_json(), ex=DRAFT_TTL_S)
        return value

    async def done(self, key: str) -> str | None:
        raw = await self._redis.get(EFFECT_PREFIX + key)
        return raw.decode() if isinstance(raw, bytes) else raw

    async def record(self, key: str, value: str) -> None:
        """Remember that `key`'s effect happened. Not in a dry run: nothing happened, and the real
        run after the trial must still do it."""
        if not self._dry_run:
            await self._redis.set(EFFECT_PREFIX + key, value, ex=EFFECT_TTL_S)
