"""Micro-batched triage's shared state: each repository's waiting issues, claims, and batch rounds.

Every step is one Lua script, so several workers on several machines see one consistent queue:

- `register` (a TriageJob): adds the issue to its repository's waiting set and makes sure one
  batch round is queued for it - an arq job `triage_batch` written in the same script (arq's own
  key layout, like bot/adapters/store/ledger.py), deferred until the oldest waiting issue has
  waited `max_wait`, or due at once when `max_batch` issues wait. A queued round that is due later
  is moved earlier when the batch fills. Nothing can be registered without a round to take it.
- `claim` (a batch round): first gives back to the waiting set every claim whose deadline passed
  and whose round arq will not run again (a crashed round's issues, once its job has left arq's
  queue: while it is there, arq's re-run takes them back and reuses the answer already paid
  for), then takes this round's own earlier claims (a retry, or arq's
  re-run of a crashed round, has the same job id) or, when it holds none, the oldest waiting
  issues, up to `max_batch`. Claims carry a deadline past the job's timeout, so a live round never loses one.
  If issues are still waiting, the next round is queued at once on the same rule (due now if
  full), so rounds run in parallel on the workers.
- `finish`: one issue is done (labelled, skipped or failed for good): its claim and entry go.

A round never mixes repositories: every key is per repository (bot/adapters/store/keys.py), and
per lane: an issue whose text addresses the model waits in its repository's `quarantine` lane, so
it is batched only with others of its kind (bot/core/triage/hostile.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.codec import text
from bot.core.ingress.job import TriageRound, WaitingIssue

BATCH_FUNCTION = "triage_batch"
KEYS_TTL_MS = 24 * 3600 * 1000  # a repository's queue keys outlive any round by far, then go
JOB_EXPIRES_MS = 24 * 3600 * 1000  # arq's default: a job not started within a day expires

# Queue the repository's next round unless one is queued and not started; move it earlier when
# it is due sooner. KEYS[1] waiting, [5] pending, [6] round, [7] arq queue. Returns the job id or ''.
_SCHEDULE = """
local function schedule(now, max_batch, max_wait, job_key_prefix, id_prefix, job_head, job_tail, ttl)
  local count = redis.call('ZCARD', KEYS[1])
  if count == 0 then return '' end
  local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  local due = oldest + max_wait
  if count >= max_batch or due < now then due = now end
  local pending = redis.call('GET', KEYS[5])
  if pending then
    local score = redis.call('ZSCORE', KEYS[7], pending)
    if score then
      if tonumber(score) > due then redis.call('ZADD', KEYS[7], 'XX', due, pending) end
      return pending
    end
  end
  local round = redis.call('INCR', KEYS[6])
  redis.call('PEXPIRE', KEYS[6], ttl)
  local job_id = id_prefix .. round
  redis.call('PSETEX', job_key_prefix .. job_id, ARGV[1], job_head .. round .. job_tail .. now .. '}')
  redis.call('ZADD', KEYS[7], due, job_id)
  redis.call('SET', KEYS[5], job_id, 'PX', ttl)
  return job_id
end
"""

# KEYS: waiting, entry, claimed, claimer, pending, round, arq queue
# ARGV: job expiry ms, now ms, max_batch, max_wait ms, arq job key prefix, job id prefix, job head,
#       job tail, keys ttl ms, number, entry JSON, delivery id
_REGISTER = (
    _SCHEDULE
    + """
local now, max_batch, max_wait = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local number = ARGV[10]
local existing = redis.call('HGET', KEYS[2], number)
if existing then
  local holder = cjson.decode(existing)['delivery_id']
  if holder == ARGV[12] then
    return {1, schedule(now, max_batch, max_wait, ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]))}
  end
  return {2, holder}
end
redis.call('HSET', KEYS[2], number, ARGV[11])
redis.call('ZADD', KEYS[1], now, number)
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[9]) end
return {0, schedule(now, max_batch, max_wait, ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]))}
"""
)

# KEYS: waiting, entry, claimed, claimer, pending, round, arq queue
# ARGV: job expiry ms, now ms, max_batch, max_wait ms, arq job key prefix, job id prefix, job head,
#       job tail, keys ttl ms, this job's id, claim deadline ms
_CLAIM = (
    _SCHEDULE
    + """
local now, max_batch, max_wait = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local me, deadline = ARGV[10], tonumber(ARGV[11])
local mine = {}
for _, n in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local holder = redis.call('HGET', KEYS[4], n)
  local entry = redis.call('HGET', KEYS[2], n)
  if not entry then
    redis.call('ZREM', KEYS[3], n)
    redis.call('HDEL', KEYS[4], n)
  elseif holder == me then
    table.insert(mine, n)
  elseif tonumber(redis.call('ZSCORE', KEYS[3], n)) <= now and not redis.call('ZSCORE', KEYS[7], holder or '') then
    redis.call('ZREM', KEYS[3], n)
    redis.call('HDEL', KEYS[4], n)
    redis.call('ZADD', KEYS[1], cjson.decode(entry)['arrived_ms'], n)
  end
end
if redis.call('GET', KEYS[5]) == me then redis.call('DEL', KEYS[5]) end
-- A retry (or re-run) of a round finishes what it holds and takes nothing new: its saved answer
-- covers exactly those issues.
local room = max_batch - #mine
if #mine == 0 and room > 0 then
  for _, n in ipairs(redis.call('ZRANGE', KEYS[1], 0, room - 1)) do
    redis.call('ZREM', KEYS[1], n)
    table.insert(mine, n)
  end
end
local taken = {}
for _, n in ipairs(mine) do
  redis.call('ZADD', KEYS[3], deadline, n)
  redis.call('HSET', KEYS[4], n, me)
  table.insert(taken, redis.call('HGET', KEYS[2], n))
end
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[9]) end
local next_round = schedule(now, max_batch, max_wait, ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]))
return {next_round, taken}
"""
)

# A safety net, run by a cron every minute: claims whose deadline passed (and whose round has left
# arq's queue) go back to waiting, and a
# repository with issues waiting and no round queued gets one (an arq job that was lost: a worker
# of an older version without `triage_batch`, a round that gave up, an expired job).
# KEYS and ARGV[1..9]: as _CLAIM; ARGV[10]: installation id for a new round. Returns its id or ''.
_RESCUE = (
    _SCHEDULE
    + """
local now, max_batch, max_wait = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)) do
  local holder = redis.call('HGET', KEYS[4], n)
  if not redis.call('ZSCORE', KEYS[7], holder or '') then
    local entry = redis.call('HGET', KEYS[2], n)
    redis.call('ZREM', KEYS[3], n)
    redis.call('HDEL', KEYS[4], n)
    if entry then redis.call('ZADD', KEYS[1], cjson.decode(entry)['arrived_ms'], n) end
  end
end
return schedule(now, max_batch, max_wait, ARGV[5], ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9]))
"""
)

# KEYS: entry, claimed, claimer. ARGV: number, this job's id. Only the claim's holder finishes it.
_FINISH = """
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""


@dataclass(frozen=True, slots=True)
class Registered:
    """The issue waits for a batch; `round_job` is the round queued to take it."""

    round_job: str
    again: bool  # this delivery had registered it already (a re-run of its TriageJob)


@dataclass(frozen=True, slots=True)
class AlreadyWaiting:
    """Another delivery of the same issue is waiting for a batch already."""

    delivery_id: str


@dataclass(frozen=True, slots=True)
class Claimed:
    issues: list[WaitingIssue]
    next_round: str  # the round queued for what is still waiting, or ""


class TriageQueue:
    def __init__(self, redis: Redis, *, max_batch: int, max_wait_s: float, claim_ttl_s: float) -> None:
        self._redis = redis
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.claim_ttl_s = claim_ttl_s
        self._register = redis.register_script(_REGISTER)
        self._claim = redis.register_script(_CLAIM)
        self._finish = redis.register_script(_FINISH)
        self._rescue = redis.register_script(_RESCUE)

    def _keys(self, repository: str, lane: str = "") -> list[str]:
        k = keys.triage_queue(repository, lane)
        return [k["waiting"], k["entry"], k["claimed"], k["claimer"], k["pending"], k["round"], keys.QUEUE]

    def _schedule_args(self, repository: str, installation_id: int, now_ms: int, lane: str = "") -> list[Any]:
        # The arq job, as arq's JSON serialiser would write it, cut where the round number and the
        # enqueue time go (the script fills them in).
        marker = 987654321
        body = json.dumps(
            {"t": None, "f": BATCH_FUNCTION, "a": [], "k": {"round": TriageRound(
                repository=repository, installation_id=installation_id, round=marker, lane=lane
            ).model_dump()}},
            separators=(",", ":"),
        )  # fmt: skip
        head, tail = body[:-1].rsplit(str(marker), 1)
        return [
            JOB_EXPIRES_MS,
            now_ms,
            self.max_batch,
            int(self.max_wait_s * 1000),
            keys.JOB,
            keys.batch_job_id(repository, "", lane),
            head,
            tail + ',"et":',
            KEYS_TTL_MS,
        ]

    async def register(self, repository: str, issue: WaitingIssue, *, now_ms: int) -> Registered | AlreadyWaiting:
        status, value = await self._register(
            keys=self._keys(repository, issue.lane),
            args=[
                *self._schedule_args(repository, issue.installation_id, now_ms, issue.lane),
                issue.number,
                issue.model_dump_json(),
                issue.delivery_id,
            ],
        )
        if int(status) == 2:
            return AlreadyWaiting(text(value))
        return Registered(text(value), again=int(status) == 1)

    async def claim(self, job: TriageRound, job_id: str, *, now_ms: int) -> Claimed:
        next_round, taken = await self._claim(
            keys=self._keys(job.repository, job.lane),
            args=[
                *self._schedule_args(job.repository, job.installation_id, now_ms, job.lane),
                job_id,
                now_ms + int(self.claim_ttl_s * 1000),
            ],
        )
        issues = [WaitingIssue.model_validate_json(raw) for raw in taken]
        return Claimed(sorted(issues, key=lambda i: (i.arrived_ms, i.number)), text(next_round))

    async def finish(self, repository: str, number: int, job_id: str, lane: str = "") -> bool:
        k = keys.triage_queue(repository, lane)
        done = await self._finish(keys=[k["entry"], k["claimed"], k["claimer"]], args=[number, job_id])
        return bool(done)

    async def rescue(self, *, now_ms: int) -> list[str]:
        """Every repository with issues in the queue: make sure a round will take them (see
        _RESCUE). Returns the rounds queued, or found queued, for them."""
        rounds: list[str] = []
        async for raw in self._redis.scan_iter(match=keys.TRIAGE_ENTRY + "*", count=200):
            entries = await self._redis.hvals(text(raw))  # type: ignore[misc]
            if not entries:
                continue
            issue = WaitingIssue.model_validate_json(entries[0])  # one repository, one installation
            repository = issue.repository or text(raw)[len(keys.TRIAGE_ENTRY) :]
            found = await self._rescue(
                keys=self._keys(repository, issue.lane),
                args=self._schedule_args(repository, issue.installation_id, now_ms, issue.lane),
            )
            if found:
                rounds.append(text(found))
        return rounds

    async def waiting(self, repository: str, lane: str = "") -> Sequence[int]:
        """The numbers waiting (not claimed), oldest first: for tests and the status page."""
        raw = await self._redis.zrange(keys.triage_queue(repository, lane)["waiting"], 0, -1)
        return [int(n) for n in raw]
