"""arq's job format, pinned. The web accepts a delivery with one Lua script that writes arq's job
itself (bot/adapters/store/ledger.py): one round trip, atomic with the dedupe. That is only right
while it writes what arq would. These tests compare it with arq's own serialisation and arq's own
enqueue of the same job, and run it in arq's worker, so an arq upgrade that changes the format fails
here instead of in production."""

from __future__ import annotations

import json
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.jobs import Job as ArqJob
from arq.jobs import JobStatus, deserialize_job_raw
from arq.jobs import serialize_job as arq_serialize_job
from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.ledger import (
    JOB_EXPIRES_MS,
    JOB_FUNCTION,
    QUEUE_NAME,
    Accepted,
    Ledger,
    arq_job,
    deserialize_job,
    serialize_job,
)
from bot.config import Settings
from bot.core.ingress.job import dump_job
from bot.sandbox.github import GitHubSandbox
from tests.helpers import ISSUE_REPO, add_issues, run_worker, seed_issue, triage_job


def test_the_scripts_job_is_arqs_own_serialisation_of_it() -> None:
    job = triage_job("pinned", number=7)
    ours = arq_job(job, 1_800_000_000_123)
    theirs = arq_serialize_job(
        JOB_FUNCTION, (), {"job": json.loads(dump_job(job))}, None, 1_800_000_000_123, serializer=serialize_job
    )
    assert json.loads(ours) == json.loads(theirs)
    assert deserialize_job_raw(ours, deserializer=deserialize_job) == deserialize_job_raw(
        theirs, deserializer=deserialize_job
    )


async def test_the_ledger_writes_what_arqs_enqueue_writes_in_the_same_keys(redis: Redis) -> None:
    job = triage_job("by-the-ledger", number=7)
    accepted = await Ledger(redis).accept(job)
    assert isinstance(accepted, Accepted)
    arq = ArqRedis(
        connection_pool=redis.connection_pool, job_serializer=serialize_job, job_deserializer=deserialize_job
    )
    enqueued = await arq.enqueue_job(
        JOB_FUNCTION,
        job=json.loads(dump_job(job)),
        _job_id="by-arq",
        _queue_name=QUEUE_NAME,
        _expires=JOB_EXPIRES_MS / 1000,
    )
    assert enqueued is not None
    ours, theirs = await redis.get(keys.JOB + accepted.job_id), await redis.get(keys.JOB + "by-arq")
    assert ours is not None and theirs is not None
    function, args, kwargs, job_try, _ = deserialize_job_raw(ours, deserializer=deserialize_job)
    assert (function, args, kwargs, job_try) == deserialize_job_raw(theirs, deserializer=deserialize_job)[:4]
    assert {member.decode() for member in await redis.zrange(QUEUE_NAME, 0, -1)} == {accepted.job_id, "by-arq"}
    ttls = [await redis.pttl(keys.JOB + name) for name in (accepted.job_id, "by-arq")]
    assert all(JOB_EXPIRES_MS - 60_000 < ttl <= JOB_EXPIRES_MS for ttl in ttls)
    # arq reads ours as a job of its own: its status, its function and its arguments.
    info: Any = await ArqJob(accepted.job_id, arq, _queue_name=QUEUE_NAME, _deserializer=deserialize_job).info()
    assert info is not None and (info.function, info.kwargs) == (JOB_FUNCTION, kwargs)
    assert await ArqJob(accepted.job_id, arq, _queue_name=QUEUE_NAME).status() is JobStatus.queued


@pytest.mark.e2e  # arq's worker, against the sandboxes served over HTTP
async def test_arqs_worker_runs_the_job_the_script_wrote(
    settings: Settings, redis: Redis, github: GitHubSandbox
) -> None:
    seed_issue(github)
    add_issues(github, {7: "The app crashes on start: a bug."})
    job = triage_job("run-by-arq", number=7)
    accepted = await Ledger(redis).accept(job)
    assert isinstance(accepted, Accepted)
    await run_worker(settings.model_copy(update={"TRIAGE_BATCH_MAX": 1}))
    assert github.issue_labels(ISSUE_REPO, 7) == ["bug"]
    assert await redis.hget(keys.delivery(job.delivery_id), "state") == b"done"  # type: ignore[misc]
