"""Each kind of job and its handler: the worker's half of bot/core/ingress/intake.py's ROUTES table."""

from __future__ import annotations

from typing import assert_never

from bot.adapters.github import Repo
from bot.core.ingress.job import CommandJob, ConfigJob, ForgetJob, Job, LabelJob, SummaryJob, TriageJob
from bot.core.operations.retry import Attempt
from bot.core.outcome import Outcome
from bot.worker.actions import agreement, commands, config, forget, summarize, triage
from bot.worker.deps import Deps


async def dispatch(job: Job, repo: Repo, deps: Deps, *, job_try: int, attempt: Attempt | None = None) -> Outcome:
    """`attempt`: what the job went through so far (a command's last failure reacts `confused`)."""
    match job:
        case SummaryJob():
            return await summarize.on_merged(job, repo, deps, job_try=job_try)
        case TriageJob():
            return await triage.on_opened(job, repo, deps, job_try=job_try)
        case CommandJob():
            return await commands.on_comment(job, repo, deps, job_try=job_try, attempt=attempt)
        case ConfigJob():
            return await config.on_push(job, repo, deps, job_try=job_try)
        case LabelJob():
            return await agreement.on_label(job, repo, deps, job_try=job_try)
        case ForgetJob():  # needs no repository (bot/worker/job.py runs it before opening one)
            return await forget.on_forget(job, deps)
        case _:
            assert_never(job)
