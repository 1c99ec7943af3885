"""Delivery dedupe and enqueue, in one Redis round trip.

A delivery is remembered only together with its job: one Lua script checks the delivery's record,
writes an arq job (arq's own key layout and JSON-serialised job format) and pushes it onto arq's
queue, atomically. Either both happen or neither, so a delivery answered 503 is accepted when it
comes again, and an accepted one is never lost between "seen" and "queued". Doing it in one round
trip, instead of `SET NX` plus arq's WATCH/EXISTS/MULTI enqueue, is what makes ingress fast.

The job is parked in its installation's backlog rather than put straight in arq's queue, and the
same script promotes parked jobs to the queue while it has room (fair share between installations:
bot/adapters/store/fairness.py).

A delivery's record says `queued`, `done` or `failed`. A failed one is accepted again when GitHub
redelivers it (the maintainer pressing "Redeliver" wants a re-run); each acceptance is a new arq
job (`<delivery>:<attempt>`), so arq's own job-id uniqueness never blocks a re-run.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.coalescer import Coalescer
from bot.adapters.store.codec import text
from bot.adapters.store.fairness import PARK_FUNCTION, PROMOTE_FUNCTION, promote_args
from bot.core.errors import UnreadableJob
from bot.core.ingress.job import Job, dump_job, parse_job
from bot.core.operations.scheduling import Lane, lane

QUEUE_NAME = keys.QUEUE
JOB_FUNCTION = "process_delivery"
# GitHub lets anyone redeliver for 3 days; keep the record a day longer than that.
DELIVERY_TTL_MS = 4 * 24 * 3600 * 1000
# arq's job key lives as long as the delivery's record: a job may wait in its installation's backlog
# (fair share) before its turn; each retry pushes the expiry back (bot/adapters/store/retry_state.py).
JOB_EXPIRES_MS = DELIVERY_TTL_MS


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


# Dedupe and enqueue a batch of deliveries in one call, each decided on its own, in order (a
# delivery twice in one batch is accepted once). ARGV: n, now_ms, job TTL, delivery TTL, the arq
# job key prefix, the delivery key prefix, one replay flag per delivery ("0110..."), the ten
# arguments of the promotion (fairness.promote_args), then the id, the arq job and the lane and
# installation ("b461842") of each delivery; KEYS: the queue. The keys of each delivery are made
# here from its id (few arguments a delivery: packing them was the web's larger cost). A job is
# parked in its installation's backlog (or queued at once for the direct lane), then the
# promotion moves what the queue has room for.
_ACCEPT = (
    PROMOTE_FUNCTION
    + PARK_FUNCTION
    + """
local n, now, job_ttl, delivery_ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local job_prefix, delivery_prefix, replays = ARGV[5], ARGV[6], ARGV[7]
local queue = KEYS[1]
local out = {}
for i = 1, n do
  local id, job, spec = ARGV[15 + 3 * i], ARGV[16 + 3 * i], ARGV[17 + 3 * i]
  local key = delivery_prefix .. id
  local record = redis.call('HMGET', key, 'state', 'attempt')
  local state = record[1]
  if state and state ~= 'failed' and string.sub(replays, i, i) ~= '1' then
    out[#out + 1] = 0
    out[#out + 1] = state
  else
    local attempt = (tonumber(record[2]) or 0) + 1
    local job_id = id .. ':' .. attempt
    redis.call('HSET', key, 'state', 'queued', 'attempt', attempt, 'accepted_ms', now, 'job', job)
    redis.call('PEXPIRE', key, delivery_ttl)
    redis.call('PSETEX', job_prefix .. job_id, job_ttl, job)
    local lane = string.sub(spec, 1, 1)
    if lane == 'd' then
      redis.call('ZADD', queue, now, job_id)
    else
      park(ARGV[12], ARGV[16], ARGV[17], lane, string.sub(spec, 2), job_id)
    end
    out[#out + 1] = 1
    out[#out + 1] = job_id
  end
end
promote(queue, ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[16], ARGV[17])
return out
"""
)

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


def arq_job(job: Job, enqueued_ms: int) -> bytes:
    """arq's job envelope around our job, written as bytes: the job is serialised once, by
    pydantic, and nothing builds a dict of it on the way."""
    return b'{"t":null,"f":"%s","a":[],"k":{"job":%s},"et":%d}' % (JOB_FUNCTION.encode(), dump_job(job), enqueued_ms)


def job_of(kwargs: dict[str, Any]) -> Job:
    """The job from an arq job's keyword arguments (`job`: the typed job, with its version); any
    other shape is `UnreadableJob`, which fails the job once with a record saying so."""
    if "job" not in kwargs:
        raise UnreadableJob("queued job not readable by this version: it carries no typed job (version 2)")
    return parse_job(kwargs["job"])


delivery_key = keys.delivery


def lane_spec(job: Job) -> str:
    """The lane and installation the accept script parks the job under (`b461842`), or `d`."""
    chosen = lane(job)
    return chosen.value if chosen is Lane.DIRECT else f"{chosen.value}{job.installation_id}"


class Ledger:
    """Remembers deliveries and queues their jobs. Shared by every web and worker process."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._accept_script = redis.register_script(_ACCEPT)  # reloads itself after a NOSCRIPT
        self._accept = Coalescer[tuple[Job, bool], Accepted | Duplicate](self._accept_many)
        self._mark = redis.register_script(_MARK)

    def accept(self, job: Job, *, replay: bool = False) -> Awaitable[Accepted | Duplicate]:
        """Queue the delivery's job unless it was accepted before (and did not fail).

        `replay=True` queues it whatever its state (`python -m bot replay`). Concurrent calls share
        one round trip (bot/adapters/store/coalescer.py)."""
        return self._accept((job, replay))

    async def _accept_many(self, calls: Sequence[tuple[Job, bool]]) -> list[Accepted | Duplicate]:
        now_ms = int(time.time() * 1000)
        replays = "".join("1" if replay else "0" for _, replay in calls)
        args: list[Any] = [len(calls), now_ms, JOB_EXPIRES_MS, DELIVERY_TTL_MS, keys.JOB, keys.DELIVERY, replays]
        args += promote_args(now_ms)
        for job, _ in calls:
            args += (job.delivery_id, arq_job(job, now_ms), lane_spec(job))
        raw = await self._accept_script(keys=[keys.QUEUE], args=args)
        return [
            Accepted(text(value)) if created else Duplicate(text(value))
            for created, value in zip(raw[0::2], raw[1::2], strict=True)
        ]

    async def mark(self, delivery_id: str, state: DeliveryState) -> None:
        """Record how processing ended (`done` or `failed`); the record keeps its TTL."""
        await self._mark(keys=[keys.delivery(delivery_id)], args=[state.value])

    async def stored(self, delivery_id: str) -> Job | None:
        """The job of a remembered delivery (for replay); `UnreadableJob` if this version cannot read it."""
        raw: Any = await self._redis.hget(keys.delivery(delivery_id), "job")  # type: ignore[misc]
        if not raw:
            return None
        return job_of(deserialize_job(raw)["k"])

    async def state(self, delivery_id: str) -> str | None:
        raw: Any = await self._redis.hget(keys.delivery(delivery_id), "state")  # type: ignore[misc]
        return raw.decode() if isinstance(raw, bytes) else raw
