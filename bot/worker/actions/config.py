"""A push to the default branch that changes `.github/hookwise.yml` refreshes the cached
configuration in every worker (bot/core/ingress/intake.py queues only those pushes)."""

from __future__ import annotations

from bot.adapters.github import Repo
from bot.core.ingress.job import ConfigJob
from bot.core.outcome import Outcome
from bot.worker.deps import Deps


async def on_push(job: ConfigJob, repo: Repo, deps: Deps, *, job_try: int) -> Outcome:
    await deps.configs.invalidate(repo.full_name)
    return Outcome.done("configuration cache refreshed")
