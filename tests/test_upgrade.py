"""A job this version cannot read (a future version's, or anything else in arq's queue) fails once
with a record saying why; the worker never crashes on it and runs the next job."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.adapters.store.keys import JOB, QUEUE
from bot.adapters.store.ledger import Ledger
from bot.adapters.store.records import Records
from bot.config import Settings
from bot.core.ingress.job import SummaryJob
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from tests.helpers import PR_NUMBER, PR_REPO, guid, run_worker, seed_merged_pr

pytestmark = pytest.mark.e2e  # arq's worker in this process, against the sandboxes served over HTTP


async def queue_raw(redis: Redis, job_id: str, kwargs: dict[str, Any]) -> None:
    """An arq job with these keyword arguments: `process_delivery(**kwargs)`."""
    envelope: dict[str, Any] = {"t": None, "f": "process_delivery", "a": [], "k": kwargs, "et": int(time.time() * 1000)}
    await redis.set(JOB + job_id, json.dumps(envelope), px=60_000)
    await redis.zadd(QUEUE, {job_id: time.time() * 1000})


async def test_an_unreadable_job_fails_once_with_a_record_and_the_next_job_runs(
    settings: Settings, redis: Redis, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    bad, old_noise, good = guid("unreadable"), guid("old-noise"), guid("after")
    await queue_raw(redis, f"{bad}:1", {"job": {"v": 99, "kind": "teleport", "delivery_id": bad}})
    await queue_raw(redis, f"{old_noise}:1", {"delivery_id": old_noise, "event": "pull_request", "payload": {"x": 1}})
    await Ledger(redis).accept(SummaryJob(delivery_id=good, event="pull_request", action="closed",
                                          installation_id=461842, repository=PR_REPO, number=PR_NUMBER))  # fmt: skip
    await run_worker(settings)
    records = Records(redis)
    failed = await records.get(bad)
    assert failed is not None and failed.outcome == "failed" and "not readable by this version" in failed.error
    noise = await records.get(old_noise)
    assert noise is not None and noise.outcome == "failed" and "carries no typed job" in noise.error
    done = await records.get(good)
    assert done is not None and done.outcome == "done"
    dead = {r.delivery_id for r in await records.recent(10, dead_only=True)}
    assert dead == {bad, old_noise}
