"""`installation` `deleted`, `installation_repositories` `removed`, and `python -m bot forget`:
delete what hookwise keeps that holds those repositories' text or names (bot/adapters/store/forget.py).

The first pass runs as soon as the job does (it skips the fair-share backlog: bot/core/operations/scheduling.py);
a second pass a little later deletes what jobs of those repositories still in flight wrote
meanwhile. The record says how much went and never names a repository.
"""

from __future__ import annotations

import logging

from bot.adapters.store.forget import ForgetReport, Forgetter
from bot.core.ingress.job import ForgetJob
from bot.core.operations.forget import digest
from bot.core.outcome import Outcome
from bot.worker.deps import Deps

log = logging.getLogger("hookwise.forget")


async def forget_now(job: ForgetJob, forgetter: Forgetter) -> tuple[ForgetReport, int]:
    """One pass of `job` (the worker's job, or `python -m bot forget`'s), then the second pass queued
    when this is the first: the report, and how many repositories it was about."""
    targets = set(job.repositories)
    if job.whole_installation:
        targets |= {digest(name) for name in await forgetter.installation_repositories(job.installation_id)}
    report = await forgetter.forget(
        targets, installation_id=job.installation_id if job.whole_installation else None, owners=job.owners
    )
    if not job.second_pass:  # with the repositories resolved now, which the first pass deleted the index of
        await forgetter.schedule_second_pass(job.model_copy(update={"repositories": sorted(targets)}))
    return report, len(targets)


async def on_forget(job: ForgetJob, deps: Deps) -> Outcome:
    report, _count = await forget_now(job, deps.forgetter)
    deps.forget_caches()  # this worker's at once; the others' at their next heartbeat
    scope = f" of installation {job.installation_id}" if job.whole_installation else ""
    which = "second pass: " if job.second_pass else ""
    log.info("installation=%s %s%s", job.installation_id, which, report.line())
    return Outcome.done(f"{which}{report.line()}{scope}")
