"""The unit tier: each use case called directly with its typed job and the worker's Deps over the
sandboxes (real gidgethub and anthropic SDK code, no web app, no arq). What a handler did comes
back as an Outcome value; the end-to-end and process tests keep what only they can show."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.adapters.store.keys import CONFIG_GENERATION
from bot.core.errors import TransientError
from bot.core.ingress.job import ConfigJob
from bot.core.outcome import OutcomeKind
from bot.core.views.comments import REPLY_MARKER, SUMMARY_MARKER, TRIAGE_MARKER
from bot.sandbox.anthropic import AnthropicSandbox, fake_tool_input
from bot.sandbox.github import GitHubSandbox, Injected
from bot.worker.actions import commands, config, summarize, triage
from bot.worker.deps import Deps
from tests.helpers import (
    ISSUE_REPO,
    PR_NUMBER,
    PR_REPO,
    command_job,
    guid,
    seed_issue,
    seed_merged_pr,
    summary_job,
    triage_job,
    webhook_payload,
)


def labels_answer(*labels: str) -> Any:
    return lambda request: {"labels": list(labels), "reason": "Because."}


def one_at_a_time(deps: Deps) -> Deps:
    """The worker with batching off (`TRIAGE_BATCH_MAX=1`): a new issue is triaged by its own job."""
    return replace(deps, batching=False)


async def test_a_merged_pull_request_gets_a_summary_and_the_outcome_says_what_it_cost(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    repo = await deps.github.repo(461842, PR_REPO)
    outcome = await summarize.on_merged(summary_job("s-1"), repo, deps, job_try=1)
    [comment] = github.comments(PR_REPO, PR_NUMBER)
    assert (outcome.kind, outcome.detail, outcome.comment_id) == (OutcomeKind.DONE, "summary posted", comment["id"])
    assert comment["body"].startswith(SUMMARY_MARKER)
    [usage] = outcome.usage
    assert usage.input_tokens > 0 and usage.output_tokens > 0 and usage.calls == 1


async def test_the_same_merge_again_is_skipped_without_a_model_call(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    repo = await deps.github.repo(461842, PR_REPO)
    await summarize.on_merged(summary_job("s-1"), repo, deps, job_try=1)
    again = await summarize.on_merged(summary_job("s-2"), repo, deps, job_try=1)
    assert (again.kind, again.detail, again.usage) == (OutcomeKind.SKIPPED, "summary already posted for this merge", ())
    assert len(model.requests) == 1


async def test_summaries_turned_off_in_the_config_are_skipped(deps: Deps, github: GitHubSandbox) -> None:
    seed_merged_pr(github)
    github.set_file(PR_REPO, ".github/hookwise.yml", "summaries:\n  enabled: false\n")
    repo = await deps.github.repo(461842, PR_REPO)
    outcome = await summarize.on_merged(summary_job("s-off"), repo, deps, job_try=1)
    assert outcome == outcome.skipped("summaries are turned off in .github/hookwise.yml")


async def test_triage_adds_only_existing_labels_and_says_so(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_issue(github)
    model.responder = labels_answer("documentation", "invented", "bug")
    repo = await deps.github.repo(461842, ISSUE_REPO)
    outcome = await triage.on_opened(triage_job("t-1"), repo, one_at_a_time(deps), job_try=1)
    assert (outcome.kind, outcome.labels) == (OutcomeKind.DONE, ("documentation",))  # "bug" was already on
    assert outcome.detail == "labels added: documentation"
    assert github.issue_labels(ISSUE_REPO, 1) == ["bug", "documentation"]
    assert "invented" not in github.repo_labels(ISSUE_REPO)


async def test_triage_posts_its_comment_only_where_the_config_asks(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_issue(github)
    github.set_file(ISSUE_REPO, ".github/hookwise.yml", "triage:\n  comment: true\n")
    model.responder = labels_answer("question")
    repo = await deps.github.repo(461842, ISSUE_REPO)
    outcome = await triage.on_opened(triage_job("t-c"), repo, one_at_a_time(deps), job_try=1)
    [comment] = github.comments(ISSUE_REPO, 1)
    assert comment["body"].startswith(TRIAGE_MARKER) and outcome.comment_id == comment["id"]


async def test_a_closed_issue_is_not_triaged(deps: Deps, github: GitHubSandbox, model: AnthropicSandbox) -> None:
    seed_issue(github)
    github.add_issue(ISSUE_REPO, {**webhook_payload("issues/opened.json")["issue"], "state": "closed"})
    repo = await deps.github.repo(461842, ISSUE_REPO)
    outcome = await triage.on_opened(triage_job("t-closed"), repo, deps, job_try=1)
    assert outcome == outcome.skipped("issue closed before triage")
    assert model.requests == []


async def test_a_command_from_someone_without_write_access_does_nothing(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    github.set_permission(PR_REPO, "reader", "read")
    comment = github.add_comment_as(PR_REPO, PR_NUMBER, "reader", "@hookwise summarize")
    repo = await deps.github.repo(461842, PR_REPO)
    job = command_job("c-read", "@hookwise summarize", login="reader", comment_id=comment["id"])
    outcome = await commands.on_comment(job, repo, deps, job_try=1)
    assert outcome == outcome.skipped("reader may not run commands (read)")
    assert github.reactions(PR_REPO, comment["id"]) == [] and model.requests == []


async def test_a_maintainers_summarize_edits_the_summary_and_carries_its_cost(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    github.set_permission(PR_REPO, "mia", "maintain")
    repo = await deps.github.repo(461842, PR_REPO)
    first = await summarize.on_merged(summary_job("s-1"), repo, deps, job_try=1)
    comment = github.add_comment_as(PR_REPO, PR_NUMBER, "mia", "@hookwise summarize")
    job = command_job("c-sum", "@hookwise summarize", login="mia", comment_id=comment["id"])
    outcome = await commands.on_comment(job, repo, deps, job_try=1)
    assert (outcome.kind, outcome.detail) == (OutcomeKind.DONE, "commands: summarize")
    assert outcome.comment_id == first.comment_id
    assert len(outcome.usage) == 1 and len(model.requests) == 2
    assert github.reactions(PR_REPO, comment["id"]) == ["eyes", "rocket"]


async def test_help_replies_once_and_costs_nothing(deps: Deps, github: GitHubSandbox, model: AnthropicSandbox) -> None:
    seed_merged_pr(github)
    github.set_permission(PR_REPO, "mia", "write")
    comment = github.add_comment_as(PR_REPO, PR_NUMBER, "mia", "@hookwise help")
    repo = await deps.github.repo(461842, PR_REPO)
    job = command_job("c-help", "@hookwise help", login="mia", comment_id=comment["id"])
    outcome = await commands.on_comment(job, repo, deps, job_try=1)
    await commands.on_comment(job, repo, deps, job_try=2)  # a retry edits the reply
    replies = [c for c in github.comments(PR_REPO, PR_NUMBER) if c["body"].startswith(REPLY_MARKER)]
    assert len(replies) == 1 and "**hookwise commands**" in replies[0]["body"]
    assert outcome.usage == () and model.requests == []


async def test_a_config_push_refreshes_every_workers_cache(deps: Deps, github: GitHubSandbox, redis: Any) -> None:
    seed_issue(github)
    repo = await deps.github.repo(461842, ISSUE_REPO)
    job = ConfigJob(delivery_id=guid("push"), event="push", action="", installation_id=461842, repository=ISSUE_REPO)
    outcome = await config.on_push(job, repo, deps, job_try=1)
    assert outcome.kind is OutcomeKind.DONE
    assert await redis.get(CONFIG_GENERATION + "codertocat") == b"1"


async def test_the_model_answer_a_retry_finds_is_reused(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    model.responder = lambda request: fake_tool_input(request["tools"][0]["input_schema"])
    github.fail_next("POST", r"/issues/\d+/comments$", Injected.server_error())
    repo = await deps.github.repo(461842, PR_REPO)
    job = summary_job("s-retry")
    with pytest.raises(TransientError, match=r"GitHub .*: server error \(502\)"):  # hookwise's own error
        await summarize.on_merged(job, repo, deps, job_try=1)
    outcome = await summarize.on_merged(job, repo, deps, job_try=2)
    assert outcome.kind is OutcomeKind.DONE and len(model.requests) == 1
