"""Circuit breakers, one per dependency (the GitHub API host; the model provider and model). Pure:
the state and its transitions; bot/adapters/store/breakers.py keeps the state in Redis, shared by
every worker, and bot/adapters/guard.py puts it around every call.

- closed: calls go. Each outage failure (bot/core/errors.py: `TransientError.outage`) counts; a
  success resets the count. `OPEN_AFTER` failures in a row (none older than `FAILURE_WINDOW_S`
  before the next) open it.
- open: no call goes, except one probe at a time once `probe_at` has come (a lease in Redis makes
  it one across every worker). Jobs that need the dependency wait (bot/core/operations/retry.py: `Wait`)
  without counting a failure. A failed probe sets the next probe `PROBE_INTERVAL_S` later (or
  later still when the service asked for a longer wait); a probe that succeeds closes it.

So while a service is down it gets at most one request per `PROBE_INTERVAL_S` from the whole
deployment, and once it is back the jobs waiting on it run within seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

OPEN_AFTER = 5
FAILURE_WINDOW_S = 120.0
PROBE_INTERVAL_S = 15.0
MAX_PROBE_INTERVAL_S = 300.0
ERROR_CHARS = 200


@dataclass(frozen=True, slots=True)
class Dependency:
    """A service hookwise calls: `key` names its breaker (in Redis keys: no spaces), `label` is
    what people read (`GitHub api.github.com`, `Anthropic claude-haiku-5-5 at api.anthropic.com`)."""

    key: str
    label: str
    host: str = ""


def host_of(url: str) -> str:
    """`api.github.com` for `https://api.github.com`, `127.0.0.1:4000` for a sandbox's URL."""
    parts = urlsplit(url)
    return parts.netloc or parts.path or url


def github_dependency(api_url: str) -> Dependency:
    host = host_of(api_url)
    return Dependency(f"github:{host}", f"GitHub {host}", host)


SERVICES = {"anthropic": "Anthropic", "bedrock": "Amazon Bedrock", "vertex": "Google Vertex AI"}


def service_name(provider: str) -> str:
    """How errors and the status page name a model provider (`MODEL_PROVIDER`)."""
    return SERVICES.get(provider, "Model server")


def model_dependency(provider: str, host: str, model: str) -> Dependency:
    """One breaker per provider and model: one model overloaded says nothing about another."""
    return Dependency(f"model:{provider}:{host}:{model}", f"{service_name(provider)} {model} at {host}", host)


ANTHROPIC_API = "https://api.anthropic.com"


def model_breaker(base_url: str | None, model: str, provider: str = "anthropic") -> Dependency:
    """The breaker of `model` as this deployment reaches it (its provider's endpoint: a base URL,
    or the Claude API's own)."""
    return model_dependency(provider, host_of(base_url or ANTHROPIC_API), model)


@dataclass(frozen=True, slots=True)
class BreakerState:
    failures: int = 0  # outage failures in a row
    last_failure_at: float = 0.0
    opened_at: float | None = None  # None: closed
    probe_at: float = 0.0  # while open: when the next probe may go
    last_error: str = ""
    label: str = ""

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    @property
    def clean(self) -> bool:
        """Closed with no failure counted: a success changes nothing (no write needed)."""
        return self.opened_at is None and self.failures == 0

    def to_fields(self) -> dict[str, str]:
        return {
            "failures": str(self.failures),
            "last_failure_at": repr(self.last_failure_at),
            "opened_at": "" if self.opened_at is None else repr(self.opened_at),
            "probe_at": repr(self.probe_at),
            "last_error": self.last_error,
            "label": self.label,
        }

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> BreakerState:
        def number(name: str) -> float:
            try:
                return float(fields.get(name) or 0)
            except ValueError:
                return 0.0

        opened = fields.get("opened_at") or ""
        return cls(
            failures=int(number("failures")),
            last_failure_at=number("last_failure_at"),
            opened_at=number("opened_at") if opened else None,
            probe_at=number("probe_at"),
            last_error=fields.get("last_error", ""),
            label=fields.get("label", ""),
        )


def probe_interval(asked_s: float | None, interval_s: float = PROBE_INTERVAL_S) -> float:
    """The wait before the next probe: the service's own wait when it asked for longer."""
    return min(max(interval_s, asked_s or 0.0), MAX_PROBE_INTERVAL_S)


def after_failure(
    state: BreakerState,
    now: float,
    reason: str,
    *,
    asked_s: float | None = None,
    interval_s: float = PROBE_INTERVAL_S,
) -> BreakerState:
    """One outage failure (a probe's, or a call's while closed)."""
    recent = state.failures if now - state.last_failure_at <= FAILURE_WINDOW_S else 0
    failures = recent + 1
    error = reason[:ERROR_CHARS]
    if state.is_open or failures >= OPEN_AFTER:
        opened = state.opened_at if state.opened_at is not None else now
        return replace(
            state, failures=failures, last_failure_at=now, opened_at=opened,
            probe_at=now + probe_interval(asked_s, interval_s), last_error=error,
        )  # fmt: skip
    return replace(state, failures=failures, last_failure_at=now, last_error=error)


def after_success(state: BreakerState) -> BreakerState:
    """The service answered: closed, nothing counted (the last error stays, for the status page)."""
    return replace(state, failures=0, opened_at=None, probe_at=0.0)


class Admit(enum.Enum):
    GO = "go"  # closed: call
    PROBE = "probe"  # open and a probe is due: call if this one takes the probe lease
    WAIT = "wait"  # open and the next probe is not due yet


def admit(state: BreakerState, now: float) -> Admit:
    if not state.is_open:
        return Admit.GO
    return Admit.PROBE if now >= state.probe_at else Admit.WAIT


def waiting_reason(state: BreakerState, label: str) -> str:
    """What a waiting job's record says."""
    cause = f" ({state.last_error})" if state.last_error else ""
    return f"waiting for {label} to recover: circuit open{cause}"
