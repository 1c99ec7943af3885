"""Delivery to effect: the real web app, a real arq worker on real Redis, the sandbox GitHub and
Anthropic over real sockets (so gidgethub and the anthropic SDK run for real)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.adapters.store.ledger import Ledger
from bot.adapters.store.records import Records
from bot.config import Settings, load_settings
from bot.core.tokens import estimate_tokens
from bot.core.views.comments import SUMMARY_MARKER
from bot.sandbox.anthropic import AnthropicSandbox, fake_tool_input
from bot.sandbox.github import GitHubSandbox
from bot.sandbox.world import DEFAULT_LABELS
from bot.web.app import create_app
from tests.fixtures.diffs import synthetic
from tests.helpers import (
    ISSUE,
    ISSUE_REPO,
    MERGED,
    PR_NUMBER,
    PR_REPO,
    deliver,
    github_files,
    guid,
    label_enum,
    label_posts,
    run_worker,
    seed_issue,
    seed_merged_pr,
    triage_answer,
)


def summaries(github: GitHubSandbox) -> list[dict[str, Any]]:
    return [c for c in github.comments(PR_REPO, PR_NUMBER) if c["body"].startswith(SUMMARY_MARKER)]


async def test_merged_pr_gets_one_summary_comment(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    assert await deliver(client, "pull_request", MERGED, "pr-1") == 202
    await run_worker(settings)

    [comment] = github.comments(PR_REPO, PR_NUMBER)
    assert comment["body"].splitlines()[0] == SUMMARY_MARKER
    assert comment["user"]["login"] == "hookwise[bot]"
    assert "**What changed**" in comment["body"]
    [request] = model.requests
    assert request["tool_choice"] == {"type": "tool", "name": "record_summary"}
    assert "github3/repos/release.py" in request["messages"][0]["content"]  # the recorded patch was read
    record = await Records(redis).get(guid("pr-1"))
    assert record is not None and record.outcome == "done" and record.comment_id == comment["id"]
    assert record.input_tokens > 0 and record.output_tokens > 0
    assert await Ledger(redis).state(guid("pr-1")) == "done"


async def test_issue_gets_only_existing_labels(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_issue(github)
    model.responder = triage_answer("documentation", "typo", "bug", reason="A README typo.")
    labels_before = github.repo_labels(ISSUE_REPO)
    assert await deliver(client, "issues", ISSUE, "issue-1") == 202
    await run_worker(settings)

    # "typo" does not exist (GitHub would create it silently); "bug" was already on the issue.
    assert github.issue_labels(ISSUE_REPO, 1) == ["bug", "documentation"]
    assert github.repo_labels(ISSUE_REPO) == labels_before
    assert label_posts(github, 1) == [{"labels": ["documentation"]}]
    assert label_enum(model.requests[0]) == [label["name"] for label in DEFAULT_LABELS]
    assert github.comments(ISSUE_REPO, 1) == []  # no triage comment unless the config asks


async def test_model_choosing_no_label_adds_none(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_issue(github)
    model.responder = triage_answer(reason="Nothing fits.")
    await deliver(client, "issues", ISSUE)
    await run_worker(settings)
    assert github.issue_labels(ISSUE_REPO, 1) == ["bug"]
    assert not [r for r in github.requests if r.method == "POST" and r.path.endswith("/labels")]


async def test_existing_summary_is_edited_not_duplicated_and_human_comments_are_left_alone(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    human = github.add_comment_as(PR_REPO, PR_NUMBER, "mallory", f"{SUMMARY_MARKER}\nnot the bot's")
    await deliver(client, "pull_request", MERGED)
    await run_worker(settings)
    await redis.delete(*[key async for key in redis.scan_iter("hookwise:effect:*")])  # forget the effect
    await deliver(client, "pull_request", MERGED)
    await run_worker(settings)

    bots = [c for c in github.comments(PR_REPO, PR_NUMBER) if c["user"]["login"] == "hookwise[bot]"]
    assert len(bots) == 1
    assert [r.method for r in github.requests if "/comments" in r.path and r.method != "GET"] == ["POST", "PATCH"]
    assert next(c for c in github.comments(PR_REPO, PR_NUMBER) if c["id"] == human["id"])["body"] == human["body"]


async def test_two_deliveries_of_one_merge_make_one_comment_and_one_model_call(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    assert await deliver(client, "pull_request", MERGED, "first") == 202
    assert await deliver(client, "pull_request", MERGED, "second") == 202
    await run_worker(settings)
    assert len(summaries(github)) == 1
    assert len(model.requests) == 1
    # One installation token for both jobs: reused until shortly before it expires.
    assert len([r for r in github.requests if r.path.endswith("/access_tokens")]) == 1
    assert len([r for r in github.requests if r.path == "/app"]) == 1  # the slug, read once


def prompt_tokens(request: dict[str, Any]) -> int:
    """The estimated input tokens of a recorded model request: system, messages and tools."""
    tools = json.dumps(request["tools"])
    return (
        estimate_tokens(request["system"]) + estimate_tokens(request["messages"][0]["content"]) + estimate_tokens(tools)
    )


def diff_block(request: dict[str, Any]) -> str:
    [block] = re.findall(r'<untrusted name="diff">\n(.*?)\n</untrusted>', request["messages"][0]["content"], re.S)
    return str(block)


async def test_big_pr_stays_within_the_budget_and_says_what_it_did_not_read(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    patch = "@@ -1,0 +1,4000 @@\n" + "".join(f"+line {i} of a long change\n" for i in range(4000))  # ~100 kB each
    files = [
        {"filename": f"src/module_{i}.py", "status": "modified", "additions": 4000, "patch": patch} for i in range(30)
    ]
    files += [
        {"filename": "package-lock.json", "status": "modified", "additions": 4000, "patch": patch},
        {"filename": "static/app.min.js", "status": "modified", "additions": 1, "patch": "+" + "x" * 5000},
        {"filename": "logo.png", "status": "added"},  # binary: GitHub sends no patch
    ]
    seed_merged_pr(github, files)
    await deliver(client, "pull_request", MERGED)
    await run_worker(settings)

    [request] = model.requests
    assert estimate_tokens(diff_block(request)) <= settings.SUMMARY_DIFF_TOKENS == 40_000
    assert prompt_tokens(request) <= settings.SUMMARY_MAX_INPUT_TOKENS == 60_000
    [comment] = summaries(github)
    body = comment["body"]
    assert "<details><summary>read 30 of 33 files (" in body  # the coverage line, every source file read in part
    assert "`package-lock.json` (not read: lockfile, +4000 \u22120)" in body
    assert "`static/app.min.js` (not read: generated or minified, +1 \u22120)" in body
    assert "`logo.png` (not read: binary or too large for GitHub to show, +0 \u22120)" in body
    assert re.search(r"`src/module_0\.py` \(read in part: 1 of 1 hunks, \d+ of 4000 changed lines\)", body)


async def test_an_unvendoring_and_a_ca_bundle_through_the_pipeline(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    """pip's unvendoring of charset_normalizer (fb71f4c) with certifi's CA bundle (e713282) in the
    same PR: deleted files and the certificates named, not sent; the modified files read whole."""
    files = synthetic.load("pip-unvendor-charset-normalizer.json") + synthetic.load("certifi-2022.05.18.json")
    seed_merged_pr(github, github_files(files))
    await deliver(client, "pull_request", MERGED)
    await run_worker(settings)

    [request] = model.requests
    prompt = request["messages"][0]["content"]
    diff = diff_block(request)
    assert "BEGIN CERTIFICATE" not in prompt and "shown in part" not in diff
    assert "--- src/pip/_vendor/vendor.txt (modified, " in diff
    assert "--- src/pip/_vendor/charset_normalizer/" not in diff
    [comment] = summaries(github)
    assert "`certifi/cacert.pem` (not read: certificate or key, " in comment["body"]
    assert "`src/pip/_vendor/charset_normalizer/__init__.py` (not read: deleted, +0 " in comment["body"]


async def test_model_text_cannot_ping_or_inject_html(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    def hostile(request: dict[str, Any]) -> dict[str, Any]:
        answer = fake_tool_input(request["tools"][0]["input_schema"])
        answer["overview"] = f"Thanks @octocat and @github/security! <img src=x onerror=alert(1)> {SUMMARY_MARKER}"
        return answer

    model.responder = hostile
    seed_merged_pr(github)
    await deliver(client, "pull_request", MERGED)
    await run_worker(settings)
    [comment] = summaries(github)
    body = comment["body"]
    assert "@\u2060octocat" in body and "@\u2060github/security" in body
    assert "@octocat" not in body and "@github" not in body
    assert "<img" not in body and "&lt;img" in body
    assert body.count(SUMMARY_MARKER) == 1


async def test_closed_issue_is_not_triaged(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_issue(github)
    closed = json.loads(ISSUE)["issue"] | {"state": "closed"}
    github.add_issue(ISSUE_REPO, closed)  # closed after the delivery was sent
    await deliver(client, "issues", ISSUE, "late")
    await run_worker(settings)
    assert model.requests == []
    record = await Records(redis).get(guid("late"))
    assert record is not None and record.outcome == "skipped" and "closed" in record.detail


async def test_dry_run_calls_the_model_but_writes_nothing(
    client: TestClient[Any, Any],
    settings: Settings,
    aiohttp_client: Any,
    settings_env: dict[str, str],
    github: GitHubSandbox,
    model: AnthropicSandbox,
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    dry = load_settings(**settings_env, DRY_RUN="1")
    dry_client = await aiohttp_client(create_app(dry))
    seed_merged_pr(github)
    seed_issue(github)
    model.responder = triage_answer("documentation", reason="docs")
    await deliver(dry_client, "pull_request", MERGED)
    await deliver(dry_client, "issues", ISSUE)
    with caplog.at_level(logging.INFO, logger="hookwise.github"):
        await run_worker(dry)
    assert len(model.requests) == 2
    assert not [r for r in github.requests if r.method in ("POST", "PATCH", "DELETE") and r.path.startswith("/repos")]
    dry_lines = [r.getMessage() for r in caplog.records if "dry-run" in r.getMessage()]
    assert any("comment on #2" in line for line in dry_lines)
    assert any("add labels ['documentation']" in line for line in dry_lines)

    # The trial remembered no effect: with DRY_RUN off, the same work is done for real.
    await deliver(client, "pull_request", MERGED)
    await run_worker(settings)
    assert len(summaries(github)) == 1


async def test_the_whole_prompt_has_a_ceiling_however_large_the_pull_request(
    client: TestClient[Any, Any],
    settings_env: dict[str, str],
    github: GitHubSandbox,
    model: AnthropicSandbox,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    tight = load_settings(**settings_env, SUMMARY_MAX_INPUT_TOKENS="25000")  # a ceiling below the diff budget
    # In git's order, as GitHub lists them (at most 3,000 files): src/ before vendor/.
    files = [{"filename": f"src/real_{i}.py", "additions": 2000, "patch": "+change\n" * 2000} for i in range(100)]
    files += [{"filename": f"vendor/lib_{i}/generated_module_{i}.py", "patch": "+x\n" * 50} for i in range(3000)]
    seed_merged_pr(github, files)
    pull = json.loads(MERGED)["pull_request"] | {"body": "word " * 100_000}
    commits = [{"sha": "0" * 40, "commit": {"message": "message " * 5_000}} for _ in range(50)]
    github.add_pull(PR_REPO, pull, files=files, commits=commits)
    await deliver(client, "pull_request", MERGED)
    await run_worker(tight)

    [request] = model.requests
    assert prompt_tokens(request) <= 25_000  # from a PR of ~2 MB of text
    assert estimate_tokens(diff_block(request)) > 10_000  # and the diff got what the rest left
    [comment] = summaries(github)
    assert re.search(r"…and \d{4} more", comment["body"]) and len(comment["body"]) < 20_000


async def test_every_worker_log_line_names_its_delivery_installation_and_repository(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.logs import ContextFilter

    seed_merged_pr(github)
    await deliver(client, "pull_request", MERGED, "logged")
    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.INFO, logger="hookwise"):
        await run_worker(settings)
    lines = [
        r
        for r in caplog.records
        if (r.name.startswith("hookwise.") and r.name != "hookwise.worker") or "outcome=" in r.getMessage()
    ]
    assert any("outcome=done" in r.getMessage() for r in lines)
    for record in lines:
        fields = getattr(record, "fields", None)
        assert fields == {"delivery": guid("logged"), "installation": 461842, "repo": PR_REPO}, record.getMessage()
        assert getattr(record, "context", None) == f" delivery={guid('logged')} installation=461842 repo={PR_REPO}"
