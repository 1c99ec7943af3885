"""Each repository's `.github/hookwise.yml`, read from its default branch (falling back to the
owner's `.github` repository, as Probot does), parsed once and cached.

A worker keeps a parsed config for a few minutes. A push that changes the file (in the repository
or in the owner's `.github`) bumps the owner's generation in Redis, which every worker checks, so
the next job anywhere reads it again. Reads go through the App's ETag cache (`Repo.file_text`).
"""

from __future__ import annotations

import logging
import time

from cachetools import TTLCache
from redis.asyncio import Redis

from bot.adapters.github import Repo
from bot.adapters.store import keys
from bot.core.repo_config import CONFIG_PATH, ConfigResult, parse_config

log = logging.getLogger("hookwise.config")

CACHE_TTL_S = 300


def owner_of(full_name: str) -> str:
    return full_name.split("/", 1)[0].lower()


class ConfigStore:
    def __init__(self, redis: Redis, *, ttl_s: float = CACHE_TTL_S) -> None:
        self._redis = redis
        self._cache: TTLCache[tuple[str, int], ConfigResult] = TTLCache(maxsize=2048, ttl=ttl_s, timer=time.monotonic)

    async def _generation(self, full_name: str) -> int:
        raw = await self._redis.get(keys.config_generation(owner_of(full_name)))
        return int(raw) if raw else 0

    async def get(self, repo: Repo) -> ConfigResult:
        """The repository's effective config; an invalid file falls back to the defaults, with the
        problem kept for the next command reply (and logged)."""
        key = (repo.full_name.lower(), await self._generation(repo.full_name))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        text = await repo.file_text(CONFIG_PATH)
        if text is None:
            owner = repo.full_name.split("/", 1)[0]
            text = await repo.sibling(f"{owner}/.github").file_text(CONFIG_PATH)
        result = parse_config(text)
        if result.problem:
            log.warning("repo=%s %s is invalid, using the defaults: %s", repo.full_name, CONFIG_PATH, result.problem)
        self._cache[key] = result
        return result

    def forget(self) -> None:
        """Drop every parsed config this process keeps (after a forget)."""
        self._cache.clear()

    async def invalidate(self, full_name: str) -> None:
        """A push changed a config file: every worker reads the owner's configs again."""
        await self._redis.incr(keys.config_generation(owner_of(full_name)))
