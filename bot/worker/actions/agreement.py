"""A person's label change on an issue hookwise triaged updates its agreement record.

Nothing is written to GitHub. The web queues only a person's changes to an issue's labels
(bot/core/ingress/intake.py); here the change is kept if hookwise triaged the issue.
"""

from __future__ import annotations

from bot.adapters.github import Repo
from bot.core.agreement import LabelChange
from bot.core.ingress.job import LabelJob
from bot.core.outcome import Outcome
from bot.worker.deps import Deps

NOT_TRIAGED = "issue not triaged by hookwise"


async def on_label(job: LabelJob, repo: Repo, deps: Deps, *, job_try: int) -> Outcome:
    change = LabelChange(label=job.label, added=job.added, at=job.at, actor=job.actor.login)
    if not await deps.agreement.add_change(repo.full_name, job.number, change):
        return Outcome.skipped(NOT_TRIAGED)
    verb = "added" if job.added else "removed"
    return Outcome.done(f"agreement: {job.actor.login} {verb} {job.label}")
