"""Which of GitHub's recent webhook deliveries to ask it to redeliver, and the report. Pure.

GitHub never retries a failed delivery. The sweeper (bot/worker/sweeper.py) lists the App's recent
deliveries, groups the attempts of each event by `guid`, and asks GitHub to redeliver every event
that has no 2xx attempt and that hookwise does not remember accepting, at most once, oldest first,
at most `cap` per run. `plan_redeliveries` is that decision; the rest formats what a run did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict

from bot.core.durations import parse_duration

# GitHub keeps deliveries (and accepts redelivery requests) for 3 days.
MAX_AGE = timedelta(days=3)


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
            f"deferred={self.deferred} errors={len(self.errors)} since={iso(self.since)}"
            + (" dry-run" if self.dry_run else "")
        )


def format_report(report: SweepReport) -> str:
    """Human-readable text for `python -m bot redeliver`."""
    lines = [
        f"Deliveries since {iso(report.since)}: {report.listed} listed;"
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


def parse_since(text: str) -> timedelta:
    """`45s`, `90m`, `2h`, `3d` (or `1h30m`) as a timedelta, at most 3 days (GitHub keeps no more)."""
    return parse_duration(text, most=MAX_AGE)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
