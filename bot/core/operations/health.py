"""The status page's health: workers seen, each dependency's circuit breaker, jobs parked for fair
share, and what goes at the top of the page about them. Pure: a view model, the warnings as data
(`warnings`: no worker seen while jobs wait, a breaker open, a Redis that may evict; the page's
rule `_health_warnings` in bot/core/views/status.py turns each into one of its `StatusWarning`s).
The sections of the page are bot/core/views/health.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

SAFE_POLICY = "noeviction"


@dataclass(frozen=True, slots=True)
class Alert:
    """One warning about the deployment's health (the page shows it as a `StatusWarning`)."""

    key: str  # stable: `no-worker`, `breaker-<dependency>`, `eviction`
    level: Literal["error", "warning"]  # error: nothing is being done
    text: str  # plain text; escaped when rendered
    fix: str = ""


@dataclass(frozen=True, slots=True)
class WorkerRow:
    worker_id: str
    host: str
    pid: int
    started_at: float
    seen_at: float
    running: int
    slots: int
    done: int = 0


@dataclass(frozen=True, slots=True)
class DependencyRow:
    key: str
    label: str
    open: bool
    failures: int  # outage failures in a row
    opened_at: float | None
    probe_at: float
    last_error: str
    waiting: int  # jobs waiting on it


@dataclass(frozen=True, slots=True)
class Health:
    workers: Sequence[WorkerRow] | None  # None: could not be read
    dependencies: Sequence[DependencyRow] = ()
    jobs_waiting: int = 0  # in arq's queue (due, deferred or running) and parked for fair share
    parked: int = 0
    parked_installations: int = 0
    parked_largest: Sequence[tuple[int, int, int]] = ()  # (installation, commands, bulk)
    eviction_policy: str | None = SAFE_POLICY  # None: Redis would not say (CONFIG GET refused)
    eviction_problem: str = ""
    window: int | None = None  # jobs the queue may hold due at once (the workers' slots)


def eviction_warning(policy: str | None, problem: str = "") -> str | None:
    """The line the web and the worker log at start, and the page shows; None under `noeviction`."""
    if policy is None:
        return (
            f"could not read Redis's maxmemory-policy (CONFIG GET refused: {problem}); make sure it is "
            f"{SAFE_POLICY}, or Redis may evict delivery records, effect keys and queued jobs under memory pressure"
        )
    if policy == SAFE_POLICY:
        return None
    return (
        f"Redis maxmemory-policy is {policy}, not {SAFE_POLICY}: under memory pressure Redis will evict "
        f"delivery records, effect keys and queued jobs (duplicate comments, lost jobs). Set maxmemory-policy "
        f"{SAFE_POLICY}"
    )


def span(seconds: float) -> str:
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s" if whole % 60 else f"{whole // 60} min"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def warnings(health: Health, now: float) -> list[Alert]:
    """What the page says first about the deployment's health, most serious first."""
    found: list[Alert] = []
    if health.workers is not None and not health.workers and health.jobs_waiting > 0:
        found.append(
            Alert(
                "no-worker",
                "error",
                f"No worker has been seen in the last minute, and {health.jobs_waiting} job(s) are waiting: "
                "nothing is processed until one runs.",
                "Start one with python -m bot worker (against this REDIS_URL); its log says why if it stopped.",
            )
        )
    for dependency in health.dependencies:
        if not dependency.open:
            continue
        since = f" for {span(now - dependency.opened_at)}" if dependency.opened_at is not None else ""
        probe = dependency.probe_at - now
        when = f"next probe in {span(probe)}" if probe > 0 else "a probe is due"
        cause = f" Last error: {dependency.last_error}." if dependency.last_error else ""
        found.append(
            Alert(
                f"breaker-{dependency.key}",
                "warning",
                f"{dependency.label} is failing: its circuit breaker has been open{since}; "
                f"{dependency.waiting} job(s) wait for it ({when}), nothing is lost.{cause}",
                "Nothing to do if the service has an incident: the jobs run once it answers, for up to RETRY_FOR. "
                "If it lasts, check its status page and the credentials.",
            )
        )
    line = eviction_warning(health.eviction_policy, health.eviction_problem)
    if line is not None:
        fix = "In redis.conf, or your provider's settings: maxmemory-policy noeviction."
        found.append(Alert("eviction", "warning", line + ".", fix))
    return found
