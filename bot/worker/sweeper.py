"""Ask GitHub to redeliver the webhook deliveries hookwise never accepted.

GitHub never retries a failed delivery. One sent while Redis or the web process was down (answered
503, timed out, refused) is lost unless somebody presses "Redeliver". The sweeper does that: it
lists the App's recent deliveries (`GET /app/hook/deliveries`, newest first), groups the attempts
of each event by `guid`, and asks GitHub to redeliver (`POST /app/hook/deliveries/{id}/attempts`)
every event that has no 2xx attempt and that hookwise does not remember accepting.

- An event hookwise accepted (its `hookwise:delivery:<guid>` record exists) is never redelivered,
  whatever GitHub shows: a `failed` record is a dead letter for a maintainer (`python -m bot
  replay`), not for the sweeper.
- Each event is redelivered at most once: `hookwise:sweeper:requested:<guid>` is written after
  GitHub answered 2xx and kept 3 days. Two sweeps running at once claim each guid with `SET NX`
  on that key before POSTing; a failed POST releases the claim so a later run may try again.
- A run lists back to a checkpoint (the newest delivery the previous run saw, less an overlap for
  late-written attempts), never more than 3 days back (GitHub keeps deliveries 3 days). At most
  `cap` events are redelivered per run, oldest first; the checkpoint stays behind what is left, so
  a backlog drains in order over the next runs.

`choose_redeliveries` is the decision, a pure function; `sweep` does the I/O around it.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import aiohttp
import gidgethub
from pydantic import BaseModel, ConfigDict, ValidationError
from redis.asyncio import Redis

from bot.adapters.store.ledger import delivery_key
from bot.core import retry as failures

if TYPE_CHECKING:
    from bot.adapters.github import GitHubApp

log = logging.getLogger("hookwise.sweeper")

DELIVERIES_URL = "/app/hook/deliveries"
CHECKPOINT_KEY = "hookwise:sweeper:checkpoint"
REQUESTED_PREFIX = "hookwise:sweeper:requested:"
# GitHub keeps deliveries (and accepts redelivery requests) for 3 days.
MAX_AGE = timedelta(days=3)
REQUESTED_TTL_S = int(MAX_AGE.total_seconds())
# Attempts can be written to GitHub's log a little after later ones: list a bit past the checkpoint.
OVERLAP = timedelta(minutes=5)
FIRST_RUN_LOOKBACK = timedelta(hours=1)
# A claim outlives any single redelivery POST (the worker's session times out well before this).
CLAIM_TTL_S = 600
DEFAULT_CAP = 50
PER_PAGE = 100

_REQUESTED = b"requested"

# Delete a claim only while it is still ours (it may have expired and been taken by another sweep).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class Delivery(BaseModel):
    """One attempt at delivering an event, as `GET /app/hook/deliveries` lists it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: int
    guid: str
    delivered_at: datetime
    redelivery: bool = False
    status_code: int
    event: str
    action: str | None = None
    installation_id: int | None = None
    repository_id: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300

    @property
    def name(self) -> str:
        return f"{self.event}.{self.action}" if self.action else self.event


@dataclass(frozen=True, slots=True)
class Plan:
    """What one run should do with the deliveries it listed."""

    chosen: list[Delivery]  # redeliver these (each guid's most recent attempt), oldest first
    deferred: list[Delivery]  # would be chosen but for the cap; a later run takes them
    failed_guids: int  # guids with no 2xx attempt
    skipped_accepted: int
    skipped_already_requested: int


def plan_redeliveries(deliveries: Iterable[Delivery], *, accepted: set[str], requested: set[str], cap: int) -> Plan:
    """Group attempts by guid and pick what to redeliver. Pure: data in, data out."""
    if cap < 0:
        raise ValueError(f"cap must be 0 or more, got {cap}")
    attempts: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        attempts.setdefault(delivery.guid, []).append(delivery)
    failed = {guid: tries for guid, tries in attempts.items() if not any(t.ok for t in tries)}
    skipped_accepted = skipped_requested = 0
    candidates: list[tuple[tuple[datetime, int], Delivery]] = []
    for guid, tries in failed.items():
        if guid in accepted:
            skipped_accepted += 1
        elif guid in requested:
            skipped_requested += 1
        else:
            first = min(tries, key=_order)
            latest = max(tries, key=_order)
            candidates.append((_order(first), latest))
    candidates.sort(key=lambda pair: pair[0])
    ordered = [latest for _first, latest in candidates]
    return Plan(ordered[:cap], ordered[cap:], len(failed), skipped_accepted, skipped_requested)


def choose_redeliveries(
    deliveries: Iterable[Delivery], *, accepted: set[str], requested: set[str], cap: int
) -> list[Delivery]:
    """The attempts to redeliver: for each guid with no 2xx attempt that hookwise neither accepted
    nor already asked GitHub to redeliver, its most recent attempt; at most `cap`, oldest first."""
    return plan_redeliveries(deliveries, accepted=accepted, requested=requested, cap=cap).chosen


def failed_guids(deliveries: Iterable[Delivery]) -> set[str]:
    """Guids none of whose attempts got a 2xx answer."""
    ok = {d.guid for d in deliveries if d.ok}
    return {d.guid for d in deliveries if d.guid not in ok}


def _order(delivery: Delivery) -> tuple[datetime, int]:
    # GitHub's timestamps have seconds precision; ids grow with time and break ties.
    return (delivery.delivered_at, delivery.id)


# -- the report ------------------------------------------------------------------------------


class Requested(NamedTuple):
    guid: str
    event: str
    id: int


class SweepError(NamedTuple):
    guid: str
    id: int
    status: int | None  # GitHub's HTTP status, None when there was no answer
    message: str


@dataclass(slots=True)
class SweepReport:
    since: datetime  # how far back this run listed
    listed: int = 0
    failed_guids: int = 0
    requested: list[Requested] = field(default_factory=list)
    skipped_accepted: int = 0
    skipped_already_requested: int = 0  # by an earlier run, or claimed by a concurrent one
    deferred: int = 0  # over the cap, left for the next run
    errors: list[SweepError] = field(default_factory=list)
    checkpoint: datetime | None = None  # where the next scheduled run starts (less the overlap)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe (arq stores job results with the JSON serializer)."""
        return {
            "since": self.since.isoformat(),
            "listed": self.listed,
            "failed_guids": self.failed_guids,
            "requested": [r._asdict() for r in self.requested],
            "skipped_accepted": self.skipped_accepted,
            "skipped_already_requested": self.skipped_already_requested,
            "deferred": self.deferred,
            "errors": [e._asdict() for e in self.errors],
            "checkpoint": self.checkpoint.isoformat() if self.checkpoint else None,
            "dry_run": self.dry_run,
        }

    def summary(self) -> str:
        return (
            f"listed={self.listed} failed={self.failed_guids} requested={len(self.requested)} "
            f"skipped_accepted={self.skipped_accepted} skipped_already_requested={self.skipped_already_requested} "
            f"deferred={self.deferred} errors={len(self.errors)} since={_iso(self.since)}"
            + (" dry-run" if self.dry_run else "")
        )


def format_report(report: SweepReport) -> str:
    """Human-readable text for `python -m bot redeliver`."""
    lines = [
        f"Deliveries since {_iso(report.since)}: {report.listed} listed;"
        f" {report.failed_guids} events never got a 2xx answer"
        f" ({report.skipped_accepted} of them accepted by hookwise anyway,"
        f" {report.skipped_already_requested} already redelivered by the sweeper).",
    ]
    if report.requested:
        verb = "Would ask (dry-run)" if report.dry_run else "Asked"
        lines.append(f"{verb} GitHub to redeliver {len(report.requested)}:")
        lines += [f"  {r.guid}  {r.event}  (delivery {r.id})" for r in report.requested]
    else:
        lines.append("Nothing redelivered.")
    if report.deferred:
        lines.append(f"{report.deferred} more left for the next run (cap reached).")
    if report.errors:
        lines.append(f"{len(report.errors)} redelivery requests failed:")
        lines += [f"  {e.guid}  (delivery {e.id}): {e.message}" for e in report.errors]
    return "\n".join(lines)


_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str) -> timedelta:
    """`45s`, `90m`, `2h`, `3d` (or `1h30m`) as a timedelta, at most 3 days (GitHub keeps no more)."""
    compact = text.strip().lower()
    if not compact or _DURATION.sub("", compact):
        raise ValueError(f"expected a duration such as 45s, 90m, 2h or 3d, got {text!r}")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(compact))
    if seconds <= 0:
        raise ValueError(f"the duration must be more than zero, got {text!r}")
    return min(timedelta(seconds=seconds), MAX_AGE)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def requested_key(guid: str) -> str:
    return REQUESTED_PREFIX + guid


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
    oldest = now - MAX_AGE
    if since is not None:
        cutoff = now - min(since, MAX_AGE)
    else:
        checkpoint = await _read_checkpoint(redis)
        # With no checkpoint yet (the first scheduled run), an hour: listing three days of a busy
        # App's deliveries could outlast the cron job's timeout, run after run. Older gaps are
        # for `python -m bot redeliver --since 3d`.
        cutoff = checkpoint - OVERLAP if checkpoint is not None else now - FIRST_RUN_LOOKBACK
    cutoff = max(cutoff, oldest)
    report = SweepReport(since=cutoff, dry_run=app.dry_run)

    listed = await _list(app, cutoff, per_page)
    report.listed = len(listed)
    suspects = sorted(failed_guids(listed))
    accepted, requested = await _lookup(redis, suspects)
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
        held += await _redeliver(app, redis, plan.chosen, report)

    if since is None and listed:
        report.checkpoint = _next_checkpoint(listed, held)
        await redis.set(CHECKPOINT_KEY, report.checkpoint.isoformat())
    return report


async def _read_checkpoint(redis: Redis) -> datetime | None:
    raw: Any = await redis.get(CHECKPOINT_KEY)
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        log.warning("sweeper: ignoring an unreadable checkpoint %r", raw)
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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


async def _lookup(redis: Redis, guids: list[str]) -> tuple[set[str], set[str]]:
    """Which guids hookwise accepted and which the sweeper already asked for: one round trip."""
    if not guids:
        return set(), set()
    async with redis.pipeline(transaction=False) as pipe:
        for guid in guids:
            pipe.exists(delivery_key(guid))
            pipe.exists(requested_key(guid))
        answers = await pipe.execute()
    accepted = {guid for guid, hit in zip(guids, answers[0::2], strict=True) if hit}
    requested = {guid for guid, hit in zip(guids, answers[1::2], strict=True) if hit}
    return accepted, requested


async def _redeliver(app: GitHubApp, redis: Redis, chosen: list[Delivery], report: SweepReport) -> list[Delivery]:
    """Claim, POST, record. Returns the deliveries a later run should try again (transient failures)."""
    if not chosen:
        return []
    token = uuid.uuid4().hex.encode()
    async with redis.pipeline(transaction=False) as pipe:
        for delivery in chosen:
            pipe.set(requested_key(delivery.guid), token, nx=True, ex=CLAIM_TTL_S)
        claims = await pipe.execute()
    release = redis.register_script(_RELEASE)
    retry_later: list[Delivery] = []
    for delivery, claimed in zip(chosen, claims, strict=True):
        if not claimed:  # a concurrent sweep got there first
            report.skipped_already_requested += 1
            continue
        try:
            await app.app_post(f"{DELIVERIES_URL}/{delivery.id}/attempts")
        except (gidgethub.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            await release(keys=[requested_key(delivery.guid)], args=[token])
            verdict = failures.classify(exc)  # the one policy for what is worth another try
            status = getattr(exc, "status_code", None)
            report.errors.append(
                SweepError(delivery.guid, delivery.id, int(status) if status else None, verdict.reason)
            )
            log.warning("sweeper: redelivery request failed for %s: %s", _where(delivery), verdict.reason)
            if isinstance(verdict, failures.Transient):
                retry_later.append(delivery)
            continue
        await redis.set(requested_key(delivery.guid), _REQUESTED, ex=REQUESTED_TTL_S)
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
        f"delivered_at={_iso(delivery.delivered_at)}"
    )


# -- arq ---------------------------------------------------------------------------------------


async def sweep_job(ctx: dict[str, Any]) -> dict[str, Any]:
    """arq cron job: one scheduled sweep, with the worker's GitHub client and Redis."""
    report = await sweep(ctx["deps"].github, ctx["redis"])
    log.info("sweeper: %s", report.summary())
    return report.as_dict()
