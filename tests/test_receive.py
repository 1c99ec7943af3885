"""`python -m bot receive EVENT PAYLOAD.json [--dry-run] [--sandbox]` as an operator runs it: a real
process, the web's decision and the worker's job in it, over real Redis and the sandboxes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.adapters.store.records import Records
from bot.core.views.comments import REPLY_MARKER, SUMMARY_MARKER
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
DATA = ROOT / "bot" / "sandbox" / "data"
MERGED_FILE = DATA / "pull_request.closed.merged.json"


def github_writes(github: GitHubSandbox) -> list[str]:
    """Every request that changes something on the sandbox GitHub (a token is not a change to a repository)."""
    return [
        f"{r.method} {r.path}" for r in github.requests if r.method != "GET" and not r.path.endswith("/access_tokens")
    ]


async def test_receive_sandbox_prints_the_summary_it_posted_then_exactly_once_holds_in_the_redis_given(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    env: dict[str, str] = {}  # nothing: no App, no Anthropic account, no REDIS_URL
    code, output = await run_cli(
        env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox", "--redis", redis_url
    )
    assert code == 0, output
    assert (
        "sandbox: Redis: redis://127.0.0.1:" in output and "(--redis): its records and effect keys stay there" in output
    )
    assert "outcome: done — summary posted" in output
    assert f"posted a comment on {PR_REPO}#{PR_NUMBER} (comment " in output
    assert f"    │ {SUMMARY_MARKER}" in output and "    │ Merges “Adds README.”" in output
    assert "model: claude-haiku-5-5, tokens " in output and "estimated cost $0.0" in output

    [record] = await Records(redis).recent(5)
    assert record.origin == "receive --sandbox" and record.outcome == "done" and record.comment_id
    assert record.accepted_at is not None and record.latency_ms is not None
    code, history = await run_cli({"REDIS_URL": redis_url}, tmp_path, "history")
    assert code == 0 and "summary posted" in history and history.rstrip().endswith("(via receive --sandbox)")

    # The same merge again into the same Redis: the effect key says it was summarised (a new
    # sandbox GitHub does not change that), so nothing is posted twice.
    code, output = await run_cli(
        env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox", "--redis", redis_url
    )
    assert code == 0, output
    assert "outcome: skipped — summary already posted for this merge" in output
    assert "nothing was written to GitHub" in output and "posted a comment" not in output


async def test_receive_sandbox_leaves_nothing_in_the_redis_at_redis_url_and_runs_the_same_twice(
    redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    env = {"REDIS_URL": redis_url}  # a Redis that answers: the sandbox must not write into it
    for _run in range(2):
        code, output = await run_cli(env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox")
        assert code == 0, output
        assert "sandbox: Redis: a throwaway redis-server at redis://127.0.0.1:" in output
        assert "stopped at the end (--redis URL keeps the records)" in output
        assert "outcome: done — summary posted" in output  # the second run too: a fresh Redis
        assert await redis.dbsize() == 0, await redis.keys("*")


async def test_every_bundled_payload_works_with_the_sandbox(tmp_path: Path) -> None:
    """The files a newcomer finds in bot/sandbox/data/, as they are."""
    code, output = await run_cli({}, tmp_path, "receive", "issues", str(DATA / "issues.opened.json"), "--sandbox")
    assert code == 0, output
    assert "sandbox: the payload has no installation (it was not delivered to an App); the sandbox's, 461842" in output
    assert "outcome: done — labels added: documentation" in output
    assert f"added labels documentation to {ISSUE_REPO}#1" in output

    comment_file = str(DATA / "issue_comment.created.json")
    code, output = await run_cli({}, tmp_path, "receive", "issue_comment", comment_file, "--sandbox")
    assert code == 0, output  # its comment ("trigger abc") holds no command: ignored, and how to try one
    assert output.strip().splitlines()[-1] == (
        "ignored: issue_comment: comment holds no command (the web process would answer 200 ignored); a command is "
        "a line of its own, like `@hookwise help`; with --sandbox, --comment '@hookwise help' tries one"
    )
    code, output = await run_cli(
        {}, tmp_path, "receive", "issue_comment", comment_file, "--sandbox", "--comment", "@hookwise help"
    )
    assert code == 0, output
    assert "sandbox: the comment's body is '@hookwise help' (--comment)" in output
    assert "sandbox: lts-def has write access to abc/def-ci-webhook-test" in output
    assert "outcome: done — commands: help" in output and f"    │ {REPLY_MARKER}" in output

    # The one that is not a delivery (a recorded REST answer the demo's PR is seeded with).
    code, output = await run_cli(
        {}, tmp_path, "receive", "pull_request", str(DATA / "pulls.list-files.json"), "--sandbox"
    )
    assert code == 1 and "not a pull_request delivery: body is not a JSON object" in output, output


async def test_receive_sandbox_config_seeds_the_repositorys_hookwise_yml(tmp_path: Path) -> None:
    (tmp_path / "comment.yml").write_text("triage:\n  comment: true\n")
    (tmp_path / "typo.yml").write_text("triage:\n  shadow: maybe\n  comment: true\n")
    issue = str(DATA / "issues.opened.json")
    code, output = await run_cli({}, tmp_path, "receive", "issues", issue, "--sandbox", "--config", "comment.yml")
    assert code == 0, output
    assert f"sandbox: .github/hookwise.yml of {ISSUE_REPO} is comment.yml (read without a problem)" in output
    assert f"posted a comment on {ISSUE_REPO}#1" in output and "    │ <!-- hookwise:triage -->" in output

    code, output = await run_cli({}, tmp_path, "receive", "issues", issue, "--sandbox", "--config", "typo.yml")
    assert code == 0, output
    assert (
        f"sandbox: .github/hookwise.yml of {ISSUE_REPO} is typo.yml; hookwise finds a problem in it and uses the "
        "defaults: triage.shadow: must be true or false"
    ) in output
    assert "posted a comment" not in output and f"added labels documentation to {ISSUE_REPO}#1" in output

    code, output = await run_cli({}, tmp_path, "receive", "issues", issue, "--sandbox", "--config", "nope.yml")
    assert code == 1 and "hookwise: receive: --config nope.yml: cannot read: No such file or directory" in output


async def test_receive_sandbox_dry_run_says_what_it_would_write(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    env = {"REDIS_URL": redis_url}
    code, output = await run_cli(
        env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox", "--dry-run", "--redis", redis_url
    )
    assert code == 0, output
    assert "dry-run: nothing was written to GitHub; it would have written:" in output
    assert f"would post a comment on {PR_REPO}#{PR_NUMBER}:" in output and f"    │ {SUMMARY_MARKER}" in output
    assert "posted a comment" not in output
    # A dry run records no effect: the real run after it, in the same Redis, still posts.
    code, output = await run_cli(
        env, tmp_path, "receive", "pull_request", str(MERGED_FILE), "--sandbox", "--redis", redis_url
    )
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
    # A misspelt event is a usage error (2), naming the event meant; another event's payload is 1.
    assert await one_line({}, "pull request", merged) == (
        2, "hookwise: receive: 'pull request' is not a GitHub event name; did you mean pull_request?"
    )  # fmt: skip
    assert await one_line({}, "pull_requests", merged) == (
        2, "hookwise: receive: 'pull_requests' is not a GitHub event name; did you mean pull_request?"
    )  # fmt: skip
    assert await one_line({}, "issues", merged) == (
        1, f"hookwise: receive: {merged}: not an issues delivery: it has no `issue`; it looks like a pull_request "
        "delivery"
    )  # fmt: skip
    code, line = await one_line({}, "issue_comment", str(DATA / "issues.opened.json"))
    assert code == 1 and line.endswith(
        "not an issue_comment delivery: it has no `comment`; it looks like an issues delivery"
    )
    code, line = await one_line({}, "issues", str(DATA / "issues.opened.json"), "--config", "x.yml")
    assert (code, line) == (
        2,
        "hookwise: receive: --config and --comment change the sandbox's repository: add --sandbox",
    )
    assert await one_line({}, "issues", str(DATA / "issues.opened.json")) == (
        0, "ignored: issues: no installation or repository in the payload (the web process would answer 200 ignored); "
        "a delivery to a GitHub App carries both: copy one from the App's settings (Advanced, Recent Deliveries), or "
        "try this one with --sandbox"
    )  # fmt: skip

    # Work needs the App's credentials, a model account and Redis.
    settings_env = {**settings_env, "LOG_LEVEL": "info"}
    no_app = {k: v for k, v in settings_env.items() if k != "APP_ID"}
    assert await one_line(no_app, "pull_request", merged) == (
        2, "hookwise: configuration error: APP_ID: required for the worker; `receive` acts as the App, "
        "`receive --sandbox` needs no account"
    )  # fmt: skip
    no_model = {k: v for k, v in settings_env.items() if k != "ANTHROPIC_API_KEY"}
    assert await one_line(no_model, "pull_request", merged) == (
        2, "hookwise: configuration error: ANTHROPIC_API_KEY: required for the worker (the key of the Claude API); "
        "`receive` acts as the App, `receive --sandbox` needs no account"
    )  # fmt: skip
    port = redis_server.free_port()
    with_password = {**settings_env, "REDIS_URL": f"redis://:hunter22@127.0.0.1:{port}/0"}
    code, line = await one_line(with_password, "pull_request", merged)
    assert code == 1 and line.startswith(f"hookwise: receive: Redis at redis://127.0.0.1:{port}/0 does not answer")
    assert "hunter22" not in line


async def test_the_readmes_sandbox_lines_work_as_written() -> None:
    """Each `receive ... --sandbox` line of the README, run from the repository's root with nothing set."""
    readme = (ROOT / "README.md").read_text()
    lines = [
        line
        for line in readme.splitlines()
        if line.startswith(".venv/bin/python -m bot receive ") and "--sandbox" in line
    ]
    assert len(lines) == 3  # one per bundled delivery
    for line in lines:
        code, output = await run_cli({}, ROOT, *shlex.split(line)[3:])
        assert code == 0 and "outcome: done" in output, (line, output)
