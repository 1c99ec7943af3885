"""What the agreement records teach triage, per repository, kept a minute in this worker process.

Judging a repository's records is not free: with 3,000 issues triaged in 30 days, reading them and
counting took 110-150 ms here. Every triage needs the figures (the trust floor) and the examples,
so a worker keeps them for a minute per repository: a burst's rounds and single calls share one
reading, and a correction reaches the floor and the examples within a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache

from bot.adapters.store.agreement import AgreementStore
from bot.core import agreement
from bot.core.triage import plan as core

TTL_S = 60.0


class Learning:
    def __init__(
        self,
        store: AgreementStore,
        *,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._clock = clock  # what the records are judged against (epoch seconds)
        self._cache: TTLCache[str, core.Learned] = TTLCache(maxsize=1024, ttl=ttl_s, timer=timer)

    def forget(self) -> None:
        """Drop every repository's cached figures and examples (after a forget)."""
        self._cache.clear()

    async def of(self, repository: str) -> core.Learned:
        cached = self._cache.get(repository)
        if cached is not None:
            return cached
        now = self._clock()
        records = await self._store.records(repository, since=now - agreement.WINDOW_S)
        learned = core.learn(records, repository=repository, now=now)
        self._cache[repository] = learned
        return learned
