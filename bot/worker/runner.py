"""One runner for every arq job hookwise queues: a delivery's job (bot/worker/job.py) and a triage
batch round (bot/worker/rounds.py).

`under_policy` is the retry policy's path, written once: what the job went through on earlier runs,
the bound on crashed runs, the job's own deadline inside arq's, the breakers of what it needs, and
on a failure the decision of bot/core/operations/retry.py: retried (arq's `Retry`, after the caller
has recorded `retrying`), waiting on a breaker, or given up (the caller records why). A round whose
unfinished issues are to be tried again raises `Deferred`, which takes the same path. `Provenance`
is the one place a job's record and its delivery's state are written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.adapters.store.errors import REDIS_DOWN, store_error
from bot.adapters.store.ledger import DeliveryState
from bot.adapters.store.records import JobRecord
from bot.core.errors import PermanentError
from bot.core.operations import retry
from bot.core.operations.breaker import Dependency
from bot.core.operations.retry import Again, Attempt, GiveUp, Wait
from bot.core.outcome import OutcomeKind
from bot.core.triage import plan as triage_gate
from bot.worker.retrying import crashed, describe
from bot.worker.state import ArqRun, WorkerState

log = logging.getLogger("hookwise.worker")

T = TypeVar("T")


class Deferred(Exception):
    """The work is to run again later without having failed as a whole (a round's issues that
    wait on a retry), with this decision."""

    def __init__(self, decision: Again | Wait) -> None:
        super().__init__(decision.reason)
        self.decision = decision


class CrashedJob(PermanentError):
    """A job whose worker died while running it too many times (retry.MAX_CRASHES)."""


def inner_timeout(job_timeout_s: float) -> float:
    """Our own deadline, inside arq's: arq's timeout is final (not retried) and leaves no record;
    ours is a TimeoutError, which the policy retries."""
    return job_timeout_s - min(5.0, job_timeout_s * 0.2)


async def under_policy(
    state: WorkerState,
    run: ArqRun,
    *,
    needs: tuple[Dependency, ...],
    where: str,
    work: Callable[[Attempt], Awaitable[T]],
    deferring: Callable[[Again | Wait], Awaitable[None]],
    failing: Callable[[GiveUp, BaseException, Attempt], Awaitable[T]],
) -> T:
    """Run `work` once under the retry policy. `deferring` records a run that will be tried again
    (before arq's `Retry` is raised); `failing` records one that ended for good and says what it
    returns. A worker stopping hands the job back to arq without counting it as a crash."""
    retrying = state.retrying
    attempt, crashes = await retrying.attempt(run.job_id, run.job_try)
    if crashes >= retry.MAX_CRASHES:
        gave_up = crashed(crashes)
        log.error("%s failed: %s", where, gave_up.reason)
        result = await failing(gave_up, CrashedJob(gave_up.reason), attempt)
        await retrying.done(run.job_id, attempt)
        return result
    try:
        async with asyncio.timeout(inner_timeout(state.tuning.job_timeout_s)):
            await retrying.admit(needs)
            result = await work(attempt)
    except asyncio.CancelledError:  # the worker is stopping: arq hands the job back
        await retrying.handed_back(run.job_id)
        raise
    except Deferred as deferred:
        await deferring(deferred.decision)
        log.warning("%s %s: %s", where, describe(deferred.decision), deferred.decision.reason)
        raise await retrying.retry(run.job_id, deferred.decision, time.time()) from None
    except Exception as caught:  # whatever the work met: the policy decides
        exc = store_error(caught)
        now = time.time()
        decision = retry.decide(exc, attempt, now)
        if isinstance(decision, GiveUp):
            log.error("%s failed: %s", where, decision.reason, exc_info=decision.permanent)
            result = await failing(decision, exc, attempt)
        else:
            await deferring(decision)
            log.warning("%s %s: %s", where, describe(decision), decision.reason)
            raise await retrying.retry(run.job_id, decision, now) from caught
    await retrying.done(run.job_id, attempt)
    return result


async def next_turn(state: WorkerState, job_id: str) -> None:
    """A job ends (or is deferred): the fair queue may move the next parked job in."""
    if state.fairness is None:
        return
    try:
        await state.fairness.promote(exclude=job_id)
    except REDIS_DOWN as exc:  # the heartbeat's promotion catches up
        log.warning("fair queue not advanced (%s)", exc)


class Provenance:
    """A job's record and its delivery's state in the ledger: the one place they are written."""

    def __init__(self, state: WorkerState) -> None:
        self.state = state

    async def finish(self, record: JobRecord, started: float, where: str) -> None:
        """Leave the record and the delivery's state. Best effort: with Redis away neither can be
        written, and raising here would turn a retry into a lost job; arq re-runs an unfinished job."""
        record.duration_ms = int((time.perf_counter() - started) * 1000)
        if await self.keeps_final_record(record):  # a re-run after its batch wrote the issue: keep what was done
            log.info("%s already ended: its record stays", where)
            return
        await self.save(record, where)

    async def save(self, record: JobRecord, where: str) -> None:
        """Save the record and, for an outcome that ends the delivery, its ledger state (a waiting
        record leaves the delivery `queued`: its batch round ends it)."""
        if self.state.tally is not None:
            self.state.tally.count(record.outcome)
        try:
            await self.state.records.save(record)
            if record.outcome in (OutcomeKind.DONE, OutcomeKind.SKIPPED):
                await self.state.ledger.mark(record.delivery_id, DeliveryState.DONE)
            elif record.outcome == OutcomeKind.FAILED:
                await self.state.ledger.mark(record.delivery_id, DeliveryState.FAILED)
        except REDIS_DOWN as exc:
            log.error(
                "%s could not save its record (%s): outcome=%s error=%s", where, exc, record.outcome, record.error
            )
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

    async def earlier(self, delivery_id: str) -> JobRecord | None:
        """The delivery's record as an earlier try (or its TriageJob) left it; None when unreadable."""
        try:
            return await self.state.records.get(delivery_id)
        except REDIS_DOWN as exc:
            log.debug("could not read the earlier record of %s: %s", delivery_id, exc)
            return None

    async def keeps_final_record(self, record: JobRecord) -> bool:
        """A re-run (of a round, or of a TriageJob whose worker died after registering its issue)
        that finds the issue triaged keeps the record saying what was done rather than "already
        triaged"."""
        if record.outcome != OutcomeKind.SKIPPED or record.detail != triage_gate.ALREADY:
            return False
        existing = await self.earlier(record.delivery_id)
        return existing is not None and existing.outcome in (OutcomeKind.DONE, OutcomeKind.SKIPPED, OutcomeKind.FAILED)

    async def count_skip(self, installation_id: int, repository: str, task: str) -> None:
        """An event skipped for the budget, in the cost ledger's `skipped` column."""
        try:
            await self.state.deps.spending.skipped(installation_id, repository, task)
        except REDIS_DOWN as exc:
            log.error("could not count an event skipped for the budget (%s)", exc)
