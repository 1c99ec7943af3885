"""The worker's state, typed: built once in arq's `on_startup`, read by every job.

arq hands each job a `ctx` dict. hookwise keeps one entry of its own there, `WorkerState`, frozen
and typed, instead of some thirty string keys; the other entries are arq's own facts about the job
run (its id, its try, when it was queued, the Redis pool), read once by `arq_run`. What a test
changes (a short job timeout, quick backoffs, a clock, a model adapter of its own) is a `Tuning`,
passed the same way; the product runs with the defaults.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from bot.adapters.llm import LLM
from bot.adapters.store.fairness import Fairness
from bot.adapters.store.ledger import Ledger
from bot.adapters.store.records import Records
from bot.config import Settings
from bot.core.operations import breaker
from bot.worker.deps import Deps
from bot.worker.heartbeat import Beating, WorkerStats
from bot.worker.retrying import Retrying
from bot.worker.tally import Tally

# A crashed worker's job runs again after the longest job timeout + 10 s (arq's in-progress TTL):
# 60 s keeps that near a minute while leaving a model call (timeout 40 s) room to finish.
JOB_TIMEOUT_S = 60
STATE = "hookwise"  # the one key of arq's ctx that is hookwise's
TUNING = "hookwise-tuning"  # what `worker_settings` passes to `on_startup`


@dataclass(frozen=True, slots=True)
class Tuning:
    """What a test changes about a worker (the product runs with these defaults)."""

    job_timeout_s: float = JOB_TIMEOUT_S  # also how long a crashed worker's lock outlives it
    retry_base_s: float | None = None  # the backoff's base; None: bot/core/operations/retry.py's
    retry_for_s: float | None = None  # None: RETRY_FOR
    probe_interval_s: float = breaker.PROBE_INTERVAL_S
    clock: Callable[[], float] = time.time  # which UTC day the budget counts
    llm: LLM | None = None  # a model adapter of the test's own instead of the SDK's


@dataclass(frozen=True, slots=True)
class WorkerState:
    """What every job of this worker reads; `receive` builds one for its single run."""

    settings: Settings
    tuning: Tuning
    deps: Deps
    ledger: Ledger
    records: Records
    retrying: Retrying
    fairness: Fairness | None = None  # None: nothing parked to move in (`receive`)
    tally: Tally | None = None  # how this worker's deliveries ended, for its shutdown line
    stats: WorkerStats | None = None  # what this worker is doing, for its heartbeat
    # What on_shutdown closes.
    session: aiohttp.ClientSession | None = None
    client: Any = None  # the model SDK's client, when this worker made one
    heartbeat: tuple[Beating, asyncio.Task[None]] | None = None


@dataclass(frozen=True, slots=True)
class ArqRun:
    """arq's facts about one run of a job."""

    job_id: str
    job_try: int
    enqueued_at: float | None  # when it was queued (a retry keeps it): the web's acceptance


def state_of(ctx: Mapping[str, Any]) -> WorkerState:
    state = ctx[STATE]
    assert isinstance(state, WorkerState), "the worker's on_startup builds the state"
    return state


def arq_run(ctx: Mapping[str, Any]) -> ArqRun:
    enqueued = ctx.get("enqueue_time")
    return ArqRun(
        job_id=str(ctx.get("job_id", "")),
        job_try=int(ctx.get("job_try", 1)),
        enqueued_at=enqueued.timestamp() if isinstance(enqueued, datetime) else None,
    )


def one_run(settings: Settings, deps: Deps, redis: Any) -> WorkerState:
    """The state of one run here and now (`python -m bot receive`, and tests that run one job): no
    memory between runs, no breakers, no fair queue."""
    github = deps.github.dependency
    return WorkerState(
        settings=settings,
        tuning=Tuning(),
        deps=deps,
        ledger=Ledger(redis),
        records=Records(redis),
        retrying=Retrying(
            states=None,
            breakers=None,
            github=github,
            model=lambda task: settings.model_dependency(settings.model_for(task)),
        ),
    )
