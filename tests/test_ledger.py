"""The delivery ledger on a real Redis: dedupe and enqueue in one atomic script, batched."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.adapters.store.ledger import QUEUE_NAME, Accepted, DeliveryState, Duplicate, Ledger, deserialize_job
from bot.core.ingress.job import TriageJob
from bot.sandbox import redis_server
from tests.helpers import any_job, webhook_bytes


def job(delivery_id: str) -> TriageJob:
    made = any_job(delivery_id)
    assert isinstance(made, TriageJob)
    return made


async def test_concurrent_deliveries_are_each_accepted_once(redis: Redis) -> None:
    ledger = Ledger(redis)
    ids = [f"d{i}" for i in range(300)] + ["d7", "d7", "d42"]  # duplicates inside the same burst
    results = await asyncio.gather(*(ledger.accept(job(i)) for i in ids))
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert len(accepted) == 300
    assert sum(isinstance(r, Duplicate) for r in results) == 3
    # Due in arq's queue, or parked for their installation's turn (bot/adapters/store/fairness.py).
    parked = await redis.llen("hookwise:fair:bulk:461842")  # type: ignore[misc]
    assert await redis.zcard(QUEUE_NAME) + parked == 300
    job_data = deserialize_job(await redis.get("arq:job:d7:1"))
    assert job_data["k"] == {"job": json.loads(job("d7").model_dump_json())}


async def test_a_failed_delivery_is_accepted_again_a_done_one_is_not(redis: Redis) -> None:
    ledger = Ledger(redis)
    assert await ledger.accept(job("f")) == Accepted("f:1")
    await ledger.mark("f", DeliveryState.FAILED)
    assert await ledger.accept(job("f")) == Accepted("f:2")  # a new arq job id
    await ledger.mark("f", DeliveryState.DONE)
    assert await ledger.accept(job("f")) == Duplicate("done")
    assert await ledger.accept(job("f"), replay=True) == Accepted("f:3")
    assert await ledger.stored("f") == job("f")


async def test_each_delivery_of_one_batch_is_decided_by_its_own_replay_flag(redis: Redis) -> None:
    ledger = Ledger(redis)
    for done in ("r1", "r2", "r3"):
        assert await ledger.accept(job(done)) == Accepted(f"{done}:1")
        await ledger.mark(done, DeliveryState.DONE)
    # One batch: the flags are positional, so a replay in the middle must not leak to its neighbours.
    results = await asyncio.gather(
        ledger.accept(job("r1")),
        ledger.accept(job("r2"), replay=True),
        ledger.accept(job("new")),
        ledger.accept(job("r3")),
        ledger.accept(job("r3"), replay=True),
    )
    assert list(results) == [
        Duplicate("done"),
        Accepted("r2:2"),
        Accepted("new:1"),
        Duplicate("done"),
        Accepted("r3:2"),
    ]
    assert await redis.hget("hookwise:delivery:r2", "attempt") == b"2"  # type: ignore[misc]
    assert await redis.zscore(QUEUE_NAME, "r3:2") is not None
    assert await redis.ttl("hookwise:delivery:new") > 3 * 24 * 3600


async def test_marking_an_expired_record_does_not_resurrect_it(redis: Redis) -> None:
    await Ledger(redis).mark("gone", DeliveryState.DONE)
    assert await redis.exists("hookwise:delivery:gone") == 0


async def test_scripts_flushed_by_a_redis_restart_are_loaded_again(redis: Redis) -> None:
    ledger = Ledger(redis)
    assert isinstance(await ledger.accept(job("a")), Accepted)
    await redis.script_flush()
    results = await asyncio.gather(*(ledger.accept(job(f"b{i}")) for i in range(5)))
    assert all(isinstance(r, Accepted) for r in results)


async def test_redis_unreachable_fails_every_waiting_call() -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{redis_server.free_port()}", socket_connect_timeout=1)
    ledger = Ledger(client)
    results = await asyncio.gather(*(ledger.accept(job(f"x{i}")) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RedisConnectionError | OSError) for r in results)
    await client.aclose()


@pytest.mark.parametrize("path", ["pull_request/closed.merged.app.json"])
async def test_job_is_json_not_pickle(redis: Redis, path: str) -> None:
    await Ledger(redis).accept(job("j").model_copy(update={"number": json.loads(webhook_bytes(path))["number"]}))
    raw = await redis.get("arq:job:j:1")
    assert json.loads(raw)["f"] == "process_delivery"
