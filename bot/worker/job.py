"""The one arq job of a delivery: run its typed job and leave a provenance record however it ends.

`process_delivery` rebuilds the job the web queued (bot/core/ingress/job.py), dispatches it to its handler
(bot/worker/dispatch.py) and merges the handler's Outcome into the record. Transient failures
become arq `Retry` with backoff, for up to RETRY_FOR; a job whose dependency's circuit breaker is
open waits for it without reading anything (bot/core/operations/retry.py, bot/worker/retrying.py); permanent
failures fail once, as a dead letter with the reason. An installation past its day's model
budget gets its event recorded as skipped for the budget. However a job ends, the fair queue is
given the chance to move the next parked job in (bot/adapters/store/fairness.py).

A new issue's TriageJob, with batching on, ends `waiting`: its delivery stays `queued` in the
ledger, and the batch round that answers the issue (bot/worker/rounds.py) writes the delivery's
final record and marks it done or failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError

from bot.adapters.store.errors import store_error
from bot.adapters.store.fairness import Fairness
from bot.adapters.store.ledger import DeliveryState, job_of
from bot.adapters.store.records import JobRecord
from bot.core.errors import BudgetExhausted, UnreadableJob
from bot.core.ingress.job import CommandJob, Job, SummaryJob
from bot.core.operations import retry
from bot.core.outcome import Outcome, OutcomeKind
from bot.core.triage import plan as triage_gate
from bot.logs import bound
from bot.worker.deps import Deps
from bot.worker.dispatch import Run, handler_of
from bot.worker.retrying import Retrying, crashed, describe

log = logging.getLogger("hookwise.worker")

# A crashed worker's job runs again after the longest job timeout + 10 s (arq's in-progress TTL):
# 60 s keeps that near a minute while leaving a model call (timeout 40 s) room to finish.
JOB_TIMEOUT_S = 60


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


def _accepted_at(ctx: dict[str, Any]) -> float | None:
    """When the job was queued (arq's `enqueue_time`, which a retry keeps): the web's acceptance."""
    enqueued = ctx.get("enqueue_time")
    return enqueued.timestamp() if isinstance(enqueued, datetime) else None


async def process_delivery(ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    job_try = int(ctx.get("job_try", 1))
    job_id = str(ctx.get("job_id", ""))
    try:
        try:
            job = job_of(kwargs)
        except UnreadableJob as exc:
            return await _unreadable(ctx, kwargs, exc, job_try)
        record = record_for(job, job_try, accepted_at=_accepted_at(ctx))
        with bound(delivery=job.delivery_id, installation=job.installation_id, repo=job.repository):
            if job_try > 1:
                await carry_on(ctx, record)
            await run_job(ctx, job, record, job_id=job_id)
        return {"outcome": record.outcome, "detail": record.detail, "error": record.error}
    finally:
        await next_turn(ctx, job_id)


async def next_turn(ctx: dict[str, Any], job_id: str) -> None:
    """A job ends (or is deferred): the fair queue may move the next parked job in."""
    fairness: Fairness | None = ctx.get("fairness")
    if fairness is None:
        return
    try:
        await fairness.promote(exclude=job_id)
    except (RedisError, OSError) as exc:  # the heartbeat's promotion catches up
        log.warning("fair queue not advanced (%s)", exc)


def retrying_of(ctx: dict[str, Any]) -> Retrying:
    """The retry policy's I/O of this worker (`receive` has none: one run, no breakers)."""
    found: Retrying | None = ctx.get("retrying")
    if found is not None:
        return found
    deps: Deps = ctx["deps"]
    return Retrying(
        states=None, breakers=None, github=deps.github.dependency, model=lambda _task: deps.github.dependency
    )


async def run_job(ctx: dict[str, Any], job: Job, record: JobRecord, *, job_id: str = "") -> None:
    """Dispatch `job` to its handler, merge what it did into `record`, save the record and the
    delivery's state. Raises arq's `Retry` for a transient failure or a wait on a breaker (the
    record says `retrying`). Shared by the worker and `python -m bot receive` (with `ctx` holding
    deps, records and ledger)."""
    deps: Deps = ctx["deps"]
    retrying = retrying_of(ctx)
    job_try = record.job_try
    job_id = job_id or job.delivery_id
    started = time.perf_counter()
    where = f"event={job.event}.{job.action} target={job.number} try={job_try}"
    attempt, crashes = await retrying.attempt(job_id, job_try)
    if ctx.get("retry_base_s") is not None:  # tests: short backoffs
        attempt = dataclasses.replace(attempt, base_s=float(ctx["retry_base_s"]))
    if crashes >= retry.MAX_CRASHES:
        gave_up = crashed(crashes)
        record.ended(OutcomeKind.FAILED, gave_up.reason)
        log.error("%s failed: %s", where, gave_up.reason)
        await _finish(ctx, record, started, where)
        await retrying.done(job_id, attempt)
        return
    try:
        # Our own deadline, inside arq's: arq's timeout is final (not retried) and would leave no
        # record; ours is a TimeoutError, classified as transient and retried.
        async with asyncio.timeout(inner_timeout(float(ctx.get("job_timeout_s", JOB_TIMEOUT_S)))):
            await retrying.admit(retrying.needs(job))
            handler = handler_of(job)
            repo = await deps.github.repo(job.installation_id, job.repository) if handler.needs_repo else None
            record.merge(await handler.act(job, Run(deps, job_try, attempt, repo)))
            if repo is not None:
                record.rate_limit = repo.rate_limit()
    except BudgetExhausted as over:  # no model call was made, nothing is posted about it
        record.merge(Outcome.skipped(over.reason))
        await count_skip(deps, job.installation_id, job.repository, task_of(job))
    except asyncio.CancelledError:  # the worker is stopping: arq hands the job back
        await retrying.handed_back(job_id)
        raise
    except Exception as caught:
        exc = store_error(caught)
        now = time.time()
        decision = retry.decide(exc, attempt, now)
        if not isinstance(decision, retry.GiveUp):
            record.ended(OutcomeKind.RETRYING, decision.reason)
            await _finish(ctx, record, started, where)
            log.warning("%s %s: %s", where, describe(decision), decision.reason)
            raise await retrying.retry(job_id, decision, now) from caught
        record.ended(OutcomeKind.FAILED, decision.reason)
        log.error("%s failed: %s", where, decision.reason, exc_info=decision.permanent)
    await _finish(ctx, record, started, where)
    await retrying.done(job_id, attempt)


async def _unreadable(ctx: dict[str, Any], kwargs: dict[str, Any], exc: UnreadableJob, job_try: int) -> dict[str, Any]:
    """A job this version cannot read fails once, with a record saying so; the worker goes on."""
    payload: dict[str, Any] = kwargs["payload"] if isinstance(kwargs.get("payload"), dict) else {}
    raw: dict[str, Any] = kwargs["job"] if isinstance(kwargs.get("job"), dict) else {}
    delivery_id = str(kwargs.get("delivery_id") or raw.get("delivery_id") or "unknown")
    record = JobRecord(
        delivery_id=delivery_id,
        event=str(kwargs.get("event") or raw.get("event") or "?"),
        action=str(payload.get("action") or raw.get("action") or ""),
        repository=str(_get(payload, "repository", "full_name") or raw.get("repository") or "?"),
        target=0,
        installation_id=0,
        job_try=job_try,
        accepted_at=_accepted_at(ctx),
    )
    record.ended(OutcomeKind.FAILED, exc.reason)
    log.error("delivery=%s failed: %s", delivery_id, exc.reason)
    await _finish(ctx, record, time.perf_counter(), f"delivery={delivery_id}")
    return {"outcome": record.outcome, "detail": record.detail, "error": record.error}


def _get(data: dict[str, Any], *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None  # type: ignore[assignment]
    return data


async def carry_on(ctx: dict[str, Any], record: JobRecord) -> None:
    """A retry's record keeps what the earlier tries' record says (when the delivery was first
    started, the worker's time so far), so the status page can tell queue wait from work. One read,
    on retries only; without it the record counts from this try."""
    try:
        earlier = await ctx["records"].get(record.delivery_id)
    except (RedisError, OSError) as exc:
        log.debug("could not read the earlier try's record: %s", exc)
        return
    if earlier is not None:
        record.carry_on(earlier)
        record.accepted_at = record.accepted_at or earlier.accepted_at


def inner_timeout(job_timeout_s: float) -> float:
    return job_timeout_s - min(5.0, job_timeout_s * 0.2)


async def _finish(ctx: dict[str, Any], record: JobRecord, started: float, where: str) -> None:
    """Leave the record and the delivery's state. Best effort: with Redis away neither can be
    written, and raising here would turn a retry into a lost job; arq re-runs an unfinished job."""
    record.duration_ms = int((time.perf_counter() - started) * 1000)
    if await keeps_final_record(ctx, record):  # a re-run after its batch wrote the issue: keep what was done
        log.info("%s already ended: its record stays", where)
        return
    await save_record(ctx, record, where)


async def save_record(ctx: dict[str, Any], record: JobRecord, where: str) -> None:
    """Save the record and, for an outcome that ends the delivery, its ledger state (a waiting
    record leaves the delivery `queued`: its batch round ends it)."""
    tally = ctx.get("tally")
    if tally is not None:
        tally.count(record.outcome)
    try:
        await ctx["records"].save(record)
        if record.outcome in (OutcomeKind.DONE, OutcomeKind.SKIPPED):
            await ctx["ledger"].mark(record.delivery_id, DeliveryState.DONE)
        elif record.outcome == OutcomeKind.FAILED:
            await ctx["ledger"].mark(record.delivery_id, DeliveryState.FAILED)
    except (RedisError, OSError) as exc:
        log.error("%s could not save its record (%s): outcome=%s error=%s", where, exc, record.outcome, record.error)
    log.info(
        "%s outcome=%s detail=%r comment=%s labels=%s model=%s tokens_in=%d tokens_out=%d cache_write=%d "
        "cache_read=%d cost_usd=%.6f rate_limit=%s duration_ms=%d",
        where,
        record.outcome,
        record.detail,
        record.comment_id,
        record.labels,
        record.model,
        record.input_tokens,
        record.output_tokens,
        record.cache_write_tokens,
        record.cache_read_tokens,
        record.cost_usd,
        record.rate_limit or "unknown",
        record.duration_ms,
    )


def task_of(job: Job) -> str:
    """What the cost ledger files an event skipped for the budget under."""
    if isinstance(job, SummaryJob):
        return "summary"
    if isinstance(job, CommandJob):
        return "command"
    return "triage"


async def count_skip(deps: Deps, installation_id: int, repository: str, task: str) -> None:
    try:
        await deps.spending.skipped(installation_id, repository, task)
    except (RedisError, OSError) as exc:
        log.error("could not count an event skipped for the budget (%s)", exc)


async def keeps_final_record(ctx: dict[str, Any], record: JobRecord) -> bool:
    """A re-run (of a round, or of a TriageJob whose worker died after registering its issue) that
    finds the issue triaged keeps the record saying what was done rather than "already triaged"."""
    if record.outcome != OutcomeKind.SKIPPED or record.detail != triage_gate.ALREADY:
        return False
    try:
        existing = await ctx["records"].get(record.delivery_id)
    except (RedisError, OSError):
        return False
    return existing is not None and existing.outcome in (OutcomeKind.DONE, OutcomeKind.SKIPPED, OutcomeKind.FAILED)
