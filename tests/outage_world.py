"""The outage scenarios' shared world (tests/test_outage_model.py, tests/test_outage_github.py,
tests/test_outages.py): the web and two workers as processes, deliveries posted to them, and a watch
on a breaker's state in Redis. One module per three-minute test, so that pytest-xdist's
`--dist loadfile` runs them side by side.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.heartbeats import Heartbeats
from bot.core.views.comments import SUMMARY_MARKER
from bot.sandbox.github import GitHubSandbox
from tests.helpers import (
    HOOK,
    MERGED,
    PR_REPO,
    Processes,
    bot_label_events,
    delivery_headers,
    guid,
    healthy,
    merged_pull,
    seed_merged_pulls,
    wait_until,
)
from tests.test_processes import meant, open_issues, post_issue, start_web, start_worker

OUTAGE_S = 180.0
ISSUES = range(101, 121)
PULLS = (11, 12, 13)
MAX_JOBS = 10  # bot/worker/settings.py: each worker's slots


def figure(name: str, value: object) -> None:
    print(f"FIGURE {name}: {value}", flush=True)


def merged_body(number: int) -> bytes:
    payload = json.loads(MERGED)
    payload["pull_request"] = merged_pull(number, f"Change {number}", "2026-12-01T10:00:00Z")
    return json.dumps(payload).encode()


async def post_pull(session: aiohttp.ClientSession, base: str, number: int) -> int:
    body = merged_body(number)
    headers = delivery_headers("pull_request", body, f"pull-{number}")
    async with session.post(f"{base}{HOOK}", data=body, headers=headers) as response:
        return response.status


def summaries(github: GitHubSandbox, number: int, repository: str = PR_REPO) -> list[dict[str, Any]]:
    return [
        c for c in github.comments(repository, number)
        if c["user"]["login"] == "hookwise[bot]" and c["body"].startswith(SUMMARY_MARKER)
    ]  # fmt: skip


async def states(redis: Redis, names: Sequence[str]) -> list[bytes | None]:
    return [await redis.hget(keys.delivery(guid(name)), "state") for name in names]  # type: ignore[misc]


class BreakerWatch:
    """Polls one breaker's state in Redis: when this test first saw it open, and closed again."""

    def __init__(self, redis: Redis, key: str) -> None:
        self.redis, self.key = redis, key
        self.opened: float | None = None
        self.closed: float | None = None
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while self.closed is None:
            opened_at = await self.redis.hget(keys.breaker(self.key), "opened_at")  # type: ignore[misc]
            now = time.monotonic()
            if opened_at and self.opened is None:
                self.opened = now
            elif not opened_at and self.opened is not None:
                self.closed = now
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._task.cancel()
        with __import__("contextlib").suppress(asyncio.CancelledError):
            await self._task


def gaps_while_open(times: Sequence[float], opened: float, recovered: float) -> tuple[list[float], int]:
    """The gaps between the requests that reached the service while its breaker was open: after a
    second for the calls already in flight when it opened, up to and including the first request
    once the service is back (the probe that closes it; what follows runs closed). And how many
    arrived in that first second."""
    in_flight = [t for t in times if opened <= t < opened + 1.0]
    probes = sorted(t for t in times if opened + 1.0 <= t < recovered)
    probes += sorted(t for t in times if t >= recovered)[:1]
    return [b - a for a, b in itertools.pairwise(probes)], len(in_flight)


async def ride_out(
    *,
    processes: Processes,
    github: GitHubSandbox,
    redis: Redis,
    session: aiohttp.ClientSession,
    dependency: str,
    fail: Callable[[bool], None],
    request_times: Callable[[], list[float]],
    what: str,
) -> None:
    """The scenario both outages share: 20 issues and 3 merged pull requests arrive while the
    service fails for 3 minutes (half before its breaker opens, half while it is open)."""
    open_issues(github, ISSUES)
    seed_merged_pulls(github, [merged_pull(n, f"Change {n}", "2026-12-01T10:00:00Z") for n in PULLS])
    base = start_web(processes, "web")
    start_worker(processes, "worker-a")
    start_worker(processes, "worker-b")
    await wait_until(lambda: healthy(session, f"{base}/healthz"), "web up")
    await wait_until(lambda: workers(redis, 2), "both workers' heartbeats")
    watch = BreakerWatch(redis, dependency)
    fail(True)
    started = time.monotonic()
    first = [post_issue(session, base, n) for n in ISSUES[:10]] + [post_pull(session, base, PULLS[0])]
    assert set(await asyncio.gather(*first)) == {202}
    await wait_until(lambda: watch.opened is not None, f"the {what} breaker to open", limit_s=90)
    assert watch.opened is not None
    figure(f"{what}: breaker opened after", f"{watch.opened - started:.1f} s")
    rest = [post_issue(session, base, n) for n in ISSUES[10:]] + [post_pull(session, base, n) for n in PULLS[1:]]
    assert set(await asyncio.gather(*rest)) == {202}
    names = [f"issue-{n}" for n in ISSUES] + [f"pull-{n}" for n in PULLS]
    assert b"done" not in await states(redis, names)
    # The outage lasts 3 minutes: its length is the scenario, not a synchronisation.
    await asyncio.sleep(max(OUTAGE_S - (time.monotonic() - started), 0))
    fail(False)
    recovered = time.monotonic()
    await wait_until(
        lambda: _all(redis, names, b"done"), f"all 23 handled within 60 s of the {what}'s recovery", limit_s=60
    )
    handled = time.monotonic() - recovered
    await wait_until(lambda: watch.closed is not None, "the breaker seen closed")
    await watch.stop()
    assert watch.closed is not None

    gaps, in_flight = gaps_while_open(request_times(), watch.opened, recovered)
    open_s = watch.closed - watch.opened
    figure(f"{what}: all 23 handled after its recovery in", f"{handled:.1f} s")
    figure(f"{what}: breaker open for", f"{open_s:.0f} s, closed {watch.closed - recovered:.1f} s after recovery")
    figure(f"{what}: requests while open (after the first second)", f"{len(gaps) + 1 if gaps else 0}")
    figure(f"{what}: requests in flight when it opened", in_flight)
    figure(f"{what}: smallest gap between requests while open", f"{min(gaps):.1f} s" if gaps else "-")
    assert all(gap >= 10.0 for gap in gaps), gaps  # at most one request per 10 s while open
    assert len(gaps) + 1 <= open_s / 10 + 1

    assert await redis.zcard(keys.DEAD) == 0  # none dead-lettered
    for number in ISSUES:
        assert bot_label_events(github, number) == meant(number), number  # labelled once, its own labels
    for number in PULLS:
        assert len(summaries(github, number)) == 1, number  # one summary each
    posts = [r for r in github.requests if r.method == "POST" and r.path.endswith("/comments") and r.status == 201]
    assert len(posts) == len(PULLS)  # no comment written twice


async def workers(redis: Redis, count: int) -> bool:
    return len(await Heartbeats(redis).seen()) >= count


async def _all(redis: Redis, names: Sequence[str], state: bytes) -> bool:
    return all(found == state for found in await states(redis, names))
