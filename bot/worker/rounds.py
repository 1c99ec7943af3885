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

import asyncio
import contextlib
import dataclasses
import logging
import time
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from bot.adapters.github import Repo
from bot.adapters.store.errors import store_error
from bot.adapters.store.records import JobRecord
from bot.core.errors import BudgetExhausted, PermanentError
from bot.core.ingress.job import TriageRound
from bot.core.operations import retry
from bot.core.operations.retry import Again, Attempt, GiveUp, Wait
from bot.core.outcome import Outcome, OutcomeKind
from bot.core.text import first_error
from bot.logs import bound
from bot.worker.actions.triage_batch import IssueResult, fail_claims, run_round
from bot.worker.deps import Deps
from bot.worker.job import (
    JOB_TIMEOUT_S,
    count_skip,
    inner_timeout,
    keeps_final_record,
    next_turn,
    retrying_of,
    save_record,
)
from bot.worker.retrying import crashed, describe

log = logging.getLogger("hookwise.worker")


async def triage_batch(ctx: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """The arq job of one batch round (queued by bot/adapters/store/triage_queue.py)."""
    job_try = int(ctx.get("job_try", 1))
    job_id = str(ctx.get("job_id", ""))
    try:
        job = TriageRound.model_validate(kwargs.get("round"))
    except ValidationError as exc:
        log.error("job=%s unreadable triage round: %s", job_id, first_error(exc))
        return {"outcome": "failed"}
    try:
        with bound(installation=job.installation_id, repo=job.repository):
            return await _round(ctx, job, job_id, job_try)
    finally:
        await next_turn(ctx, job_id)


async def _round(ctx: dict[str, Any], job: TriageRound, job_id: str, job_try: int) -> dict[str, Any]:
    deps: Deps = ctx["deps"]
    retrying = retrying_of(ctx)
    where = f"batch={job_id} try={job_try}"
    started = time.perf_counter()
    attempt, crashes = await retrying.attempt(job_id, job_try)
    if ctx.get("retry_base_s") is not None:  # tests: short backoffs
        attempt = dataclasses.replace(attempt, base_s=float(ctx["retry_base_s"]))
    retries: list[Again | Wait] = []
    now_ms = int(time.time() * 1000)

    async def open_repo() -> Repo:
        return await deps.github.repo(job.installation_id, job.repository)

    async def settle(item: IssueResult) -> None:
        decision = await _settle(ctx, job, job_id, attempt, item)
        if decision is not None:
            retries.append(decision)

    async def give_up(exc: BaseException, reason: str) -> dict[str, Any]:
        log.error("%s failed: %s", where, reason, exc_info=not isinstance(exc, CrashedRound))

        async def failed(item: IssueResult) -> None:
            await _settle(ctx, job, job_id, attempt.final(), item)

        with contextlib.suppress(RedisError, OSError):  # end each claimed issue's delivery, as failed
            await fail_claims(job, job_id, deps, exc, now_ms=int(time.time() * 1000), settle=failed)
        await retrying.done(job_id, attempt)
        return {"outcome": "failed", "error": reason}

    if crashes >= retry.MAX_CRASHES:
        reason = crashed(crashes).reason
        return await give_up(CrashedRound(reason), reason)
    try:
        async with asyncio.timeout(inner_timeout(float(ctx.get("job_timeout_s", JOB_TIMEOUT_S)))):
            await retrying.admit(retrying.needs(job))
            result = await run_round(job, job_id, open_repo, deps, now_ms=now_ms, settle=settle)
    except asyncio.CancelledError:  # the worker is stopping: arq hands the round back
        await retrying.handed_back(job_id)
        raise
    except Exception as caught:  # the claim, the timeout, a breaker, or Redis while settling
        exc = store_error(caught)
        now = time.time()
        decision = retry.decide(exc, attempt, now)
        if not isinstance(decision, GiveUp):  # the round's unfinished claims stay its own: the retry takes them
            log.warning("%s %s: %s", where, describe(decision), decision.reason)
            raise await retrying.retry(job_id, decision, now) from caught
        return await give_up(exc, decision.reason)
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
    if retries:
        first = retries[0]
        log.warning("%s %s for its unfinished issues: %s", where, describe(first), first.reason)
        raise await retrying.retry(job_id, first, time.time())
    await retrying.done(job_id, attempt)
    return {"outcome": "done", "issues": len(result.results)}


class CrashedRound(PermanentError):
    """A round whose worker died while running it too many times (bot/core/operations/retry.py: MAX_CRASHES)."""


async def _settle(
    ctx: dict[str, Any], job: TriageRound, job_id: str, attempt: Attempt, item: IssueResult
) -> Again | Wait | None:
    """One issue's delivery record, its ledger state and the end of its claim; the verdict when
    it is to be tried again with the round (it keeps its claim, its record says `retrying`)."""
    deps: Deps = ctx["deps"]
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
    await _when_accepted(ctx, record)
    verdict = await _judge(deps, job, record, item, attempt)
    record.rate_limit = item.rate_limit
    record.duration_ms = int((time.time() - issue.started_at) * 1000)
    where = f"event={issue.event}.{issue.action} target={issue.number} batch={job_id}"
    with bound(delivery=issue.delivery_id):
        if verdict is None and await keeps_final_record(ctx, record):
            log.info("%s already ended: its record stays", where)
        else:
            await save_record(ctx, record, where)
    if verdict is None:
        await deps.triage_queue.finish(job.repository, issue.number, job_id, job.lane)
    return verdict


async def _when_accepted(ctx: dict[str, Any], record: JobRecord) -> None:
    """The web's acceptance of the issue's delivery, from the record its TriageJob left (`waiting`),
    so the status page can tell its queue wait from the work."""
    try:
        waiting = await ctx["records"].get(record.delivery_id)
    except (RedisError, OSError):
        return
    if waiting is not None and waiting.accepted_at is not None:
        record.accepted_at = waiting.accepted_at
        record.first_started_at = waiting.first_started_at


async def _judge(
    deps: Deps, job: TriageRound, record: JobRecord, item: IssueResult, attempt: Attempt
) -> Again | Wait | None:
    """Merge one issue's result into its record; a transient failure worth a retry is returned."""
    if item.outcome is not None:
        record.merge(item.outcome)
        return None
    exc = store_error(item.error or RuntimeError("no result"))
    if isinstance(exc, BudgetExhausted):
        record.merge(Outcome.skipped(exc.reason))
        await count_skip(deps, job.installation_id, job.repository, "triage")
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
    deps: Deps = ctx["deps"]
    rounds = await deps.triage_queue.rescue(now_ms=int(time.time() * 1000))
    if rounds:
        log.info("triage rounds checked: %s", rounds)
    return {"rounds": rounds}
