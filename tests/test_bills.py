"""What the model costs and who pays: the cost ledger, `python -m bot costs`, history's tokens and
cost, the daily budget per installation (one stopped, another not, the next day resumed), and a
batched issue's delivery record from `waiting` to its end."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.adapters.store.costs import Spending
from bot.adapters.store.ledger import Ledger
from bot.adapters.store.records import JobRecord, Records
from bot.cli import format_record
from bot.config import ConfigError, Settings, load_settings
from bot.core.costs.ledger import Report, format_report
from bot.core.costs.pricing import DEFAULT_PRICES
from bot.core.errors import BudgetExhausted
from bot.core.outcome import ModelUsage
from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from bot.worker.actions import commands
from bot.worker.deps import Deps
from bot.worker.job import process_delivery
from bot.worker.rounds import triage_batch
from bot.worker.state import STATE, one_run
from tests.helpers import (
    ISSUE_REPO,
    ROOT,
    add_issues,
    command_job,
    deliver,
    guid,
    issue_delivery,
    label_posts,
    run_worker,
    seed_issue,
    triage_job,
)
from tests.helpers import delivery_state as state_of

OTHER_REPO, OTHER_INSTALLATION = "other-org/other-project", 77
DAY_ONE = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    """The worker's idea of now, for the budget's UTC day: moved by the test, never waited for."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def run_cli(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args,
        env={**env, "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    output, errors = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode() + errors.decode()


# -- the budget -------------------------------------------------------------------------------------


async def test_the_budget_stops_one_installation_not_another_and_it_resumes_the_next_day(
    client: TestClient[Any, Any],
    settings_env: dict[str, str],
    github: GitHubSandbox,
    model: AnthropicSandbox,
    redis: Redis,
) -> None:
    settings = load_settings(**settings_env, MODEL_TOKENS_PER_DAY="500")  # one triage call uses more
    seed_issue(github)
    add_issues(github, {11: "a bug", 12: "another bug", 13: "a third bug"})
    github.add_repo(OTHER_REPO, installation_id=OTHER_INSTALLATION, labels=["bug"])
    add_issues(github, {21: "a bug elsewhere"}, repository=OTHER_REPO)
    clock = Clock(DAY_ONE)

    await deliver(client, "issues", issue_delivery(11), "a-first")
    await run_worker(settings, clock=clock)
    assert github.issue_labels(ISSUE_REPO, 11) == ["bug"]  # the call that used the budget up is made
    calls = len(model.requests)

    await deliver(client, "issues", issue_delivery(12), "a-over")
    await deliver(client, "issues", issue_delivery(21, repository=OTHER_REPO, installation_id=77), "b")
    await run_worker(settings, clock=clock)
    records = Records(redis)
    over = await records.get(guid("a-over"))
    assert over is not None and over.outcome == "skipped" and over.detail.startswith("skipped for the budget: ")
    assert "of 500 model tokens used on 2026-12-01 (UTC)" in over.detail
    assert label_posts(github, 12) == [] and github.comments(ISSUE_REPO, 12) == []  # nothing posted about it
    assert await state_of(redis, guid("a-over")) == b"done"
    assert github.issue_labels(OTHER_REPO, 21) == ["bug"]  # the other installation is unaffected
    assert len(model.requests) == calls + 1  # its call only

    clock.now += 24 * 3600  # the next UTC day
    await deliver(client, "issues", issue_delivery(13), "a-next-day")
    await run_worker(settings, clock=clock)
    assert github.issue_labels(ISSUE_REPO, 13) == ["bug"]

    ledger = Spending(redis, tokens_per_day=500, clock=clock)
    rows = await ledger.rows(DAY_ONE - 3600)
    skipped = {(r.installation_id, r.task): r.skipped for r in rows if r.skipped}
    assert skipped == {(461842, "triage"): 1}
    assert (await ledger.status(461842)).used > 0  # the next day's call, counted on the next day
    text = format_report(Report("a test", rows, await ledger.budgets([461842, 77]), ledger.today()), DEFAULT_PRICES)
    assert "triage" in text and "skipped" in text


async def test_help_says_how_much_of_the_budget_is_used(deps: Deps, github: GitHubSandbox, redis: Redis) -> None:
    seed_issue(github)
    github.set_permission(ISSUE_REPO, "mia", "write")
    comment = github.add_comment_as(ISSUE_REPO, 1, "mia", "@hookwise help")
    await redis.set(f"hookwise:budget:461842:{deps.spending.today()}", deps.spending.tokens_per_day + 5)
    repo = await deps.github.repo(461842, ISSUE_REPO)
    job = command_job("help-budget", "@hookwise help", login="mia", number=1, is_pull_request=False,
                      comment_id=comment["id"], repository=ISSUE_REPO)  # fmt: skip
    await commands.on_comment(job, repo, deps, job_try=1)
    [reply] = [c["body"] for c in github.comments(ISSUE_REPO, 1) if c["user"]["type"] == "Bot"]
    assert "**Model budget of this installation:** 2,000,005 of 2,000,000 model tokens used today (UTC)" in reply
    assert "used up, so new events are skipped until 00:00 UTC" in reply


async def test_a_command_that_needs_the_model_is_skipped_without_a_reaction_once_the_budget_is_used(
    deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_issue(github)
    github.set_permission(ISSUE_REPO, "mia", "write")
    comment = github.add_comment_as(ISSUE_REPO, 1, "mia", "@hookwise triage")
    await redis.set(f"hookwise:budget:461842:{deps.spending.today()}", deps.spending.tokens_per_day)
    repo = await deps.github.repo(461842, ISSUE_REPO)
    job = command_job("triage-over", "@hookwise triage", login="mia", number=1, is_pull_request=False,
                      comment_id=comment["id"], repository=ISSUE_REPO)  # fmt: skip
    with pytest.raises(BudgetExhausted) as raised:  # the job records it as skipped for the budget
        await commands.on_comment(job, repo, deps, job_try=1)
    assert raised.value.installation_id == 461842
    assert github.reactions(ISSUE_REPO, comment["id"]) == [] and model.requests == []


# -- a batched issue's delivery record -------------------------------------------------------------


async def test_a_batched_issues_delivery_waits_then_ends_with_its_outcome_and_its_batch(
    settings: Settings, deps: Deps, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_issue(github)
    add_issues(github, {11: "a bug", 12: "an enhancement", 13: "a question"})
    ctx: dict[str, Any] = {STATE: one_run(settings, deps, redis), "job_try": 1}
    jobs = [triage_job(f"batched-{n}", number=n) for n in (11, 12, 13)]
    for job in jobs:
        await Ledger(redis).accept(job)  # as the web does
        await process_delivery(ctx, job=job.model_dump(mode="json"))
    records = Records(redis)
    waiting = await records.get(jobs[0].delivery_id)
    assert waiting is not None and waiting.outcome == "waiting" and "waiting for a triage batch" in waiting.detail
    assert await state_of(redis, jobs[0].delivery_id) == b"queued"  # not done before its issue is labelled
    assert "waiting" in format_record(waiting)

    round_job = waiting.detail.rsplit("(", 1)[1].rstrip(")")
    number = int(round_job.rsplit(":", 1)[1])
    round_args = {"repository": ISSUE_REPO, "installation_id": 461842, "round": number}
    await triage_batch({**ctx, "job_id": round_job}, round=round_args)
    for job, labels in zip(jobs, (["bug"], ["enhancement"], ["question"]), strict=True):
        record = await records.get(job.delivery_id)
        assert record is not None and record.outcome == "done" and record.labels == labels
        assert record.detail == f"labels added: {labels[0]} (answered in a batch of 3)" and record.batch_size == 3
        assert record.input_tokens > 0 and record.cost_usd > 0 and record.model == "claude-haiku-5-5"
        assert await state_of(redis, job.delivery_id) == b"done"
    assert record is not None
    line = format_record(record)
    assert "answered in a batch of 3" in line and "model=claude-haiku-5-5" in line and "cost=$" in line
    assert len(model.requests) == 1

    # A waiting record saved late (its TriageJob's save raced the batch) never hides the end.
    late = JobRecord(jobs[0].delivery_id, "issues", "opened", ISSUE_REPO, 11, 461842, outcome="waiting")
    await records.save(late)
    kept = await records.get(jobs[0].delivery_id)
    assert kept is not None and kept.outcome == "done"


# -- the ledger and `python -m bot costs` ----------------------------------------------------------


@pytest.mark.e2e  # a `python -m bot costs` process
async def test_costs_prints_calls_tokens_and_dollars_per_installation_repository_and_task(
    settings_env: dict[str, str], redis: Redis, tmp_path: Path
) -> None:
    ledger = Spending(redis, tokens_per_day=2_000_000, clock=time.time)
    haiku = ModelUsage(model="claude-haiku-5-5", input_tokens=3000, output_tokens=500, cache_write_tokens=1000,
                       cache_read_tokens=4000, cost_usd=0.000695)  # fmt: skip
    await ledger.record(461842, "Codertocat/Hello-World", "triage-batch", haiku)
    await ledger.record(461842, "Codertocat/Hello-World", "triage-batch", haiku)
    await ledger.record(461842, "C-Saunders/flynn_env_test", "summary", ModelUsage(model="claude-sonnet-5-5",
                        input_tokens=9000, output_tokens=700, cost_usd=0.025))  # fmt: skip
    await ledger.record(77, "other-org/other-project", "triage", ModelUsage(model="claude-foo-9", input_tokens=100,
                        output_tokens=10, cost_usd=0.00075))  # fmt: skip
    await ledger.skipped(77, "other-org/other-project", "triage")

    code, output = await run_cli(settings_env, tmp_path, "costs", "--since", "1d")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0].startswith("model calls and estimated cost since ") and "(1d)" in lines[0]
    header = lines[1].split()
    assert header[:5] == ["installation", "repository", "task", "provider", "model"]
    assert header[-2:] == ["est.", "USD"]
    batch = next(line for line in lines if "triage-batch" in line).split()
    assert batch[:5] == ["461842", "Codertocat/Hello-World", "triage-batch", "anthropic", "claude-haiku-5-5"]
    assert batch[5:] == ["2", "0", "6,000", "1,000", "2,000", "8,000", "17,000", "$0.0014"]
    assert any(line.split()[:2] == ["461842", "(all)"] and line.endswith("$0.0264") for line in lines)
    other = next(line for line in lines if "claude-foo-9" in line).split()
    assert other[4:6] == ["claude-foo-9", "*"] and other[6:8] == ["1", "0"]  # priced as an estimate
    skipped = next(line for line in lines if line.split()[3:4] == ["-"]).split()
    assert skipped[:8] == ["77", "other-org/other-project", "triage", "-", "-", "0", "1", "0"]  # skipped for the budget
    assert next(line for line in lines if line.startswith("total")).endswith("$0.0271")
    assert any("461842: 26,700 of 2,000,000 model tokens used today (UTC)" in line for line in lines)
    assert any("* claude-foo-9: estimate: claude-foo-9 is not in the price table" in line for line in lines)


@pytest.mark.e2e  # a `python -m bot costs` process
async def test_costs_fails_with_one_line_when_it_cannot_answer(settings_env: dict[str, str], tmp_path: Path) -> None:
    settings_env = {**settings_env, "LOG_LEVEL": "info"}
    code, output = await run_cli(settings_env, tmp_path, "costs", "--since", "soon")
    assert code == 2 and output.count("\n") == 1 and "costs --since: expected a duration" in output
    code, output = await run_cli({**settings_env, "REDIS_URL": "redis://127.0.0.1:1"}, tmp_path, "costs")
    assert code == 1 and output.count("\n") == 1 and output.startswith("hookwise: cannot read the cost ledger")
    code, output = await run_cli({**settings_env, "MODEL_PRICES": "claude-haiku-5-5=1/cheap"}, tmp_path, "costs")
    assert code == 2 and output.count("\n") == 1 and "MODEL_PRICES" in output and "'cheap' is not a price" in output


async def test_an_operators_price_override_prices_the_calls(
    client: TestClient[Any, Any], settings_env: dict[str, str], github: GitHubSandbox, redis: Redis
) -> None:
    cheap = load_settings(**settings_env, MODEL_PRICES="claude-haiku-5-5=1000/1000")  # absurd, to be seen
    normal = load_settings(**settings_env)
    seed_issue(github)
    add_issues(github, {11: "a bug", 12: "another bug"})
    await deliver(client, "issues", issue_delivery(11), "dear")
    await run_worker(cheap)
    await deliver(client, "issues", issue_delivery(12), "usual")
    await run_worker(normal)
    dear, usual = await Records(redis).get(guid("dear")), await Records(redis).get(guid("usual"))
    assert dear is not None and usual is not None and dear.cost_usd > 100 * usual.cost_usd > 0


def test_the_batch_settings_are_checked_at_start(settings_env: dict[str, str]) -> None:
    for name, value in (("TRIAGE_BATCH_MAX", "0"), ("TRIAGE_BATCH_MAX", "21"), ("TRIAGE_BATCH_WAIT_S", "-1")):
        with pytest.raises(ConfigError) as raised:
            load_settings(**{**settings_env, name: value})
        assert str(raised.value).startswith(f"{name}: ") and "\n" not in str(raised.value)
    off: Settings = load_settings(**settings_env, TRIAGE_BATCH_MAX="1")
    assert not off.batching and load_settings(**settings_env).batching
