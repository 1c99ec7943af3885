"""Fair share between installations on a real Redis (bot/adapters/store/fairness.py): the accept
script parks each job in its installation's backlog, and the promotion moves them into arq's
queue in round-robin order, a maintainer's command first, while fewer than a window are due."""

from __future__ import annotations

import time

from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.fairness import Fairness
from bot.adapters.store.ledger import Accepted, Ledger
from bot.core.ingress.job import Job
from tests.helpers import command_job, summary_job

A, B, C = 111, 222, 333


def merged(name: str, installation: int, number: int = 2) -> Job:
    return summary_job(name, number=number).model_copy(update={"installation_id": installation})


def command(name: str, installation: int) -> Job:
    return command_job(name, "@hookwise summarize").model_copy(update={"installation_id": installation})


async def due(redis: Redis) -> list[str]:
    now_ms = int(time.time() * 1000) + 1
    return [raw.decode() for raw in await redis.zrangebyscore(keys.QUEUE, "-inf", now_ms)]


async def accept(ledger: Ledger, job: Job) -> str:
    result = await ledger.accept(job)
    assert isinstance(result, Accepted)
    return result.job_id


async def finish(redis: Redis, fairness: Fairness, job_id: str) -> None:
    """What the end of a job does: the job promotes (excluding itself), then arq removes it."""
    await fairness.promote(exclude=job_id)
    await redis.zrem(keys.QUEUE, job_id)


async def test_a_second_installation_goes_next_however_long_the_first_ones_backlog(redis: Redis) -> None:
    ledger, fairness = Ledger(redis), Fairness(redis)
    a_jobs = [await accept(ledger, merged(f"a-{n}", A, n)) for n in range(100)]
    assert set(await due(redis)) == set(a_jobs[:10])  # a window of ten, in order
    assert await redis.llen(keys.FAIR_BULK + str(A)) == 90  # type: ignore[misc]
    b_job = await accept(ledger, merged("b-1", B))
    assert b_job not in await due(redis)  # the queue is full: parked, at the head of the ring
    await finish(redis, fairness, a_jobs[0])  # the first slot to free goes to B
    assert b_job in await due(redis)
    await finish(redis, fairness, a_jobs[1])
    assert a_jobs[10] in await due(redis)  # then A again


async def test_turns_alternate_between_installations_with_work_parked(redis: Redis) -> None:
    ledger, fairness = Ledger(redis), Fairness(redis)
    await fairness.set_window(1)
    first = await accept(ledger, merged("a-0", A, 0))
    parked = {A: [await accept(ledger, merged(f"a-{n}", A, n)) for n in range(1, 4)]}
    parked[B] = [await accept(ledger, merged(f"b-{n}", B, n)) for n in range(3)]
    parked[C] = [await accept(ledger, merged(f"c-{n}", C, n)) for n in range(2)]
    order = []
    running = first
    for _ in range(8):
        await finish(redis, fairness, running)
        [running] = await due(redis)
        order.append(next(inst for inst, ids in parked.items() if running in ids))
    assert order == [C, B, A, C, B, A, B, A]  # newcomers first, then round robin; none waits behind a backlog


async def test_a_maintainers_command_goes_before_bulk_work_of_the_same_installation(redis: Redis) -> None:
    ledger, fairness = Ledger(redis), Fairness(redis)
    await fairness.set_window(1)
    running = await accept(ledger, merged("a-0", A, 0))
    for n in range(1, 6):
        await accept(ledger, merged(f"a-{n}", A, n))
    urgent = await accept(ledger, command("a-command", A))
    await finish(redis, fairness, running)
    assert await due(redis) == [urgent]


async def test_the_window_is_the_workers_slots(redis: Redis) -> None:
    ledger, fairness = Ledger(redis), Fairness(redis)
    assert await fairness.window() is None  # no heartbeat yet: promote uses its default
    await fairness.set_window(3)
    assert await fairness.window() == 3
    jobs = [await accept(ledger, merged(f"a-{n}", A, n)) for n in range(8)]
    assert set(await due(redis)) == set(jobs[:3])
    await fairness.set_window(5)  # a worker more (its heartbeat renews the window)
    assert await fairness.promote() == 2
    assert len(await due(redis)) == 5


async def test_deferred_retries_leave_room_and_need_no_turn_when_they_come_back(redis: Redis) -> None:
    ledger, fairness = Ledger(redis), Fairness(redis)
    await fairness.set_window(2)
    retried, other = [await accept(ledger, merged(f"a-{n}", A, n)) for n in range(2)]
    rest = [await accept(ledger, merged(f"a-{n}", A, n)) for n in range(2, 6)]
    # arq defers `retried` (its score moves into the future): the job's end promotes one more.
    await fairness.promote(exclude=retried)
    await redis.zadd(keys.QUEUE, {retried: int(time.time() * 1000) + 60_000})
    assert set(await due(redis)) == {other, rest[0]}
    # When its time comes it is due at once, whatever is parked: retries are never starved.
    await redis.zadd(keys.QUEUE, {retried: int(time.time() * 1000) - 1})
    assert set(await due(redis)) == {retried, other, rest[0]}
    assert await fairness.promote() == 0  # the queue is over its window: nothing more until jobs end


async def test_an_open_breaker_holds_the_backlog_back_but_one_job_to_carry_the_probe(redis: Redis) -> None:
    ledger, fairness = Ledger(redis), Fairness(redis)
    await redis.zadd(keys.BREAKERS_OPEN, {"model:anthropic:api.anthropic.com:m": time.time() + 15})
    jobs = [await accept(ledger, merged(f"a-{n}", A, n)) for n in range(5)]
    assert await due(redis) == jobs[:1]
    # That job waits on the breaker (deferred, noted as waiting): nothing more comes in.
    await redis.zadd(keys.QUEUE, {jobs[0]: int(time.time() * 1000) + 15_000})
    await redis.zadd(keys.BREAKER_WAITING + "model:anthropic:api.anthropic.com:m", {"digest": time.time() + 17})
    assert await fairness.promote() == 0
    await redis.delete(keys.BREAKERS_OPEN)  # closed: the backlog drains at the window's pace
    assert await fairness.promote() == 4


async def test_a_breaker_nobody_probes_any_more_holds_nothing(redis: Redis) -> None:
    ledger = Ledger(redis)
    # Open, its probe due for ten minutes: a model no job asks for since the configuration changed.
    await redis.zadd(keys.BREAKERS_OPEN, {"model:anthropic:api.anthropic.com:old": time.time() - 600})
    jobs = [await accept(ledger, merged(f"a-{n}", A, n)) for n in range(5)]
    assert set(await due(redis)) == set(jobs)


async def test_the_parked_view_counts_per_installation(redis: Redis) -> None:
    ledger, fairness = Ledger(redis), Fairness(redis)
    await fairness.set_window(1)
    for n in range(4):
        await accept(ledger, merged(f"a-{n}", A, n))
    await accept(ledger, merged("b-0", B))
    await accept(ledger, command("b-command", B))
    parked = await fairness.parked()
    assert (parked.total, parked.installations) == (5, 2)
    assert parked.largest == ((A, 0, 3), (B, 1, 1))
