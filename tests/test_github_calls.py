"""GitHub calls per event, with warm caches: what counts against an installation's REST budget
(5,000 requests an hour for most). A conditional request GitHub answers 304 costs nothing, as the
sandbox GitHub counts it. Goal (issue 8): a triage makes at most 3, a summary at most 5; before,
with warm caches, each made 5."""

from __future__ import annotations

import json
from dataclasses import replace

from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox, RecordedRequest
from bot.worker.actions import summarize, triage
from bot.worker.deps import Deps
from tests.helpers import (
    ISSUE_REPO,
    MERGED,
    PR_REPO,
    add_issues,
    run_pending_round,
    seed_issue,
    seed_merged_pr,
    summary_job,
    triage_job,
)


def rate_limited(requests: list[RecordedRequest]) -> list[str]:
    """The repository requests that used rate limit (a 304 does not), as `METHOD path`."""
    return [f"{r.method} {r.path}" for r in requests if r.path.startswith("/repos/") and r.status != 304]


async def triage_one(deps: Deps, github: GitHubSandbox, number: int) -> list[str]:
    mark = len(github.requests)
    repo = await deps.github.repo(461842, ISSUE_REPO)
    outcome = await triage.on_opened(triage_job(f"calls-{number}", number=number), repo, deps, job_try=1)
    if deps.batching:
        await run_pending_round(deps, repo, outcome.detail.rsplit("(", 1)[1].rstrip(")"))
    assert github.issue_labels(ISSUE_REPO, number) == ["bug"]
    return rate_limited(github.requests[mark:])


async def test_a_batched_triage_makes_three_rate_limited_calls_with_warm_caches(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_issue(github)
    add_issues(github, {11: "a bug", 12: "another bug"})
    await triage_one(deps, github, 11)  # warms the token, the slug, the config and the label list's ETag
    calls = await triage_one(deps, github, 12)
    base = f"/repos/{ISSUE_REPO}/issues/12"
    assert calls == [f"GET {base}", f"GET {base}/events", f"POST {base}/labels"]
    assert any(r.status == 304 and r.path.endswith("/labels") for r in github.requests)  # the list, conditional


async def test_a_single_triage_makes_three_rate_limited_calls_with_warm_caches(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    one_at_a_time = replace(deps, batching=False)
    seed_issue(github)
    add_issues(github, {11: "a bug", 12: "another bug"})
    await triage_one(one_at_a_time, github, 11)
    calls = await triage_one(one_at_a_time, github, 12)
    base = f"/repos/{ISSUE_REPO}/issues/12"
    assert calls == [f"GET {base}", f"GET {base}/events", f"POST {base}/labels"]


async def test_a_summary_makes_five_rate_limited_calls_with_warm_caches(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    pull = json.loads(MERGED)["pull_request"] | {"number": 3, "merge_commit_sha": "3" * 40}
    github.add_pull(PR_REPO, pull, files=[{"filename": "a.py", "patch": "+x"}], commits=[{"commit": {"message": "m"}}])
    repo = await deps.github.repo(461842, PR_REPO)
    await summarize.on_merged(summary_job("warm"), repo, deps, job_try=1)
    mark = len(github.requests)
    outcome = await summarize.on_merged(summary_job("counted", number=3), repo, deps, job_try=1)
    assert outcome.detail == "summary posted"
    base = f"/repos/{PR_REPO}"
    assert rate_limited(github.requests[mark:]) == [
        f"GET {base}/pulls/3",
        f"GET {base}/pulls/3/files",
        f"GET {base}/pulls/3/commits",
        f"GET {base}/issues/3/comments",  # look before posting: a lost answer may have posted it
        f"POST {base}/issues/3/comments",
    ]
