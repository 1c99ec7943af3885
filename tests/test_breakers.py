"""Circuit breakers in a real Redis, shared by every worker (bot/adapters/store/breakers.py), and
the guard around real calls through the sandboxes (bot/adapters/guard.py): the real gidgethub and
anthropic SDK code paths, failing on purpose."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.adapters.github import GitHubApp
from bot.adapters.guard import Guard
from bot.adapters.guarded_llm import GuardedLLM
from bot.adapters.llm import AnthropicLLM, Question
from bot.adapters.store import keys
from bot.adapters.store.breakers import STATE_TTL_S, Breakers
from bot.adapters.store.costs import Spending
from bot.config import Settings
from bot.core.errors import CircuitOpen, PermanentError, TransientError
from bot.core.operations import breaker
from bot.core.operations.breaker import github_dependency, model_breaker
from bot.core.summary.answer import PullSummary
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox, Injected
from bot.worker.settings import anthropic_client
from tests.helpers import PR_NUMBER, PR_REPO, seed_merged_pr

pytestmark = pytest.mark.e2e  # the guard around real SDK calls over sockets to the served sandboxes

DEP = breaker.Dependency("github:api.example", "GitHub api.example", "api.example")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def outage(reason: str = "GitHub api.example: server error (503)") -> TransientError:
    return TransientError(reason, outage=True, status=503)


async def fail(breakers: Breakers, times: int) -> None:
    for _ in range(times):
        ticket = await breakers.gate(DEP)
        await breakers.settle(ticket, outage())


async def test_failures_from_several_workers_add_up_and_open_it_for_all(redis: Redis) -> None:
    clock = Clock()
    one, other = Breakers(redis, clock=clock), Breakers(redis, clock=clock)
    await fail(one, 3)
    await fail(other, 1)
    assert not (await one.state(DEP.key)).is_open
    await fail(other, 1)  # the fifth in a row, whichever worker saw it
    with pytest.raises(CircuitOpen) as waiting:
        await one.gate(DEP)
    assert waiting.value.wait_s == pytest.approx(breaker.PROBE_INTERVAL_S)
    assert "waiting for GitHub api.example to recover" in waiting.value.reason
    assert await redis.zscore(keys.BREAKERS_OPEN, DEP.key) is not None


async def test_one_probe_at_a_time_then_a_success_closes_it(redis: Redis) -> None:
    clock = Clock()
    one, other = Breakers(redis, clock=clock), Breakers(redis, clock=clock)
    await fail(one, breaker.OPEN_AFTER)
    clock.now += breaker.PROBE_INTERVAL_S
    probe = await one.gate(DEP)
    assert probe.probe is not None
    with pytest.raises(CircuitOpen) as busy:  # another worker's call while the probe is out
        await other.gate(DEP)
    assert busy.value.wait_s < breaker.PROBE_INTERVAL_S
    await one.settle(probe, None)
    assert not (await one.state(DEP.key)).is_open
    assert (await other.gate(DEP)).probe is None  # closed: calls go
    assert await redis.zscore(keys.BREAKERS_OPEN, DEP.key) is None


async def test_a_worker_that_read_the_state_before_a_probe_failed_does_not_probe_again(redis: Redis) -> None:
    """The race: worker B reads "a probe is due", worker A's probe fails (the next probe moves 15 s
    on) and gives the lease back, then B takes the free lease. B must see the new state and wait."""
    clock = Clock()
    a = Breakers(redis, clock=clock)
    await fail(a, breaker.OPEN_AFTER)
    clock.now += breaker.PROBE_INTERVAL_S
    stale = await a.state(DEP.key)  # what B read: the probe is due

    class ReadEarlier(Breakers):
        reads = 0

        async def state(self, key: str) -> breaker.BreakerState:
            self.reads += 1
            return stale if self.reads == 1 else await super().state(key)

    b = ReadEarlier(redis, clock=clock)
    probe = await a.gate(DEP)
    await a.settle(probe, outage())  # A's probe fails and gives the lease back
    with pytest.raises(CircuitOpen) as waiting:
        await b.gate(DEP)
    assert waiting.value.wait_s == pytest.approx(breaker.PROBE_INTERVAL_S)
    assert await redis.get(keys.BREAKER_PROBE + DEP.key) is None  # B gave the lease back too


async def test_redis_failing_after_the_probe_lease_was_taken_gives_it_back_and_lets_the_call_go(
    redis: Redis,
) -> None:
    clock = Clock()
    await fail(Breakers(redis, clock=clock), breaker.OPEN_AFTER)
    clock.now += breaker.PROBE_INTERVAL_S

    class SecondReadFails(Breakers):
        reads = 0

        async def state(self, key: str) -> breaker.BreakerState:
            self.reads += 1
            if self.reads == 2:  # the read after the lease's SET NX
                raise RedisConnectionError("Connection reset by peer")
            return await super().state(key)

    ticket = await SecondReadFails(redis, clock=clock).gate(DEP)
    assert ticket.probe is None  # as when the breaker is unreadable: the call goes
    assert await redis.get(keys.BREAKER_PROBE + DEP.key) is None  # the lease does not block the next probe


async def test_a_failed_probe_sets_the_next_one_later(redis: Redis) -> None:
    clock = Clock()
    breakers = Breakers(redis, clock=clock)
    await fail(breakers, breaker.OPEN_AFTER)
    clock.now += breaker.PROBE_INTERVAL_S + 1
    probe = await breakers.gate(DEP)
    state = await breakers.settle(probe, outage())
    assert state is not None and state.probe_at == clock.now + breaker.PROBE_INTERVAL_S
    assert await redis.get(keys.BREAKER_PROBE + DEP.key) is None  # the lease is given back


async def test_a_rate_limit_or_a_permanent_error_is_no_outage(redis: Redis) -> None:
    breakers = Breakers(redis, clock=Clock())
    for _ in range(10):
        ticket = await breakers.gate(DEP)
        await breakers.settle(ticket, TransientError("GitHub api.example: rate limit (403)", status=403))
    assert (await breakers.state(DEP.key)).failures == 0
    await fail(breakers, 4)
    ticket = await breakers.gate(DEP)
    await breakers.settle(ticket, PermanentError("GitHub api.example: 404 Not Found", status=404))  # it answered
    assert (await breakers.state(DEP.key)).failures == 0


async def test_waiting_jobs_are_counted_for_the_status_page(redis: Redis) -> None:
    clock = Clock()
    breakers = Breakers(redis, clock=clock)
    await fail(breakers, breaker.OPEN_AFTER)
    for job_id in ("d1:1", "triage-batch:octocat/hello-world:3"):
        await breakers.note_waiting(DEP.key, job_id, 15)
    [view] = await breakers.overview()
    assert (view.label, view.state.is_open, view.waiting) == ("GitHub api.example", True, 2)
    members = await redis.zrange(keys.BREAKER_WAITING + DEP.key, 0, -1)
    assert not any(b"/" in member for member in members)  # job ids are kept as digests
    clock.now += 60  # they have woken since
    assert (await breakers.overview())[0].waiting == 0


async def test_a_dependency_unchanged_for_longer_than_its_state_lives_leaves_the_list(redis: Redis) -> None:
    clock = Clock()
    breakers = Breakers(redis, clock=clock)
    await redis.zadd(keys.BREAKERS, {"github:gone.example": clock.now - STATE_TTL_S - 1})
    await fail(breakers, 1)
    assert [view.key for view in await breakers.overview()] == [DEP.key]


# -- the guard around real SDK calls -------------------------------------------------------------------


async def test_github_503s_open_the_hosts_breaker_then_calls_wait_instead_of_reaching_github(
    settings: Settings, github: GitHubSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    guard = Guard(Breakers(redis))
    async with aiohttp.ClientSession() as session:
        app = GitHubApp.from_settings(session, settings, guard=guard)
        repo = await app.repo(461842, PR_REPO)
        github.fail_all(Injected.server_error(503))
        host = github.base_url.removeprefix("http://")
        errors = []
        for _ in range(breaker.OPEN_AFTER):
            with pytest.raises(TransientError) as failed:
                await repo.pull(PR_NUMBER)
            errors.append(failed.value)
        assert errors[0].reason == f"GitHub {host}: server error (503)"
        assert isinstance(errors[-1], CircuitOpen)  # the fifth opened it: the job waits for the probe
        before = len(github.requests)
        with pytest.raises(CircuitOpen):
            await repo.pull(PR_NUMBER)
        with pytest.raises(CircuitOpen):
            await repo.pull_files(PR_NUMBER)  # a listing too
        assert len(github.requests) == before  # nothing reached GitHub while open
    assert app.dependency == github_dependency(settings.GITHUB_API_URL)


async def test_github_unreachable_is_named_with_its_host(settings: Settings, redis: Redis) -> None:
    from bot.sandbox import redis_server

    port = redis_server.free_port()  # nothing listens there
    async with aiohttp.ClientSession() as session:
        app = GitHubApp(session, app_id=1, private_key=settings.private_key(), base_url=f"http://127.0.0.1:{port}")
        with pytest.raises(TransientError) as refused:
            await app.slug()
    assert refused.value.reason == f"GitHub 127.0.0.1:{port}: connection refused"
    assert refused.value.outage


async def test_the_models_breaker_lets_one_request_through_per_probe(
    settings: Settings, model: AnthropicSandbox, redis: Redis
) -> None:
    clock = Clock()
    guard = Guard(Breakers(redis, clock=clock), clock=clock)
    client = anthropic_client(settings)
    try:
        llm = GuardedLLM(
            AnthropicLLM(client, settings.ANTHROPIC_MODEL),
            guard,
            lambda name: model_breaker(settings.ANTHROPIC_BASE_URL, name),
            settings.ANTHROPIC_MODEL,
        )
        question = Question(system="s", user="u", answer=PullSummary, tool_name="record_summary",
                            tool_description="d")  # fmt: skip
        meter = Spending(redis, tokens_per_day=0).meter(1, "o/r", "summary")
        model.always_fail(529)
        reasons = []
        for _ in range(breaker.OPEN_AFTER + 3):
            with pytest.raises(TransientError) as failed:
                await llm.ask(question, meter=meter)
            reasons.append(failed.value.reason)
        host = model.base_url.removeprefix("http://")
        assert reasons[0] == f"Anthropic {host}: overloaded (529)"
        assert len(model.requests) == breaker.OPEN_AFTER  # then no request while open
        clock.now += breaker.PROBE_INTERVAL_S
        model.always_fail(None)
        answers = await asyncio.gather(*(llm.ask(question, meter=meter) for _ in range(3)), return_exceptions=True)
        assert sum(not isinstance(a, BaseException) for a in answers) == 1  # the probe; the others wait
        assert len(model.requests) == breaker.OPEN_AFTER + 1
        assert (await llm.ask(question, meter=meter)).value  # closed by the probe's success
    finally:
        await client.close()
