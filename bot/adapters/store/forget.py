"""Forgetting repositories in Redis: every key is read, and what names a forgotten repository goes
(which data names it, and what becomes of it: bot/core/operations/forget.py; every kind of data, and for how
long: docs/data.md).

One pass scans the whole keyspace (`SCAN`, a batch at a time, pipelined): a key whose name names
a forgotten repository is deleted; otherwise its value is read and, if it names one, the key is
deleted (a record, a draft, a queued job, a delivery), or only the members naming it leave a
collection many share (the recent-records list, arq's queue, the set of triaged repositories), or,
for the cost ledger, the numbers stay filed under `(removed)`. Then what pointed at what went: a
deleted job's id leaves arq's queue and the fair-share backlogs, its arq bookkeeping keys go; a
deleted record's delivery leaves the recent and dead lists.

Forgetting a whole installation first finds its repositories: those its jobs and records named,
those the cost ledger files under it, and the index the records keep (`keys.INSTALLATION_REPOS`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.breakers import job_digest
from bot.adapters.store.codec import text
from bot.adapters.store.ledger import arq_job
from bot.core.ingress.job import ForgetJob
from bot.core.operations import forget

log = logging.getLogger("hookwise.forget")

SCAN_COUNT = 1000
# The second pass comes once every job in flight has ended: after the longest a job may run (the
# worker's job timeout) and a quarter of it again.
SECOND_PASS_AFTER_TIMEOUTS = 1.25

# Move each listed field's number to its new name (summed with what is there), atomically per hash.
_RENAME = """
for i = 1, #ARGV, 2 do
  local value = redis.call('HGET', KEYS[1], ARGV[i])
  if value then
    redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i + 1], value)
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0
"""


@dataclass(slots=True)
class ForgetReport:
    repositories: int = 0  # repositories forgotten (the digests asked for and found)
    deleted: int = 0  # keys deleted
    members: int = 0  # members removed from collections other repositories share
    cost_fields: int = 0  # cost ledger numbers now filed under no repository name
    jobs: int = 0  # queued or parked jobs dropped
    seconds: float = 0.0

    def line(self) -> str:
        return (
            f"forgot {self.repositories} repositor{'y' if self.repositories == 1 else 'ies'}: "
            f"{self.deleted} keys deleted, {self.members} entries removed from shared lists, "
            f"{self.jobs} queued jobs dropped, {self.cost_fields} cost figures kept without the name "
            f"({self.seconds:.1f}s)"
        )


@dataclass(slots=True)
class _Found:
    jobs: set[str] = field(default_factory=set)  # arq job ids deleted
    deliveries: set[str] = field(default_factory=set)  # delivery ids whose record or state was deleted
    backlogs: dict[str, set[str]] = field(default_factory=dict)  # the fair-share backlog lists read: their job ids


# Where an installation's repositories are named, by key prefix, and how to read them: a delivery's
# queued job, a record or a job (JSON), a triage queue's entries, the cost ledger's field names.
_REPOSITORY_READS = (
    (keys.DELIVERY, "job"),
    (keys.RECORD, "value"),
    (keys.JOB, "value"),
    (keys.TRIAGE_ENTRY, "values"),
    (keys.COST, "fields"),
)


def _repository_read(key: str) -> str | None:
    return next((read for prefix, read in _REPOSITORY_READS if key.startswith(prefix)), None)


class Forgetter:
    def __init__(self, redis: Redis, *, second_pass_s: float, scan_count: int = SCAN_COUNT) -> None:
        self._redis = redis
        self._scan_count = scan_count
        self.second_pass_s = second_pass_s
        self._rename = redis.register_script(_RENAME)

    async def _keys(self) -> AsyncIterator[list[str]]:
        batch: list[str] = []
        async for raw in self._redis.scan_iter(count=self._scan_count):
            batch.append(text(raw))
            if len(batch) >= self._scan_count:
                yield batch
                batch = []
        if batch:
            yield batch

    # -- an installation's repositories ------------------------------------------------------------

    async def installation_repositories(self, installation_id: int) -> set[str]:
        """Every repository hookwise has data of under `installation_id` (lowercased names)."""
        found = {text(name).lower() for name in await self._redis.smembers(keys.installation_repos(installation_id))}  # type: ignore[misc]
        # One SCAN of the keyspace, not one per prefix: `SCAN MATCH` walks every key all the same.
        async for batch in self._keys():
            found |= await self._repositories_in(batch, installation_id)
        return found

    async def _repositories_in(self, batch: list[str], installation_id: int) -> set[str]:
        reads = [(key, read) for key in batch if (read := _repository_read(key)) is not None]
        if not reads:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, read in reads:
                if read == "job":
                    pipe.hget(key, "job")
                elif read == "values":
                    pipe.hvals(key)
                elif read == "fields":
                    pipe.hkeys(key)
                else:
                    pipe.get(key)
            answers = await pipe.execute(raise_on_error=False)
        found: set[str] = set()
        for (_key, read), answer in zip(reads, answers, strict=True):
            if read == "fields":
                if isinstance(answer, list):
                    found |= forget.cost_repositories((text(name) for name in answer), installation_id)
                continue
            for raw in answer if isinstance(answer, list) else [answer]:
                owned = forget.repository_of(forget.parse_json(raw)) if isinstance(raw, bytes | str) else None
                if owned is not None and owned[0] == installation_id:
                    found.add(owned[1].lower())
        return found

    # -- the pass ----------------------------------------------------------------------------------

    async def forget(
        self,
        targets: Iterable[str],
        *,
        installation_id: int | None = None,
        owners: Iterable[str] = (),
    ) -> ForgetReport:
        """Delete what names the repositories whose digests are `targets` (and, with
        `installation_id`, the installation's own keys and the config generations of `owners`)."""
        started = time.monotonic()
        wanted = frozenset(targets)
        owner_digests = frozenset(owners)
        report = ForgetReport(repositories=len(wanted))
        found = _Found()
        async for batch in self._keys():
            await self._batch(batch, wanted, owner_digests, installation_id, report, found)
        await self._follow_up(found, report, installation_id)
        await self._redis.incr(keys.FORGET_EPOCH)  # workers empty their in-memory caches
        report.seconds = time.monotonic() - started
        return report

    async def _batch(
        self,
        batch: list[str],
        wanted: frozenset[str],
        owners: frozenset[str],
        installation_id: int | None,
        report: ForgetReport,
        found: _Found,
    ) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.type(key)
            types = [text(kind) for kind in await pipe.execute(raise_on_error=False)]
        doomed: list[str] = []
        to_read: list[tuple[str, str]] = []
        for key, kind in zip(batch, types, strict=True):
            if forget.names_any(key, wanted) or self._installation_key(key, installation_id, owners):
                doomed.append(key)
            elif kind in ("string", "hash", "list", "set", "zset"):
                to_read.append((key, kind))
        values = await self._read(to_read)
        _note_backlogs(to_read, values, found)
        changes = await self._plan(to_read, values, wanted, installation_id, report, doomed)
        for key in doomed:
            self._note_deleted(key, found)
        if doomed or changes:
            async with self._redis.pipeline(transaction=False) as pipe:
                if doomed:
                    pipe.delete(*doomed)
                for key, kind, members in changes:
                    if kind == "zset":
                        pipe.zrem(key, *members)
                    elif kind == "set":
                        pipe.srem(key, *members)
                    elif kind == "list":
                        for member in members:
                            pipe.lrem(key, 0, text(member))
                await pipe.execute()
        report.deleted += len(doomed)

    def _installation_key(self, key: str, installation_id: int | None, owners: frozenset[str]) -> bool:
        """The whole installation's own keys: its fair-share backlogs, its repository index, and
        the config generation of its account."""
        if key.startswith(keys.CONFIG_GENERATION):
            return forget.digest(key[len(keys.CONFIG_GENERATION) :]) in owners
        if installation_id is None:
            return False
        own = (keys.FAIR_COMMANDS, keys.FAIR_BULK, keys.INSTALLATION_REPOS)
        return any(key == f"{prefix}{installation_id}" for prefix in own)

    async def _read(self, to_read: list[tuple[str, str]]) -> list[Any]:
        if not to_read:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, kind in to_read:
                if kind == "string":
                    pipe.get(key)
                elif kind == "hash":
                    pipe.hgetall(key)
                elif kind == "list":
                    pipe.lrange(key, 0, -1)
                elif kind == "set":
                    pipe.smembers(key)
                else:
                    pipe.zrange(key, 0, -1)
            return list(await pipe.execute(raise_on_error=False))

    async def _plan(
        self,
        to_read: list[tuple[str, str]],
        values: list[Any],
        wanted: frozenset[str],
        installation_id: int | None,
        report: ForgetReport,
        doomed: list[str],
    ) -> list[tuple[str, str, list[bytes]]]:
        """Decide each key read: deleted (added to `doomed`), or members to remove (returned), or
        cost fields renamed (done here)."""
        changes: list[tuple[str, str, list[bytes]]] = []
        for (key, kind), value in zip(to_read, values, strict=True):
            if isinstance(value, Exception) or value is None:
                continue
            is_cost = key.startswith(keys.COST)
            if kind == "hash":
                pairs = {text(k): text(v) for k, v in value.items()}
                if is_cost:
                    renames = [
                        (name, new) for name in pairs if (new := forget.anonymised(name, wanted, installation_id))
                    ]
                    if renames:
                        await self._rename(keys=[key], args=[part for pair in renames for part in pair])
                        report.cost_fields += len(renames)
                    continue
                if forget.owned(pairs.get("job"), " ".join(f"{k} {v}" for k, v in pairs.items()), wanted):
                    doomed.append(key)
                continue
            if kind == "string":
                if forget.owned(text(value), text(value), wanted):
                    doomed.append(key)
                continue
            naming = [member for member in value if forget.names_any(text(member), wanted)]
            if naming:  # a list, set or sorted set other repositories share: only these members go
                changes.append((key, kind, naming))
                report.members += len(naming)
        return changes

    def _note_deleted(self, key: str, found: _Found) -> None:
        if key.startswith(keys.JOB):
            found.jobs.add(key[len(keys.JOB) :])
        elif key.startswith(keys.DELIVERY):
            found.deliveries.add(key[len(keys.DELIVERY) :])
        elif key.startswith(keys.RECORD):
            found.deliveries.add(key[len(keys.RECORD) :])

    async def _follow_up(self, found: _Found, report: ForgetReport, installation_id: int | None) -> None:
        """What pointed at what was deleted: queue entries, backlog entries, arq's bookkeeping."""
        report.jobs = len(found.jobs)
        async with self._redis.pipeline(transaction=False) as pipe:
            for job_id in found.jobs:
                pipe.zrem(keys.QUEUE, job_id)
                pipe.delete(keys.ARQ_RETRY + job_id, keys.IN_PROGRESS + job_id, keys.ARQ_RESULT + job_id)
                pipe.delete(keys.RETRY_STATE + job_digest(job_id))
            # Only where the scan saw the id: one LREM per deleted job per backlog is jobs x installations.
            # (An id parked after its list was read is left to the second pass.)
            for backlog, members in found.backlogs.items():
                for job_id in found.jobs & members:
                    pipe.lrem(backlog, 0, job_id)
            for delivery_id in found.deliveries:
                pipe.zrem(keys.RECENT, delivery_id)
                pipe.zrem(keys.DEAD, delivery_id)
            if installation_id is not None:
                pipe.lrem(keys.FAIR_RING, 0, str(installation_id))
            await pipe.execute()

    # -- the second pass ---------------------------------------------------------------------------

    async def schedule_second_pass(self, job: ForgetJob) -> str:
        """Queue the same forget again a little later: what jobs in flight wrote meanwhile goes too."""
        delay_s = self.second_pass_s
        later = job.model_copy(update={"second_pass": True})
        job_id = f"{job.delivery_id}:forget-again"
        now_ms = int(time.time() * 1000)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.psetex(keys.JOB + job_id, int((delay_s + 86_400) * 1000), arq_job(later, now_ms))
            pipe.zadd(keys.QUEUE, {job_id: now_ms + int(delay_s * 1000)})
            await pipe.execute()
        return job_id


def _note_backlogs(to_read: list[tuple[str, str]], values: list[Any], found: _Found) -> None:
    """Keep the job ids of the fair-share backlogs read: `_follow_up` removes deleted jobs from these."""
    for (key, _kind), value in zip(to_read, values, strict=True):
        if key.startswith((keys.FAIR_COMMANDS, keys.FAIR_BULK)) and isinstance(value, list):
            found.backlogs[key] = {text(member) for member in value}
