"""Each kind of job and its handler: the worker's half of bot/core/ingress/intake.py's ROUTES table."""

from __future__ import annotations

from typing import assert_never

from bot.adapters.github import Repo
from bot.core.ingress.job import CommandJob, ConfigJob, Job, LabelJob, SummaryJob, TriageJob
from bot.core.outcome import Outcome
from bot.worker.actions import agreement, commands, config, summarize, triage
from bot.worker.deps import Deps


async def dispatch(job: Job, repo: Repo, deps: Deps, *, job_try: int) -> Outcome:
    match job:
        case SummaryJob():
            return await summarize.on_merged(job, repo, deps, job_try=job_try)
        case TriageJob():
            return await triage.on_opened(job, repo, deps, job_try=job_try)
        case CommandJob():
            return await commands.on_comment(job, repo, deps, job_try=job_try)
        case ConfigJob():
            return await config.on_push(job, repo, deps, job_try=job_try)
        case LabelJob():
            return await agreement.on_label(job, repo, deps, job_try=job_try)
        case _:
            assert_never(job)
