"""One batch round: up to TRIAGE_BATCH_MAX waiting issues of one repository, one model call.

The round claims its issues (bot/adapters/store/triage_queue.py), asks once for all of them
(`label_issues`, bot/core/batch.py), judges each item of the answer on its own, sends each issue
the answer failed (missing, invalid, duplicated) to a single call, and then writes each issue
under its own effect key and lock exactly as a single triage does (`apply_labels`): never another
issue's labels. What happened to each issue comes back as its own result; the job
(bot/worker/job.py) turns each into that issue's delivery record.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from pydantic import BaseModel

from bot.adapters.github import Repo
from bot.adapters.llm import Question
from bot.core import batch as core_batch
from bot.core import triage as core
from bot.core.answers import LabelChoice
from bot.core.errors import BudgetExhausted, InvalidAnswer
from bot.core.job import TriageRound, WaitingIssue
from bot.core.outcome import ModelUsage, Outcome
from bot.worker.actions.triage import (
    IssueText,
    TriageDraft,
    Triaging,
    apply_labels,
    choose,
    effect_key,
    prepare,
    static_prefix,
)
from bot.worker.deps import Deps

log = logging.getLogger("hookwise.triage")

BATCH_TASK = "triage-batch"


class BatchDraft(BaseModel):
    """The batched answer as the model gave it (judged item by item later) and what it cost, kept
    for a retry of the same round so the call is paid for once."""

    raw: object
    numbers: list[int]
    usage: ModelUsage | None = None


@dataclass(frozen=True, slots=True)
class IssueResult:
    """One claimed issue's end: an outcome, or the error that stopped it (its verdict is the job's)."""

    issue: WaitingIssue
    outcome: Outcome | None = None
    error: BaseException | None = None
    rate_limit: str = ""


@dataclass(frozen=True, slots=True)
class RoundResult:
    results: list[IssueResult]
    next_round: str
    batch_usage: ModelUsage | None = None
    problems: tuple[str, ...] = ()
    rate_limit: str = ""


Settle = Callable[[IssueResult], Awaitable[None]]


async def run_round(
    job: TriageRound,
    job_id: str,
    open_repo: Callable[[], Awaitable[Repo]],
    deps: Deps,
    *,
    now_ms: int,
    settle: Settle,
) -> RoundResult:
    """Claim, ask, write. Each claimed issue is handed to `settle` (its record, its claim's end)
    as soon as it is judged, so a crash later in the round loses nothing already written. Whatever
    fails before an issue is judged on its own is that issue's error: none ends silently."""
    claimed = await deps.triage_queue.claim(job, job_id, now_ms=now_ms)
    if not claimed.issues:
        return RoundResult([], claimed.next_round)
    settled: set[int] = set()

    async def settle_once(result: IssueResult) -> None:
        await settle(result)
        settled.add(result.issue.number)

    try:
        repo = await open_repo()
        results, usage, problems = await _answer(repo, claimed.issues, job_id, deps, settle_once)
    except Exception as exc:  # before these issues were judged on their own: it stops them alike
        failed = [IssueResult(issue, error=exc) for issue in claimed.issues if issue.number not in settled]
        for result in failed:
            await settle_once(result)
        return RoundResult(failed, claimed.next_round)
    return RoundResult(results, claimed.next_round, usage, tuple(problems), repo.rate_limit())


async def fail_claims(
    job: TriageRound, job_id: str, deps: Deps, error: BaseException, *, now_ms: int, settle: Settle
) -> None:
    """End each of the round's own claims with `error` (the round gave up: its tries ran out)."""
    claimed = await deps.triage_queue.claim(job, job_id, now_ms=now_ms)
    for issue in claimed.issues:
        await settle(IssueResult(issue, error=error))


async def _answer(
    repo: Repo, issues: list[WaitingIssue], job_id: str, deps: Deps, settle: Settle
) -> tuple[list[IssueResult], ModelUsage | None, list[str]]:
    results: list[IssueResult] = []

    async def judged(result: IssueResult) -> None:
        result = replace(result, rate_limit=repo.rate_limit())
        results.append(result)
        await settle(result)

    config = (await deps.configs.get(repo)).config
    if not config.triage.labels and not config.triage.comment:
        for issue in issues:
            await judged(IssueResult(issue, Outcome.skipped("triage is turned off in .github/hookwise.yml")))
        return results, None, []
    todo: list[WaitingIssue] = []
    for issue in issues:
        if await deps.effects.done(effect_key(repo.full_name, issue.number)):
            await judged(IssueResult(issue, Outcome.skipped("issue already triaged")))
        else:
            todo.append(issue)
    if not todo:
        return results, None, []
    work = await prepare(repo, config, deps)
    if not work.allowed:
        for issue in todo:
            await judged(IssueResult(issue, Outcome.skipped("no label the bot may use")))
        return results, None, []
    try:
        draft = await deps.effects.draft(f"{job_id}:batch", BatchDraft, lambda: _ask(work, todo))
    except BudgetExhausted as exc:  # the batch checks before its one call: every issue is skipped
        for issue in todo:
            await judged(IssueResult(issue, error=exc))
        return results, None, []
    numbers = [issue.number for issue in todo]
    answers, leftovers, problems = core_batch.validate_batch(draft.raw, numbers, work.allowed)
    if problems:
        log.info("batch %s: %d answered, %d to single calls: %s", job_id, len(answers), len(leftovers), problems)
    singles = await _singles(work, [issue for issue in todo if issue.number in leftovers])
    size = len(draft.numbers)
    in_call = {number: index for index, number in enumerate(draft.numbers)}
    for issue in todo:
        share = draft.usage.share(size, in_call[issue.number]) if draft.usage and issue.number in in_call else None
        single = singles.get(issue.number)
        await judged(await _write(work, issue, answers.get(issue.number), single, share, size))
    return results, draft.usage, problems


async def _ask(work: Triaging, issues: list[WaitingIssue]) -> BatchDraft:
    numbers = [issue.number for issue in issues]
    try:
        answer = await work.model(BATCH_TASK).ask(batch_question(work, issues))
    except InvalidAnswer as exc:  # not even an `issues` list twice: every issue goes to a single call
        log.warning("batched answer unusable (%s); %d single calls", exc.reason, len(issues))
        return BatchDraft(raw=None, numbers=numbers)
    return BatchDraft(raw=answer.value.model_dump(), numbers=numbers, usage=answer.usage)


def batch_question(work: Triaging, issues: list[WaitingIssue]) -> Question[core_batch.BatchEnvelope]:
    """The batched call; the examples from corrections appear once, shared by the whole batch."""
    prefix = static_prefix(work, batched=True)
    numbers = [issue.number for issue in issues]
    fenced = [core_batch.BatchIssue(issue.number, issue.title, issue.body) for issue in issues]
    return Question(
        system=prefix.system,
        user=core.with_examples(
            work.learned.examples(exclude=numbers), core_batch.batch_user_prompt(work.repo.full_name, fenced)
        ),
        answer=core_batch.BatchEnvelope,
        tool_name=core_batch.BATCH_TOOL_NAME,
        tool_description=core_batch.BATCH_TOOL_DESCRIPTION,
        tool=core.pin_numbers(prefix, work.allowed, numbers),
        model=work.deps.models.triage,
        max_tokens=core_batch.max_tokens_for(len(issues)),
    )


async def _singles(work: Triaging, leftovers: list[WaitingIssue]) -> dict[int, TriageDraft | BaseException]:
    """One call each for the issues the batched answer failed, at once; each saved for a retry."""

    async def one(issue: WaitingIssue) -> TriageDraft:
        key = f"{issue.delivery_id}:{effect_key(work.repo.full_name, issue.number)}"
        return await work.deps.effects.draft(key, TriageDraft, lambda: choose(work, _text(issue)))

    drafts = await asyncio.gather(*(one(issue) for issue in leftovers), return_exceptions=True)
    return {issue.number: draft for issue, draft in zip(leftovers, drafts, strict=True)}


def _text(issue: WaitingIssue) -> IssueText:
    return IssueText(issue.number, issue.title, issue.body, issue.labels)


async def _write(
    work: Triaging,
    issue: WaitingIssue,
    answer: LabelChoice | None,
    single: TriageDraft | BaseException | None,
    share: ModelUsage | None,
    size: int,
) -> IssueResult:
    """One issue's labels, from its item of the batched answer or its single call."""
    if isinstance(single, BaseException):
        return IssueResult(issue, error=single)
    if answer is not None:
        chosen, reason = answer.labels, answer.reason
    elif single is not None:
        chosen, reason = single.labels, single.reason
    else:  # cannot happen: validate_batch makes every unanswered issue a leftover
        return IssueResult(issue, error=InvalidAnswer(f"no answer for issue #{issue.number}"))
    usage = tuple(u for u in (share, single.usage if single is not None else None) if u is not None)
    effect, repository, effects = effect_key(work.repo.full_name, issue.number), work.repo.full_name, work.deps.effects
    try:
        async with effects.exactly_once(effect, repository, issue.number, force=False) as needed:
            if not needed:
                return IssueResult(issue, Outcome.skipped("issue already triaged").with_usage(*usage).in_batch(size))
            outcome = await apply_labels(work, issue.number, chosen, reason, issue=_text(issue), force=False)
            await effects.record(effect, ",".join(outcome.labels))
    except Exception as exc:
        return IssueResult(issue, error=exc)
    detail = core.describe_batch(outcome.detail, size)
    if single is not None:
        detail += " (its item of the batched answer was unusable: answered alone)"
    done = replace(outcome, detail=detail).with_usage(*usage)
    return IssueResult(issue, done.in_batch(size))
