"""Each worker's heartbeat, every few seconds (bot/adapters/store/heartbeats.py), and what rides on it:

- the status page lists the workers seen in the last minute and says so when none is while jobs wait;
- the fair queue's window is the slots of the workers alive (bot/adapters/store/fairness.py), and
  each beat also moves parked jobs in, should nothing else have;
- after a forget (bot/adapters/store/forget.py bumps `keys.FORGET_EPOCH`), the worker empties what
  it keeps in memory from GitHub's answers and the agreement records (`forget_caches`).

A beat that cannot reach Redis is skipped (logged at most once until one succeeds again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.errors import REDIS_DOWN
from bot.adapters.store.fairness import Fairness
from bot.adapters.store.heartbeats import Heartbeat, Heartbeats, slots

log = logging.getLogger("hookwise.worker")

BEAT_S = 5.0


@dataclass(slots=True)
class WorkerStats:
    """What this worker is doing, counted by its jobs (bot/worker/job.py)."""

    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    started_at: float = field(default_factory=time.time)
    running: int = 0
    done: int = 0


class Beating:
    def __init__(
        self,
        redis: Redis,
        stats: WorkerStats,
        *,
        slots: int,
        fairness: Fairness,
        forget_caches: Callable[[], None],
        every_s: float = BEAT_S,
    ) -> None:
        self._redis = redis
        self._stats = stats
        self._slots = slots
        self._heartbeats = Heartbeats(redis)
        self._fairness = fairness
        self._forget_caches = forget_caches
        self._every_s = every_s
        self._epoch: bytes | None = None
        self._failing = False

    async def beat(self) -> None:
        now = time.time()
        stats = self._stats
        await self._heartbeats.beat(
            Heartbeat(
                worker_id=stats.worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                started_at=stats.started_at,
                seen_at=now,
                running=stats.running,
                slots=self._slots,
                done=stats.done,
            )
        )
        alive = await self._heartbeats.seen(now=now, within_s=self._every_s * 3)
        await self._fairness.set_window(slots(alive) or self._slots)
        await self._fairness.promote()
        # A missing key reads as b"": it is no forget, and it must compare equal on the next beat.
        epoch: bytes = await self._redis.get(keys.FORGET_EPOCH) or b""
        if self._epoch is not None and epoch != self._epoch:
            self._forget_caches()
            log.info("a forget ran: in-memory caches emptied")
        self._epoch = epoch

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
                if self._failing:
                    log.info("heartbeat written again")
                self._failing = False
            except REDIS_DOWN as exc:
                if not self._failing:
                    log.warning("heartbeat not written (%s)", exc)
                self._failing = True
            await asyncio.sleep(self._every_s)

    async def stop(self) -> None:
        with contextlib.suppress(*REDIS_DOWN):
            await self._heartbeats.gone(self._stats.worker_id)
