"""GitHub's answer to "may this person run commands here?", shared by every worker for 5 minutes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from bot.adapters.store import keys

PERMISSION_TTL_S = 300

Lookup = Callable[[], Awaitable[tuple[str, str | None]]]


class Permissions:
    def __init__(self, redis: Redis, *, ttl_s: int = PERMISSION_TTL_S) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    async def get(self, repository: str, login: str, lookup: Lookup) -> tuple[str, str | None]:
        """(permission, role_name) of `login`, from the cache or from `lookup` (GitHub's API)."""
        key = keys.permission(repository, login)
        cached = await self._redis.get(key)
        if cached is not None:
            permission, _, role = cached.decode().partition("|")
            return permission, role or None
        permission, role = await lookup()
        await self._redis.set(key, f"{permission}|{role or ''}", ex=self._ttl_s)
        return permission, role
