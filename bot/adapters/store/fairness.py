"""Fair share between installations, on arq's queue as it is.

arq's queue is one sorted set scored by the time a job may start; a worker takes the jobs whose
score is due, lowest first. First in, first out: one installation's wave of 100 merged pull
requests would put every other installation's work, and every maintainer's command, behind it.

So a delivery's job is not put in arq's queue at once: the web's accept script
(bot/adapters/store/ledger.py) writes arq's job as before but parks its id in its installation's
backlog - a maintainer's command in `keys.FAIR_COMMANDS`, everything else in `keys.FAIR_BULK` -
and puts the installation at the head of the round-robin ring (`keys.FAIR_RING`) if it was not
there (it has had no turn yet; an installation just served goes to the tail). Then
`promote` moves parked jobs into arq's queue (due now), one installation at a time in ring order,
a command before bulk work of the same installation, while fewer than a window of jobs are due
in the queue. The window is the slots of the workers alive (their heartbeats:
bot/adapters/store/heartbeats.py), so the queue holds about what the workers can take and no
long line forms in it: a new installation's job is next in the ring, a few seconds away at most.

`promote` is one Lua script, so it is atomic however many web and worker processes run it. It
runs when a delivery is accepted (inside the accept script), when any job ends (it excludes
itself: it is about to leave the queue or be deferred), and with each worker's heartbeat (every
few seconds, a safety net). What goes to arq's queue directly, around the backlog:

- retries: arq defers a job by moving its score into the future; when that comes, it is due at
  once, needing no turn of the ring (the queue then holds a little more than its window for a
  moment), so retries are never starved by new work;
- triage batch rounds (bot/adapters/store/triage_queue.py): each answers up to 20 issues of one
  repository, and a repository has at most one round queued at a time; the issues' own jobs
  went through the backlog, so the rounds follow the installation's fair share;
- forgetting an uninstalled installation's data (bot/core/operations/scheduling.py: `Lane.DIRECT`);
- arq's cron jobs (the redelivery sweep, the triage rescue).

While a dependency's circuit breaker is open (bot/adapters/store/breakers.py) the backlog is
held: only one job at a time is let through, to carry the probe, while none waits on the breaker
(a breaker whose probe nobody has made for two minutes - a dependency no job needs any more -
holds nothing).
Jobs parked in a backlog cost nothing while they wait - no wake-ups, no tries - and once the
breaker closes they drain in round-robin order, at the pace of the workers' slots: no storm.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.codec import text

DEFAULT_WINDOW = 10  # one worker's slots (bot/worker/settings.py: max_jobs) until heartbeats say more
WINDOW_TTL_S = 30
SHOWN_INSTALLATIONS = 20

# The promotion, as a Lua function every script that parks jobs includes. Arguments: arq's queue,
# now (ms and s), a job id not to count (a job ending), the default window, then the key names.
PROMOTE_FUNCTION = """
local function promote(queue, now_ms, now_s, exclude, default_window, ring, window_key, open_key,
                       waiting_prefix, commands_prefix, bulk_prefix)
  local due = redis.call('ZCOUNT', queue, '-inf', now_ms)
  if exclude ~= '' then
    local score = redis.call('ZSCORE', queue, exclude)
    if score and tonumber(score) <= tonumber(now_ms) then due = due - 1 end
  end
  local window = tonumber(redis.call('GET', window_key) or default_window) or tonumber(default_window)
  -- An open breaker whose probe has been due for minutes is one no job needs any more (a model
  -- no longer used): it does not hold the backlog.
  local open = redis.call('ZRANGEBYSCORE', open_key, tonumber(now_s) - 120, '+inf')
  if #open > 0 then
    local waiting = 0
    for _, dependency in ipairs(open) do
      waiting = waiting + redis.call('ZCOUNT', waiting_prefix .. dependency, now_s, '+inf')
    end
    window = 1 - waiting
  end
  local moved = 0
  while due < window do
    local installation = redis.call('LPOP', ring)
    if not installation then break end
    local commands, bulk = commands_prefix .. installation, bulk_prefix .. installation
    local id = redis.call('LPOP', commands)
    if not id then id = redis.call('LPOP', bulk) end
    if id then
      redis.call('ZADD', queue, now_ms, id)
      due = due + 1
      moved = moved + 1
    end
    if redis.call('LLEN', commands) + redis.call('LLEN', bulk) > 0 then
      redis.call('RPUSH', ring, installation)
    end
  end
  return moved
end
"""

# Park one job id in its installation's lane (`c` commands, `b` bulk). An installation whose
# backlog was empty joins the ring at its head: it has had no turn yet, so it goes next (an
# installation just served goes to the tail: a busy one never keeps a newcomer waiting).
PARK_FUNCTION = """
local function park(ring, commands_prefix, bulk_prefix, lane, installation, job_id)
  local commands, bulk = commands_prefix .. installation, bulk_prefix .. installation
  if redis.call('LLEN', commands) + redis.call('LLEN', bulk) == 0 then
    redis.call('LPUSH', ring, installation)
  end
  if lane == 'c' then redis.call('RPUSH', commands, job_id) else redis.call('RPUSH', bulk, job_id) end
end
"""

# KEYS[1]: arq's queue. ARGV: see promote_args.
_PROMOTE = (
    PROMOTE_FUNCTION
    + """
return promote(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10])
"""
)

KEY_NAMES = (keys.FAIR_RING, keys.FAIR_WINDOW, keys.BREAKERS_OPEN, keys.BREAKER_WAITING, keys.FAIR_COMMANDS,
             keys.FAIR_BULK)  # fmt: skip


def promote_args(now_ms: int, exclude: str = "", default_window: int = DEFAULT_WINDOW) -> list[Any]:
    """ARGV[1..10] of the promotion, in `PROMOTE_FUNCTION`'s order."""
    return [now_ms, repr(now_ms / 1000), exclude, default_window, *KEY_NAMES]


@dataclass(frozen=True, slots=True)
class Parked:
    """Jobs parked for fair share, as the status page shows them."""

    total: int
    installations: int
    largest: Sequence[tuple[int, int, int]]  # (installation id, commands, bulk), most parked first


class Fairness:
    def __init__(self, redis: Redis, *, default_window: int = DEFAULT_WINDOW) -> None:
        self._redis = redis
        self._default_window = default_window
        self._promote = redis.register_script(_PROMOTE)

    async def promote(self, *, exclude: str = "", now_ms: int | None = None) -> int:
        """Move parked jobs into arq's queue while it has room; returns how many moved."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        moved = await self._promote(keys=[keys.QUEUE], args=promote_args(now_ms, exclude, self._default_window))
        return int(moved)

    async def set_window(self, slots: int) -> None:
        """How many jobs may be due at once: the slots of the workers alive (heartbeats renew it)."""
        await self._redis.set(keys.FAIR_WINDOW, max(slots, 1), ex=WINDOW_TTL_S)

    async def window(self) -> int | None:
        """The window the heartbeats last set; None once it lapsed (no worker renewed it for
        `WINDOW_TTL_S`): `promote` then uses its default."""
        raw = await self._redis.get(keys.FAIR_WINDOW)
        return int(raw) if raw else None

    async def parked(self, *, shown: int = SHOWN_INSTALLATIONS) -> Parked:
        ring = [text(raw) for raw in await self._redis.lrange(keys.FAIR_RING, 0, 999)]  # type: ignore[misc]
        installations = sorted(set(ring))
        if not installations:
            return Parked(0, 0, ())
        async with self._redis.pipeline(transaction=False) as pipe:
            for installation in installations:
                pipe.llen(keys.FAIR_COMMANDS + installation)
                pipe.llen(keys.FAIR_BULK + installation)
            counts = await pipe.execute()
        rows = [
            (int(installation), int(commands), int(bulk))
            for installation, commands, bulk in zip(installations, counts[0::2], counts[1::2], strict=True)
            if installation.isdigit() and commands + bulk > 0
        ]
        rows.sort(key=lambda row: (-(row[1] + row[2]), row[0]))
        return Parked(sum(c + b for _, c, b in rows), len(rows), tuple(rows[:shown]))
