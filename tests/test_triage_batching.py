"""Micro-batched triage in the unit tier: a new issue's TriageJob registers it, a batch round
(`run_round`, what the arq job `triage_batch` runs) claims the repository's waiting issues, asks
once, judges each item alone and writes each issue under its own effect key. Real Redis, the
sandbox GitHub and Anthropic over sockets, no arq: the round is run here, as its job would."""

from __future__ import annotations

import time
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.adapters.store.keys import QUEUE, batch_job_id
from bot.adapters.store.triage_queue import AlreadyWaiting, Registered
from bot.core.errors import BudgetExhausted
from bot.core.ingress.job import TriageRound, WaitingIssue
from bot.core.outcome import OutcomeKind
from bot.core.triage.batch import Take, Wait, Waiting, next_batch
from bot.sandbox.anthropic import BATCH_TOOL, AnthropicSandbox, batch_issues, user_text
from bot.sandbox.github import GitHubSandbox
from bot.worker.actions import triage
from bot.worker.deps import Deps
from tests.helpers import (
    ISSUE_REPO,
    add_issues,
    bot_label_events,
    label_posts,
    open_issues,
    run_pending_round,
    seed_issue,
    triage_job,
)

TEXTS = {
    11: "The app crashes on start: clearly a bug.",
    12: "It would be a nice enhancement to export as CSV.",
    13: "A question about the documentation of the config file.",
}
MEANT = {11: ["bug"], 12: ["enhancement"], 13: ["documentation", "question"]}


async def open_three(deps: Deps, github: GitHubSandbox) -> tuple[Any, str]:
    """Issues 11-13 opened and registered by their TriageJobs; the repo and the one round queued."""
    repo, [round_job] = await open_issues(deps, github, TEXTS)
    return repo, round_job


def answer_for(items: dict[int, list[str]]) -> Any:
    """A batched answer with exactly these items (an issue left out, or a stranger, on purpose);
    a single call gets the labels the issue's own text names."""

    def respond(request: dict[str, Any]) -> dict[str, Any]:
        tool = request["tools"][0]
        if tool["name"] == BATCH_TOOL:
            return {"issues": [{"number": n, "labels": labels, "reason": "x"} for n, labels in items.items()]}
        text = user_text(request)
        return {"labels": [label for label in ("bug", "documentation", "enhancement", "question") if label in text],
                "reason": "alone"}  # fmt: skip

    return respond


async def test_three_new_issues_are_answered_by_one_call_and_each_gets_its_own_labels(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    repo, round_job = await open_three(deps, github)
    assert model.requests == []  # the TriageJobs asked nothing

    result = await run_pending_round(deps, repo, round_job)
    [request] = model.requests
    assert request["tools"][0]["name"] == BATCH_TOOL
    assert [n for n, _ in batch_issues(user_text(request))] == [11, 12, 13]
    for number, labels in MEANT.items():
        assert github.issue_labels(ISSUE_REPO, number) == labels
    outcomes = {r.issue.number: r.outcome for r in result.results}
    assert all(o is not None and o.kind is OutcomeKind.DONE and o.batch_size == 3 for o in outcomes.values())
    assert outcomes[11] is not None and outcomes[11].detail == "labels added: bug (answered in a batch of 3)"
    # Each issue is charged a third of the one call; the thirds add up to the call.
    assert result.batch_usage is not None
    shares = [o.usage[0] for o in outcomes.values() if o is not None]
    assert sum(u.input_tokens for u in shares) == result.batch_usage.input_tokens
    assert sum(u.output_tokens for u in shares) == result.batch_usage.output_tokens


async def test_an_issue_the_batched_answer_leaves_out_goes_alone_to_a_single_call(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    model.responder = answer_for({11: ["bug"], 12: ["enhancement"]})  # 13 left out
    repo, round_job = await open_three(deps, github)
    result = await run_pending_round(deps, repo, round_job)

    assert [r["tools"][0]["name"] for r in model.requests] == [BATCH_TOOL, "choose_labels"]
    assert '<untrusted name="title">Issue 13</untrusted>' in user_text(model.requests[1])
    for number, labels in MEANT.items():
        assert github.issue_labels(ISSUE_REPO, number) == labels
    alone = next(r.outcome for r in result.results if r.issue.number == 13)
    assert alone is not None and "answered alone" in alone.detail
    assert "issue #13: no answer" in result.problems


async def test_a_stranger_in_the_batched_answer_is_ignored_and_costs_only_the_issue_it_displaced(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    # The model answers for #99 (not in the batch) instead of #13, and puts #13's labels on it.
    model.responder = answer_for({11: ["bug"], 12: ["enhancement"], 99: ["wontfix", "invalid"]})
    repo, round_job = await open_three(deps, github)
    result = await run_pending_round(deps, repo, round_job)

    assert len(model.requests) == 2  # the batch, then #13 alone: never the whole batch again
    for number, labels in MEANT.items():
        assert github.issue_labels(ISSUE_REPO, number) == labels
    assert not [r for r in github.requests if "/issues/99" in r.path]  # nothing written for the stranger
    assert any("#99 is not in this batch" in p for p in result.problems)


async def test_an_item_whose_labels_are_not_a_list_costs_its_own_issue_a_single_call_and_no_other(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    model.responder = answer_for({11: ["bug"], 12: "enhancement", 13: ["documentation", "question"]})  # type: ignore[dict-item]
    repo, round_job = await open_three(deps, github)
    result = await run_pending_round(deps, repo, round_job)
    assert [r["tools"][0]["name"] for r in model.requests] == [BATCH_TOOL, "choose_labels"]
    assert github.issue_labels(ISSUE_REPO, 12) == ["enhancement"]
    assert "issue #12: 'labels' is not a list (got str)" in result.problems


async def test_each_issue_is_written_once_under_its_own_key_even_if_the_round_runs_again(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    repo, round_job = await open_three(deps, github)
    await run_pending_round(deps, repo, round_job)
    again = await run_pending_round(deps, repo, round_job)  # arq runs the same round again
    assert again.results == [] and len(model.requests) == 1  # each issue ended its claim when written
    for number, labels in MEANT.items():
        assert bot_label_events(github, number) == labels
        assert len(label_posts(github, number)) == 1


async def test_a_crashed_rounds_claims_are_its_own_at_once_and_anyones_after_their_deadline(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    _repo, round_job = await open_three(deps, github)
    job = TriageRound(repository=ISSUE_REPO, installation_id=461842, round=int(round_job.rsplit(":", 1)[1]))
    now = int(time.time() * 1000)
    first = await deps.triage_queue.claim(job, round_job, now_ms=now)  # then the round "crashes"
    assert len(first.issues) == 3
    rerun = await deps.triage_queue.claim(job, round_job, now_ms=now + 500)  # arq's re-run: same job id
    assert sorted(i.number for i in rerun.issues) == [11, 12, 13]
    other = TriageRound(repository=ISSUE_REPO, installation_id=461842, round=99)
    early = await deps.triage_queue.claim(other, batch_job_id(ISSUE_REPO, 99), now_ms=now + 1000)
    assert early.issues == []  # still claimed: a live round never loses its issues
    late = now + 500 + int(deps.triage_queue.claim_ttl_s * 1000) + 1
    held = await deps.triage_queue.claim(other, batch_job_id(ISSUE_REPO, 99), now_ms=late)
    assert held.issues == []  # past the deadline, but arq will run the crashed round again: still its own
    assert await redis.zrem(QUEUE, round_job) == 1  # arq gives up on it (out of tries, or gone)
    taken = await deps.triage_queue.claim(other, batch_job_id(ISSUE_REPO, 99), now_ms=late)
    assert sorted(i.number for i in taken.issues) == [11, 12, 13]
    assert await deps.triage_queue.finish(ISSUE_REPO, 11, batch_job_id(ISSUE_REPO, 99))
    assert not await deps.triage_queue.finish(ISSUE_REPO, 12, round_job)  # no longer the first round's


async def test_a_lone_issue_waits_for_company_at_most_the_configured_wait(
    deps: Deps, github: GitHubSandbox, redis: Redis
) -> None:
    seed_issue(github)
    add_issues(github, {11: TEXTS[11]})
    repo = await deps.github.repo(461842, ISSUE_REPO)
    outcome = await triage.on_opened(triage_job("lone", number=11), repo, deps, job_try=1)
    round_job = outcome.detail.rsplit("(", 1)[1].rstrip(")")
    score = await redis.zscore(QUEUE, round_job)
    waited = score - time.time() * 1000 if score is not None else None
    assert waited is not None and 0 < waited <= deps.triage_queue.max_wait_s * 1000


async def test_a_full_batch_goes_at_once_and_the_rest_is_queued_as_the_next_round(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_issue(github)
    numbers = list(range(101, 101 + deps.triage_queue.max_batch + 5))
    add_issues(github, {n: f"Issue {n}: a bug" for n in numbers})
    repo = await deps.github.repo(461842, ISSUE_REPO)
    first_round = ""
    for n in numbers:
        outcome = await triage.on_opened(triage_job(f"full-{n}", number=n), repo, deps, job_try=1)
        first_round = first_round or outcome.detail.rsplit("(", 1)[1].rstrip(")")
        if n == numbers[deps.triage_queue.max_batch - 1]:  # the batch is full: due now
            score = await redis.zscore(QUEUE, first_round)
            assert score is not None and score <= time.time() * 1000
    result = await run_pending_round(deps, repo, first_round)
    assert len(result.results) == deps.triage_queue.max_batch
    assert result.next_round and result.next_round != first_round  # queued at once for the other 5
    rest = await run_pending_round(deps, repo, result.next_round)
    assert sorted(r.issue.number for r in rest.results) == numbers[deps.triage_queue.max_batch :]
    assert all(github.issue_labels(ISSUE_REPO, n) == ["bug"] for n in numbers)
    assert len(model.requests) == 2


async def test_the_same_delivery_registers_once_and_another_delivery_of_the_issue_is_skipped(
    deps: Deps, github: GitHubSandbox
) -> None:
    seed_issue(github)
    add_issues(github, {11: TEXTS[11]})
    repo = await deps.github.repo(461842, ISSUE_REPO)
    first = await triage.on_opened(triage_job("same", number=11), repo, deps, job_try=1)
    again = await triage.on_opened(triage_job("same", number=11), repo, deps, job_try=2)  # a re-run
    other = await triage.on_opened(triage_job("other", number=11), repo, deps, job_try=1)
    assert first.kind is again.kind is OutcomeKind.WAITING and first.detail == again.detail
    assert other.kind is OutcomeKind.SKIPPED and "already waiting for a triage batch" in other.detail
    issue = WaitingIssue(number=11, delivery_id="x", installation_id=1, title="t", body="b", arrived_ms=0, started_at=0)
    assert isinstance(await deps.triage_queue.register(ISSUE_REPO, issue, now_ms=0), AlreadyWaiting)
    fresh = issue.model_copy(update={"number": 12})
    assert isinstance(await deps.triage_queue.register(ISSUE_REPO, fresh, now_ms=0), Registered)


async def test_the_batch_checks_the_budget_before_its_one_call(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    repo, round_job = await open_three(deps, github)
    # The installation used its day's tokens after its issues were registered.
    await redis.set(f"hookwise:budget:461842:{deps.spending.today()}", deps.spending.tokens_per_day)
    result = await run_pending_round(deps, repo, round_job)
    assert model.requests == []
    assert all(isinstance(r.error, BudgetExhausted) for r in result.results) and len(result.results) == 3
    assert not label_posts(github, 11)


async def test_the_round_is_due_when_next_batch_says_a_batch_should_go(deps: Deps, redis: Redis) -> None:
    """The claim script's rule is bot/core/triage/batch.py's `next_batch`: due when the oldest has waited
    the wait, or at once when the batch is full."""
    t0 = 1_800_000_000_000
    waiting: list[Waiting] = []
    for offset in (0, 50, 150):  # within the wait (0.2 s in the suite)
        number = 11 + offset
        issue = WaitingIssue(number=number, delivery_id=f"d{number}", installation_id=461842, title="t", body="b",
                             arrived_ms=t0 + offset, started_at=0)  # fmt: skip
        registered = await deps.triage_queue.register(ISSUE_REPO, issue, now_ms=t0 + offset)
        assert isinstance(registered, Registered)
        waiting.append(Waiting(number, (t0 + offset) / 1000))
        decision = next_batch(waiting, now=(t0 + offset) / 1000, max_wait_s=deps.triage_queue.max_wait_s)
        assert isinstance(decision, Wait)
        assert await redis.zscore(QUEUE, registered.round_job) == pytest.approx(t0 + offset + decision.seconds * 1000)
    round_job = ""
    for number in range(100, 100 + deps.triage_queue.max_batch - 3):
        issue = WaitingIssue(number=number, delivery_id=f"d{number}", installation_id=461842, title="t", body="b",
                             arrived_ms=t0 + 160, started_at=0)  # fmt: skip
        filled = await deps.triage_queue.register(ISSUE_REPO, issue, now_ms=t0 + 160)
        assert isinstance(filled, Registered)
        round_job = filled.round_job
        waiting.append(Waiting(number, (t0 + 160) / 1000))
    assert isinstance(next_batch(waiting, now=(t0 + 160) / 1000, max_wait_s=deps.triage_queue.max_wait_s), Take)
    assert await redis.zscore(QUEUE, round_job) == t0 + 160  # full: due at once


async def test_the_rescue_leaves_a_crashed_round_that_arq_will_run_again(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    """A round that died mid-batch is still in arq's queue: arq runs it again (the same job id),
    which reuses the answer already paid for. Past its claims' deadline the rescue leaves them to it."""
    _repo, crashed = await open_three(deps, github)
    job = TriageRound(repository=ISSUE_REPO, installation_id=461842, round=int(crashed.rsplit(":", 1)[1]))
    now = int(time.time() * 1000)
    await deps.triage_queue.claim(job, crashed, now_ms=now)
    late = now + int(deps.triage_queue.claim_ttl_s * 1000) + 1
    assert await deps.triage_queue.rescue(now_ms=late) == []
    assert await deps.triage_queue.waiting(ISSUE_REPO) == []
    rerun = await deps.triage_queue.claim(job, crashed, now_ms=late)
    assert sorted(issue.number for issue in rerun.issues) == [11, 12, 13]


async def test_issues_whose_round_was_lost_get_another_from_the_rescue(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    """A round lost altogether (taken by a worker of an older version, out of tries, expired): the
    cron's rescue queues another, and gives back the claims of a round that died holding them."""
    repo, lost = await open_three(deps, github)
    job = TriageRound(repository=ISSUE_REPO, installation_id=461842, round=int(lost.rsplit(":", 1)[1]))
    now = int(time.time() * 1000)
    await deps.triage_queue.claim(job, lost, now_ms=now)  # it claims them, then it is gone for good
    await redis.zrem(QUEUE, lost)
    await redis.delete(f"arq:job:{lost}")
    assert await deps.triage_queue.rescue(now_ms=now + 1000) == []  # a live round keeps its claims
    late = now + int(deps.triage_queue.claim_ttl_s * 1000) + 1
    [found] = await deps.triage_queue.rescue(now_ms=late)
    assert found != lost and await redis.zscore(QUEUE, found) is not None
    assert await deps.triage_queue.waiting(ISSUE_REPO) == [11, 12, 13]
    await run_pending_round(deps, repo, found, now_ms=late)
    for number, labels in MEANT.items():
        assert github.issue_labels(ISSUE_REPO, number) == labels
    assert await deps.triage_queue.rescue(now_ms=late) == []  # nothing left waiting
