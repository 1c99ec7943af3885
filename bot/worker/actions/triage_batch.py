"""One batch round: up to TRIAGE_BATCH_MAX waiting issues of one repository's lane, one model call.

The round claims its issues (bot/adapters/store/triage_queue.py), asks once for all of them
(`label_issues`, bot/core/triage/batch.py), reads each item of the answer on its own
(bot/core/triage/label_answers.py: a wrong label is dropped and recorded, never a reason to ask again),
sends each issue whose item has a structural fault to a single call, and then writes each issue
under its own effect key and lock exactly as a single triage does (`apply_labels`): never another
issue's labels. An answer cut at `max_tokens` or refused is split in two halves, each asked on its
own (and split again while it ends so): never more calls than the issues in it, and an issue the
model refuses alone is recorded as refused, with nothing written and nothing retried. What happened
to each issue comes back as its own result; the job (bot/worker/rounds.py) turns each into that
issue's delivery record. A round of the `quarantine` lane holds only issues whose text addresses the
model (bot/core/triage/hostile.py), and each one's record says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from pydantic import BaseModel

from bot.adapters.github import Repo
from bot.adapters.llm import Question
from bot.core.errors import AnswerCut, BudgetExhausted, InvalidAnswer, Refused
from bot.core.ingress.job import TriageRound, WaitingIssue
from bot.core.outcome import ModelUsage, Outcome
from bot.core.triage import batch as core_batch
from bot.core.triage import plan as core
from bot.core.triage.label_answers import LabelAnswer, read_batch
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

Ending = Literal["answered", "cut", "refused", "unusable"]


class PartDraft(BaseModel):
    """One call of a round, for some of its issues: the answer as the model gave it (read item by
    item later), how it ended, and what it cost; kept for a retry of the same round so every call
    is paid for once."""

    numbers: list[int]
    raw: object = None
    ending: Ending = "answered"
    said: str = ""  # a refusal's reason
    usage: ModelUsage | None = None

    @property
    def split(self) -> bool:
        """Asked again as two halves: cut or refused with more than one issue in it."""
        return self.ending in ("cut", "refused") and len(self.numbers) > 1


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
    error: str = ""  # the round gave up: why (each claimed issue's delivery ended as failed)


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
    todo: list[WaitingIssue] = []
    for issue in issues:  # open when its job registered it: the batch reads no issue again
        triaged = await deps.effects.done(effect_key(repo.full_name, issue.number)) is not None
        if reason := core.gate(open_issue=True, config=config, triaged=triaged):
            await judged(IssueResult(issue, Outcome.skipped(reason)))
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
        parts = await _ask_parts(work, todo, f"{job_id}:batch")
    except BudgetExhausted as exc:  # checked before each call: every issue not answered is skipped
        for issue in todo:
            await judged(IssueResult(issue, error=exc))
        return results, None, []
    reading = _read(work, parts)
    if reading.problems:
        log.info("batch %s: %d answered, %d to single calls: %s", job_id, len(reading.answers),
                 len(reading.leftovers), reading.problems)  # fmt: skip
    singles = await _singles(work, [issue for issue in todo if issue.number in reading.leftovers])
    for issue in todo:
        single = singles.get(issue.number)
        await judged(await _write(work, issue, reading, single, len(todo)))
    return results, _total(parts), reading.problems


@dataclass
class Reading:
    """What a round's calls said about each of its issues."""

    answers: dict[int, LabelAnswer] = field(default_factory=dict)
    leftovers: list[int] = field(default_factory=list)  # to a single call
    refused: dict[int, str] = field(default_factory=dict)  # the model refused it, alone: why
    size: dict[int, int] = field(default_factory=dict)  # issues in the call that answered it
    shares: dict[int, list[ModelUsage]] = field(default_factory=dict)  # its part of each call it was in
    problems: list[str] = field(default_factory=list)


def _read(work: Triaging, parts: list[PartDraft]) -> Reading:
    """Every call's answer, read item by item; a call that was split answered nothing itself."""
    reading = Reading()
    for part in parts:
        size = len(part.numbers)
        for index, number in enumerate(part.numbers):
            if part.usage is not None:
                reading.shares.setdefault(number, []).append(part.usage.share(size, index))
        if part.split:
            reading.problems.append(f"issues {_span(part.numbers)}: answer {part.ending}: asked again in halves")
        elif part.ending == "refused":
            reading.refused.update({number: part.said for number in part.numbers})
        elif part.ending in ("cut", "unusable"):
            reading.leftovers += part.numbers
            reading.problems.append(f"issues {_span(part.numbers)}: answer {part.ending}")
        else:
            read = read_batch(part.raw, part.numbers, repository=work.label_names, allowed=work.allowed)
            reading.answers.update(read.answers)
            reading.leftovers += read.leftovers
            reading.problems += read.problems
            reading.size.update({number: size for number in part.numbers})
    return reading


def _span(numbers: list[int]) -> str:
    return f"#{numbers[0]}" if len(numbers) == 1 else f"#{numbers[0]}..#{numbers[-1]} ({len(numbers)})"


def _total(parts: list[PartDraft]) -> ModelUsage | None:
    spent = [part.usage for part in parts if part.usage is not None]
    total = spent[0] if spent else None
    for usage in spent[1:]:
        total = (total or usage) + usage
    return total


async def _ask_parts(work: Triaging, issues: list[WaitingIssue], key: str) -> list[PartDraft]:
    """One call for `issues`; an answer cut at max_tokens or refused is asked again as two halves,
    at once, each split again while it ends so. Each call is saved under its own key, so a retry of
    the round pays for none twice."""
    part = await work.deps.effects.draft(key, PartDraft, lambda: _ask(work, issues))
    if not part.split:
        return [part]
    half = len(issues) // 2
    first, second = await asyncio.gather(
        _ask_parts(work, issues[:half], f"{key}:a"), _ask_parts(work, issues[half:], f"{key}:b")
    )
    return [part, *first, *second]


async def _ask(work: Triaging, issues: list[WaitingIssue]) -> PartDraft:
    numbers = [issue.number for issue in issues]
    try:
        answer = await work.model(BATCH_TASK).ask(batch_question(work, issues))
    except InvalidAnswer as exc:  # not even an `issues` list twice: every issue goes to a single call
        log.warning("batched answer unusable (%s); %d single calls", exc.reason, len(issues))
        return PartDraft(numbers=numbers, ending="unusable", usage=exc.usage)
    except AnswerCut as exc:
        return PartDraft(numbers=numbers, ending="cut", usage=exc.usage)
    except Refused as exc:
        return PartDraft(numbers=numbers, ending="refused", said=exc.reason, usage=exc.usage)
    return PartDraft(numbers=numbers, raw=answer.value.model_dump(), usage=answer.usage)


def batch_question(work: Triaging, issues: list[WaitingIssue]) -> Question[core_batch.BatchEnvelope]:
    """The batched call; the examples from corrections appear once, shared by the whole batch. A
    cut answer is split by the caller, not grown."""
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
        max_tokens=core_batch.max_tokens_for(
            len(issues), label_names=work.allowed, max_labels=work.config.triage.max_labels, reason=prefix.reason
        ),
        grow=False,
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
    work: Triaging, issue: WaitingIssue, reading: Reading, single: TriageDraft | BaseException | None, round_size: int
) -> IssueResult:
    """One issue's labels, from its item of a batched answer or its single call; or its refusal."""
    shares = list(reading.shares.get(issue.number, ()))
    size = reading.size.get(issue.number, round_size)
    refused = reading.refused.get(issue.number)
    if isinstance(single, Refused):
        shares += [single.usage] if single.usage is not None else []
        refused = single.reason
        single = None
    if isinstance(single, BaseException):
        return IssueResult(issue, error=single)
    if refused is not None:
        detail = core.describe_batch(core.refused_detail(refused), 0, quarantined=issue.quarantined)
        return IssueResult(issue, Outcome.skipped(detail).with_usage(*shares))
    answer = reading.answers.get(issue.number) if single is None else single.read(work)
    if answer is None:  # cannot happen: every issue is answered, refused or a leftover
        return IssueResult(issue, error=InvalidAnswer(f"no answer for issue #{issue.number}"))
    if single is not None:
        shares.append(single.usage)
    effect, repository, effects = effect_key(work.repo.full_name, issue.number), work.repo.full_name, work.deps.effects
    try:
        async with effects.exactly_once(effect, repository, issue.number, force=False) as needed:
            if not needed:
                return IssueResult(issue, Outcome.skipped(core.ALREADY).with_usage(*shares).in_batch(size))
            outcome = await apply_labels(work, issue.number, answer, issue=_text(issue), force=False)
            await effects.record(effect, ",".join(outcome.labels))
    except Exception as exc:
        return IssueResult(issue, error=exc)
    detail = core.describe_batch(outcome.detail, size, quarantined=issue.quarantined)
    if single is not None:
        detail += " (its item of the batched answer was unusable: answered alone)"
    done = replace(outcome, detail=detail).with_usage(*shares)
    return IssueResult(issue, done.in_batch(size))
