"""The first call of a burst writes the prompt cache alone, so the calls sent alongside it read it.

Anthropic makes a cache entry readable only once the response that wrote it has been sent: calls
sent together before the first one answers all pay the write (1.25x) instead of a read (0.1x). In
a burst, 100 single calls at once wrote the same prefix 18 times over; 5 batch rounds, 5 times.
So before a call whose request marks a prefix for the cache, a worker looks whether a call that
wrote that prefix has returned in the last 4 minutes (`warm`); if not, it takes the lead (one at a
time, across every worker process) or waits for the leader's answer, at most `wait_s`, and then
calls anyway. A Redis failure here costs only the cache, never the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from bot.adapters.store import keys
from bot.adapters.store.errors import REDIS_DOWN

log = logging.getLogger("hookwise.model")

WARM_S = 240  # the API keeps an entry 5 minutes after its last read; every call through here refreshes this
LEAD_S = 30.0  # the longest one leader holds the others back, should it never come back
WAIT_S = 15.0  # the longest a call waits for the leader before it calls (and writes) anyway
POLL_S = 0.05


class CacheWarmth:
    def __init__(self, redis: Redis, *, wait_s: float = WAIT_S, poll_s: float = POLL_S) -> None:
        self._redis = redis
        self._wait_s = wait_s
        self._poll_s = poll_s

    @asynccontextmanager
    async def turn(self, key: str | None) -> AsyncIterator[None]:
        """Around one model call whose request marks the prefix `key` (None: nothing marked)."""
        if key is None:
            yield
            return
        # The lead is redis-py's Lock (as for exactly-once effects): a token only its holder
        # releases, expiring after LEAD_S should the leader never come back.
        lead = self._redis.lock(keys.PROMPT_WARMING + key, timeout=LEAD_S, thread_local=False)
        leading = await self._wait_or_lead(key, lead)
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            await self._settle(key, lead, leading=leading, succeeded=succeeded)

    async def _wait_or_lead(self, key: str, lead: Lock) -> bool:
        """True when this call leads (writes the entry); False when the entry is warm, or waiting
        took too long, or Redis did not answer."""
        deadline = time.monotonic() + self._wait_s
        try:
            while True:
                if await self._redis.exists(keys.PROMPT_WARM + key):
                    return False
                if await lead.acquire(blocking=False):
                    return True
                if time.monotonic() >= deadline:
                    log.info("prompt cache: waited %.0f s for the call writing %s; calling anyway", self._wait_s, key)
                    return False
                await asyncio.sleep(self._poll_s)
        except REDIS_DOWN as exc:
            log.warning("prompt cache: Redis did not answer (%s); calling without waiting", exc)
            return False

    async def _settle(self, key: str, lead: Lock, *, leading: bool, succeeded: bool) -> None:
        try:
            if succeeded:
                await self._redis.set(keys.PROMPT_WARM + key, "1", ex=WARM_S)
            if leading:
                await lead.release()
        except LockError:  # the lead expired (a call of over LEAD_S): another call may hold it now
            pass
        except REDIS_DOWN as exc:
            log.warning("prompt cache: could not note %s as warm (%s)", key, exc)
