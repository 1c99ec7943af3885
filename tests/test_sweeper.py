"""The sweeper: which lost deliveries to redeliver (pure), and asking GitHub for them through the real
GitHubApp against the sandbox GitHub over a real socket, with a real Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.adapters.github import GitHubApp, GitHubBackend
from bot.adapters.store import keys
from bot.adapters.store.ledger import DeliveryState, Ledger
from bot.adapters.store.redeliveries import REQUESTED_TTL_S
from bot.config import Settings
from bot.core.ingress.redelivery import (
    MAX_AGE,
    Delivery,
    Requested,
    SweepError,
    SweepReport,
    format_report,
    parse_since,
    plan_redeliveries,
)
from bot.sandbox import inprocess
from bot.sandbox.github import GitHubSandbox, Injected
from bot.worker.deps import Deps
from bot.worker.state import STATE, one_run
from bot.worker.sweeper import OVERLAP, sweep, sweep_job
from tests.helpers import APP_ID, any_job

CHECKPOINT_KEY = keys.SWEEP_CHECKPOINT
requested_key = keys.sweep_requested
delivery_key = keys.delivery

NOW = datetime(2024, 5, 6, 12, 0, 0, tzinfo=UTC)

# GitHub's documented example of one item of `GET /app/hook/deliveries`.
DOCS_ITEM: dict[str, Any] = {
    "id": 12345678,
    "guid": "0b989ba4-242f-11e5-81e1-c7b6966d2516",
    "delivered_at": "2019-06-03T00:57:16Z",
    "redelivery": False,
    "duration": 0.27,
    "status": "OK",
    "status_code": 200,
    "event": "issues",
    "action": "opened",
    "installation_id": 123,
    "repository_id": 456,
    "throttled_at": "2019-06-03T00:57:16Z",
}

STATUS = {200: "OK", 202: "OK", 0: "timed out"}


def attempt(
    id: int,
    guid: str,
    minutes_ago: float,
    status_code: int,
    *,
    event: str = "pull_request",
    action: str | None = "closed",
    redelivery: bool = False,
) -> Delivery:
    """An attempt as GitHub lists it (the API's JSON, parsed the way the sweeper parses it)."""
    return Delivery.model_validate(
        {
            **DOCS_ITEM,
            "id": id,
            "guid": guid,
            "delivered_at": (NOW - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "redelivery": redelivery,
            "status": STATUS.get(status_code, f"Invalid HTTP Response: {status_code}"),
            "status_code": status_code,
            "event": event,
            "action": action,
        }
    )


# -- the pure decision -----------------------------------------------------------------------


def test_delivery_parses_githubs_json() -> None:
    delivery = Delivery.model_validate(DOCS_ITEM)
    assert delivery.id == 12345678
    assert delivery.guid == "0b989ba4-242f-11e5-81e1-c7b6966d2516"
    assert delivery.delivered_at == datetime(2019, 6, 3, 0, 57, 16, tzinfo=UTC)
    assert delivery.ok and delivery.name == "issues.opened"
    assert not hasattr(delivery, "throttled_at")
    assert Delivery.model_validate({**DOCS_ITEM, "action": None, "event": "ping"}).name == "ping"


def test_chooses_only_events_with_no_2xx_attempt() -> None:
    deliveries = [
        attempt(6, "fine", 5, 200),
        attempt(5, "recovered", 8, 202, redelivery=True),
        attempt(4, "timed-out", 9, 0),
        attempt(3, "recovered", 10, 503),
        attempt(2, "broken", 11, 500),
        attempt(1, "down", 12, 503),
    ]
    chosen = plan_redeliveries(deliveries, accepted=set(), requested=set(), cap=50).chosen
    assert [(d.guid, d.id) for d in chosen] == [("down", 1), ("broken", 2), ("timed-out", 4)]


def test_skips_accepted_and_already_requested_events() -> None:
    deliveries = [attempt(3, "accepted", 1, 0), attempt(2, "requested", 2, 503), attempt(1, "lost", 3, 503)]
    plan = plan_redeliveries(deliveries, accepted={"accepted"}, requested={"requested"}, cap=50)
    assert [d.guid for d in plan.chosen] == ["lost"]
    assert (plan.failed_guids, plan.skipped_accepted, plan.skipped_already_requested) == (3, 1, 1)


def test_redelivers_an_events_most_recent_attempt() -> None:
    deliveries = [
        attempt(30, "lost", 5, 503, redelivery=True),  # a maintainer's redelivery, failed too
        attempt(20, "other", 10, 500),
        attempt(10, "lost", 60, 503),
    ]
    chosen = plan_redeliveries(deliveries, accepted=set(), requested=set(), cap=50).chosen
    # Ordered by when the event first happened, redelivered through its latest attempt.
    assert [(d.guid, d.id) for d in chosen] == [("lost", 30), ("other", 20)]


def test_cap_takes_the_oldest_first_and_defers_the_rest() -> None:
    deliveries = [attempt(i, f"g{i}", 100 - i, 503) for i in range(1, 8)][::-1]  # newest first, like GitHub
    plan = plan_redeliveries(deliveries, accepted=set(), requested=set(), cap=3)
    assert [d.guid for d in plan.chosen] == ["g1", "g2", "g3"]
    assert [d.guid for d in plan.deferred] == ["g4", "g5", "g6", "g7"]
    assert plan_redeliveries(deliveries, accepted=set(), requested=set(), cap=0).chosen == []
    with pytest.raises(ValueError, match="cap"):
        plan_redeliveries(deliveries, accepted=set(), requested=set(), cap=-1)


def test_same_second_attempts_are_ordered_by_id() -> None:
    deliveries = [attempt(9, "b", 1, 503), attempt(8, "a", 1, 503), attempt(11, "a", 1, 0)]
    chosen = plan_redeliveries(deliveries, accepted=set(), requested=set(), cap=50).chosen
    assert [(d.guid, d.id) for d in chosen] == [("a", 11), ("b", 9)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        (" 1h30m ", timedelta(minutes=90)),
        ("2H", timedelta(hours=2)),
        ("10d", MAX_AGE),  # GitHub keeps no more than 3 days
    ],
)
def test_parse_since(text: str, expected: timedelta) -> None:
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "2", "h", "2 hours", "-2h", "2h-", "1.5h", "0m", "2w"])
def test_parse_since_rejects_what_it_cannot_read(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration"):
        parse_since(text)


def test_format_report() -> None:
    report = SweepReport(
        since=NOW - timedelta(hours=2),
        listed=40,
        failed_guids=4,
        requested=[Requested("72d3162e-cc78-11e3-81ab-4c9367dc0958", "pull_request.closed", 3000)],
        skipped_accepted=2,
        skipped_already_requested=0,
        deferred=0,
        errors=[SweepError("0b989ba4-242f-11e5-81e1-c7b6966d2516", 4000, 404, "GitHub 404: Not Found")],
    )
    text = format_report(report)
    assert "Deliveries since 2024-05-06T10:00:00Z: 40 listed; 4 events never got a 2xx answer" in text
    assert "2 of them accepted by hookwise anyway" in text
    assert (
        "Asked GitHub to redeliver 1:\n  72d3162e-cc78-11e3-81ab-4c9367dc0958  pull_request.closed  (delivery 3000)"
        in text
    )
    assert "0b989ba4-242f-11e5-81e1-c7b6966d2516  (delivery 4000): GitHub 404: Not Found" in text
    assert "Nothing redelivered." in format_report(SweepReport(since=NOW))


# -- through the real GitHubApp, the sandbox GitHub and a real Redis ---------------------------


@pytest.fixture
def backend(github: GitHubSandbox) -> GitHubBackend:
    return inprocess.github_backend(github)


@pytest.fixture
def app(backend: GitHubBackend, private_key: str, github: GitHubSandbox) -> GitHubApp:
    return GitHubApp(backend, app_id=APP_ID, private_key=private_key, base_url=github.base_url)


def add(
    github: GitHubSandbox, guid: str, minutes_ago: float, status_code: int, *, now: datetime = NOW, **kwargs: Any
) -> int:
    return github.add_delivery(
        guid=guid,
        event=kwargs.pop("event", "pull_request"),
        action=kwargs.pop("action", "closed"),
        status_code=status_code,
        delivered_at=now - timedelta(minutes=minutes_ago),
        installation_id=461842,
        repository_id=186853002,
        **kwargs,
    )


def list_requests(github: GitHubSandbox) -> int:
    return sum(1 for r in github.requests if r.method == "GET" and r.path == "/app/hook/deliveries")


async def test_redelivers_exactly_the_lost_deliveries(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    down = add(github, "down", 50, 503)
    broken = add(github, "broken", 40, 500)
    timed_out = add(github, "timed-out", 30, 0)
    add(github, "recovered", 45, 503)
    add(github, "recovered", 20, 200, redelivery=True)
    add(github, "fine", 25, 202)
    add(github, "accepted-late", 35, 0)  # GitHub gave up waiting, but hookwise had queued it
    add(github, "dead-letter", 15, 503)
    ledger = Ledger(redis)
    await ledger.accept(any_job("accepted-late"))
    await ledger.accept(any_job("dead-letter"))
    await ledger.mark("dead-letter", DeliveryState.FAILED)  # for `python -m bot replay`, not the sweeper

    report = await sweep(app, redis, now=NOW)

    assert github.redelivery_requests == [down, broken, timed_out]  # oldest first
    assert report.requested == [
        Requested("down", "pull_request.closed", down),
        Requested("broken", "pull_request.closed", broken),
        Requested("timed-out", "pull_request.closed", timed_out),
    ]
    assert (report.listed, report.failed_guids, report.skipped_accepted, report.skipped_already_requested) == (
        8,
        5,
        2,
        0,
    )
    assert report.errors == [] and report.deferred == 0
    for guid in ("down", "broken", "timed-out"):
        assert await redis.get(requested_key(guid)) == b"requested"
        assert 0 < await redis.ttl(requested_key(guid)) <= REQUESTED_TTL_S
    assert not await redis.exists(requested_key("recovered"), requested_key("accepted-late"))
    assert await redis.get(CHECKPOINT_KEY) == (NOW - timedelta(minutes=15)).isoformat().encode()


async def test_does_not_ask_twice(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    lost = add(github, "lost", 10, 503)
    await sweep(app, redis, now=NOW)
    assert github.redelivery_requests == [lost]
    add(github, "lost", 9, 503, redelivery=True)  # our redelivery failed too (Redis still down)

    again = await sweep(app, redis, now=NOW + timedelta(minutes=1), since=timedelta(hours=1))

    assert github.redelivery_requests == [lost]
    assert again.requested == [] and again.skipped_already_requested == 1


async def test_lists_back_to_the_checkpoint_only(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    add(github, "first", 30, 200)
    await sweep(app, redis, now=NOW)  # checkpoint: 30 minutes ago
    assert github.redelivery_requests == []
    add(github, "before-checkpoint", 30 + OVERLAP.total_seconds() / 60 + 1, 503)
    written_late = add(github, "written-late", 32, 503)  # within the overlap
    newer = add(github, "newer", 10, 503)

    report = await sweep(app, redis, now=NOW + timedelta(minutes=5))

    assert github.redelivery_requests == [written_late, newer]
    assert report.since == NOW - timedelta(minutes=30) - OVERLAP
    assert report.listed == 3  # listing stopped at the first delivery older than that


async def test_never_looks_back_past_three_days(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    add(github, "too-old", MAX_AGE.total_seconds() / 60 + 1, 503)
    recent = add(github, "recent", 60 * 24 * 2, 503)
    await redis.set(CHECKPOINT_KEY, (NOW - timedelta(days=10)).isoformat())

    report = await sweep(app, redis, now=NOW)

    assert github.redelivery_requests == [recent]
    assert report.since == NOW - MAX_AGE


async def test_since_overrides_and_keeps_the_checkpoint(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    add(github, "three-hours-ago", 180, 503)
    recent = add(github, "an-hour-ago", 60, 503)
    await redis.set(CHECKPOINT_KEY, (NOW - timedelta(days=1)).isoformat())

    report = await sweep(app, redis, now=NOW, since=parse_since("2h"))

    assert github.redelivery_requests == [recent]
    assert report.checkpoint is None
    assert await redis.get(CHECKPOINT_KEY) == (NOW - timedelta(days=1)).isoformat().encode()


async def test_cap_drains_a_backlog_in_order(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    ids = [add(github, f"lost-{n}", 60 - n, 503) for n in range(5)]  # lost-0 is the oldest
    add(github, "fine", 1, 200)

    first = await sweep(app, redis, now=NOW, cap=2)
    assert github.redelivery_requests == ids[:2] and first.deferred == 3
    assert first.checkpoint == NOW - timedelta(minutes=58)  # held at the oldest event left
    second = await sweep(app, redis, now=NOW + timedelta(minutes=5), cap=2)
    assert github.redelivery_requests == ids[:4] and second.deferred == 1
    third = await sweep(app, redis, now=NOW + timedelta(minutes=10), cap=2)
    assert github.redelivery_requests == ids and third.deferred == 0
    assert third.checkpoint == NOW - timedelta(minutes=1)  # nothing left: the newest delivery seen


async def test_follows_cursor_pagination(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    lost = [add(github, f"lost-{n}", 200 - n / 2, 503 if n % 2 else 200) for n in range(250)]

    report = await sweep(app, redis, now=NOW, cap=500, since=timedelta(hours=4))

    assert report.listed == 250
    assert list_requests(github) == 3  # 100 + 100 + 50
    assert github.redelivery_requests == lost[1::2]


async def test_stops_fetching_pages_past_the_cutoff(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    for n in range(100):
        add(github, f"old-{n}", 600 + n, 503)
    new = [add(github, f"new-{n}", 25 - n / 2, 503) for n in range(25)]

    await sweep(app, redis, now=NOW, since=timedelta(minutes=30), per_page=10)

    assert sorted(github.redelivery_requests) == sorted(new)
    assert list_requests(github) == 3  # 10 + 10 + the page holding the first older delivery
    assert any("cursor" in r.query for r in github.requests if r.path == "/app/hook/deliveries")


class ListsInStep(GitHubApp):
    """The real GitHubApp, except that a listing ends only once every sweep has listed: so all of
    them see the same deliveries and none has yet claimed any, the race two workers can run into."""

    def __init__(self, *args: Any, barrier: asyncio.Barrier, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._barrier = barrier

    async def app_iter(self, url: str) -> AsyncIterator[dict[str, Any]]:
        async for item in super().app_iter(url):
            yield item
        await self._barrier.wait()


async def test_concurrent_sweeps_request_each_event_once(
    backend: GitHubBackend, private_key: str, github: GitHubSandbox, redis: Redis
) -> None:
    lost = [add(github, f"lost-{n}", 30 - n, 503) for n in range(20)]
    barrier = asyncio.Barrier(4)
    apps = [
        ListsInStep(backend, app_id=APP_ID, private_key=private_key, base_url=github.base_url, barrier=barrier)
        for _ in range(4)
    ]

    reports = await asyncio.gather(*(sweep(app, redis, now=NOW) for app in apps))

    assert sorted(github.redelivery_requests) == sorted(lost)  # each exactly once
    assert sum(len(r.requested) for r in reports) == 20
    assert sum(r.skipped_already_requested for r in reports) == 3 * 20  # lost the claim, or saw it
    assert all(r.listed == 20 for r in reports)


async def test_a_failed_request_does_not_stop_the_others(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    gone = add(github, "gone", 30, 503)
    flaky = add(github, "flaky", 20, 503)
    lost = add(github, "lost", 10, 503)
    add(github, "fine", 5, 200)
    github.fail_next("POST", rf"/app/hook/deliveries/{gone}/attempts", Injected.not_found())
    github.fail_next("POST", rf"/app/hook/deliveries/{flaky}/attempts", Injected.server_error(502))

    report = await sweep(app, redis, now=NOW)

    assert github.redelivery_requests == [lost]
    assert report.requested == [Requested("lost", "pull_request.closed", lost)]
    assert [(e.guid, e.id, e.status) for e in report.errors] == [("gone", gone, 404), ("flaky", flaky, 502)]
    assert not await redis.exists(requested_key("gone"), requested_key("flaky"))  # claims released
    # A 502 is worth another try: the checkpoint stays at it; a 404 is not, so it does not hold it.
    assert report.checkpoint == NOW - timedelta(minutes=20)

    retry = await sweep(app, redis, now=NOW + timedelta(minutes=5))
    assert retry.requested == [Requested("flaky", "pull_request.closed", flaky)]
    assert github.redelivery_requests == [lost, flaky]


async def test_dry_run_asks_for_nothing(
    backend: GitHubBackend, private_key: str, github: GitHubSandbox, redis: Redis
) -> None:
    lost = add(github, "lost", 10, 503)
    dry = GitHubApp(backend, app_id=APP_ID, private_key=private_key, base_url=github.base_url, dry_run=True)

    report = await sweep(dry, redis, now=NOW)

    assert github.redelivery_requests == [] and not any(r.method == "POST" for r in github.requests)
    assert report.dry_run and report.requested == [Requested("lost", "pull_request.closed", lost)]
    assert not await redis.exists(requested_key("lost"))
    assert "Would ask (dry-run) GitHub to redeliver 1" in format_report(report)


async def test_sweep_job_for_arq_cron(
    settings: Settings, deps: Deps, github: GitHubSandbox, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)  # the cron job sweeps up to the real now
    lost = add(github, "lost", 10, 503, now=now, event="issues", action="opened")
    await redis.hset(delivery_key("queued"), mapping={"state": "queued"})  # type: ignore[misc]
    add(github, "queued", 11, 0, now=now)
    caplog.set_level("INFO", logger="hookwise.sweeper")

    result = await sweep_job({STATE: one_run(settings, deps, redis), "redis": redis})  # as arq calls it

    assert github.redelivery_requests == [lost]
    assert json.loads(json.dumps(result)) == result  # arq stores results as JSON
    assert result["requested"] == [{"guid": "lost", "event": "issues.opened", "id": lost}]
    assert result["skipped_accepted"] == 1 and result["errors"] == []
    [line] = [r.getMessage() for r in caplog.records if "listed=" in r.getMessage()]
    assert "requested=1" in line and "skipped_accepted=1" in line


async def test_the_first_scheduled_run_looks_back_an_hour(app: GitHubApp, github: GitHubSandbox, redis: Redis) -> None:
    recent = add(github, "recent", 30, 503)
    add(github, "older", 120, 503)  # for `python -m bot redeliver --since 3h`
    await sweep(app, redis, now=NOW)
    assert github.redelivery_requests == [recent]
