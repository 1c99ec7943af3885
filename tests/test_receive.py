"""`python -m bot receive EVENT PAYLOAD.json [--dry-run] [--sandbox]` as an operator runs it: a real
process, the web's decision and the worker's job in it, over real Redis and the sandboxes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.adapters.store.records import Records
from bot.core.render import REPLY_MARKER, SUMMARY_MARKER
from bot.sandbox import redis_server
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from tests.helpers import (
    ISSUE,
    ISSUE_REPO,
    PR_NUMBER,
    PR_REPO,
    ROOT,
    WEBHOOKS,
    run_cli,
    seed_issue,
    seed_merged_pr,
)

pytestmark = pytest.mark.e2e  # `python -m bot receive` processes

# The README's example: the real merged-PR delivery the demo sends.
MERGED_FILE = ROOT / "bot" / "sandbox" / "data" / "pull_request.closed.merged.json"


def github_writes(github: GitHubSandbox) -> list[str]:
    """Every request that changes something on the sandbox GitHub (a token is not a change to a repository)."""
    return [
        f"{r.method} {r.path}"
        for r in github.requests
        if r.method != "GET" and not r.path.endswith("/access_tokens")
    ]


async def test_receive_sandbox_prints_the_summary_it_posted_then_exactly_once_holds(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    env = {"REDIS_URL": redis_url}  # nothing else: no App, no Anthropic account
    code, output = await run_cli(env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox")
    assert code == 0, output
    assert "sandbox: Redis redis://127.0.0.1:" in output and "(REDIS_URL)" in output
    assert "outcome: done — summary posted" in output
    assert f"posted a comment on {PR_REPO}#{PR_NUMBER} (comment " in output
    assert f"    │ {SUMMARY_MARKER}" in output and "    │ Merges “Adds README.”" in output
    assert "model: claude-haiku-5-5, tokens " in output and "estimated cost $0.0" in output

    [record] = await Records(redis).recent(5)
    assert record.origin == "receive --sandbox" and record.outcome == "done" and record.comment_id
    assert record.accepted_at is not None and record.latency_ms is not None
    code, history = await run_cli(env, tmp_path, "history")
    assert code == 0 and "summary posted" in history and history.rstrip().endswith("(via receive --sandbox)")

    # The same merge again: the effect key in Redis says it was summarised (a new sandbox GitHub
    # does not change that), so nothing is posted twice.
    code, output = await run_cli(env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox")
    assert code == 0, output
    assert "outcome: skipped — summary already posted for this merge" in output
    assert "nothing was written to GitHub" in output and "posted a comment" not in output


async def test_receive_sandbox_dry_run_says_what_it_would_write(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    env = {"REDIS_URL": redis_url}
    code, output = await run_cli(env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox", "--dry-run")
    assert code == 0, output
    assert "dry-run: nothing was written to GitHub; it would have written:" in output
    assert f"would post a comment on {PR_REPO}#{PR_NUMBER}:" in output and f"    │ {SUMMARY_MARKER}" in output
    assert "posted a comment" not in output
    # A dry run records no effect: the real run after it still posts.
    code, output = await run_cli(env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox")
    assert code == 0 and f"posted a comment on {PR_REPO}#{PR_NUMBER}" in output, output


async def test_receive_sandbox_runs_a_maintainers_command(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    merged = json.loads(MERGED_FILE.read_bytes())
    payload = json.loads((ROOT / "bot" / "sandbox" / "data" / "issue_comment.created.json").read_bytes())
    payload["repository"], payload["installation"] = merged["repository"], merged["installation"]
    payload["issue"]["number"] = PR_NUMBER
    payload["comment"]["body"] = "@hookwise help"
    (tmp_path / "command.json").write_text(json.dumps(payload))
    env = {"REDIS_URL": redis_url}
    code, output = await run_cli(env, tmp_path, "receive", "issue_comment", "command.json", "--sandbox")
    assert code == 0, output
    login = payload["comment"]["user"]["login"]
    assert f"sandbox: {login} has write access to {PR_REPO}" in output
    assert "outcome: done — commands: help" in output
    assert f"    │ {REPLY_MARKER}" in output
    assert "reacted eyes to comment" in output and "reacted rocket to comment" in output


async def test_receive_sandbox_starts_a_throwaway_redis_when_none_answers(tmp_path: Path) -> None:
    nowhere = f"redis://127.0.0.1:{redis_server.free_port()}"
    env = {"REDIS_URL": nowhere}
    code, output = await run_cli(env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox")
    assert code == 0, output
    assert "a throwaway redis-server at redis://127.0.0.1:" in output and f"nothing answers at {nowhere}" in output
    assert "outcome: done — summary posted" in output


async def test_receive_dry_run_writes_nothing_to_github(
    settings_env: dict[str, str], github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, tmp_path: Path
) -> None:
    seed_merged_pr(github)
    merged = WEBHOOKS / "pull_request" / "closed.merged.app.json"
    code, output = await run_cli(settings_env, tmp_path, "receive", "pull_request", str(merged), "--dry-run")
    assert code == 0, output
    assert github_writes(github) == [] and github.comments(PR_REPO, PR_NUMBER) == []
    assert len(model.requests) == 1  # the AI step runs in a dry run too
    assert "dry-run: nothing was written to GitHub; it would have written:" in output
    assert f"would post a comment on {PR_REPO}#{PR_NUMBER}:" in output and SUMMARY_MARKER in output
    [record] = await Records(redis).recent(5)
    assert record.origin == "receive" and record.outcome == "done"

    # The App's own run posts it (the dry run recorded no effect), and says which comment it made.
    code, output = await run_cli(settings_env, tmp_path, "receive", "pull_request", str(merged))
    assert code == 0, output
    [comment] = github.comments(PR_REPO, PR_NUMBER)
    assert comment["body"].startswith(SUMMARY_MARKER)
    assert f"posted a comment on {PR_REPO}#{PR_NUMBER} (comment {comment['id']}):" in output
    assert github_writes(github) == [f"POST /repos/{PR_REPO}/issues/{PR_NUMBER}/comments"]


async def test_receive_adds_labels_as_the_app(
    settings_env: dict[str, str], github: GitHubSandbox, model: AnthropicSandbox, redis: Redis, tmp_path: Path
) -> None:
    seed_issue(github)
    model.responder = lambda _request: {"labels": ["documentation"], "reason": "A typo in the README."}
    (tmp_path / "issue.json").write_bytes(ISSUE)
    code, output = await run_cli(settings_env, tmp_path, "receive", "issues", "issue.json")
    assert code == 0, output
    assert "documentation" in github.issue_labels(ISSUE_REPO, 1)
    assert f"added labels documentation to {ISSUE_REPO}#1" in output


async def test_receive_refuses_in_one_line_and_says_what_it_ignores(
    settings_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    merged = str(WEBHOOKS / "pull_request" / "closed.merged.app.json")
    (tmp_path / "broken.json").write_text('{"action": "closed", ')

    async def one_line(env: dict[str, str], *args: str) -> tuple[int, str]:
        code, output = await run_cli(env, tmp_path, "receive", *args)
        lines = output.strip().splitlines()
        assert len(lines) == 1, output
        return code, lines[0]

    # Ignored events need nothing: no credentials, no Redis.
    assert await one_line({}, "ping", str(WEBHOOKS / "ping" / "app-hook.json")) == (
        0, "ignored: ping: ping acknowledged (the web process would answer 200 ignored)"
    )  # fmt: skip
    assert await one_line({}, "pull_request", str(WEBHOOKS / "pull_request" / "closed.not-merged.app.json")) == (
        0, "ignored: pull_request: pull_request closed is not a merge (the web process would answer 200 ignored)"
    )  # fmt: skip
    assert await one_line({}, "pull_request", "nope.json") == (
        1, "hookwise: receive: nope.json: cannot read: No such file or directory"
    )  # fmt: skip
    code, line = await one_line({}, "pull_request", "broken.json")
    assert code == 1
    assert line.startswith("hookwise: receive: broken.json: not a pull_request delivery: body is not JSON")
    code, line = await one_line({}, "pull request", merged)
    assert code == 1 and line.startswith("hookwise: receive: 'pull request' is not a GitHub event name")

    # Work needs the App's credentials, a model account and Redis.
    settings_env = {**settings_env, "LOG_LEVEL": "info"}
    no_app = {k: v for k, v in settings_env.items() if k != "APP_ID"}
    assert await one_line(no_app, "pull_request", merged) == (
        2, "hookwise: configuration error: APP_ID: required for the worker (receive acts as the App; "
        "`--sandbox` needs no App)"
    )  # fmt: skip
    no_model = {k: v for k, v in settings_env.items() if k != "ANTHROPIC_API_KEY"}
    assert await one_line(no_model, "pull_request", merged) == (
        2, "hookwise: configuration error: ANTHROPIC_API_KEY: required for receive (`--sandbox` needs no account)"
    )  # fmt: skip
    port = redis_server.free_port()
    with_password = {**settings_env, "REDIS_URL": f"redis://:hunter22@127.0.0.1:{port}/0"}
    code, line = await one_line(with_password, "pull_request", merged)
    assert code == 1 and line.startswith(f"hookwise: receive: Redis at redis://127.0.0.1:{port}/0 does not answer")
    assert "hunter22" not in line
