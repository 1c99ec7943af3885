"""GET /status: 404 without STATUS_PASSWORD, 401 without the password, and with it a page a person
reads in a real browser - the deliveries this test sent through the real web app and a worker run,
with outcomes and costs, the queue, dead letters - that never shows secrets, tokens or issue text.

`HOOKWISE_UPDATE_SCREENSHOT=1 pytest tests/test_status.py -k browser` rewrites docs/status.png from
what the browser test sees (sandbox data only).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.adapters.store import keys, trends
from bot.adapters.store.ledger import Accepted, Ledger
from bot.adapters.store.records import JobRecord, Records
from bot.adapters.store.status import StatusSources, queue_state
from bot.config import Settings, load_settings
from bot.core.costs import pricing
from bot.core.costs.ledger import utc_hour
from bot.core.views.format import dollars
from bot.core.views.status import NOT_RECORDED, BudgetUse, RepoAgreement, redact, safe_text
from bot.sandbox import redis_server, world
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from bot.web.app import create_app
from bot.web.keys import SIGNATURE_FAILURES
from tests.helpers import (
    HOOK,
    ISSUE,
    ISSUE_REPO,
    MERGED,
    PR_NUMBER,
    PR_REPO,
    ROOT,
    deliver,
    delivery_headers,
    guid,
    label_event,
    run_worker,
    seed_issue,
    seed_merged_pr,
    summary_job,
    triage_answer,
    triage_job,
)

if TYPE_CHECKING:
    from tests.browser import Browser

PASSWORD = "correct horse: battery"  # a colon in it: only the first one separates the user name
SCREENSHOT = ROOT / "docs" / "status.png"
TOKEN = "ghs_16C7e42F292c6912E7710c838347Ae178B4a"
ISSUE_BODY = "It looks like you accidently spelled 'commit' with two 't's."
ISSUE_TITLE = "Spelling error in the README file"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def status_settings(settings_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env
    return load_settings(**settings_env, STATUS_PASSWORD=PASSWORD)


async def status_client(aiohttp_client: Any, settings: Settings, **kwargs: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings, **kwargs))
    return client


_answer = triage_answer("documentation", reason="A spelling mistake in the README.")  # single or batched


async def send_a_day_of_deliveries(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    """What the page shows: a summary, a triage, a maintainer's command, a passer-by's (skipped), a
    merged PR GitHub no longer has (a dead letter), a maintainer's label on the triaged issue (its
    agreement), a command tried twice (the model overloaded once); then one delivery left waiting
    in the queue, and three refused for their signature (two signed with another secret, one not
    signed at all)."""
    seed_merged_pr(github)
    seed_issue(github)
    github.set_permission(PR_REPO, "maintainer-mia", "maintain")
    text = "Secret plans inside.\n\n@hookwise help"
    command = world.command_delivery(github, MERGED, PR_NUMBER, text, "maintainer-mia")
    outsider = world.command_delivery(github, MERGED, PR_NUMBER, "@hookwise summarize", "passer-by")
    gone = json.loads(MERGED)
    gone["pull_request"]["number"] = 99
    assert await deliver(client, "pull_request", MERGED, "status-pr") == 202
    assert await deliver(client, "issues", ISSUE, "status-issue") == 202
    assert await deliver(client, "issue_comment", command, "status-command") == 202
    assert await deliver(client, "issue_comment", outsider, "status-outsider") == 202
    assert await deliver(client, "pull_request", json.dumps(gone).encode(), "status-gone") == 202
    await run_worker(settings)
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))  # after hookwise's triage
    correction = label_event("labeled", "enhancement", login="maintainer-mia", at=later)
    assert await deliver(client, "issues", correction, "status-label") == 202
    # A maintainer's `summarize` whose first model call meets an overloaded API: tried again, done.
    again = world.command_delivery(github, MERGED, PR_NUMBER, "@hookwise summarize", "maintainer-mia")
    assert await deliver(client, "issue_comment", again, "status-retried") == 202
    model.fail_next(529)
    await run_worker(settings, retry_base_s=0.01)
    assert await deliver(client, "issues", ISSUE, "status-waiting") == 202  # no worker runs now
    # Deliveries signed with another secret (a wrong WEBHOOK_SECRET looks like this) and one unsigned.
    for name in ("status-wrong-1", "status-wrong-2"):
        headers = delivery_headers("pull_request", MERGED, name, secret="not-the-apps-secret")
        assert (await client.post(HOOK, data=MERGED, headers=headers)).status == 401
    unsigned = {
        k: v for k, v in delivery_headers("pull_request", MERGED, "status-unsigned").items() if "Signature" not in k
    }
    assert (await client.post(HOOK, data=MERGED, headers=unsigned)).status == 401
    await client.app[SIGNATURE_FAILURES].flush()  # counted in the background: wait for the write


async def seed_trends(redis: Redis, now: float) -> None:
    """Earlier hours and days, as a deployment's counters hold them (the charts read only these
    counters): a working day's deliveries, with a wrong secret's hour of refusals 5 h ago, and two
    weeks of model cost. The same functions the worker, the cost ledger and the web write them with."""
    async with redis.pipeline(transaction=False) as pipe:
        for back in range(1, 24):
            moment = now - back * 3600
            busy = 3 + (back * 7) % 11  # an uneven day
            for _ in range(busy):
                trends.count_outcome(pipe, "done", moment)
            for _ in range(back % 4):
                trends.count_outcome(pipe, "skipped", moment)
            if back in (7, 15):
                trends.count_outcome(pipe, "failed", moment)
            if back == 5:
                pipe.hincrby(keys.deliveries_hour(utc_hour(moment)), "rejected", 9)
        for back in range(1, 14):
            calls = 20 + (back * 13) % 37
            trends.count_cost(pipe, calls * 0.00021, calls * 1_600, calls, now - back * 86_400)
        await pipe.execute()


async def test_status_page_in_a_browser(
    browser: Browser,
    aiohttp_client: Any,
    status_settings: Settings,
    github: GitHubSandbox,
    model: AnthropicSandbox,
    redis: Redis,
    tmp_path: Path,
) -> None:
    model.responder = _answer
    client = await status_client(aiohttp_client, status_settings)
    await send_a_day_of_deliveries(client, status_settings, github, model)
    await seed_trends(redis, time.time())
    url = str(client.make_url("/status"))

    assert await browser.open(url) == 401  # no password: the browser gets the Basic challenge
    await browser.basic_auth("operator", "wrong")
    assert await browser.open(url) == 401
    await browser.basic_auth("operator", PASSWORD)
    await browser.page.set_viewport_size({"width": 1200, "height": 900})  # the width the page must fit
    assert await browser.open(url) == 200
    await browser.wait_for_text("hookwise status", "h1")

    # What is wrong comes first: the wrong secret, no worker while a job waits (the worker runs
    # were over), the unsigned delivery, the dead letter.
    banner = await browser.page.locator("#warnings li").all_inner_texts()
    assert [item.split("\n")[0][:40] for item in banner] == [
        "2 deliveries refused in the last hour: t",
        "No worker has been seen in the last minu",
        "1 delivery without any signature in the ",
        "1 job failed for good in the last 24 h (",
    ], banner
    assert (
        "matches no secret in WEBHOOK_SECRET" in banner[0] and "Set WEBHOOK_SECRET to the webhook secret" in banner[0]
    )
    first = await browser.page.locator("main > *").first.get_attribute("id")
    assert first == "warnings"

    shown = await browser.page.locator("#deliveries tbody tr").all_inner_texts()
    rows = {row.split("\t")[-1].strip(): row for row in shown}  # by the delivery column
    expected = {
        "status-pr": ("pull_request.closed", f"{PR_REPO}#{PR_NUMBER}", "done", "summary posted"),
        "status-issue": ("issues.opened", f"{ISSUE_REPO}#1", "done", "labels added: documentation"),
        "status-command": ("issue_comment.created", f"{PR_REPO}#{PR_NUMBER}", "done", "commands: help"),
        "status-outsider": ("issue_comment.created", f"{PR_REPO}#{PR_NUMBER}", "skipped", "passer-by may not run"),
        "status-gone": ("pull_request.closed", f"{PR_REPO}#99", "failed", ": 404 Not Found"),
        "status-label": ("issues.labeled", f"{ISSUE_REPO}#1", "done", "agreement: maintainer-mia added enhancement"),
        "status-retried": ("issue_comment.created", f"{PR_REPO}#{PR_NUMBER}", "done", "commands: summarize", "2 tries"),
    }
    assert sorted(rows) == sorted(guid(name)[:8] for name in expected)
    records = {r.delivery_id: r for r in await Records(redis).recent(10)}
    for name, cells in expected.items():
        row, record = rows[guid(name)[:8]], records[guid(name)]
        assert all(cell in row for cell in cells), (name, row)
        if record.model:  # the page's cost is the price table's, for the record's model and tokens
            cost = pricing.cost_usd(record.model, pricing.Usage.of(record))
            assert record.model in row and dollars(cost) in row and f"{record.input_tokens:,} in /" in row
        else:
            assert "—" in row
    # Waiting and working apart: the retried command's waits between tries are in neither.
    retried = records[guid("status-retried")]
    assert retried.job_try == 2 and retried.first_started_at is not None and retried.earlier_ms > 0
    assert retried.waited_ms is not None and retried.latency_ms is not None
    assert retried.waited_ms + retried.worked_ms <= retried.latency_ms
    tiles = await browser.text(".tiles")
    assert "7\nrecent deliveries shown" in tiles and "5\ndone" in tiles and "1\ndead letters" in tiles
    assert "1 job(s) in the queue: 1 waiting, 0 running" in await browser.text("#queue")
    assert f"{guid('status-waiting')}:1" in await browser.text("#queue")
    dead = await browser.text("#dead")
    assert guid("status-gone") in dead and ": 404 Not Found" in dead
    budgets = await browser.text("#budgets")  # issue 8's ledger: today's use of the one installation
    assert "461842\t" in budgets and "\t2,000,000\t" in budgets and "$0.0" in budgets, budgets
    agreement = await browser.text("#agreement")  # issue 10's reader: the triaged issue, judged by the label
    assert "Codertocat/Hello-World\t1\t0\t0%\t0" in agreement, agreement
    page = await browser.text()
    for hidden in (ISSUE_BODY, ISSUE_TITLE, "Secret plans inside", PASSWORD, "test-secret", "not-the-apps-secret"):
        assert hidden not in page

    # The two charts, drawn by the server: a bar for every hour and day, the refusals in theirs.
    deliveries_chart = browser.page.locator("svg#chart-deliveries")
    assert await deliveries_chart.locator("g > title").count() == 24
    assert await deliveries_chart.locator("rect.s-done").count() == 24  # every hour had some done
    assert await deliveries_chart.locator("rect.s-rejected").count() == 2  # 5 h ago, and this hour's three
    assert await deliveries_chart.locator("rect.s-failed").count() == 3  # two earlier hours, and this one
    this_hour = await deliveries_chart.locator("g > title").last.text_content()
    assert this_hour is not None and "3 rejected" in this_hour and "1 failed" in this_hour, this_hour
    cost_chart = browser.page.locator("svg#chart-cost")
    assert await cost_chart.locator("rect.s-cost").count() == 14
    today = await cost_chart.locator("g > title").last.text_content()
    assert today is not None and "calls" in today and "$0.000" in today, today
    for chart in (deliveries_chart, cost_chart):
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100 and box["x"] + box["width"] <= 1200

    # Nothing is wider than 1,200 px: no horizontal scrollbar, every table within its box, the cost visible.
    overflow = await browser.page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth,
            tables: [...document.querySelectorAll('table')].filter(t => t.scrollWidth > t.clientWidth).map(t => t.id),
            wide: [...document.querySelectorAll('main *')].filter(e => e.getBoundingClientRect().right > 1200.5)
                .map(e => e.tagName + '#' + e.id + '.' + e.className),
        })"""
    )
    assert overflow == {"page": 1200, "tables": [], "wide": []}, overflow
    cost_header = await browser.page.locator("#deliveries th", has_text="cost").bounding_box()
    assert cost_header is not None and cost_header["x"] + cost_header["width"] <= 1200

    shot = await browser.screenshot(tmp_path / "status.png")
    assert shot.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("HOOKWISE_UPDATE_SCREENSHOT"):
        shutil.copyfile(shot, SCREENSHOT)
    assert browser.errors == []


async def test_status_is_404_in_a_browser_without_the_setting(
    browser: Browser, aiohttp_client: Any, settings: Settings, redis: Redis
) -> None:
    assert settings.STATUS_PASSWORD is None
    client = await status_client(aiohttp_client, settings)
    await browser.basic_auth("operator", PASSWORD)
    assert await browser.open(str(client.make_url("/status"))) == 404
    assert (await client.get("/status", headers=basic("operator", PASSWORD))).status == 404


async def test_status_asks_for_the_password_and_takes_any_user_name(
    aiohttp_client: Any, status_settings: Settings, redis: Redis
) -> None:
    client = await status_client(aiohttp_client, status_settings)
    for headers in (
        {},
        basic("operator", "wrong"),
        basic("operator", PASSWORD + " "),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no colon").decode()},
        {"Authorization": f"Bearer {PASSWORD}"},
    ):
        response = await client.get("/status", headers=headers)
        assert response.status == 401, headers
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="hookwise status"')
        assert PASSWORD not in await response.text()
    for user in ("operator", "", "someone else"):
        response = await client.get("/status", headers=basic(user, PASSWORD))
        assert response.status == 200
        assert response.content_type == "text/html"
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    page = await (await client.get("/status?refresh=2", headers=basic("x", PASSWORD))).text()
    assert '<meta http-equiv="refresh" content="5">' in page  # bounded below


async def test_status_never_shows_secrets_tokens_or_issue_text(
    aiohttp_client: Any, status_settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    model.responder = _answer
    client = await status_client(aiohttp_client, status_settings)
    await send_a_day_of_deliveries(client, status_settings, github, model)
    # A failed job whose error quotes credentials, and a detail with markup, as a record can hold them.
    leaky = JobRecord(guid("leaky"), "issues", "opened", ISSUE_REPO, 7, 461842, job_try=5, outcome="failed")
    leaky.detail = '<script>alert("x")</script> ' + "very long " * 200
    leaky.error = (
        f"GitHub 401 Bad credentials for token {TOKEN}; Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiI0MjQyIn0"
        ".c2lnbmF0dXJlLXNpZ25hdHVyZQ; secret test-secret; redis rediss://default:hunter2@cache:6380; "
        f"key {status_settings.private_key()}"
    )
    await Records(redis).save(leaky)

    page = await (await client.get("/status", headers=basic("operator", PASSWORD))).text()
    for hidden in (
        TOKEN,
        "eyJhbGciOiJSUzI1NiJ9",
        "test-secret",
        "hunter2",
        "PRIVATE KEY",
        PASSWORD,
        ISSUE_BODY,
        ISSUE_TITLE,
        "Secret plans inside",
        "@hookwise summarize",
        "<script",
    ):
        assert hidden not in page, hidden
    assert "token [redacted]" in page and "Bearer [redacted]" in page and "rediss://[redacted]@cache" in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "very long " * 40 not in page  # bounded


async def test_status_answers_503_while_redis_is_away(aiohttp_client: Any, status_settings: Settings) -> None:
    away = status_settings.model_copy(update={"REDIS_URL": f"redis://127.0.0.1:{redis_server.free_port()}"})
    client = await status_client(aiohttp_client, away)
    response = await client.get("/status", headers=basic("operator", PASSWORD))
    assert response.status == 503 and "Redis unavailable" in await response.text()
    assert (await client.get("/status")).status == 401  # the password is still asked first


class Budgets:
    def __init__(self, uses: Sequence[BudgetUse]) -> None:
        self.uses = uses

    async def budgets_today(self) -> Sequence[BudgetUse]:
        return self.uses


class Agreement:
    async def agreement(self) -> Sequence[RepoAgreement]:
        return [RepoAgreement(ISSUE_REPO, judged=20, exact=17, pending=3), RepoAgreement(PR_REPO, 0, 0, 4, shadow=True)]


class Unreadable:
    async def agreement(self) -> Sequence[RepoAgreement]:
        raise RedisConnectionError("Connection refused by the agreement store")


async def test_budget_and_agreement_sections_show_what_their_readers_give(
    aiohttp_client: Any, status_settings: Settings, redis: Redis
) -> None:
    uses = [BudgetUse(461842, 1_900_000, 2_000_000, skipped=2, cost_usd=0.21), BudgetUse(7, 1200, 0)]
    sources = StatusSources(budgets=lambda _redis, _settings: Budgets(uses), agreement=lambda _r, _s: Agreement())
    client = await status_client(aiohttp_client, status_settings, status_sources=sources)
    page = await (await client.get("/status", headers=basic("operator", PASSWORD))).text()
    assert NOT_RECORDED not in page
    assert '<td class="mono">461842</td><td class="num">1,900,000</td><td class="num">2,000,000</td>' in page
    assert "95%" in page and "no limit" in page and "$0.2100" in page
    assert f'<td>{ISSUE_REPO}</td><td class="num">20</td><td class="num">17</td><td class="num">85%</td>' in page
    assert 'shadow</span></td><td class="num">0</td><td class="num">0</td><td class="num">—</td>' in page

    broken = StatusSources(agreement=lambda _r, _s: Unreadable())
    client = await status_client(aiohttp_client, status_settings, status_sources=broken)
    response = await client.get("/status", headers=basic("operator", PASSWORD))
    page = await response.text()
    assert response.status == 200  # the rest of the page still shows
    assert "triage agreement could not be read: Connection refused by the agreement store" in page
    assert page.count(NOT_RECORDED) == 2  # budgets (no source) and agreement (unreadable)


async def test_queue_state_counts_waiting_running_and_deferred_jobs(redis: Redis) -> None:
    ledger = Ledger(redis)
    first = await ledger.accept(summary_job("q-first"))
    second = await ledger.accept(triage_job("q-second"))
    assert isinstance(first, Accepted) and isinstance(second, Accepted)
    now = time.time()
    await redis.set(keys.IN_PROGRESS + first.job_id, b"1")  # a worker runs it: arq's marker
    await redis.zadd(keys.QUEUE, {"retry-later:1": (now + 60) * 1000})  # a retry waiting out its backoff
    queue = await queue_state(redis, now + 1)
    assert (queue.depth, queue.due, queue.running, queue.waiting, queue.deferred) == (3, 2, 1, 1, 1)
    assert queue.oldest_waiting_job == second.job_id
    assert queue.oldest_waiting_since is not None and queue.oldest_waiting_since <= now + 1
    await redis.delete(keys.QUEUE)
    empty = await queue_state(redis, now)
    assert (empty.depth, empty.waiting, empty.oldest_waiting_job) == (0, 0, None)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"token {TOKEN} refused", "token [redacted] refused"),
        ("ghp_" + "a" * 36 + " and github_pat_" + "B" * 30, "[redacted] and [redacted]"),
        ("x-api-key: sk-ant-api03-abcdefghijklmnop", "x-api-key: [redacted]"),
        ("password=hunter2&next=1", "password=[redacted]&next=1"),
        ("https://user:pw@example.com/x", "https://[redacted]@example.com/x"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- after", "[redacted] after"),
        ("GitHub 404: Not Found", "GitHub 404: Not Found"),
        ("installation token requested again", "installation token requested again"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwx", "Authorization: Bearer [redacted]"),
    ],
)
def test_redact_hides_credentials_and_keeps_the_rest(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_safe_text_redacts_known_values_bounds_and_escapes() -> None:
    assert redact("the secret is s3cr3t-value", known=["s3cr3t-value", "abc"]) == "the secret is [redacted]"
    assert redact("abc stays: too short to be a secret", known=["abc"]) == "abc stays: too short to be a secret"
    shown = safe_text("<b>" + "x" * 1000, limit=50)
    assert shown.startswith("&lt;b&gt;") and len(shown) < 60 and shown.endswith("…")
