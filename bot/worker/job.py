"""The one arq job of a delivery: run its typed job and leave a provenance record however it ends.

`process_delivery` rebuilds the job the web queued (bot/core/ingress/job.py), runs its handler
(bot/worker/dispatch.py) under the retry policy (bot/worker/runner.py) and merges the handler's
Outcome into the record. Transient failures become arq `Retry` with backoff, for up to RETRY_FOR; a
job whose dependency's circuit breaker is open waits for it without reading anything; permanent
failures fail once, as a dead letter with the reason. An installation past its day's model budget
gets its event recorded as skipped for the budget. However a job ends, the fair queue is given the
chance to move the next parked job in (bot/adapters/store/fairness.py).

A new issue's TriageJob, with batching on, ends `waiting`: its delivery stays `queued` in the
ledger, and the batch round that answers the issue (bot/worker/rounds.py) writes the delivery's
final record and marks it done or failed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.adapters.store.ledger import job_of
from bot.adapters.store.records import JobRecord
from bot.core.errors import BudgetExhausted, UnreadableJob
from bot.core.ingress.job import CommandJob, Job, SummaryJob
from bot.core.operations.retry import Again, Attempt, GiveUp, Wait
from bot.core.outcome import Outcome, OutcomeKind
from bot.logs import bound
from bot.worker.dispatch import Run, handler_of
from bot.worker.runner import Provenance, next_turn, under_policy
from bot.worker.state import ArqRun, WorkerState, arq_run, state_of

log = logging.getLogger("hookwise.worker")


def record_for(job: Job, job_try: int, *, accepted_at: float | None = None, origin: str = "") -> JobRecord:
    return JobRecord(
        delivery_id=job.delivery_id,
        event=job.event,
        action=job.action,
        repository=job.repository,
        target=job.number,
        installation_id=job.installation_id,
        job_try=job_try,
        accepted_at=accepted_at,
        origin=origin,
    )


async def process_delivery(ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """arq's function `process_delivery`: the job of one accepted delivery."""
    state, run = state_of(ctx), arq_run(ctx)
    try:
        try:
            job = job_of(kwargs)
        except UnreadableJob as exc:
            return await _unreadable(state, run, kwargs, exc)
        record = record_for(job, run.job_try, accepted_at=run.enqueued_at)
        with bound(delivery=job.delivery_id, installation=job.installation_id, repo=job.repository):
            if run.job_try > 1:
                await carry_on(state, record)
            await run_job(state, job, record, run=run)
        return {"outcome": record.outcome, "detail": record.detail, "error": record.error}
    finally:
        await next_turn(state, run.job_id)


async def run_job(state: WorkerState, job: Job, record: JobRecord, *, run: ArqRun | None = None) -> None:
    """Run `job`'s handler under the retry policy, merge what it did into `record`, save the record
    and the delivery's state. Raises arq's `Retry` for a transient failure or a wait on a breaker
    (the record says `retrying`). Shared by the worker and `python -m bot receive`."""
    run = run or ArqRun(job_id=job.delivery_id, job_try=record.job_try, enqueued_at=record.accepted_at)
    provenance = Provenance(state)
    started = time.perf_counter()
    where = f"event={job.event}.{job.action} target={job.number} try={run.job_try}"

    async def work(attempt: Attempt) -> None:
        deps = state.deps
        try:
            handler = handler_of(job)
            repo = await deps.github.repo(job.installation_id, job.repository) if handler.needs_repo else None
            record.merge(await handler.act(job, Run(deps, run.job_try, attempt, repo)))
            if repo is not None:
                record.rate_limit = repo.rate_limit()
        except BudgetExhausted as over:  # no model call was made, nothing is posted about it
            record.merge(Outcome.skipped(over.reason))
            await provenance.count_skip(job.installation_id, job.repository, task_of(job))

    async def deferring(decision: Again | Wait) -> None:
        record.ended(OutcomeKind.RETRYING, decision.reason)
        await provenance.finish(record, started, where)

    async def failing(decision: GiveUp, _exc: BaseException, _attempt: Attempt) -> None:
        record.ended(OutcomeKind.FAILED, decision.reason)

    await under_policy(
        state, run, needs=state.retrying.needs(job), where=where, work=work, deferring=deferring, failing=failing
    )
    await provenance.finish(record, started, where)


async def _unreadable(state: WorkerState, run: ArqRun, kwargs: dict[str, Any], exc: UnreadableJob) -> dict[str, Any]:
    """A job this version cannot read fails once, with a record saying so; the worker goes on."""
    raw: dict[str, Any] = kwargs["job"] if isinstance(kwargs.get("job"), dict) else {}
    delivery_id = str(kwargs.get("delivery_id") or raw.get("delivery_id") or "unknown")
    record = JobRecord(
        delivery_id=delivery_id,
        event=str(kwargs.get("event") or raw.get("event") or "?"),
        action=str(raw.get("action") or ""),
        repository=str(raw.get("repository") or "?"),
        target=0,
        installation_id=0,
        job_try=run.job_try,
        accepted_at=run.enqueued_at,
    )
    record.ended(OutcomeKind.FAILED, exc.reason)
    log.error("delivery=%s failed: %s", delivery_id, exc.reason)
    await Provenance(state).finish(record, time.perf_counter(), f"delivery={delivery_id}")
    return {"outcome": record.outcome, "detail": record.detail, "error": record.error}


async def carry_on(state: WorkerState, record: JobRecord) -> None:
    """A retry's record keeps what the earlier tries' record says (when the delivery was first
    started, the worker's time so far), so the status page can tell queue wait from work. One read,
    on retries only; without it the record counts from this try."""
    earlier = await Provenance(state).earlier(record.delivery_id)
    if earlier is not None:
        record.carry_on(earlier)
        record.accepted_at = record.accepted_at or earlier.accepted_at


def task_of(job: Job) -> str:
    """What the cost ledger files an event skipped for the budget under."""
    if isinstance(job, SummaryJob):
        return "summary"
    if isinstance(job, CommandJob):
        return "command"
    return "triage"
