"""Which failures are worth another try, and when. The policy is a pure function of the error.

arq retries only `Retry`, so every error is classified here explicitly. Transient: GitHub 5xx and
rate limits (403/429; `Retry-After` and `x-ratelimit-reset` are honoured), Anthropic 429/529/5xx,
timeouts and connection errors. Everything else is permanent and fails once, with its reason.
The SDK's own retries are off (`max_retries=0`) so that arq's tries are the one retry budget.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import anthropic
import gidgethub
from redis import exceptions as redis_errors

from bot.adapters.llm import InvalidAnswer

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


class LockBusy(Exception):
    """Another worker holds the target's lock; try again once it may have expired."""

    def __init__(self, key: str, remaining_s: float) -> None:
        super().__init__(key)
        self.remaining_s = remaining_s


def backoff(
    job_try: int, asked: float | None = None, *, rng: random.Random | None = None, base: float = BASE_DELAY_S
) -> float:
    """Exponential backoff with jitter; a server's own wait wins when it asked for longer."""
    ceiling = min(MAX_DELAY_S, base * 2 ** min(max(job_try - 1, 0), 30))
    jittered = (rng or random).uniform(ceiling / 2, ceiling)
    return max(jittered, min(asked, MAX_DELAY_S * 5)) if asked is not None else jittered


def _github_wait(headers: Mapping[str, str], now: float) -> float | None:
    if "retry-after" in headers:
        try:
            return max(float(headers["retry-after"]), 0.0)
        except ValueError:
            return None
    if headers.get("x-ratelimit-remaining") == "0" and "x-ratelimit-reset" in headers:
        try:
            return max(float(headers["x-ratelimit-reset"]) - now, 0.0) + 1.0
        except ValueError:
            return None
    return None


def classify(exc: BaseException, *, now: float | None = None) -> Verdict:
    now = time.time() if now is None else now
    if isinstance(exc, LockBusy):
        return Transient("another worker is acting on this target", exc.remaining_s)
    if isinstance(exc, gidgethub.GitHubBroken):
        return Transient(f"GitHub {int(exc.status_code)}")
    if isinstance(exc, gidgethub.HTTPException):
        headers = {key.lower(): value for key, value in exc.headers.items()}
        status = int(exc.status_code)
        wait = _github_wait(headers, now)
        if status == 429 or (status == 403 and (wait is not None or "rate limit" in str(exc).lower())):
            return Transient(f"GitHub rate limit ({status})", wait)
        return Permanent(f"GitHub {status}: {exc}")
    if isinstance(exc, anthropic.RateLimitError):
        # Enforced (workspace) and contract spend limits: waiting will not help.
        if str(getattr(exc, "error_code", "")).endswith("spend_limit_reached") or "spend limit" in str(exc).lower():
            return Permanent("Anthropic spend limit reached")
        return Transient("Anthropic rate limit (429)", _retry_after(exc.response.headers))
    if isinstance(exc, anthropic.InternalServerError):
        return Transient(f"Anthropic {exc.status_code}", _retry_after(exc.response.headers))
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return Transient(f"Redis unavailable: {type(exc).__name__}")
    if isinstance(exc, anthropic.APIConnectionError | aiohttp.ClientConnectionError | TimeoutError):
        return Transient(f"connection problem: {type(exc).__name__}")
    if isinstance(exc, anthropic.APIStatusError):
        return Permanent(f"Anthropic {exc.status_code}: {exc.message}")
    if isinstance(exc, InvalidAnswer):
        return Permanent(str(exc))
    if isinstance(exc, json.JSONDecodeError):
        return Permanent(f"unreadable answer from a service: {exc}")
    return Permanent(f"{type(exc).__name__}: {exc}")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def will_retry(exc: BaseException, job_try: int) -> Transient | None:
    """The verdict when `exc` on try `job_try` is worth another try, else None (the job fails)."""
    verdict = classify(exc)
    tries = LOCK_WAIT_TRIES if isinstance(exc, LockBusy) else MAX_TRIES
    return verdict if isinstance(verdict, Transient) and job_try < tries else None
