"""`push` events: a push to the default branch that changes `.github/hookwise.yml` refreshes the
cached configuration in every worker (bot/intake.py queues only those pushes)."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event

from bot.adapters.github import Repo
from bot.adapters.store.records import JobRecord
from bot.worker.deps import Deps

router = Router()


@router.register("push")
async def on_push(event: Event, repo: Repo, *, deps: Deps, record: JobRecord) -> None:
    await deps.configs.invalidate(repo.full_name)
    record.outcome, record.detail = "done", "configuration cache refreshed"
