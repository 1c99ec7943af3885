"""Maintainer commands and per-repository config, end to end: signed `issue_comment` deliveries,
the real web app and arq worker on real Redis, the sandbox GitHub and Anthropic."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.adapters.store.records import Records
from bot.config import Settings
from bot.core.views.comments import REPLY_MARKER, SUMMARY_MARKER
from bot.sandbox import inprocess
from bot.sandbox import world as sandbox_world
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from tests.helpers import (
    HOOK,
    ISSUE,
    ISSUE_REPO,
    MERGED,
    PR_NUMBER,
    PR_REPO,
    delivery_headers,
    label_enum,
    merged_pull,
    run_worker,
    seed_issue,
    seed_merged_pr,
    seed_merged_pulls,
    system_text,
    triage_answer,
    webhook_bytes,
)

FAST = {"retry_base_s": 0.01}
MAINTAINER, OUTSIDER = "maintainer-mia", "passer-by"


@pytest.fixture
def world(github: GitHubSandbox, model: AnthropicSandbox) -> GitHubSandbox:
    seed_merged_pr(github)
    seed_issue(github)
    for repo in (PR_REPO, ISSUE_REPO):
        github.set_permission(repo, MAINTAINER, "maintain")
        github.set_permission(repo, OUTSIDER, "read")
    model.responder = triage_answer("documentation", "question", reason="A README question.")
    return github


def command_delivery(
    github: GitHubSandbox, repo: str, number: int, body: str, login: str, user_type: str = "User"
) -> bytes:
    """A real `issue_comment` delivery (GitHub's fixture) for a comment just made on the sandbox."""
    target = MERGED if repo == PR_REPO else ISSUE
    return sandbox_world.command_delivery(github, target, number, body, login, user_type=user_type)


async def send(client: TestClient[Any, Any], event: str, body: bytes) -> int:
    response = await client.post(HOOK, data=body, headers=delivery_headers(event, body))
    return response.status


def reactions(github: GitHubSandbox, repo: str, comment: bytes) -> list[str]:
    return github.reactions(repo, json.loads(comment)["comment"]["id"])


def replies(github: GitHubSandbox, repo: str, number: int) -> list[str]:
    return [c["body"] for c in github.comments(repo, number) if c["body"].startswith(REPLY_MARKER)]


async def test_maintainer_summarize_edits_the_summary_in_place_with_eyes_then_rocket(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    await send(client, "pull_request", MERGED)
    await run_worker(settings, **FAST)
    [summary] = [c for c in world.comments(PR_REPO, PR_NUMBER) if c["body"].startswith(SUMMARY_MARKER)]

    command = command_delivery(world, PR_REPO, PR_NUMBER, "Could you redo this?\n\n@hookwise summarize\n", MAINTAINER)
    assert await send(client, "issue_comment", command) == 202
    await run_worker(settings, **FAST)

    summaries = [c for c in world.comments(PR_REPO, PR_NUMBER) if c["body"].startswith(SUMMARY_MARKER)]
    assert [c["id"] for c in summaries] == [summary["id"]]  # the one summary, edited
    assert [(r.method, r.path) for r in world.requests if r.method == "PATCH"] == [
        ("PATCH", f"/repos/{PR_REPO}/issues/comments/{summary['id']}")
    ]
    assert reactions(world, PR_REPO, command) == ["eyes", "rocket"]
    assert len(model.requests) == 2  # the command forces a new summary
    assert replies(world, PR_REPO, PR_NUMBER) == []


@pytest.mark.parametrize("body", ["@hookwise summarize", "@hookwise release-notes since v1.0.0"])
@pytest.mark.parametrize(
    ("login", "user_type"),
    [(OUTSIDER, "User"), ("someone-unknown", "User"), ("dependabot[bot]", "Bot"), ("hookwise[bot]", "Bot")],
)
async def test_commands_from_outsiders_and_bots_do_nothing(
    client: TestClient[Any, Any],
    settings: Settings,
    world: GitHubSandbox,
    model: AnthropicSandbox,
    login: str,
    user_type: str,
    body: str,
) -> None:
    world.add_release(PR_REPO, "v1.0.0", created_at="2018-11-01T00:00:00Z")
    command = command_delivery(world, PR_REPO, PR_NUMBER, body, login, user_type)
    await send(client, "issue_comment", command)
    await run_worker(settings, **FAST)
    assert reactions(world, PR_REPO, command) == []
    assert replies(world, PR_REPO, PR_NUMBER) == []
    assert model.requests == []
    assert not [r for r in world.requests if r.method in ("POST", "PATCH") and r.path.startswith("/repos/")]


@pytest.mark.parametrize(
    "body",
    [
        "> @hookwise summarize\n\nI agree with the above.",
        "```\n@hookwise summarize\n```",
        "Run `@hookwise summarize` to redo it.",
        "<!--\n@hookwise summarize\n-->",
    ],
)
async def test_quoted_or_fenced_commands_do_nothing(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox, body: str
) -> None:
    command = command_delivery(world, PR_REPO, PR_NUMBER, body, MAINTAINER)
    await send(client, "issue_comment", command)
    await run_worker(settings, **FAST)
    assert reactions(world, PR_REPO, command) == []
    assert model.requests == []


async def test_help_replies_with_the_commands_and_the_configuration(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    command = command_delivery(world, ISSUE_REPO, 1, "@HookWise HELP", MAINTAINER)
    await send(client, "issue_comment", command)
    await run_worker(settings, **FAST)
    [reply] = replies(world, ISSUE_REPO, 1)
    for word in ("summarize", "triage", "release-notes [since TAG]", "help"):
        assert f"@hookwise {word}" in reply
    assert "Configuration in effect" in reply
    assert "- Triage agreement: no issues triaged yet." in reply  # one line of the accuracy report
    assert reactions(world, ISSUE_REPO, command) == ["eyes", "rocket"]
    assert model.requests == []


def merge_delivery(pull: dict[str, Any]) -> bytes:
    """The real merged-PR delivery, for another pull request of its repository."""
    payload = json.loads(MERGED)
    payload["pull_request"] = pull
    payload["number"] = pull["number"]
    return json.dumps(payload).encode()


async def test_release_notes_from_the_summaries_of_merged_pull_requests(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    """Three merges are summarised as they arrive; `release-notes` then groups them, with one call."""
    pulls = [
        merged_pull(11, "Add a retry to uploads", "2018-11-20T09:00:00Z"),
        merged_pull(12, "Drop Python 2", "2018-11-21T09:00:00Z"),
        merged_pull(13, "Fix a crash on empty configs", "2018-11-22T09:00:00Z"),
    ]
    seed_merged_pulls(world, pulls)
    world.add_release(PR_REPO, "v1.0.0", created_at="2018-11-19T00:00:00Z")
    risks = {"Add a retry to uploads": "low", "Drop Python 2": "high", "Fix a crash on empty configs": "medium"}

    def model_answer(request: dict[str, Any]) -> dict[str, Any]:
        text = request["messages"][0]["content"]
        if request["tool_choice"]["name"] == "record_release_notes":
            return {"items": [{"number": 12, "group": "breaking", "line": "Python 2 is no longer supported."}]}
        title = re.findall(r'<untrusted name="title">(.*?)</untrusted>', text)[0]
        return {"overview": f"{title}, as summarised.", "changes": ["A change"], "why": "-", "risk": risks[title]}

    model.responder = model_answer
    for pull in pulls:
        assert await send(client, "pull_request", merge_delivery(pull)) == 202
    await run_worker(settings, **FAST)
    assert len(model.requests) == 3

    command = command_delivery(world, PR_REPO, PR_NUMBER, "@hookwise release-notes", MAINTAINER)
    assert await send(client, "issue_comment", command) == 202
    await run_worker(settings, **FAST)
    assert len(model.requests) == 4  # one call for the notes
    [reply] = replies(world, PR_REPO, PR_NUMBER)
    link = f"https://github.com/{PR_REPO}/pull"
    assert "3 pull requests merged since `v1.0.0` (2018-11-19), oldest first." in reply
    assert f"**Breaking or risky changes**\n- Python 2 is no longer supported. ([#12]({link}/12))" in reply
    # The model left #11 and #13 out: they are grouped by their summaries.
    assert f"**Features**\n- Add a retry to uploads, as summarised. ([#11]({link}/11))" in reply
    assert f"**Fixes**\n- Fix a crash on empty configs, as summarised. ([#13]({link}/13))" in reply
    assert reactions(world, PR_REPO, command) == ["eyes", "rocket"]


async def test_invalid_config_falls_back_and_help_shows_the_error(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    world.set_file(ISSUE_REPO, ".github/hookwise.yml", "triage:\n  max_labels: 99\n")
    await send(client, "issues", ISSUE)  # the defaults hold: labels are added
    command = command_delivery(world, ISSUE_REPO, 1, "@hookwise help", MAINTAINER)
    await send(client, "issue_comment", command)
    await run_worker(settings, **FAST)
    assert "documentation" in world.issue_labels(ISSUE_REPO, 1)
    [reply] = replies(world, ISSUE_REPO, 1)
    assert "triage.max_labels" in reply and "defaults apply" in reply


async def test_config_that_turns_triage_off_stops_triage(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    world.set_file(ISSUE_REPO, ".github/hookwise.yml", "triage:\n  labels: false\n")
    await send(client, "issues", ISSUE)
    await run_worker(settings, **FAST)
    assert world.issue_labels(ISSUE_REPO, 1) == ["bug"]
    assert model.requests == []


async def test_owner_dot_github_config_is_the_fallback(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    world.add_repo("Codertocat/.github", installation_id=461842)
    world.set_file("Codertocat/.github", ".github/hookwise.yml", "triage:\n  labels: false\n")
    await send(client, "issues", ISSUE)
    await run_worker(settings, **FAST)
    assert model.requests == []


async def test_config_shapes_the_prompt_and_the_labels(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    world.set_file(
        ISSUE_REPO,
        ".github/hookwise.yml",
        "triage:\n  deny_labels: [question]\n  max_labels: 1\n  comment: true\n"
        "instructions: Prefer the documentation label.\nlanguage: Deutsch\n",
    )
    await send(client, "issues", ISSUE)
    await run_worker(settings, **FAST)
    request = model.requests[0]
    assert "Prefer the documentation label." in system_text(request) and "Deutsch" in system_text(request)
    assert "question" not in label_enum(request)
    assert world.issue_labels(ISSUE_REPO, 1) == ["bug", "documentation"]
    [triage_comment] = [c["body"] for c in world.comments(ISSUE_REPO, 1)]
    assert triage_comment.startswith("<!-- hookwise:triage -->")


async def test_a_label_a_human_removed_is_not_put_back_by_triage(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    await send(client, "issues", ISSUE)
    await run_worker(settings, **FAST)
    assert world.issue_labels(ISSUE_REPO, 1) == ["bug", "documentation", "question"]
    world.remove_label_as(ISSUE_REPO, 1, "documentation", MAINTAINER)

    command = command_delivery(world, ISSUE_REPO, 1, "@hookwise triage", MAINTAINER)
    await send(client, "issue_comment", command)
    await run_worker(settings, **FAST)
    assert world.issue_labels(ISSUE_REPO, 1) == ["bug", "question"]
    assert len(model.requests) == 2  # the command re-ran the model, and its choice was filtered
    assert reactions(world, ISSUE_REPO, command) == ["eyes", "rocket"]


async def test_a_command_in_the_wrong_place_gets_a_reply_and_no_model_call(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    command = command_delivery(world, ISSUE_REPO, 1, "@hookwise summarize", MAINTAINER)
    await send(client, "issue_comment", command)
    await run_worker(settings, **FAST)
    [reply] = replies(world, ISSUE_REPO, 1)
    assert "pull requests only" in reply
    assert model.requests == []


async def test_a_burst_of_the_same_command_runs_the_model_once_a_minute(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    first = command_delivery(world, PR_REPO, PR_NUMBER, "@hookwise summarize", MAINTAINER)
    second = command_delivery(world, PR_REPO, PR_NUMBER, "@hookwise summarize", MAINTAINER)
    await send(client, "issue_comment", first)
    await send(client, "issue_comment", second)
    await run_worker(settings, **FAST)
    assert len(model.requests) == 1
    [reply] = replies(world, PR_REPO, PR_NUMBER)
    assert "less than a minute ago" in reply


async def test_a_failed_command_gets_confused(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, model: AnthropicSandbox
) -> None:
    model.fail_next("spend-limit")
    command = command_delivery(world, PR_REPO, PR_NUMBER, "@hookwise summarize", MAINTAINER)
    await send(client, "issue_comment", command)
    await run_worker(settings, **FAST)
    assert reactions(world, PR_REPO, command) == ["eyes", "confused"]


def config_push() -> bytes:
    """GitHub's push delivery, to the issue repository's default branch, changing the config."""
    push = json.loads(webhook_bytes("push/with-installation.json"))
    push["repository"], push["installation"] = json.loads(ISSUE)["repository"], {"id": 461842}
    push["ref"] = f"refs/heads/{push['repository']['default_branch']}"
    push["commits"] = [{"added": [], "modified": [".github/hookwise.yml"], "removed": []}]
    return json.dumps(push).encode()


async def test_a_push_changing_the_config_tells_every_worker_to_read_it_again(
    client: TestClient[Any, Any], settings: Settings, world: GitHubSandbox, redis: Redis
) -> None:
    from bot.adapters.store.keys import CONFIG_GENERATION as GENERATION_PREFIX

    assert await send(client, "push", config_push()) == 202
    await run_worker(settings, **FAST)
    assert await redis.get(GENERATION_PREFIX + "codertocat") == b"1"
    [record] = await Records(redis).recent(1)
    assert (record.event, record.outcome, record.detail) == ("push", "done", "configuration cache refreshed")


async def test_the_config_is_cached_until_a_push_and_revalidated_with_a_conditional_request(
    settings: Settings, world: GitHubSandbox, redis: Redis
) -> None:
    from bot.adapters.github import GitHubApp
    from bot.adapters.store.config_cache import ConfigStore

    world.set_file(ISSUE_REPO, ".github/hookwise.yml", "triage:\n  max_labels: 2\n")
    repo = await GitHubApp.from_settings(inprocess.github_backend(world), settings).repo(461842, ISSUE_REPO)
    store = ConfigStore(redis)
    first = await store.get(repo)
    assert await store.get(repo) is first  # cached: no request
    await store.invalidate(ISSUE_REPO)  # what a push that touches the file does
    again = await store.get(repo)
    world.set_file(ISSUE_REPO, ".github/hookwise.yml", "triage:\n  labels: false\n")
    assert (await store.get(repo)).config.triage.labels is True  # still the cached one
    await store.invalidate(ISSUE_REPO)
    changed = await store.get(repo)
    reads = [r.status for r in world.requests if r.path == f"/repos/{ISSUE_REPO}/contents/.github/hookwise.yml"]
    assert reads == [200, 304, 200]  # unchanged: GitHub answers 304, which costs no rate limit
    assert first.config.triage.max_labels == again.config.triage.max_labels == 2
    assert changed.config.triage.labels is False
