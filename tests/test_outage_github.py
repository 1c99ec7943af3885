"""GitHub answers 503 for 3 minutes while 20 issues and 3 merged pull requests arrive, through the
real processes (a web and two workers): once it is back all are handled within 60 s, each once, none
dead-lettered, and while its breaker was open GitHub got at most one request per 10 s. Prints the
figures it measured (`pytest -n 0 -s`); the scenario is tests/outage_world.py's `ride_out`.
"""

from __future__ import annotations

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.core.operations import breaker
from bot.core.operations.breaker import github_dependency
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox, Injected
from tests.helpers import Processes
from tests.outage_world import ride_out

pytestmark = pytest.mark.minutes  # an outage of 3 minutes: collected first (tests/tiers.py)


@pytest.mark.timeout(480)
async def test_github_down_for_three_minutes_loses_nothing_and_gets_one_probe_at_a_time(
    processes: Processes, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, session: aiohttp.ClientSession
) -> None:
    dependency = github_dependency(github.base_url).key

    def fail(down: bool) -> None:
        github.fail_all(Injected.server_error(503) if down else None)

    await ride_out(processes=processes, github=github, redis=redis, session=session, dependency=dependency,
                   fail=fail, request_times=lambda: [r.at for r in github.requests], what="GitHub")  # fmt: skip
    assert breaker.OPEN_AFTER == 5
