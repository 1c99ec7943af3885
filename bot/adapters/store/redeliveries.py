"""The redelivery sweeper's state in Redis: its checkpoint and, per event, that it was asked for.

Each event is redelivered at most once: `hookwise:sweeper:requested:<guid>` is written after GitHub
answered 2xx and kept 3 days. Two sweeps running at once claim each guid with `SET NX` on that key
before POSTing; a failed POST releases the claim (only while it is still ours) so a later run may
try again.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.core.ingress.redelivery import MAX_AGE

log = logging.getLogger("hookwise.sweeper")

REQUESTED_TTL_S = int(MAX_AGE.total_seconds())
# A claim outlives any single redelivery POST (the worker's session times out well before this).
CLAIM_TTL_S = 600
_REQUESTED = b"requested"

# Delete a claim only while it is still ours (it may have expired and been taken by another sweep).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedeliveryState:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._release = redis.register_script(_RELEASE)

    async def checkpoint(self) -> datetime | None:
        raw: Any = await self._redis.get(keys.SWEEP_CHECKPOINT)
        if not raw:
            return None
        try:
            moment = datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw))
        except ValueError:
            log.warning("sweeper: ignoring an unreadable checkpoint %r", raw)
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

    async def set_checkpoint(self, moment: datetime) -> None:
        await self._redis.set(keys.SWEEP_CHECKPOINT, moment.isoformat())

    async def lookup(self, guids: list[str]) -> tuple[set[str], set[str]]:
        """Which guids hookwise accepted and which the sweeper already asked for: one round trip."""
        if not guids:
            return set(), set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for guid in guids:
                pipe.exists(keys.delivery(guid))
                pipe.exists(keys.sweep_requested(guid))
            answers = await pipe.execute()
        accepted = {guid for guid, hit in zip(guids, answers[0::2], strict=True) if hit}
        requested = {guid for guid, hit in zip(guids, answers[1::2], strict=True) if hit}
        return accepted, requested

    async def claim(self, guids: list[str]) -> tuple[str, list[bool]]:
        """Claim each guid for this run (a concurrent sweep's claim wins); the token releases them."""
        token = uuid.uuid4().hex
        async with self._redis.pipeline(transaction=False) as pipe:
            for guid in guids:
                pipe.set(keys.sweep_requested(guid), token, nx=True, ex=CLAIM_TTL_S)
            claims = await pipe.execute()
        return token, [bool(claimed) for claimed in claims]

    async def release(self, guid: str, token: str) -> None:
        await self._release(keys=[keys.sweep_requested(guid)], args=[token])

    async def requested(self, guid: str) -> None:
        await self._redis.set(keys.sweep_requested(guid), _REQUESTED, ex=REQUESTED_TTL_S)
