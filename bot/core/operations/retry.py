"""Which failures are worth another try, when, and for how long. Pure: a function of hookwise's own
errors and of what the job went through so far (`Attempt`).

The bound is time, not tries: a transient failure (GitHub or the model unavailable, rate limited,
overloaded; a Redis blip) is retried with exponential backoff capped at 10 minutes for up to
`RETRY_FOR` (default 6 hours) from the job's first failure, then it is a dead letter. A permanent
failure fails once. While a dependency's circuit breaker is open (bot/core/operations/breaker.py) the job
waits for it (`Wait`): no failure of its own is counted, but the time still runs, so an outage
shorter than `RETRY_FOR` loses nothing and a longer one ends in dead letters a maintainer can
replay. arq retries only `Retry`, so the worker turns `Again` and `Wait` into one
(bot/worker/retrying.py). The adapters have already turned SDK exceptions into `TransientError` /
`PermanentError` (bot/core/errors.py); the only foreign errors left are the builtins a network
stack raises (timeouts, connection resets). The SDK's own retries are off (`max_retries=0`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.core.errors import CircuitOpen, PermanentError, TransientError, connection_problem

RETRY_FOR_S = 6 * 3600.0  # RETRY_FOR's default
MIN_RETRY_FOR_S = 60.0
MAX_RETRY_FOR_S = 3 * 86_400.0  # GitHub keeps a delivery (and lets it be redelivered) 3 days
BASE_DELAY_S = 2.0
MAX_DELAY_S = 600.0  # backoff is capped at 10 minutes, whatever a server asks for
WAIT_JITTER_S = 5.0  # jobs waiting on a breaker wake spread over this, not all at once
# A job whose worker died while running it this many times is a dead letter: something in it
# kills workers (memory, a crash), and running it again would take the next worker down too.
MAX_CRASHES = 3


@dataclass(frozen=True, slots=True)
class Transient:
    reason: str
    wait_s: float | None = None  # what the server asked for, if it said


@dataclass(frozen=True, slots=True)
class Permanent:
    reason: str


Verdict = Transient | Permanent


def classify(exc: BaseException) -> Verdict:
    if isinstance(exc, TransientError):
        return Transient(exc.reason, exc.retry_after_s)
    if isinstance(exc, PermanentError):
        return Permanent(exc.reason)
    if isinstance(exc, TimeoutError | ConnectionError):
        return Transient(connection_problem(exc))
    return Permanent(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True, slots=True)
class Attempt:
    """What a job went through before this run: arq's try number (every run counts, waits
    included), the transient failures of its own, and when it was first held up (its first
    failure or wait; None: never). `retry_for_s` is RETRY_FOR."""

    number: int = 1
    failures: int = 0
    since: float | None = None
    retry_for_s: float = RETRY_FOR_S
    base_s: float = BASE_DELAY_S

    def deadline(self, now: float) -> float:
        return (self.since if self.since is not None else now) + self.retry_for_s

    def final(self) -> Attempt:
        """An attempt whose time has run out: the next failure ends the job."""
        return Attempt(self.number, self.failures, self.since, 0.0, self.base_s)


@dataclass(frozen=True, slots=True)
class Again:
    """Try again in `delay_s`: a transient failure of this job (it counts)."""

    delay_s: float
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    """Wait `delay_s` for a dependency whose breaker is open; no failure of the job's own."""

    delay_s: float
    reason: str
    dependency: str


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The job fails for good: a permanent failure, or transient ones for longer than RETRY_FOR."""

    reason: str
    permanent: bool


Decision = Again | Wait | GiveUp


def backoff(
    failures: int, asked: float | None = None, *, rng: random.Random | None = None, base: float = BASE_DELAY_S
) -> float:
    """Exponential backoff with jitter after the `failures`-th failure, capped at 10 minutes; a
    server's own wait wins when it asked for longer (capped the same)."""
    ceiling = min(MAX_DELAY_S, base * 2 ** min(max(failures - 1, 0), 30))
    jittered = (rng or random).uniform(ceiling / 2, ceiling)
    return max(jittered, min(asked, MAX_DELAY_S)) if asked is not None else jittered


def wait_delay(wait_s: float, *, rng: random.Random | None = None) -> float:
    """How long a job waits on an open breaker: until its next probe may go, plus a spread so the
    jobs waiting on it do not all wake at once."""
    return max(wait_s, 0.0) + (rng or random).uniform(0.2, WAIT_JITTER_S)


def spent(since: float | None, retry_for_s: float) -> str:
    """`after 6h of retries`: what a dead letter says it waited."""
    return f"still failing after {duration_words(retry_for_s)} of retries" if since is not None else ""


def duration_words(seconds: float) -> str:
    whole = int(seconds)
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    if whole >= 3600:
        return f"{whole // 3600}h{whole % 3600 // 60}min"
    if whole >= 60:
        return f"{whole // 60}min{whole % 60}s"
    return f"{whole}s"


def decide(exc: BaseException, attempt: Attempt, now: float, *, rng: random.Random | None = None) -> Decision:
    """What to do about `exc`, raised by a job in `attempt`, at `now` (epoch seconds)."""
    verdict = classify(exc)
    if isinstance(verdict, Permanent):
        return GiveUp(verdict.reason, permanent=True)
    if now >= attempt.deadline(now):
        return GiveUp(f"{verdict.reason} ({spent(attempt.since or now, attempt.retry_for_s)})", permanent=False)
    if isinstance(exc, CircuitOpen):
        return Wait(wait_delay(exc.wait_s, rng=rng), verdict.reason, exc.dependency)
    return Again(backoff(attempt.failures + 1, verdict.wait_s, rng=rng, base=attempt.base_s), verdict.reason)


def ends_job(exc: BaseException, attempt: Attempt, now: float) -> bool:
    """Whether `exc` now fails the job for good (a handler's last word, e.g. a `confused` reaction)."""
    return isinstance(decide(exc, attempt, now), GiveUp)


def crashes(attempt_number: int, ended_runs: int) -> int:
    """Runs of a job that never ended: arq counts every start (`job_try`), the job counts every end."""
    return max(attempt_number - 1 - ended_runs, 0)
