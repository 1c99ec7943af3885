"""The summaries hookwise posted, one compact record per pull request, for release notes.

A record is written when a summary is posted or edited and lives about six months (release notes
look back to the latest release), so `@app release-notes` needs no comment scraping for the pull
requests hookwise summarised in that time. Not in a dry run: nothing was posted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pydantic import ValidationError
from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.core.commands.release_notes import SummaryRecord

log = logging.getLogger("hookwise.summaries")

RECORD_TTL_S = 183 * 24 * 3600


class SummaryRecords:
    def __init__(self, redis: Redis, *, dry_run: bool = False) -> None:
        self._redis = redis
        self._dry_run = dry_run

    async def save(self, repository: str, record: SummaryRecord) -> None:
        if not self._dry_run:
            await self._redis.set(
                keys.summary_record(repository, record.number), record.model_dump_json(), ex=RECORD_TTL_S
            )

    async def get_many(self, repository: str, numbers: Sequence[int]) -> dict[int, SummaryRecord]:
        """The records there are of `numbers`' pull requests (an unreadable one counts as none)."""
        if not numbers:
            return {}
        raw = await self._redis.mget([keys.summary_record(repository, number) for number in numbers])
        found: dict[int, SummaryRecord] = {}
        for number, value in zip(numbers, raw, strict=True):
            if not value:
                continue
            try:
                record = SummaryRecord.model_validate_json(value)
            except ValidationError:
                log.warning("summary record of %s#%d is unreadable; ignored", repository, number)
                continue
            if record.number == number:
                found[number] = record
        return found
