"""Which failures are worth another try, and when. Pure: a function of hookwise's own errors.

arq retries only `Retry`, so the worker asks `will_retry` about every error. The adapters have
already turned SDK exceptions into `TransientError` / `PermanentError` (bot/core/errors.py); the
only foreign errors left are the builtins a network stack raises (timeouts, connection resets).
The SDK's own retries are off (`max_retries=0`) so that arq's tries are the one retry budget.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.core.errors import LockBusy, PermanentError, TransientError

MAX_TRIES = 5
# Waiting for another worker's lock on the same target is not a failure of this job: allow more.
LOCK_WAIT_TRIES = MAX_TRIES + 2
BASE_DELAY_S = 2.0
MAX_DELAY_S = 60.0


@dataclass(frozen=True, slots=True)
class Transient:
    reason: str
    wait_s: float | None = None  # what the server asked for, if it said


@dataclass(frozen=True, slots=True)
class Permanent:
    reason: str


Verdict = Transient | Permanent


def backoff(
    job_try: int, asked: float | None = None, *, rng: random.Random | None = None, base: float = BASE_DELAY_S
) -> float:
    """Exponential backoff with jitter; a server's own wait wins when it asked for longer."""
    ceiling = min(MAX_DELAY_S, base * 2 ** min(max(job_try - 1, 0), 30))
    jittered = (rng or random).uniform(ceiling / 2, ceiling)
    return max(jittered, min(asked, MAX_DELAY_S * 5)) if asked is not None else jittered


def classify(exc: BaseException) -> Verdict:
    if isinstance(exc, TransientError):
        return Transient(exc.reason, exc.retry_after_s)
    if isinstance(exc, PermanentError):
        return Permanent(exc.reason)
    if isinstance(exc, TimeoutError | ConnectionError):
        return Transient(f"connection problem: {type(exc).__name__}")
    return Permanent(f"{type(exc).__name__}: {exc}")


def will_retry(exc: BaseException, job_try: int) -> Transient | None:
    """The verdict when `exc` on try `job_try` is worth another try, else None (the job fails)."""
    verdict = classify(exc)
    tries = LOCK_WAIT_TRIES if isinstance(exc, LockBusy) else MAX_TRIES
    return verdict if isinstance(verdict, Transient) and job_try < tries else None
