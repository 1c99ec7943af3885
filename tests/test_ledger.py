"""The delivery ledger on a real Redis: dedupe and enqueue in one atomic script, batched."""

from __future__ import annotations

import asyncio
import json

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.adapters.store.ledger import QUEUE_NAME, Accepted, DeliveryState, Duplicate, Ledger, deserialize_job
from bot.sandbox import redis_server
from tests.helpers import fixture_bytes

PAYLOAD = {"action": "closed", "installation": {"id": 1}, "repository": {"id": 2, "full_name": "o/r"}}


async def test_concurrent_deliveries_are_each_accepted_once(redis: Redis) -> None:
    ledger = Ledger(redis)
    ids = [f"d{i}" for i in range(300)] + ["d7", "d7", "d42"]  # duplicates inside the same burst
    results = await asyncio.gather(*(ledger.accept(i, "pull_request", PAYLOAD) for i in ids))
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert len(accepted) == 300
    assert sum(isinstance(r, Duplicate) for r in results) == 3
    assert await redis.zcard(QUEUE_NAME) == 300
    job = deserialize_job(await redis.get("arq:job:d7:1"))
    assert job["k"] == {"delivery_id": "d7", "event": "pull_request", "payload": PAYLOAD}


async def test_a_failed_delivery_is_accepted_again_a_done_one_is_not(redis: Redis) -> None:
    ledger = Ledger(redis)
    assert await ledger.accept("f", "issues", PAYLOAD) == Accepted("f:1")
    await ledger.mark("f", DeliveryState.FAILED)
    assert await ledger.accept("f", "issues", PAYLOAD) == Accepted("f:2")  # a new arq job id
    await ledger.mark("f", DeliveryState.DONE)
    assert await ledger.accept("f", "issues", PAYLOAD) == Duplicate("done")
    assert await ledger.accept("f", "issues", PAYLOAD, replay=True) == Accepted("f:3")
    assert await ledger.stored("f") == ("issues", PAYLOAD)


async def test_marking_an_expired_record_does_not_resurrect_it(redis: Redis) -> None:
    await Ledger(redis).mark("gone", DeliveryState.DONE)
    assert await redis.exists("hookwise:delivery:gone") == 0


async def test_scripts_flushed_by_a_redis_restart_are_loaded_again(redis: Redis) -> None:
    ledger = Ledger(redis)
    assert isinstance(await ledger.accept("a", "issues", PAYLOAD), Accepted)
    await redis.script_flush()
    results = await asyncio.gather(*(ledger.accept(f"b{i}", "issues", PAYLOAD) for i in range(5)))
    assert all(isinstance(r, Accepted) for r in results)


async def test_redis_unreachable_fails_every_waiting_call() -> None:
    client = Redis.from_url(f"redis://127.0.0.1:{redis_server.free_port()}", socket_connect_timeout=1)
    ledger = Ledger(client)
    results = await asyncio.gather(
        *(ledger.accept(f"x{i}", "issues", PAYLOAD) for i in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError | OSError) for r in results)
    await client.aclose()


@pytest.mark.parametrize("path", ["pull_request/closed.merged.app.json"])
async def test_job_is_json_not_pickle(redis: Redis, path: str) -> None:
    await Ledger(redis).accept("j", "pull_request", {"n": json.loads(fixture_bytes(path))["number"]})
    raw = await redis.get("arq:job:j:1")
    assert json.loads(raw)["f"] == "process_delivery"
