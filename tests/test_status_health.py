"""The status page's health (bot/core/operations/health.py, bot/web/status.py): the workers seen in the last
minute, a plain warning at the top when there is none while jobs wait, each dependency's circuit
breaker and the jobs waiting on it, the jobs parked for fair share, and Redis's eviction policy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from redis.asyncio import Redis

from bot.adapters.store.breakers import Breakers
from bot.adapters.store.fairness import Fairness
from bot.adapters.store.heartbeats import Heartbeat, Heartbeats
from bot.config import Settings, load_settings
from bot.core.errors import TransientError
from bot.core.operations import breaker
from bot.core.operations.breaker import github_dependency
from bot.core.operations.health import DependencyRow, Health, WorkerRow, eviction_warning, warnings
from bot.web.app import create_app
from tests.helpers import MERGED, deliver

if TYPE_CHECKING:
    from tests.browser import Browser

PASSWORD = "a status password"
NOW = 1_700_000_000.0


def basic(password: str = PASSWORD) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()}


@pytest.fixture
def status_settings(settings_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    return load_settings(**settings_env, STATUS_PASSWORD=PASSWORD)


# -- the pure part -------------------------------------------------------------------------------------


def test_no_worker_while_jobs_wait_is_the_first_thing_said() -> None:
    health = Health(workers=[], jobs_waiting=12)
    [first] = warnings(health, NOW)
    assert (first.key, first.level) == ("no-worker", "error")
    assert first.text.startswith("No worker has been seen in the last minute, and 12 job(s) are waiting")
    assert warnings(Health(workers=[], jobs_waiting=0), NOW) == []  # nothing waits: nothing to say
    alive = WorkerRow("w1", "host", 1, NOW - 60, NOW - 2, 0, 10)
    assert warnings(Health(workers=[alive], jobs_waiting=12), NOW) == []


def test_an_open_breaker_and_an_evicting_redis_are_warnings_too() -> None:
    github = DependencyRow("github:api.github.com", "GitHub api.github.com", True, 7, NOW - 200, NOW + 9,
                           "GitHub api.github.com: server error (503)", 14)  # fmt: skip
    health = Health(workers=[WorkerRow("w", "h", 1, NOW, NOW, 0, 10)], dependencies=[github],
                    eviction_policy="allkeys-lru")  # fmt: skip
    found = warnings(health, NOW)
    assert [w.key for w in found] == ["breaker-github:api.github.com", "eviction"]
    assert found[0].text == (
        "GitHub api.github.com is failing: its circuit breaker has been open for 3 min 20 s; 14 job(s) wait for it "
        "(next probe in 9 s), nothing is lost. Last error: GitHub api.github.com: server error (503)."
    )
    assert "maxmemory-policy is allkeys-lru, not noeviction" in found[1].text


def test_the_eviction_warning_names_maxmemory_policy_or_says_it_could_not_tell() -> None:
    assert eviction_warning("noeviction") is None
    assert "maxmemory-policy" in (eviction_warning("volatile-lru") or "")
    refused = eviction_warning(None, "unknown command 'CONFIG'")
    assert refused is not None and "maxmemory-policy" in refused and "CONFIG GET refused" in refused


# -- the page ------------------------------------------------------------------------------------------


async def test_the_page_shows_the_workers_the_breakers_and_the_jobs_parked(
    aiohttp_client: Any, status_settings: Settings, redis: Redis
) -> None:
    client = await aiohttp_client(create_app(status_settings))
    now = time.time()
    await Heartbeats(redis).beat(Heartbeat(worker_id="box-1:4242:abc", host="box-1", pid=4242, started_at=now - 3600,
                                           seen_at=now, running=3, slots=10, done=57))  # fmt: skip
    github = github_dependency(status_settings.GITHUB_API_URL)
    breakers = Breakers(redis)
    for _ in range(breaker.OPEN_AFTER):
        await breakers.settle(await breakers.gate(github), TransientError("GitHub x: server error (503)", outage=True))
    await breakers.note_waiting(github.key, "d:1", 10)
    await Fairness(redis).set_window(1)
    for name in ("one", "two", "three"):
        assert await deliver(client, "pull_request", MERGED, name) == 202

    page = await (await client.get("/status", headers=basic())).text()
    assert 'id="workers"' in page and "box-1" in page and "3 of 10" in page
    assert 'id="warn-breaker-github:' in page and "GitHub x: server error (503)" in page
    assert '<span class="badge failed">open</span>' in page
    # A job waits on the open breaker already: the backlog is held, all three stay parked.
    assert "3 job(s) of 1 installation(s) parked for fair share" in page
    assert 'id="warn-no-worker"' not in page  # a worker is alive
    assert 'id="warn-eviction"' not in page  # the test Redis runs noeviction


async def test_the_status_page_says_when_no_worker_runs_in_a_browser(
    browser: Browser, aiohttp_client: Any, status_settings: Settings, redis: Redis
) -> None:
    client = await aiohttp_client(create_app(status_settings))
    assert await deliver(client, "pull_request", MERGED, "nobody-takes-it") == 202
    await browser.basic_auth("operator", PASSWORD)
    assert await browser.open(str(client.make_url("/status"))) == 200
    await browser.wait_for_text("No worker has been seen in the last minute", "#warnings")
    assert "1 job(s) are waiting" in await browser.text("#warnings")
    assert "No worker has been seen in the last minute" in await browser.text("#workers")
    assert browser.errors == []
