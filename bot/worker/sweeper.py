"""The redelivery sweeper's I/O: list the App's recent deliveries, ask GitHub to redeliver what
hookwise never accepted, remember what it asked for. The decision is bot/core/ingress/redelivery.py's; the
state in Redis is bot/adapters/store/redeliveries.py's.

A run lists back to a checkpoint (the newest delivery the previous run saw, less an overlap for
late-written attempts), never more than 3 days back (GitHub keeps deliveries 3 days). At most
`cap` events are redelivered per run, oldest first; the checkpoint stays behind what is left, so a
backlog drains in order over the next runs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from redis.asyncio import Redis

from bot.adapters.store.redeliveries import RedeliveryState
from bot.core.errors import HookwiseError
from bot.core.ingress.redelivery import (
    MAX_AGE,
    Delivery,
    Requested,
    SweepError,
    SweepReport,
    failed_guids,
    iso,
    plan_redeliveries,
)
from bot.core.operations import retry
from bot.worker.state import state_of

if TYPE_CHECKING:
    from bot.adapters.github import GitHubApp

log = logging.getLogger("hookwise.sweeper")

DELIVERIES_URL = "/app/hook/deliveries"
# Attempts can be written to GitHub's log a little after later ones: list a bit past the checkpoint.
OVERLAP = timedelta(minutes=5)
FIRST_RUN_LOOKBACK = timedelta(hours=1)
DEFAULT_CAP = 50
PER_PAGE = 100


# -- the I/O ---------------------------------------------------------------------------------


async def sweep(
    app: GitHubApp,
    redis: Redis,
    *,
    now: datetime | None = None,
    since: timedelta | None = None,
    cap: int = DEFAULT_CAP,
    per_page: int = PER_PAGE,
) -> SweepReport:
    """Redeliver what hookwise missed. With `since`, list that far back instead of to the
    checkpoint, and leave the checkpoint alone (a manual run does not move the scheduled one)."""
    now = now or datetime.now(UTC)
    state = RedeliveryState(redis)
    oldest = now - MAX_AGE
    if since is not None:
        cutoff = now - min(since, MAX_AGE)
    else:
        checkpoint = await state.checkpoint()
        # With no checkpoint yet (the first scheduled run), an hour: listing three days of a busy
        # App's deliveries could outlast the cron job's timeout, run after run. Older gaps are
        # for `python -m bot redeliver --since 3d`.
        cutoff = checkpoint - OVERLAP if checkpoint is not None else now - FIRST_RUN_LOOKBACK
    cutoff = max(cutoff, oldest)
    report = SweepReport(since=cutoff, dry_run=app.dry_run)

    listed = await _list(app, cutoff, per_page)
    report.listed = len(listed)
    suspects = sorted(failed_guids(listed))
    accepted, requested = await state.lookup(suspects)
    plan = plan_redeliveries(listed, accepted=accepted, requested=requested, cap=cap)
    report.failed_guids = plan.failed_guids
    report.skipped_accepted = plan.skipped_accepted
    report.skipped_already_requested = plan.skipped_already_requested
    report.deferred = len(plan.deferred)

    held = list(plan.deferred)  # the next run must list back to these
    if app.dry_run:
        for delivery in plan.chosen:
            log.info("dry-run: would ask GitHub to redeliver %s", _where(delivery))
            report.requested.append(Requested(delivery.guid, delivery.name, delivery.id))
    else:
        held += await _redeliver(app, state, plan.chosen, report)

    if since is None and listed:
        report.checkpoint = _next_checkpoint(listed, held)
        await state.set_checkpoint(report.checkpoint)
    return report


async def _list(app: GitHubApp, cutoff: datetime, per_page: int) -> list[Delivery]:
    """Attempts delivered at or after `cutoff`; stops fetching pages once past it."""
    found: list[Delivery] = []
    async for raw in app.app_iter(f"{DELIVERIES_URL}?per_page={per_page}"):
        try:
            delivery = Delivery.model_validate(raw)
        except ValidationError as exc:
            log.warning("sweeper: skipping a delivery GitHub listed in an unexpected shape: %s", exc)
            continue
        if delivery.delivered_at < cutoff:
            break
        found.append(delivery)
    return found


async def _redeliver(
    app: GitHubApp, state: RedeliveryState, chosen: list[Delivery], report: SweepReport
) -> list[Delivery]:
    """Claim, POST, record. Returns the deliveries a later run should try again (transient failures)."""
    if not chosen:
        return []
    token, claims = await state.claim([delivery.guid for delivery in chosen])
    retry_later: list[Delivery] = []
    for delivery, claimed in zip(chosen, claims, strict=True):
        if not claimed:  # a concurrent sweep got there first
            report.skipped_already_requested += 1
            continue
        try:
            await app.app_post(f"{DELIVERIES_URL}/{delivery.id}/attempts")
        except (HookwiseError, TimeoutError, ConnectionError) as exc:
            await state.release(delivery.guid, token)
            verdict = retry.classify(exc)  # the one policy for what is worth another try
            status = exc.status if isinstance(exc, HookwiseError) else None
            report.errors.append(SweepError(delivery.guid, delivery.id, status, verdict.reason))
            log.warning("sweeper: redelivery request failed for %s: %s", _where(delivery), verdict.reason)
            if isinstance(verdict, retry.Transient):
                retry_later.append(delivery)
            continue
        await state.requested(delivery.guid)
        report.requested.append(Requested(delivery.guid, delivery.name, delivery.id))
        log.info("sweeper: asked GitHub to redeliver %s", _where(delivery))
    return retry_later


def _next_checkpoint(listed: list[Delivery], held: list[Delivery]) -> datetime:
    """The newest attempt seen, unless some event must be looked at again: then its oldest attempt."""
    newest = max(d.delivered_at for d in listed)
    if not held:
        return newest
    guids = {d.guid for d in held}
    return min(newest, min(d.delivered_at for d in listed if d.guid in guids))


def _where(delivery: Delivery) -> str:
    return (
        f"delivery={delivery.guid} attempt={delivery.id} event={delivery.name} status={delivery.status_code} "
        f"installation={delivery.installation_id} repository={delivery.repository_id} "
        f"delivered_at={iso(delivery.delivered_at)}"
    )


# -- arq ---------------------------------------------------------------------------------------


async def sweep_job(ctx: dict[str, Any]) -> dict[str, Any]:
    """arq cron job: one scheduled sweep, with the worker's GitHub client and Redis."""
    report = await sweep(state_of(ctx).deps.github, ctx["redis"])  # arq's pool
    log.info("sweeper: %s", report.summary())
    return report.as_dict()
