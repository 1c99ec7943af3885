"""Provenance: every job leaves a record a maintainer can read, and failed ones stay as dead letters."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.trends import count_outcome
from bot.core.outcome import Outcome, OutcomeKind

RECORD_TTL_S = 14 * 24 * 3600
KEEP_RECENT = 10_000
# Which repositories an installation has (that hookwise acted on): what `forget --installation`
# and an uninstall forget. As long as the longest-kept data about a repository (summary records).
INSTALLATION_REPOS_TTL_S = 183 * 24 * 3600


@dataclass(slots=True)
class JobRecord:
    delivery_id: str
    event: str
    action: str
    repository: str
    target: int
    installation_id: int
    job_try: int = 1
    started_at: float = field(default_factory=time.time)
    accepted_at: float | None = None  # epoch s the web accepted the delivery (None: not known, e.g. older records)
    first_started_at: float | None = None  # when a worker first started it (None: this try was the first)
    earlier_ms: int = 0  # the worker's time on the earlier tries (a retry's record carries it on)
    duration_ms: int = 0
    outcome: str = "running"  # done | skipped | retrying | failed
    detail: str = ""
    comment_id: int | None = None
    labels: list[str] = field(default_factory=list)
    model: str | None = None
    provider: str = ""  # where the model ran (MODEL_PROVIDER); "" in records written before providers
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0  # estimated, priced per call (bot/core/costs/pricing.py)
    estimated_calls: int = 0  # model calls whose answer carried no usage: their tokens are estimates
    batch_size: int = 0  # answered in one model call with this many issues (0: not batched)
    rate_limit: str = ""
    error: str = ""
    origin: str = ""  # "": the worker; "receive" or "receive --sandbox": `python -m bot receive` ran it

    @property
    def finished_at(self) -> float:
        return self.started_at + self.duration_ms / 1000

    @property
    def waited_ms(self) -> int | None:
        """From the web accepting the delivery to a worker first starting it: the queue's part."""
        if self.accepted_at is None:
            return None
        return max(int(((self.first_started_at or self.started_at) - self.accepted_at) * 1000), 0)

    @property
    def worked_ms(self) -> int:
        """The worker's own time on it, every try counted (without the waits between tries)."""
        return self.earlier_ms + self.duration_ms

    def carry_on(self, earlier: JobRecord) -> None:
        """This try follows `earlier` (the record its previous try left): keep when the delivery was
        first started and the time the worker spent on it so far."""
        if earlier.outcome != OutcomeKind.RETRYING or earlier.delivery_id != self.delivery_id:
            return
        self.first_started_at = earlier.first_started_at or earlier.started_at
        self.earlier_ms = earlier.worked_ms

    @property
    def latency_ms(self) -> int | None:
        """From the web accepting the delivery to the job's end (queue wait, retries and work), when known."""
        if self.accepted_at is None:
            return None
        return max(int((self.finished_at - self.accepted_at) * 1000), 0)

    def merge(self, outcome: Outcome) -> None:
        """Take what a handler did into the record."""
        self.outcome, self.detail = outcome.kind.value, outcome.detail
        if outcome.comment_id is not None:
            self.comment_id = outcome.comment_id
        if outcome.labels:
            self.labels = list(outcome.labels)
        if outcome.batch_size:
            self.batch_size = outcome.batch_size
        for usage in outcome.usage:
            self.model = usage.model
            self.provider = usage.provider
            self.estimated_calls += usage.estimated_calls
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens
            self.cache_write_tokens += usage.cache_write_tokens
            self.cache_read_tokens += usage.cache_read_tokens
            self.cost_usd += usage.cost_usd

    def ended(self, kind: OutcomeKind, error: str) -> None:
        self.outcome, self.error = kind.value, error

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> JobRecord:
        data: dict[str, Any] = json.loads(raw)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


# A waiting record (a TriageJob that handed its issue to a batch) never replaces the final record
# the batch may already have written for the same delivery.
_SAVE_UNLESS_FINAL = """
local current = redis.call('GET', KEYS[1])
if current then
  local outcome = cjson.decode(current)['outcome']
  if outcome == 'done' or outcome == 'skipped' or outcome == 'failed' then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[5]) - 1)
redis.call('ZREM', KEYS[3], ARGV[4])
return 1
"""


class Records:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._save_unless_final = redis.register_script(_SAVE_UNLESS_FINAL)

    async def save(self, record: JobRecord) -> None:
        now = time.time()
        if record.outcome == OutcomeKind.WAITING:
            await self._save_unless_final(
                keys=[keys.record(record.delivery_id), keys.RECENT, keys.DEAD],
                args=[record.to_json(), RECORD_TTL_S, now, record.delivery_id, KEEP_RECENT],
            )
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.record(record.delivery_id), record.to_json(), ex=RECORD_TTL_S)
            pipe.zadd(keys.RECENT, {record.delivery_id: now})
            pipe.zremrangebyrank(keys.RECENT, 0, -KEEP_RECENT - 1)
            if record.outcome == OutcomeKind.FAILED:
                pipe.zadd(keys.DEAD, {record.delivery_id: now})
            else:
                pipe.zrem(keys.DEAD, record.delivery_id)
            if record.installation_id and record.repository:
                index = keys.installation_repos(record.installation_id)
                pipe.sadd(index, record.repository)
                pipe.expire(index, INSTALLATION_REPOS_TTL_S)
            count_outcome(pipe, record.outcome, now)  # the status page's deliveries per hour
            await pipe.execute()

    async def get(self, delivery_id: str) -> JobRecord | None:
        raw = await self._redis.get(keys.record(delivery_id))
        return JobRecord.from_json(raw) if raw else None

    async def recent(self, count: int = 20, *, dead_only: bool = False) -> list[JobRecord]:
        ids = await self._redis.zrevrange(keys.DEAD if dead_only else keys.RECENT, 0, count - 1)
        if not ids:
            return []
        raws = await self._redis.mget([keys.record(i.decode() if isinstance(i, bytes) else i) for i in ids])
        return [JobRecord.from_json(raw) for raw in raws if raw]
