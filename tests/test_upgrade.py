"""A new version deploys while jobs queued by the previous one wait in Redis: they still run, or
fail once with a record saying why; the worker never crashes on them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.adapters.store.keys import JOB, QUEUE
from bot.adapters.store.records import Records
from bot.config import Settings
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from tests.helpers import PR_NUMBER, PR_REPO, guid, run_worker, seed_merged_pr

pytestmark = pytest.mark.e2e  # arq's worker in this process, against the sandboxes served over HTTP


async def queue_raw(redis: Redis, job_id: str, kwargs: dict[str, Any]) -> None:
    """An arq job as a version before the typed job wrote it: `process_delivery(**kwargs)`."""
    envelope: dict[str, Any] = {"t": None, "f": "process_delivery", "a": [], "k": kwargs, "et": int(time.time() * 1000)}
    await redis.set(JOB + job_id, json.dumps(envelope), px=60_000)
    await redis.zadd(QUEUE, {job_id: time.time() * 1000})


MERGE_SHA = "62b8e707477a463a4db8d9bb37c26d1481a32ae2"
# The slim payload hookwise 0.1 queued for the real merged-PR delivery.
LEGACY_PAYLOAD = {
    "action": "closed",
    "installation": {"id": 461842},
    "repository": {"id": 135493233, "full_name": PR_REPO, "default_branch": "master", "private": False},
    "pull_request": {"number": PR_NUMBER, "merged": True, "merge_commit_sha": MERGE_SHA},
}


async def test_a_job_queued_in_the_old_shape_still_runs(
    settings: Settings, redis: Redis, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    delivery = guid("old-shape")
    kwargs = {"delivery_id": delivery, "event": "pull_request", "payload": LEGACY_PAYLOAD}
    await queue_raw(redis, f"{delivery}:1", kwargs)
    await run_worker(settings)
    record = await Records(redis).get(delivery)
    assert record is not None and (record.outcome, record.detail) == ("done", "summary posted")
    assert len([c for c in github.comments(PR_REPO, PR_NUMBER) if c["user"]["login"] == "hookwise[bot]"]) == 1


async def test_an_unreadable_job_fails_once_with_a_record_and_the_next_job_runs(
    settings: Settings, redis: Redis, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    bad, old_noise, good = guid("unreadable"), guid("old-noise"), guid("after")
    await queue_raw(redis, f"{bad}:1", {"job": {"v": 99, "kind": "teleport", "delivery_id": bad}})
    await queue_raw(redis, f"{old_noise}:1", {"delivery_id": old_noise, "event": "pull_request", "payload": {"x": 1}})
    await queue_raw(redis, f"{good}:1", {"delivery_id": good, "event": "pull_request", "payload": LEGACY_PAYLOAD})
    await run_worker(settings)
    records = Records(redis)
    failed = await records.get(bad)
    assert failed is not None and failed.outcome == "failed" and "not readable by this version" in failed.error
    noise = await records.get(old_noise)
    assert noise is not None and noise.outcome == "failed" and "earlier version" in noise.error
    done = await records.get(good)
    assert done is not None and done.outcome == "done"
    dead = {r.delivery_id for r in await records.recent(10, dead_only=True)}
    assert dead == {bad, old_noise}
