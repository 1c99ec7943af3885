"""One model run per command kind and target per minute, across every worker."""

from __future__ import annotations

from redis.asyncio import Redis

from bot.adapters.store import keys

COOLDOWN_S = 60


class Cooldowns:
    def __init__(self, redis: Redis, *, seconds: int = COOLDOWN_S) -> None:
        self._redis = redis
        self._seconds = seconds

    async def claim(self, repository: str, number: int, kind: str, delivery_id: str) -> bool:
        """True when this delivery may run `kind` on the target now: nobody ran it in the last
        minute, or the one who did was this delivery's own earlier try."""
        key = keys.cooldown(repository, number, kind)
        if await self._redis.set(key, delivery_id, nx=True, ex=self._seconds):
            return True
        return bool((await self._redis.get(key) or b"").decode() == delivery_id)
