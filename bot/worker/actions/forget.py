"""`installation` `deleted`, `installation_repositories` `removed`, and `python -m bot forget`:
delete what hookwise keeps that holds those repositories' text or names (bot/adapters/store/forget.py).

The first pass runs as soon as the job does (it skips the fair-share backlog: bot/core/operations/scheduling.py);
a second pass a little later deletes what jobs of those repositories still in flight wrote
meanwhile. The record says how much went and never names a repository.
"""

from __future__ import annotations

import logging

from bot.core.ingress.job import ForgetJob
from bot.core.operations.forget import digest
from bot.core.outcome import Outcome
from bot.worker.deps import Deps

log = logging.getLogger("hookwise.forget")


async def on_forget(job: ForgetJob, deps: Deps) -> Outcome:
    forgetter = deps.forgetter
    if forgetter is None:
        return Outcome.skipped("forgetting is not available in this process")
    targets = set(job.repositories)
    if job.whole_installation:
        targets |= {digest(name) for name in await forgetter.installation_repositories(job.installation_id)}
    report = await forgetter.forget(
        targets, installation_id=job.installation_id if job.whole_installation else None, owners=job.owners
    )
    deps.github.forget_caches()
    if not job.second_pass:
        await forgetter.schedule_second_pass(job)
    scope = f" of installation {job.installation_id}" if job.whole_installation else ""
    which = "second pass: " if job.second_pass else ""
    log.info("installation=%s %s%s", job.installation_id, which, report.line())
    return Outcome.done(f"{which}{report.line()}{scope}")
