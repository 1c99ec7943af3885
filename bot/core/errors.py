"""hookwise's own error types. The adapters translate their SDK's exceptions into these at the
edge (bot/adapters/), so the retry policy (bot/core/operations/retry.py) is a pure function of them.

Transient: worth another try, possibly after a wait the service asked for (GitHub 5xx and rate
limits, Anthropic 429/529/5xx, timeouts, a Redis blip, another worker holding the target's lock).
An `outage` is a transient failure of the service itself (5xx, overloaded, unreachable): it counts
toward that service's circuit breaker (bot/core/operations/breaker.py); a rate limit of one installation
does not. Permanent: fails once, with a reason a maintainer can read. Reasons name the service
and its host: `GitHub api.github.com: connection refused`, `Anthropic api.anthropic.com:
overloaded (529)`.
"""

from __future__ import annotations

import errno
import socket
import ssl

from bot.core.outcome import ModelUsage


class HookwiseError(Exception):
    """An error whose `reason` is the one line the job's record shows."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status  # the HTTP status behind it, when a service answered


class TransientError(HookwiseError):
    def __init__(
        self, reason: str, *, retry_after_s: float | None = None, status: int | None = None, outage: bool = False
    ) -> None:
        super().__init__(reason, status=status)
        self.retry_after_s = retry_after_s  # what the service asked for, if it said
        self.outage = outage  # the service itself is failing: counts toward its circuit breaker


class CircuitOpen(TransientError):
    """A dependency's circuit breaker is open: the call was not made. The job waits `wait_s` (until
    the next probe may go) without counting a failure of its own; `RETRY_FOR` still runs."""

    def __init__(self, reason: str, *, wait_s: float, dependency: str) -> None:
        super().__init__(reason, retry_after_s=wait_s)
        self.wait_s = wait_s
        self.dependency = dependency  # the breaker's key (bot/core/operations/breaker.py: Dependency.key)


class PermanentError(HookwiseError):
    pass


class LockBusy(TransientError):
    """Another worker holds the target's lock; try again once it may have expired. Waiting for a
    lock is not a failure of this job, so it gets more tries than one (see retry.LOCK_WAIT_TRIES)."""

    def __init__(self, key: str, remaining_s: float) -> None:
        super().__init__("another worker is acting on this target", retry_after_s=remaining_s)
        self.key = key
        self.remaining_s = remaining_s


class InvalidAnswer(PermanentError):
    """The model's answer still failed validation after one repair turn (or at once, for a
    question that allows one call only); `usage` is what the calls cost."""

    def __init__(self, reason: str, *, usage: ModelUsage | None = None) -> None:
        super().__init__(reason)
        self.usage = usage


class UnreadableJob(PermanentError):
    """A queued job this version cannot read (e.g. one queued by a much older version)."""


class BudgetExhausted(HookwiseError):
    """The installation has used its model tokens for the current UTC day (`MODEL_TOKENS_PER_DAY`).

    Neither transient nor permanent: the event is recorded as skipped for the budget, nothing is
    posted about it, and no model call is made (bot/worker/job.py)."""

    def __init__(self, installation_id: int, used: int, limit: int, day: str) -> None:
        super().__init__(budget_reason(used, limit, day))
        self.installation_id = installation_id
        self.used = used
        self.limit = limit
        self.day = day


BUDGET_SKIP_PREFIX = "skipped for the budget"


def budget_reason(used: int, limit: int, day: str) -> str:
    """The one line a record shows for an event skipped because the day's budget is used up."""
    return f"{BUDGET_SKIP_PREFIX}: {used:,} of {limit:,} model tokens used on {day} (UTC); resumes at 00:00 UTC"


class Refused(PermanentError):
    """The model ended its answer with `stop_reason: refusal`. Asking again gets the same, so this is
    never retried; `usage` is what the call cost."""

    def __init__(self, reason: str, *, usage: ModelUsage | None = None) -> None:
        super().__init__(reason)
        self.usage = usage


class AnswerCut(PermanentError):
    """The model's answer stopped at `max_tokens` (after one try with more room, where the question
    allowed it); `usage` is what the calls cost."""

    def __init__(self, reason: str, *, usage: ModelUsage | None = None) -> None:
        super().__init__(reason)
        self.usage = usage


def connection_problem(exc: BaseException) -> str:
    """A few words for why a connection failed, from the exception and the ones it was raised from
    (an SDK wraps the socket's error): `connection refused`, `timed out`, `host not found`..."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        words = _socket_words(current)
        if words:
            return words
        current = current.__cause__ or current.__context__
    return f"connection failed ({type(exc).__name__})"


def _socket_words(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "host unreachable"
    name = type(exc).__name__
    for marker, words in (
        ("Timeout", "timed out"),
        ("ServerDisconnected", "server disconnected"),
        ("RemoteProtocol", "server disconnected"),
        ("DNS", "host not found"),
    ):
        if marker in name:
            return words
    return ""
