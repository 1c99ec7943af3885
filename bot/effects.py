"""Exactly-once effects across workers: a short lock per target and keys for work already done.

An effect key is derived from the work (repository, number, merge commit, task), not from the
delivery, so two deliveries of the same merge - or a re-run after a crash - produce one effect.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from bot.failures import LockBusy

LOCK_PREFIX = "hookwise:lock:"
EFFECT_PREFIX = "hookwise:effect:"
EFFECT_TTL_S = 30 * 24 * 3600
DRAFT_PREFIX = "hookwise:draft:"
DRAFT_TTL_S = 3600
LOCK_WAIT_S = 5.0

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Effects:
    def __init__(self, redis: Redis, *, lock_ttl_s: float) -> None:
        self._redis = redis
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
                raise LockBusy(key)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
        try:
            yield
        finally:
            await self._release(keys=[key], args=[token])

    async def draft(self, key: str) -> str | None:
        """A result computed by an earlier try of the same job (e.g. the model's answer, rendered)."""
        raw = await self._redis.get(DRAFT_PREFIX + key)
        return raw.decode() if isinstance(raw, bytes) else raw

    async def save_draft(self, key: str, text: str) -> None:
        """Keep an expensive result for a retry: a GitHub 502 after the model answered must not
        pay for the model again."""
        await self._redis.set(DRAFT_PREFIX + key, text, ex=DRAFT_TTL_S)

    async def done(self, key: str) -> str | None:
        raw = await self._redis.get(EFFECT_PREFIX + key)
        return raw.decode() if isinstance(raw, bytes) else raw

    async def record(self, key: str, value: str) -> None:
        await self._redis.set(EFFECT_PREFIX + key, value, ex=EFFECT_TTL_S)
