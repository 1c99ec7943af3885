"""`push` events: a push to the default branch that changes `.github/hookwise.yml` refreshes the
cached configuration in every worker (bot/intake.py queues only those pushes)."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event

from bot.deps import Deps
from bot.github import Repo
from bot.records import JobRecord

router = Router()


@router.register("push")
async def on_push(event: Event, repo: Repo, *, deps: Deps, record: JobRecord) -> None:
    await deps.configs.invalidate(repo.full_name)
    record.outcome, record.detail = "done", "configuration cache refreshed"
