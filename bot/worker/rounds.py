"""The arq jobs of micro-batched triage: one batch round (`triage_batch`), and the rescue cron.

A round (queued by bot/adapters/store/triage_queue.py) runs bot/worker/actions/triage_batch.py and
settles each issue as soon as it is judged: its delivery's record (the TriageJob left it `waiting`),
its ledger state, and the end of its claim. A transient failure of one issue keeps that issue's
claim and retries the round for it; one of the whole round before any issue was judged retries the
round; a round that has failed for longer than RETRY_FOR ends each claimed issue's delivery as
failed. While the GitHub or the triage model's breaker is open the round waits, its claims kept
(bot/worker/retrying.py). A round that crashes
keeps its claims while arq will run it again (its job is still in arq's queue): the re-run (the
same job id) takes them back and reuses the answer already paid for. Once the deadline has passed
and the job has left the queue, any later round, or the rescue, takes them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from pydantic import ValidationError

from bot.adapters.github import Repo
from bot.adapters.store.errors import REDIS_DOWN, store_error
from bot.adapters.store.records import JobRecord
from bot.core.errors import BudgetExhausted
from bot.core.ingress.job import TriageRound
from bot.core.operations import retry
from bot.core.operations.retry import Again, Attempt, GiveUp, Wait
from bot.core.outcome import Outcome, OutcomeKind
from bot.core.text import first_error
from bot.logs import bound
from bot.worker.actions.triage_batch import IssueResult, RoundResult, fail_claims, run_round
from bot.worker.runner import Deferred, Provenance, next_turn, under_policy
from bot.worker.state import ArqRun, WorkerState, arq_run, state_of

log = logging.getLogger("hookwise.worker")


async def triage_batch(ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """arq's function `triage_batch`: one batch round (queued by bot/adapters/store/triage_queue.py)."""
    state, run = state_of(ctx), arq_run(ctx)
    try:
        job = TriageRound.model_validate(kwargs.get("round"))
    except ValidationError as exc:
        log.error("job=%s unreadable triage round: %s", run.job_id, first_error(exc))
        return {"outcome": "failed"}
    try:
        with bound(installation=job.installation_id, repo=job.repository):
            return await _round(state, run, job)
    finally:
        await next_turn(state, run.job_id)


async def _round(state: WorkerState, run: ArqRun, job: TriageRound) -> dict[str, Any]:
    deps = state.deps
    where = f"batch={run.job_id} try={run.job_try}"
    started = time.perf_counter()
    now_ms = int(time.time() * 1000)

    async def open_repo() -> Repo:
        return await deps.github.repo(job.installation_id, job.repository)

    async def work(attempt: Attempt) -> RoundResult:
        retries: list[Again | Wait] = []

        async def settle(item: IssueResult) -> None:
            decision = await _settle(state, job, run.job_id, attempt, item)
            if decision is not None:
                retries.append(decision)

        result = await run_round(job, run.job_id, open_repo, deps, now_ms=now_ms, settle=settle)
        _log_round(where, result, started)
        if retries:  # its unfinished issues keep their claims: the retry takes them
            raise Deferred(retries[0])
        return result

    async def deferring(_decision: Again | Wait) -> None:
        return None  # the round's unfinished claims stay its own; each issue's record says `retrying`

    async def failing(decision: GiveUp, exc: BaseException, attempt: Attempt) -> RoundResult:
        async def failed(item: IssueResult) -> None:
            await _settle(state, job, run.job_id, attempt.final(), item)

        with contextlib.suppress(*REDIS_DOWN):  # end each claimed issue's delivery, as failed
            await fail_claims(job, run.job_id, deps, exc, now_ms=int(time.time() * 1000), settle=failed)
        return RoundResult([], "", error=decision.reason)

    result = await under_policy(
        state, run, needs=state.retrying.needs(job), where=where, work=work, deferring=deferring, failing=failing
    )
    if result.error:
        return {"outcome": "failed", "error": result.error}
    return {"outcome": "done", "issues": len(result.results)}


def _log_round(where: str, result: RoundResult, started: float) -> None:
    usage = result.batch_usage
    log.info(
        "%s issues=%d next_round=%s batch_calls=%d tokens_in=%d tokens_out=%d cache_write=%d cache_read=%d "
        "cost_usd=%.6f problems=%s duration_ms=%d",
        where,
        len(result.results),
        result.next_round or "none",
        usage.calls if usage else 0,
        usage.input_tokens if usage else 0,
        usage.output_tokens if usage else 0,
        usage.cache_write_tokens if usage else 0,
        usage.cache_read_tokens if usage else 0,
        usage.cost_usd if usage else 0.0,
        list(result.problems),
        int((time.perf_counter() - started) * 1000),
    )


async def _settle(
    state: WorkerState, job: TriageRound, job_id: str, attempt: Attempt, item: IssueResult
) -> Again | Wait | None:
    """One issue's delivery record, its ledger state and the end of its claim; the verdict when
    it is to be tried again with the round (it keeps its claim, its record says `retrying`)."""
    deps, provenance = state.deps, Provenance(state)
    issue = item.issue
    record = JobRecord(
        delivery_id=issue.delivery_id,
        event=issue.event,
        action=issue.action,
        repository=job.repository,
        target=issue.number,
        installation_id=job.installation_id,
        job_try=max(issue.job_try, attempt.number),
        started_at=issue.started_at,
    )
    await _when_accepted(provenance, record)
    verdict = await _judge(provenance, job, record, item, attempt)
    record.rate_limit = item.rate_limit
    record.duration_ms = int((time.time() - issue.started_at) * 1000)
    where = f"event={issue.event}.{issue.action} target={issue.number} batch={job_id}"
    with bound(delivery=issue.delivery_id):
        if verdict is None and await provenance.keeps_final_record(record):
            log.info("%s already ended: its record stays", where)
        else:
            await provenance.save(record, where)
    if verdict is None:
        await deps.triage_queue.finish(job.repository, issue.number, job_id, job.lane)
    return verdict


async def _when_accepted(provenance: Provenance, record: JobRecord) -> None:
    """The web's acceptance of the issue's delivery, from the record its TriageJob left (`waiting`),
    so the status page can tell its queue wait from the work."""
    waiting = await provenance.earlier(record.delivery_id)
    if waiting is not None and waiting.accepted_at is not None:
        record.accepted_at = waiting.accepted_at
        record.first_started_at = waiting.first_started_at


async def _judge(
    provenance: Provenance, job: TriageRound, record: JobRecord, item: IssueResult, attempt: Attempt
) -> Again | Wait | None:
    """Merge one issue's result into its record; a transient failure worth a retry is returned."""
    if item.outcome is not None:
        record.merge(item.outcome)
        return None
    exc = store_error(item.error or RuntimeError("no result"))
    if isinstance(exc, BudgetExhausted):
        record.merge(Outcome.skipped(exc.reason))
        await provenance.count_skip(job.installation_id, job.repository, "triage")
        return None
    decision = retry.decide(exc, attempt, time.time())
    if not isinstance(decision, GiveUp):
        record.ended(OutcomeKind.RETRYING, decision.reason)
        return decision
    record.ended(OutcomeKind.FAILED, decision.reason)
    log.error("target=%s failed: %s", record.target, decision.reason, exc_info=decision.permanent)
    return None


async def rescue_rounds(ctx: dict[str, Any]) -> dict[str, Any]:
    """arq cron job: every repository with issues waiting gets a round, whatever became of the one
    queued for it (bot/adapters/store/triage_queue.py: _RESCUE)."""
    rounds = await state_of(ctx).deps.triage_queue.rescue(now_ms=int(time.time() * 1000))
    if rounds:
        log.info("triage rounds checked: %s", rounds)
    return {"rounds": rounds}
