"""Triage agreement records in Redis: what hookwise chose for each issue it triaged, and the label
changes people made afterwards. The counting is bot/core/agreement.py's; this only keeps the data.

A person's changes are appended to a list of their own (one atomic RPUSH, only while the issue's
record exists), so two workers handling two label events of one issue at once lose neither, and a
redelivered event is folded away when the record is read (`TriageRecord.with_change`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from pydantic import ValidationError
from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.core import agreement
from bot.core.agreement import LabelChange, RepoReport, TriageRecord, TrustPolicy
from bot.core.text import first_error
from bot.core.views.status import RepoAgreement

log = logging.getLogger("hookwise.agreement")

KEEP_S = 90 * 86_400  # longer than any report asks for (`accuracy --since` is capped at this)

# Append a change only to an issue hookwise triaged; refresh both TTLs.
_ADD_CHANGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


class AgreementStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._add_change = redis.register_script(_ADD_CHANGE)

    async def record(self, record: TriageRecord, policy: TrustPolicy) -> None:
        """Remember what hookwise chose and the policy the repository's config had. The record
        replaces the issue's earlier one (the caller merges them: bot/core/triage/plan.py `retriaged`);
        the changes people made are a list of their own and stay."""
        repository, number = record.repository, record.number
        blank = record.model_copy(update={"changes": ()})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.triage(repository, number), blank.model_dump_json(), ex=KEEP_S)
            pipe.zadd(keys.triaged(repository), {str(number): record.triaged_at})
            pipe.zremrangebyscore(keys.triaged(repository), 0, time.time() - KEEP_S)
            pipe.expire(keys.triaged(repository), KEEP_S)
            pipe.zadd(keys.TRIAGED_REPOS, {repository: record.triaged_at})
            pipe.set(keys.triage_policy(repository), policy.model_dump_json(), ex=KEEP_S)
            await pipe.execute()

    async def add_change(self, repository: str, number: int, change: LabelChange) -> bool:
        """Append a person's change to the issue's record; False when hookwise did not triage it."""
        added = await self._add_change(
            keys=[keys.triage(repository, number), keys.triage_changes(repository, number)],
            args=[change.model_dump_json(), KEEP_S],
        )
        return bool(added)

    async def get(self, repository: str, number: int) -> TriageRecord | None:
        records = await self._read(repository, [number])
        return records[0] if records else None

    async def records(self, repository: str, *, since: float) -> list[TriageRecord]:
        """The records of issues of `repository` triaged since `since` (epoch seconds), oldest first."""
        numbers = await self._redis.zrangebyscore(keys.triaged(repository), since, "+inf")
        return await self._read(repository, [int(n) for n in numbers])

    async def repositories(self, *, since: float) -> list[str]:
        names = await self._redis.zrangebyscore(keys.TRIAGED_REPOS, since, "+inf")
        return sorted(name.decode() if isinstance(name, bytes) else str(name) for name in names)

    async def policies(self, repositories: Iterable[str]) -> dict[str, TrustPolicy]:
        names = list(repositories)
        if not names:
            return {}
        raws = await self._redis.mget([keys.triage_policy(name) for name in names])
        return {name: TrustPolicy.model_validate_json(raw) for name, raw in zip(names, raws, strict=True) if raw}

    async def reports(
        self, repository: str | None = None, *, now: float, since_s: float = agreement.WINDOW_S
    ) -> list[RepoReport]:
        """The agreement report of one repository, or of every one with issues triaged in the period."""
        names = [repository] if repository else await self.repositories(since=now - since_s)
        records = [record for name in names for record in await self.records(name, since=now - since_s)]
        policies = await self.policies({record.repository for record in records})
        return agreement.report(records, now=now, since_s=since_s, policies=policies)

    async def agreement(self) -> list[RepoAgreement]:
        """The status page's section (an AgreementReader): per repository, the default period."""
        now = time.time()
        rows = []
        for item in await self.reports(now=now):
            latest = await self.records(item.repository, since=now - 86_400 * 7)
            shadow = bool(latest) and max(latest, key=lambda r: r.triaged_at).mode == "shadow"
            rows.append(RepoAgreement(item.repository, item.judged, item.exact, item.pending, shadow))
        return rows

    async def _read(self, repository: str, numbers: list[int]) -> list[TriageRecord]:
        if not numbers:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for number in numbers:
                pipe.get(keys.triage(repository, number))
                pipe.lrange(keys.triage_changes(repository, number), 0, -1)
            answers = await pipe.execute()
        records = []
        for raw, changes in zip(answers[0::2], answers[1::2], strict=True):
            if not raw:
                continue
            try:  # one unreadable record (a bug, a hand edit) must not stop every triage of the repository
                record = TriageRecord.model_validate_json(raw)
                for item in changes:
                    record = record.with_change(LabelChange.model_validate_json(item))
            except ValidationError as exc:
                log.warning("agreement record of %s unreadable, left out: %s", repository, first_error(exc))
                continue
            records.append(record)
        return records
