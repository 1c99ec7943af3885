"""Installations kept fair, through the real processes (a web and two workers): installation A has
100 merged pull requests queued (the model takes 2 s each), installation B's merged pull request gets
its summary within 10 s. Prints the figures it measured (`pytest -n 0 -s`).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from tests.helpers import HOOK, Processes, delivery_headers, healthy, merged_pull, seed_merged_pulls, wait_until
from tests.outage_world import MAX_JOBS, figure, post_pull, summaries, workers
from tests.test_forget import merged_delivery
from tests.test_processes import start_web, start_worker

pytestmark = pytest.mark.minutes  # a wave of 100 merges at 2 s of model time each: collected first (tests/tiers.py)


@pytest.mark.timeout(300)
async def test_one_installations_hundred_merges_do_not_hold_up_anothers_summary(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, session: aiohttp.ClientSession
) -> None:
    model.latency_s = 2.0  # every model answer takes 2 s
    wave = range(1000, 1100)
    seed_merged_pulls(github, [merged_pull(n, f"Bump a dependency ({n})", "2026-12-01T10:00:00Z") for n in wave])
    other = merged_delivery(github, "octo-org/other-app", 7777)  # installation B's merged pull request
    base = start_web(processes, "web")
    start_worker(processes, "worker-a")
    start_worker(processes, "worker-b")
    await wait_until(lambda: healthy(session, f"{base}/healthz"), "web up")
    await wait_until(lambda: workers(redis, 2), "both workers' heartbeats")

    started = time.monotonic()
    assert set(await asyncio.gather(*(post_pull(session, base, n) for n in wave))) == {202}
    headers = delivery_headers("pull_request", other, "installation-b")
    async with session.post(f"{base}{HOOK}", data=other, headers=headers) as response:
        assert response.status == 202
    accepted = time.monotonic()
    await wait_until(lambda: bool(summaries(github, 2, "octo-org/other-app")), "B's summary within 10 s", limit_s=10)
    waited = time.monotonic() - accepted
    ahead = sum(1 for n in wave if summaries(github, n))
    figure("fair share: B's summary after its delivery was accepted", f"{waited:.1f} s")
    figure("fair share: A's summaries posted before B's", f"{ahead} of 100")
    assert ahead < 50  # first in, first out would have posted all 100 first

    await wait_until(lambda: all(summaries(github, n) for n in wave), "A's 100 summaries", limit_s=180)
    figure("fair share: A's 100 summaries in", f"{time.monotonic() - started:.1f} s")
    figure("fair share: most model requests at once", model.most_in_flight)
    assert model.most_in_flight <= 2 * MAX_JOBS
    assert all(len(summaries(github, n)) == 1 for n in wave)
