"""Workers you can see: each worker writes a heartbeat every few seconds (bot/worker/heartbeat.py).

One key per worker (`keys.WORKER`: what it is and what it is doing, as JSON, living a minute)
and one sorted set of worker ids by their last heartbeat (`keys.WORKERS`). The status page lists
the workers seen in the last minute; the fair queue's window is their slots added up
(bot/adapters/store/fairness.py). A heartbeat holds no repository name and no job id.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.codec import text

SEEN_S = 60  # a worker not heard from for this long is not listed
FORGET_AFTER_S = 3600  # its entry in the sorted set goes after this


class Heartbeat(BaseModel):
    """What a worker says about itself."""

    worker_id: str
    host: str
    pid: int
    started_at: float
    seen_at: float
    running: int  # jobs running now
    slots: int  # how many it runs at once (arq's max_jobs)
    done: int = 0  # jobs it finished since it started
    version: str = ""


class Heartbeats:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def beat(self, heartbeat: Heartbeat) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(keys.WORKER + heartbeat.worker_id, heartbeat.model_dump_json(), ex=SEEN_S)
            pipe.zadd(keys.WORKERS, {heartbeat.worker_id: heartbeat.seen_at})
            pipe.zremrangebyscore(keys.WORKERS, "-inf", heartbeat.seen_at - FORGET_AFTER_S)
            await pipe.execute()

    async def gone(self, worker_id: str) -> None:
        """A worker that stops says so: it leaves the list at once."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(keys.WORKER + worker_id)
            pipe.zrem(keys.WORKERS, worker_id)
            await pipe.execute()

    async def seen(self, *, now: float | None = None, within_s: float = SEEN_S) -> list[Heartbeat]:
        """The workers heard from in the last `within_s`, most recently started first."""
        now = time.time() if now is None else now
        ids = [text(raw) for raw in await self._redis.zrangebyscore(keys.WORKERS, now - within_s, "+inf")]
        if not ids:
            return []
        found: list[Heartbeat] = []
        for raw in await self._redis.mget([keys.WORKER + worker_id for worker_id in ids]):
            if not raw:
                continue
            try:
                found.append(Heartbeat.model_validate_json(raw))
            except ValidationError:
                continue
        return sorted(found, key=lambda beat: (-beat.started_at, beat.worker_id))


def slots(workers: Sequence[Heartbeat]) -> int:
    return sum(worker.slots for worker in workers)
