"""The retry policy's I/O, shared by a delivery's job (bot/worker/job.py) and a triage round
(bot/worker/rounds.py): what the job went through so far, whether a dependency it needs is down,
and arq's `Retry` for a decision of bot/core/operations/retry.py.

arq retries only `Retry`, and refuses to start a job past its `max_tries` without calling it (no
record: the job would vanish). The bound here is time (`RETRY_FOR`), so arq's `max_tries` is set
far beyond anything the policy reaches (bot/worker/settings.py: ARQ_MAX_TRIES) and the policy
always decides; a job whose worker died while running it `MAX_CRASHES` times is failed here with
a record, rather than left to loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from arq import Retry

from bot.adapters.store.breakers import Breakers
from bot.adapters.store.errors import REDIS_DOWN
from bot.adapters.store.retry_state import RetryStates
from bot.core.ingress.job import Job, TriageRound
from bot.core.operations import retry
from bot.core.operations.breaker import Dependency
from bot.core.operations.retry import Again, Attempt, Decision, GiveUp, Wait
from bot.core.operations.scheduling import needs

log = logging.getLogger("hookwise.worker")


@dataclass(frozen=True, slots=True)
class Retrying:
    states: RetryStates | None  # None: no memory between runs (`receive`: one run, here)
    breakers: Breakers | None
    github: Dependency
    model: Callable[[str], Dependency]  # the model of a task (`triage`, `summary`)

    async def attempt(self, job_id: str, number: int) -> tuple[Attempt, int]:
        """The job's attempt on its `number`-th run, and how many earlier runs never ended."""
        if self.states is None:
            return Attempt(number), 0
        try:
            attempt, ended = await self.states.load(job_id, number)
        except REDIS_DOWN as exc:
            log.warning("job=%s its retry state could not be read (%s)", job_id, exc)
            return Attempt(number, retry_for_s=self.states.retry_for_s, base_s=self.states.base_s), 0
        return attempt, retry.crashes(number, ended)

    async def admit(self, dependencies: tuple[Dependency, ...]) -> None:
        """Raise `CircuitOpen` when a dependency the job needs is down and no probe is due."""
        if self.breakers is not None:
            await self.breakers.hold(dependencies)

    def needs(self, job: Job | TriageRound) -> tuple[Dependency, ...]:
        if isinstance(job, TriageRound):
            return (self.github, self.model("triage"))
        return needs(job, self.github, self.model)

    async def retry(self, job_id: str, decision: Again | Wait, now: float) -> Retry:
        """Remember this run (a failure of the job's own, or a wait) and arq's `Retry` for it."""
        if self.states is not None:
            try:
                await self.states.deferred(
                    job_id, now=now, failed=isinstance(decision, Again), delay_s=decision.delay_s
                )
            except REDIS_DOWN as exc:
                log.warning("job=%s its retry state could not be saved (%s)", job_id, exc)
        if isinstance(decision, Wait) and self.breakers is not None:
            try:
                await self.breakers.note_waiting(decision.dependency, job_id, decision.delay_s)
            except REDIS_DOWN:
                pass
        return Retry(defer=decision.delay_s)

    async def handed_back(self, job_id: str) -> None:
        """The worker is stopping and arq hands the job back: not a crash."""
        if self.states is not None:
            try:
                await self.states.ended(job_id)
            except REDIS_DOWN:
                pass

    async def done(self, job_id: str, attempt: Attempt) -> None:
        """The job ended for good: its retry state goes (a first try never wrote one)."""
        if self.states is not None and attempt.number > 1:
            try:
                await self.states.clear(job_id)
            except REDIS_DOWN:
                pass


def crashed(count: int) -> GiveUp:
    return GiveUp(
        f"the worker running this job stopped {count} times before it ended (out of memory, or killed); not run again",
        permanent=True,
    )


def describe(decision: Decision) -> str:
    if isinstance(decision, Wait):
        return f"waiting {decision.delay_s:.1f}s"
    if isinstance(decision, Again):
        return f"retrying in {decision.delay_s:.1f}s"
    return "failed"
