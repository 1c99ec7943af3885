"""Failures on purpose, in one process: GitHub and Anthropic misbehave, and every accepted event
still ends in exactly one effect or a dead letter a maintainer can read."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.adapters.store.ledger import Ledger
from bot.adapters.store.records import Records
from bot.cli import format_record
from bot.config import Settings
from bot.core.views.comments import SUMMARY_MARKER
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox, Injected
from tests.helpers import (
    HOOK,
    ISSUE,
    ISSUE_REPO,
    MERGED,
    PR_NUMBER,
    PR_REPO,
    delivery_headers,
    guid,
    run_worker,
    seed_issue,
    seed_merged_pr,
    webhook_bytes,
)

FAST = {"retry_base_s": 0.01}  # backoff base for tests; the policy itself is unit-tested


async def deliver(client: TestClient[Any, Any], event: str, body: bytes, delivery: str) -> None:
    response = await client.post(HOOK, data=body, headers=delivery_headers(event, body, delivery))
    assert response.status == 202


def bot_comments(github: GitHubSandbox) -> list[dict[str, Any]]:
    return [c for c in github.comments(PR_REPO, PR_NUMBER) if c["user"]["login"] == "hookwise[bot]"]


def comment_writes(github: GitHubSandbox) -> list[tuple[str, int]]:
    return [(r.method, r.status) for r in github.requests if r.method in ("POST", "PATCH") and "/comments" in r.path]


async def test_github_502_twice_on_the_comment_then_201_posts_once_and_asks_the_model_once(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    github.fail_next("POST", r"/issues/2/comments$", Injected.server_error(502), Injected.server_error(502))
    await deliver(client, "pull_request", MERGED, "d-502")
    await run_worker(settings, **FAST)

    assert len(bot_comments(github)) == 1
    assert comment_writes(github) == [("POST", 502), ("POST", 502), ("POST", 201)]
    assert len(model.requests) == 1  # the retries reused the answer
    record = await Records(redis).get(guid("d-502"))
    assert record is not None and (record.outcome, record.job_try) == ("done", 3)


async def test_a_post_github_applied_but_whose_answer_was_lost_is_not_posted_twice(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    github.fail_next("POST", r"/issues/2/comments$", Injected.server_error(502, apply=True))
    await deliver(client, "pull_request", MERGED, "d-lost")
    await run_worker(settings, **FAST)

    [comment] = bot_comments(github)
    assert comment["body"].startswith(SUMMARY_MARKER)
    assert comment_writes(github) == [("POST", 502), ("PATCH", 200)]  # looked, found it, edited


async def test_secondary_rate_limit_with_retry_after_waits_and_succeeds(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    github.fail_next("GET", r"/pulls/2$", Injected.secondary_rate_limit(retry_after=1))
    await deliver(client, "pull_request", MERGED, "d-rate")
    await run_worker(settings, **FAST)

    assert len(bot_comments(github)) == 1
    record = await Records(redis).get(guid("d-rate"))
    assert record is not None and (record.outcome, record.job_try) == ("done", 2)


async def test_primary_rate_limit_is_retried_after_the_reset(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, redis: Redis
) -> None:
    seed_issue(github)
    github.fail_next("GET", r"/labels$", Injected.primary_rate_limit(reset_in=1))
    await deliver(client, "issues", ISSUE, "d-primary")
    await run_worker(settings, **FAST)
    record = await Records(redis).get(guid("d-primary"))
    assert record is not None and (record.outcome, record.job_try) == ("done", 2)


async def test_anthropic_529_three_times_is_retried_then_succeeds(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    model.fail_next(529, 529, 529)
    await deliver(client, "pull_request", MERGED, "d-529")
    await run_worker(settings, **FAST)

    assert len(model.requests) == 4  # the SDK's own retries are off: arq's tries are the one budget
    assert len(bot_comments(github)) == 1
    record = await Records(redis).get(guid("d-529"))
    assert record is not None and (record.outcome, record.job_try) == ("done", 4)


async def test_anthropic_failing_for_longer_than_retry_for_ends_in_a_dead_letter(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    model.always_fail(429)
    await deliver(client, "pull_request", MERGED, "d-429")
    # RETRY_FOR of 2 s and a probe every 0.3 s once the model's breaker is open (the policy's
    # figures are unit-tested: tests/test_outage_policy.py).
    await run_worker(settings, **FAST, retry_for_s=2.0, probe_interval_s=0.3)

    assert len(model.requests) >= 5  # five failures in a row open the breaker, then probes
    assert bot_comments(github) == []
    [dead] = await Records(redis).recent(10, dead_only=True)
    assert (dead.delivery_id, dead.outcome) == (guid("d-429"), "failed")
    host = model.base_url.removeprefix("http://")
    assert dead.error == f"Anthropic {host}: rate limit (429) (still failing after 2s of retries)"
    assert await Ledger(redis).state(guid("d-429")) == "failed"


async def test_garbage_from_the_model_writes_nothing_leaves_a_dead_letter_and_the_worker_goes_on(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    seed_issue(github)
    model.fail_next("garbage-tool", "garbage-tool")  # the answer, and the answer to the repair turn
    model.responder = lambda request: {"labels": ["documentation"], "reason": "docs"}
    await deliver(client, "pull_request", MERGED, "d-garbage")
    await deliver(client, "issues", ISSUE, "d-next")
    await run_worker(settings, **FAST)

    assert bot_comments(github) == []
    assert not [r for r in github.requests if r.method in ("POST", "PATCH") and "/issues/2/" in r.path]
    [dead] = await Records(redis).recent(10, dead_only=True)
    assert dead.delivery_id == guid("d-garbage") and "failed validation twice" in dead.error
    assert "error: the model's answer failed validation twice" in format_record(dead)
    assert github.issue_labels(ISSUE_REPO, 1) == ["bug", "documentation"]  # the next job ran


async def test_one_repair_turn_fixes_a_bad_answer(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    seed_merged_pr(github)
    model.fail_next("garbage-tool")
    await deliver(client, "pull_request", MERGED, "d-repair")
    await run_worker(settings, **FAST)
    assert len(bot_comments(github)) == 1
    repair = model.requests[1]["messages"][-1]["content"][0]
    assert repair["type"] == "tool_result" and repair["is_error"] is True


async def test_spend_limit_fails_once_without_retrying(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    model.fail_next("spend-limit")
    await deliver(client, "pull_request", MERGED, "d-spend")
    await run_worker(settings, **FAST)
    assert len(model.requests) == 1
    record = await Records(redis).get(guid("d-spend"))
    host = model.base_url.removeprefix("http://")
    assert record is not None and (record.outcome, record.error) == ("failed", f"Anthropic {host}: spend limit reached")


async def test_repository_gone_fails_once(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    github.fail_next("GET", r"/pulls/2$", Injected.not_found())
    await deliver(client, "pull_request", MERGED, "d-404")
    await run_worker(settings, **FAST)
    record = await Records(redis).get(guid("d-404"))
    host = github.base_url.removeprefix("http://")
    assert record is not None and record.outcome == "failed" and record.error.startswith(f"GitHub {host}: 404")
    assert model.requests == []


async def test_a_failed_delivery_redelivered_by_github_runs_again(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_merged_pr(github)
    model.fail_next("spend-limit")
    await deliver(client, "pull_request", MERGED, "d-again")
    await run_worker(settings, **FAST)
    assert await Ledger(redis).state(guid("d-again")) == "failed"

    await deliver(client, "pull_request", MERGED, "d-again")  # the maintainer pressed "Redeliver": 202
    await run_worker(settings, **FAST)
    assert await Ledger(redis).state(guid("d-again")) == "done"
    assert len(bot_comments(github)) == 1
    dup = await client.post(HOOK, data=MERGED, headers=delivery_headers("pull_request", MERGED, "d-again"))
    assert (dup.status, await dup.json()) == (200, {"status": "duplicate"})


async def test_replay_runs_a_recorded_delivery_again(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    from bot.cli import replay

    seed_merged_pr(github)
    model.fail_next(400)  # a permanent failure: the job fails once
    await deliver(client, "pull_request", MERGED, "d-replay")
    await run_worker(settings, **FAST)
    assert bot_comments(github) == []
    assert await replay(settings, guid("d-replay")) == 0
    await run_worker(settings, **FAST)
    assert len(bot_comments(github)) == 1
    assert await replay(settings, "never-seen") == 1


async def test_deliveries_of_an_issue_closed_meanwhile_and_an_unknown_event_shape(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, redis: Redis
) -> None:
    seed_issue(github)
    github.add_issue(ISSUE_REPO, json.loads(ISSUE)["issue"] | {"state": "closed"})
    await deliver(client, "issues", ISSUE, "d-closed")
    other = webhook_bytes("pull_request/closed.merged.app.json")
    await deliver(client, "pull_request", other, "d-unseeded")  # the PR does not exist on GitHub
    await run_worker(settings, **FAST)
    records = {r.delivery_id: r for r in await Records(redis).recent(10)}
    assert records[guid("d-closed")].outcome == "skipped"
    assert records[guid("d-unseeded")].outcome == "failed" and "404" in records[guid("d-unseeded")].error
