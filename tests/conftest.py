"""Shared fixtures: a real Redis, the sandbox GitHub and Anthropic, settings pointing at them, the
worker's Deps over them, the web app under a test client, and real `python -m bot` processes.

The sandboxes are served over HTTP for the e2e tier only; in the unit tier (tests/tiers.py) they
answer in this process, through the one fake of each kind in bot/sandbox/inprocess.py.

Redis is real: `REDIS_URL` when it is set and answers (on a database index of its own, flushed per
test), otherwise a throwaway redis-server this session starts and stops, so two runs on one machine
never share state. Under pytest-xdist each worker starts its own throwaway server, REDIS_URL or not
(workers sharing a database would flush each other's keys). Nothing is ever skipped.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from redis.asyncio import Redis

from bot.config import Settings, load_settings
from bot.sandbox import anthropic as anthropic_sandbox
from bot.sandbox import github as github_sandbox
from bot.sandbox import inprocess, redis_server
from bot.web.app import create_app
from bot.worker.deps import Deps
from bot.worker.settings import ModelSDKClient, anthropic_client, build_deps, build_llm
from tests.helpers import APP_ID, ROOT, SECRET, Processes

pytest_plugins = [
    "tests.browser",  # the `browser` fixture: a headless Chromium (skips, saying why, without one)
    "tests.tiers",  # the `unit` and `e2e` markers, and the guard that keeps unit tests off sockets and processes
]

TEST_DB = 13  # on a shared REDIS_URL, stay off the databases an application would use


def _on_test_db(url: str) -> str:
    return urlparse(url)._replace(path=f"/{TEST_DB}").geturl()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get("REDIS_URL")
    in_xdist_worker = "PYTEST_XDIST_WORKER" in os.environ  # set by pytest-xdist in each worker
    if configured and not in_xdist_worker and redis_server.reachable(configured):
        yield _on_test_db(configured)
        return
    server = redis_server.start()
    try:
        yield _on_test_db(server.url)
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="session")
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
async def github(private_key: str, request: pytest.FixtureRequest) -> AsyncIterator[github_sandbox.GitHubSandbox]:
    """The sandbox GitHub: served over HTTP for an e2e test, answered in-process for a unit test."""
    sandbox = github_sandbox.GitHubSandbox(app_id=APP_ID, private_key_pem=private_key, app_slug="hookwise")
    if request.node.get_closest_marker("unit"):  # tests/tiers.py
        sandbox.base_url = inprocess.GITHUB_URL
        yield sandbox
        return
    runner, _url = await github_sandbox.start_sandbox(sandbox)
    yield sandbox
    await runner.cleanup()


@pytest.fixture
async def model(request: pytest.FixtureRequest) -> AsyncIterator[anthropic_sandbox.AnthropicSandbox]:
    """The sandbox Anthropic: served over HTTP for an e2e test, answered in-process for a unit test."""
    sandbox = anthropic_sandbox.AnthropicSandbox()
    if request.node.get_closest_marker("unit"):  # tests/tiers.py
        sandbox.base_url = inprocess.MODEL_URL
        yield sandbox
        return
    runner, _url = await anthropic_sandbox.start_sandbox(sandbox)
    yield sandbox
    await runner.cleanup()


@pytest.fixture
def settings_env(
    redis_url: str,
    private_key: str,
    github: github_sandbox.GitHubSandbox,
    model: anthropic_sandbox.AnthropicSandbox,
) -> dict[str, str]:
    """The environment a real deployment would set, pointing at the sandboxes."""
    return {
        "APP_ID": str(APP_ID),
        "PRIVATE_KEY": private_key,
        "WEBHOOK_SECRET": SECRET,
        "REDIS_URL": redis_url,
        "GITHUB_API_URL": github.base_url,
        "ANTHROPIC_API_KEY": model.api_key,
        "ANTHROPIC_BASE_URL": model.base_url,
        "LOG_LEVEL": "debug",
        # Batching stays on (the default) so the suite runs the batched path; a lone issue waits
        # 0.2 s for company instead of 2 s, to keep the suite quick.
        "TRIAGE_BATCH_WAIT_S": "0.2",
    }


@pytest.fixture
def settings(settings_env: dict[str, str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout
    return load_settings(**settings_env)


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, redis: Redis) -> TestClient[Any, Any]:
    """The real web app (`create_app`) on a test server, over the test Redis."""
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    return client


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client for talking to processes the test started (the web's port, /status)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def processes(settings_env: dict[str, str], tmp_path: Path) -> Iterator[Processes]:
    env = {
        **settings_env,
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HOST": "127.0.0.1",
        "PORT": str(redis_server.free_port()),
        "LOG_LEVEL": "info",
    }
    running = Processes(tmp_path, env)
    yield running
    running.stop_all()


@pytest.fixture
def strict_tools() -> bool:
    """MODEL_STRICT_TOOLS for `deps`; a module overrides it to see answers no strict tool constrains."""
    return True


@pytest.fixture
async def model_client(settings: Settings, model: anthropic_sandbox.AnthropicSandbox) -> AsyncIterator[ModelSDKClient]:
    """The anthropic SDK's client as the worker builds it (`anthropic_client`), its transport answered
    by the sandbox model in this process."""
    client = anthropic_client(settings, http_client=inprocess.model_http_client(model))
    yield client
    await client.close()


@pytest.fixture
def deps(
    settings: Settings,
    redis: Redis,
    github: github_sandbox.GitHubSandbox,
    model_client: ModelSDKClient,
    strict_tools: bool,
) -> Deps:
    """What a handler gets in the worker, built the worker's way, over the sandboxes answered in this
    process (gidgethub and the anthropic SDK run; no socket): the unit tier calls the actions
    directly with it (no web app, no arq)."""
    settings = settings.model_copy(update={"MODEL_STRICT_TOOLS": strict_tools})
    return build_deps(
        settings, inprocess.github_backend(github), redis, build_llm(settings, model_client), lock_ttl_s=30
    )
