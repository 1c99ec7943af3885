"""Delivery dedupe and enqueue, in one Redis round trip.

A delivery is remembered only together with its job: one Lua script checks the delivery's record,
writes an arq job (arq's own key layout and JSON-serialised job format) and pushes it onto arq's
queue, atomically. Either both happen or neither, so a delivery answered 503 is accepted when it
comes again, and an accepted one is never lost between "seen" and "queued". Doing it in one round
trip, instead of `SET NX` plus arq's WATCH/EXISTS/MULTI enqueue, is what makes ingress fast.

A delivery's record says `queued`, `done` or `failed`. A failed one is accepted again when GitHub
redelivers it (the maintainer pressing "Redeliver" wants a re-run); each acceptance is a new arq
job (`<delivery>:<attempt>`), so arq's own job-id uniqueness never blocks a re-run.
"""

from __future__ import annotations

import enum
import json
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.adapters.store.batching import ScriptBatcher

QUEUE_NAME = "arq:queue"  # arq's default queue
JOB_KEY_PREFIX = "arq:job:"  # arq's job key layout
JOB_FUNCTION = "process_delivery"
DELIVERY_KEY_PREFIX = "hookwise:delivery:"
# GitHub lets anyone redeliver for 3 days; keep the record a day longer than that.
DELIVERY_TTL_MS = 4 * 24 * 3600 * 1000
# arq's default: a job not started within a day expires.
JOB_EXPIRES_MS = 24 * 3600 * 1000


class DeliveryState(enum.StrEnum):
    QUEUED = "queued"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Accepted:
    job_id: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    state: str


_ACCEPT = """
local state = redis.call('HGET', KEYS[1], 'state')
if state and state ~= 'failed' and ARGV[8] ~= '1' then
  return {0, state}
end
local attempt = redis.call('HINCRBY', KEYS[1], 'attempt', 1)
redis.call('HSET', KEYS[1], 'state', 'queued', 'event', ARGV[2], 'accepted_ms', ARGV[5], 'job', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
local job_id = ARGV[1] .. ':' .. attempt
redis.call('PSETEX', ARGV[7] .. job_id, ARGV[4], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], job_id)
return {1, job_id}
"""

# Only an existing record is updated: a record that has expired is not brought back without a TTL.
_MARK = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'state', ARGV[1])
end
return 0
"""


def serialize_job(data: dict[str, Any]) -> bytes:
    """arq's `job_serializer`: JSON, not pickle, so nothing in Redis can run code in the worker."""
    return json.dumps(data, separators=(",", ":")).encode()


def deserialize_job(raw: bytes) -> dict[str, Any]:
    """arq's `job_deserializer`."""
    data: dict[str, Any] = json.loads(raw)
    return data


def delivery_key(delivery_id: str) -> str:
    return DELIVERY_KEY_PREFIX + delivery_id


class Ledger:
    """Remembers deliveries and queues their jobs. Shared by every web and worker process."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._accept = ScriptBatcher(redis, _ACCEPT)
        self._mark = redis.register_script(_MARK)

    async def accept(
        self, delivery_id: str, event: str, payload: dict[str, Any], *, replay: bool = False
    ) -> Accepted | Duplicate:
        """Queue the delivery's job unless it was accepted before (and did not fail).

        `replay=True` queues it whatever its state (`python -m bot replay`).
        """
        now_ms = int(time.time() * 1000)
        job = serialize_job(
            {
                "t": None,
                "f": JOB_FUNCTION,
                "a": [],
                "k": {"delivery_id": delivery_id, "event": event, "payload": payload},
                "et": now_ms,
            }
        )
        created, value = await self._accept(
            keys=[delivery_key(delivery_id), QUEUE_NAME],
            args=[
                delivery_id,
                event,
                job,
                JOB_EXPIRES_MS,
                now_ms,
                DELIVERY_TTL_MS,
                JOB_KEY_PREFIX,
                "1" if replay else "0",
            ],
        )
        text = value.decode() if isinstance(value, bytes) else str(value)
        return Accepted(text) if created else Duplicate(text)

    async def mark(self, delivery_id: str, state: DeliveryState) -> None:
        """Record how processing ended (`done` or `failed`); the record keeps its TTL."""
        await self._mark(keys=[delivery_key(delivery_id)], args=[state.value])

    async def stored(self, delivery_id: str) -> tuple[str, dict[str, Any]] | None:
        """The event name and job payload of a remembered delivery (for replay)."""
        raw: Any = await self._redis.hget(delivery_key(delivery_id), "job")  # type: ignore[misc]
        if not raw:
            return None
        kwargs = deserialize_job(raw)["k"]
        return str(kwargs["event"]), dict(kwargs["payload"])

    async def state(self, delivery_id: str) -> str | None:
        raw: Any = await self._redis.hget(delivery_key(delivery_id), "state")  # type: ignore[misc]
        return raw.decode() if isinstance(raw, bytes) else raw
