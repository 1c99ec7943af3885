"""The model answers 529 for 3 minutes while 20 issues and 3 merged pull requests arrive, through the
real processes (a web and two workers): once it is back all are handled within 60 s, each once, none
dead-lettered, and while its breaker was open the model got at most one request per 10 s. Prints the
figures it measured (`pytest -n 0 -s`); the scenario is tests/outage_world.py's `ride_out`.
"""

from __future__ import annotations

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.core.operations.breaker import model_breaker
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from tests.helpers import Processes
from tests.outage_world import MAX_JOBS, figure, ride_out

pytestmark = pytest.mark.minutes  # an outage of 3 minutes: collected first (tests/tiers.py)


@pytest.mark.timeout(480)
async def test_the_model_down_for_three_minutes_loses_nothing_and_gets_one_probe_at_a_time(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, session: aiohttp.ClientSession
) -> None:
    dependency = model_breaker(model.base_url, "claude-haiku-5-5").key

    def fail(down: bool) -> None:
        model.always_fail(529 if down else None)

    await ride_out(processes=processes, github=github, redis=redis, session=session, dependency=dependency,
                   fail=fail, request_times=lambda: model.request_times, what="model")  # fmt: skip
    figure("model: most requests in flight at once", model.most_in_flight)
    assert model.most_in_flight <= 2 * MAX_JOBS  # within the two workers' concurrency: no storm
