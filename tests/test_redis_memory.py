"""A Redis that cannot drop jobs, through the real processes (bot/adapters/store/redis_policy.py,
bot/web/webhook.py): against a Redis that may evict, the web and the worker each log one warning
line naming `maxmemory-policy` (and the status page says it); against a full Redis under
`noeviction`, a delivery is answered 503, logged as Redis out of memory and not remembered, and is
accepted once memory frees."""

from __future__ import annotations

import base64
import html
import os

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError

from bot.adapters.store import keys
from bot.sandbox import redis_server
from bot.sandbox.github import GitHubSandbox
from tests.helpers import HOOK, MERGED, PR_NUMBER, PR_REPO, Processes, delivery_headers, guid, healthy, seed_merged_pr
from tests.helpers import wait_until as wait
from tests.test_processes import start_web, start_worker

PASSWORD = "status please"


def policy_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "maxmemory-policy" in line]


async def status_page(session: aiohttp.ClientSession, base: str) -> str:
    auth = {"Authorization": "Basic " + base64.b64encode(f"ops:{PASSWORD}".encode()).decode()}
    async with session.get(f"{base}/status", headers=auth) as response:
        assert response.status == 200
        return await response.text()


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--maxmemory-policy", "allkeys-lru"], "Redis maxmemory-policy is allkeys-lru, not noeviction"),
        (["--rename-command", "CONFIG", ""], "could not read Redis's maxmemory-policy (CONFIG GET refused"),
    ],
)
async def test_both_processes_warn_once_when_redis_may_evict_or_will_not_say(
    processes: Processes, session: aiohttp.ClientSession, options: list[str], said: str
) -> None:
    server = redis_server.start(options=options)
    try:
        processes.env.update(REDIS_URL=server.url, STATUS_PASSWORD=PASSWORD)
        base = start_web(processes, "web")
        start_worker(processes, "worker")
        await wait(lambda: healthy(session, f"{base}/readyz"), "the web ready")
        for name in ("web", "worker"):
            await wait(lambda name=name: bool(policy_lines(processes.log(name))), f"the {name}'s warning")
        for name in ("web", "worker"):
            [line] = policy_lines(processes.log(name))  # one line, once
            assert "level=WARNING" in line and said in line, line
        assert said in html.unescape(await status_page(session, base))
    finally:
        server.stop()


async def test_a_full_redis_answers_503_remembers_nothing_and_accepts_the_delivery_once_memory_frees(
    processes: Processes, github: GitHubSandbox, session: aiohttp.ClientSession
) -> None:
    seed_merged_pr(github)
    server = redis_server.start()  # noeviction: Redis's default
    redis = Redis.from_url(server.url)
    try:
        processes.env["REDIS_URL"] = server.url
        base = start_web(processes, "web")
        start_worker(processes, "worker")
        await wait(lambda: healthy(session, f"{base}/readyz"), "the web ready")
        await wait(lambda: "worker ready" in processes.log("worker"), "the worker ready")
        assert policy_lines(processes.log("web")) == []  # noeviction: nothing to warn about

        # 4 MB of ballast, then maxmemory 1 MB below what is used: Redis is full (noeviction refuses writes).
        ballast = [f"ballast:{n}" for n in range(256)]
        for key in ballast:
            await redis.set(key, os.urandom(16 * 1024))
        used = int((await redis.info("memory"))["used_memory"])
        await redis.config_set("maxmemory", used - 1024 * 1024)
        with pytest.raises(OutOfMemoryError):
            await redis.set("one-more", "x")

        headers = delivery_headers("pull_request", MERGED, "while-full")
        async with session.post(f"{base}{HOOK}", data=MERGED, headers=headers) as response:
            assert response.status == 503
            assert "not accepted" in (await response.json())["error"]
        await wait(lambda: "Redis out of memory" in processes.log("web"), "the web to log it")
        assert not await redis.exists(keys.delivery(guid("while-full")))  # nothing remembered

        await redis.delete(*ballast)  # memory frees
        async with session.post(f"{base}{HOOK}", data=MERGED, headers=headers) as response:
            assert (response.status, (await response.json())["status"]) == (202, "queued")
        await wait(
            lambda: any(c["user"]["login"] == "hookwise[bot]" for c in github.comments(PR_REPO, PR_NUMBER)),
            "the summary, once memory freed",
            limit_s=60,
        )
    finally:
        await redis.aclose()
        server.stop()
