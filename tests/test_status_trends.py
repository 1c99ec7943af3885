"""The status page's warnings, charts and counters: the pure parts over data, the counters over
real Redis and the real web app, the queue-wait/work split over a real worker run."""

from __future__ import annotations

import logging
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.adapters.store import keys
from bot.adapters.store.costs import Spending
from bot.adapters.store.ledger import Ledger
from bot.adapters.store.records import JobRecord, Records
from bot.adapters.store.trends import SignatureFailures, cost_by_day, deliveries_by_hour, signature_failures
from bot.config import Settings
from bot.core.outcome import ModelUsage
from bot.core.views.charts import Series, nice_ceiling, stacked_bars
from bot.core.views.status import (
    BudgetUse,
    DeadLetter,
    QueueView,
    SignatureFailureCount,
    StatusView,
    StatusWarning,
    render_page,
    warnings,
)
from bot.sandbox import redis_server
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from bot.web.app import create_app
from bot.web.keys import SIGNATURE_FAILURES
from tests.helpers import HOOK, MERGED, deliver, delivery_headers, guid, run_worker, seed_merged_pr, summary_job

NOW = 1_796_000_000.0  # a fixed moment: the pure functions take the time as data


def quiet_view(**changes: Any) -> StatusView:
    view = StatusView(
        generated_at=NOW,
        deliveries=[],
        queue=QueueView(depth=0, due=0, running=0, inspected=0),
        dead_letters=[],
        budgets=[],
        agreement=[],
        signature_failures=SignatureFailureCount(),
    )
    return replace(view, **changes)


# -- the warnings: one pure function over the view --------------------------------------------------


def test_a_quiet_deployment_has_no_warning_and_the_page_says_so() -> None:
    assert warnings(quiet_view()) == []
    assert '<p id="all-well">Nothing looks wrong' in render_page(quiet_view())


def test_each_rule_says_what_is_wrong_and_what_to_do_worst_first() -> None:
    view = quiet_view(
        signature_failures=SignatureFailureCount(missing=1, mismatch=12, latest_minute=NOW - 120),
        queue=QueueView(depth=3, due=3, running=0, inspected=3, oldest_waiting_job="j", oldest_waiting_since=NOW - 300),
        budgets=[
            BudgetUse(7, 2_000_000, 2_000_000, skipped=4),
            BudgetUse(8, 1_850_000, 2_000_000),
            BudgetUse(9, 10, 0),
        ],
        dead_letters=[DeadLetter("d", "issues.opened", "o/r", 1, NOW - 60, 5, "GitHub 404")],
        problems=("triage agreement could not be read: timeout",),
        dry_run=True,
    )
    found = warnings(view)
    assert [(w.key, w.level) for w in found] == [
        ("signature", "error"),
        ("queue", "error"),
        ("budget-7", "error"),
        ("signature-missing", "warning"),
        ("budget-8", "warning"),
        ("dead-letters", "warning"),
        ("unreadable-0", "warning"),
        ("dry-run", "note"),
    ]
    by_key = {w.key: w for w in found}
    assert by_key["signature"].text.startswith(
        "12 deliveries refused in the last hour: the signature matches no secret"
    )
    assert "WEBHOOK_SECRET=new,old" in by_key["signature"].fix
    assert by_key["queue"].text.startswith("The oldest job has waited 5 min and no worker has started it")
    assert by_key["budget-7"].text == (
        "Installation 7 has used 100% of today's model budget: its events are skipped until 00:00 UTC (4 so far)."
    )
    assert (
        by_key["budget-8"].text
        == "Installation 8 has used 92% of today's model budget (1,850,000 of 2,000,000 tokens)."
    )
    page = render_page(view)
    assert page.index('id="warnings"') < page.index('class="tiles"')  # at the top
    assert '<li id="warn-signature" class="error">' in page


def test_thresholds_keep_quiet_below_them() -> None:
    view = quiet_view(
        queue=QueueView(depth=1, due=1, running=0, inspected=1, oldest_waiting_job="j", oldest_waiting_since=NOW - 30),
        budgets=[BudgetUse(8, 1_700_000, 2_000_000)],
        dead_letters=[DeadLetter("d", "issues.opened", "o/r", 1, NOW - 90_000, 5, "old")],
    )
    assert warnings(view) == []


def test_another_warning_is_one_more_rule() -> None:
    def no_worker_seen(view: StatusView) -> list[StatusWarning]:
        return [StatusWarning("workers", "error", "No worker seen in the last minute.", "Start python -m bot worker.")]

    assert [w.key for w in warnings(quiet_view(dry_run=True), rules=(no_worker_seen,))] == ["workers"]


# -- the charts: SVG drawn on the server --------------------------------------------------------


def test_stacked_bars_draw_a_bar_per_slot_with_its_figures() -> None:
    svg = stacked_bars(
        chart_id="c",
        label="Deliveries & more",
        x_labels=["10", "11", "12", "13"],
        series=[Series("done", [3, 0, 5, 0]), Series("failed", [1, 0, 0, 0])],
        titles=["10: 3 done, 1 failed", "11: none", "12: 5 done", "13: none <now>"],
        y_format=lambda value: f"{value:.0f}",
        label_every=2,
    )
    root = ET.fromstring(svg)  # well-formed XML: no script, nothing to load
    assert root.tag == "svg" and root.get("aria-label") == "Deliveries & more"
    assert not root.findall(".//script") and "href" not in svg
    assert [t.text for t in root.iter("title")] == ["10: 3 done, 1 failed", "11: none", "12: 5 done", "13: none <now>"]
    assert len(root.findall(".//rect[@class='s-done']")) == 2 and len(root.findall(".//rect[@class='s-failed']")) == 1
    assert [t.text for t in root.iter("text") if t.get("text-anchor") == "middle"] == ["11", "13"]  # back from now
    assert [t.text for t in root.iter("text") if t.get("text-anchor") == "end"] == ["0", "3", "6"]  # 5 -> a scale of 6
    empty = stacked_bars(
        chart_id="e", label="x", x_labels=["a"], series=[Series("cost", [0])], titles=["a"], y_format=str, empty="none"
    )
    assert ">none</text>" in empty


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0, 0.3, 1, 7, 12, 20, 0.0102, 250, 900)] == [
        1,
        0.4,
        1,
        8,
        20,
        20,
        0.02,
        400,
        1000,
    ]


# -- the counters -------------------------------------------------------------------------------


async def test_records_and_the_cost_ledger_count_per_hour_and_per_day(redis: Redis) -> None:
    records = Records(redis)
    for name, outcome in (("a", "done"), ("b", "done"), ("c", "failed"), ("d", "retrying"), ("e", "waiting")):
        await records.save(JobRecord(guid(name), "issues", "opened", "o/r", 1, 7, outcome=outcome))
    now = time.time()
    hours = await deliveries_by_hour(redis, now)
    assert len(hours) == 24 and hours[-1].start == now - now % 3600
    assert (hours[-1].done, hours[-1].failed, hours[-1].skipped, hours[-1].total) == (2, 1, 0, 3)  # ends only
    assert sum(hour.total for hour in hours[:-1]) == 0

    yesterday = now - 86_400
    ledger = Spending(redis, tokens_per_day=0, clock=lambda: yesterday)
    usage = ModelUsage(model="claude-haiku-5-5", input_tokens=1000, output_tokens=100, cost_usd=0.25)
    await ledger.record(7, "o/r", "triage", usage)
    await ledger.record(7, "o/r", "summary", usage)
    days = await cost_by_day(redis, now)
    assert len(days) == 14 and days[-1].usd == 0
    assert (round(days[-2].usd, 6), days[-2].tokens, days[-2].calls) == (0.5, 2200, 2)
    cost_keys = {key.decode() for key in await redis.keys(keys.COST_DAY + "*")}
    assert cost_keys == {keys.cost_day(time.strftime("%Y-%m-%d", time.gmtime(yesterday)))}
    assert 0 < await redis.ttl(keys.cost_day(time.strftime("%Y-%m-%d", time.gmtime(yesterday)))) <= 35 * 86_400


async def test_the_web_counts_refused_signatures_and_nothing_for_an_accepted_delivery(
    aiohttp_client: Any, settings: Settings, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    assert await deliver(client, "pull_request", MERGED, "accepted") == 202
    await client.app[SIGNATURE_FAILURES].flush()
    assert await redis.keys(keys.SIGNATURE_FAILURES + "*") == []
    assert await redis.keys(keys.DELIVERIES_HOUR + "*") == []  # counted when its job ends, not here

    for n in range(5):
        headers = delivery_headers("pull_request", MERGED, f"wrong-{n}", secret="another-secret")
        assert (await client.post(HOOK, data=MERGED, headers=headers)).status == 401
    unsigned = {k: v for k, v in delivery_headers("ping", b"{}").items() if k != "X-Hub-Signature-256"}
    assert (await client.post(HOOK, data=b"{}", headers=unsigned)).status == 401
    await client.app[SIGNATURE_FAILURES].flush()
    found = await signature_failures(redis, time.time())
    assert (found.mismatch, found.missing) == (5, 1) and found.latest_minute is not None
    assert (await deliveries_by_hour(redis, time.time()))[-1].rejected == 6
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "refused" in r.getMessage()]
    assert warned == [  # once a minute, not once per delivery
        "delivery refused: X-Hub-Signature-256 matches no secret in WEBHOOK_SECRET; if GitHub sent it, "
        "WEBHOOK_SECRET is not the App's webhook secret (GET /status counts them; this line repeats at most once "
        "a minute)"
    ]
    ttl = await redis.ttl((await redis.keys(keys.SIGNATURE_FAILURES + "*"))[0])
    assert 0 < ttl <= 2 * 3600


async def test_counting_a_refusal_never_waits_for_redis(redis_url: str) -> None:
    away = Redis.from_url(f"redis://127.0.0.1:{redis_server.free_port()}", socket_connect_timeout=0.2)
    failures = SignatureFailures(away)
    for _ in range(100):
        failures.note(missing=False)  # returns at once; the write fails in the background, quietly
    await failures.flush()
    await away.aclose()


# -- waiting and working apart ------------------------------------------------------------------


@pytest.mark.e2e  # arq's worker, against the sandboxes served over HTTP
async def test_a_retried_jobs_record_keeps_its_queue_wait_and_every_tries_work(
    settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    await Ledger(redis).accept(summary_job("retried"))
    model.fail_next(529)  # the first try's model call: overloaded, a transient failure
    await run_worker(settings, retry_base_s=0.01)
    record = await Records(redis).get(guid("retried"))
    assert record is not None and record.outcome == "done" and record.job_try == 2
    assert record.accepted_at is not None and record.first_started_at is not None
    assert record.accepted_at <= record.first_started_at < record.started_at
    assert record.earlier_ms > 0 and record.worked_ms == record.earlier_ms + record.duration_ms
    assert record.waited_ms == max(int((record.first_started_at - record.accepted_at) * 1000), 0)
    assert record.latency_ms is not None and record.waited_ms + record.worked_ms <= record.latency_ms

    first_try = JobRecord(guid("once"), "issues", "opened", "o/r", 1, 7, started_at=NOW, accepted_at=NOW - 2)
    first_try.duration_ms = 500
    assert (first_try.waited_ms, first_try.worked_ms, first_try.latency_ms) == (2000, 500, 2500)
