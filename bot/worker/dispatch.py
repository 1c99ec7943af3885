"""Each job type and its one handler: the worker's half of bot/core/ingress/intake.py's ROUTES.

`HANDLERS` is keyed by the job's type (bot/core/ingress/job.py: JOB_TYPES); a test fails when a type
has none. A handler gets the job and what this run of it has: the dependencies, the try, what the
job went through so far and, unless the handler says it needs none, the job's repository (opened
by the runner, which also records its rate limit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.adapters.github import Repo
from bot.core.ingress.job import CommandJob, ConfigJob, ForgetJob, Job, LabelJob, SummaryJob, TriageJob
from bot.core.operations.retry import Attempt
from bot.core.outcome import Outcome
from bot.worker.actions import agreement, commands, config, forget, summarize, triage
from bot.worker.deps import Deps


@dataclass(frozen=True, slots=True)
class Run:
    """One run of a job, as its handler sees it."""

    deps: Deps
    job_try: int
    attempt: Attempt  # what the job went through so far (a command's last failure reacts)
    repo: Repo | None = None  # the job's repository; None for a handler that needs none


@dataclass(frozen=True, slots=True)
class Handler:
    act: Callable[[Any, Run], Awaitable[Outcome]]
    needs_repo: bool = True  # ForgetJob is about repositories, not one: nothing to open


def _repo(run: Run) -> Repo:
    assert run.repo is not None, "the runner opens the repository of a handler that needs one"
    return run.repo


HANDLERS: Mapping[type[Any], Handler] = {
    SummaryJob: Handler(lambda job, run: summarize.on_merged(job, _repo(run), run.deps, job_try=run.job_try)),
    TriageJob: Handler(lambda job, run: triage.on_opened(job, _repo(run), run.deps, job_try=run.job_try)),
    CommandJob: Handler(
        lambda job, run: commands.on_comment(job, _repo(run), run.deps, job_try=run.job_try, attempt=run.attempt)
    ),
    ConfigJob: Handler(lambda job, run: config.on_push(job, _repo(run), run.deps, job_try=run.job_try)),
    LabelJob: Handler(lambda job, run: agreement.on_label(job, _repo(run), run.deps, job_try=run.job_try)),
    ForgetJob: Handler(lambda job, run: forget.on_forget(job, run.deps), needs_repo=False),
}


def handler_of(job: Job) -> Handler:
    return HANDLERS[type(job)]
