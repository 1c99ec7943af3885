"""The pure decisions of riding out an outage (bot/core/operations/): the time-bound retry policy
(retry.py), the circuit breaker's transitions (breaker.py) and where a job waits (scheduling.py)."""

from __future__ import annotations

import random

import pytest

from bot.core.errors import CircuitOpen, PermanentError, TransientError, connection_problem
from bot.core.operations import breaker
from bot.core.operations.breaker import Admit, BreakerState, github_dependency, model_breaker
from bot.core.operations.retry import (
    MAX_DELAY_S,
    RETRY_FOR_S,
    WAIT_JITTER_S,
    Again,
    Attempt,
    GiveUp,
    Wait,
    crashes,
    decide,
    duration_words,
    ends_job,
)
from bot.core.operations.scheduling import Lane, lane, needs
from tests.helpers import command_job, summary_job, triage_job

NOW = 1_700_000_000.0
RNG = random.Random(7)


# -- the retry policy: time, not tries ---------------------------------------------------------------


def test_a_transient_failure_is_retried_with_backoff_until_retry_for_has_passed() -> None:
    outage = TransientError("GitHub api.github.com: server error (503)", outage=True)
    first = decide(outage, Attempt(1), NOW, rng=RNG)
    assert isinstance(first, Again) and first.delay_s <= 2.0
    # The fiftieth try, an hour after the first failure: still retried, backoff capped at 10 minutes.
    later = decide(outage, Attempt(50, failures=49, since=NOW - 3600), NOW, rng=RNG)
    assert isinstance(later, Again) and MAX_DELAY_S / 2 <= later.delay_s <= MAX_DELAY_S
    # Six hours after the first failure: a dead letter that says why.
    done = decide(outage, Attempt(80, failures=79, since=NOW - RETRY_FOR_S), NOW, rng=RNG)
    assert done == GiveUp(
        "GitHub api.github.com: server error (503) (still failing after 6h of retries)", permanent=False
    )


def test_retry_for_is_counted_from_the_first_failure_not_from_acceptance() -> None:
    outage = TransientError("x", outage=True)
    assert isinstance(decide(outage, Attempt(2, failures=1, since=NOW - 60, retry_for_s=120), NOW), Again)
    assert isinstance(decide(outage, Attempt(2, failures=1, since=NOW - 121, retry_for_s=120), NOW), GiveUp)
    assert isinstance(decide(outage, Attempt(1, retry_for_s=120), NOW), Again)  # no failure yet: the clock starts


def test_a_permanent_failure_fails_once() -> None:
    assert decide(PermanentError("GitHub api.github.com: 404 Not Found"), Attempt(1), NOW) == GiveUp(
        "GitHub api.github.com: 404 Not Found", permanent=True
    )
    assert decide(ValueError("bug"), Attempt(1), NOW) == GiveUp("ValueError: bug", permanent=True)


def test_an_open_breaker_is_waited_for_without_counting_a_failure() -> None:
    open_ = CircuitOpen("waiting for GitHub api.github.com", wait_s=12.0, dependency="github:api.github.com")
    waited = decide(open_, Attempt(30, failures=2, since=NOW - 100), NOW, rng=RNG)
    assert isinstance(waited, Wait) and waited.dependency == "github:api.github.com"
    assert 12.0 < waited.delay_s <= 12.0 + WAIT_JITTER_S  # until the probe, spread
    # ... but the time still runs: past RETRY_FOR the wait ends in a dead letter.
    assert isinstance(decide(open_, Attempt(900, since=NOW - RETRY_FOR_S - 1), NOW), GiveUp)


def test_a_server_asking_for_longer_gets_it_within_the_cap() -> None:
    limited = TransientError("GitHub api.github.com: rate limit (403)", retry_after_s=2400)
    decision = decide(limited, Attempt(1), NOW, rng=RNG)
    assert isinstance(decision, Again) and decision.delay_s == MAX_DELAY_S


def test_ends_job_says_whether_a_failure_is_the_last_one() -> None:
    outage = TransientError("x", outage=True)
    assert not ends_job(outage, Attempt(3, since=NOW), NOW)
    assert ends_job(outage, Attempt(3, since=NOW).final(), NOW)
    assert ends_job(PermanentError("no"), Attempt(1), NOW)


def test_runs_that_never_ended_are_crashes() -> None:
    assert crashes(1, 0) == 0
    assert crashes(4, 3) == 0  # three deferrals, this is the fourth run
    assert crashes(4, 0) == 3  # three runs started and never ended: their workers died


@pytest.mark.parametrize(("seconds", "words"), [(21600, "6h"), (90, "1min30s"), (5400, "90min"), (2, "2s")])
def test_durations_in_words(seconds: float, words: str) -> None:
    assert duration_words(seconds) == words


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (ConnectionRefusedError(111, "refused"), "connection refused"),
        (TimeoutError(), "timed out"),
        (ConnectionResetError(), "connection reset"),
    ],
)
def test_connection_problems_in_a_few_words(exc: BaseException, words: str) -> None:
    assert connection_problem(exc) == words
    wrapped = RuntimeError("sdk")
    wrapped.__cause__ = exc
    assert connection_problem(wrapped) == words  # an SDK's error raised from the socket's


# -- the breaker ------------------------------------------------------------------------------------


def test_five_outage_failures_in_a_row_open_the_breaker_and_a_success_closes_it() -> None:
    state = BreakerState()
    for i in range(breaker.OPEN_AFTER - 1):
        state = breaker.after_failure(state, NOW + i, "Anthropic api.anthropic.com: overloaded (529)")
        assert not state.is_open
    state = breaker.after_failure(state, NOW + 5, "Anthropic api.anthropic.com: overloaded (529)")
    assert state.is_open and state.opened_at == NOW + 5 and state.probe_at == NOW + 5 + breaker.PROBE_INTERVAL_S
    assert breaker.admit(state, NOW + 6) is Admit.WAIT
    assert breaker.admit(state, state.probe_at) is Admit.PROBE
    probe_failed = breaker.after_failure(state, NOW + 21, "still 529")
    assert probe_failed.opened_at == NOW + 5 and probe_failed.probe_at == NOW + 21 + breaker.PROBE_INTERVAL_S
    closed = breaker.after_success(probe_failed)
    assert not closed.is_open and closed.failures == 0 and breaker.admit(closed, NOW + 22) is Admit.GO
    assert closed.last_error == "still 529"  # kept for the status page


def test_failures_spread_far_apart_do_not_open_it() -> None:
    state = BreakerState()
    for i in range(10):
        state = breaker.after_failure(state, NOW + i * (breaker.FAILURE_WINDOW_S + 1), "blip")
    assert not state.is_open and state.failures == 1


def test_a_long_wait_asked_for_spaces_the_probes_within_a_cap() -> None:
    state = BreakerState(failures=4, last_failure_at=NOW)
    opened = breaker.after_failure(state, NOW, "rate limit", asked_s=60)
    assert opened.probe_at == NOW + 60
    capped = breaker.after_failure(state, NOW, "rate limit", asked_s=10_000)
    assert capped.probe_at == NOW + breaker.MAX_PROBE_INTERVAL_S


def test_the_state_survives_its_redis_fields() -> None:
    state = BreakerState(3, NOW, NOW - 10, NOW + 5, "GitHub x: server error (503)", "GitHub x")
    assert BreakerState.from_fields(state.to_fields()) == state
    assert BreakerState.from_fields({}) == BreakerState()


def test_dependencies_name_the_service_and_host() -> None:
    assert github_dependency("https://api.github.com") == breaker.Dependency(
        "github:api.github.com", "GitHub api.github.com", "api.github.com"
    )
    assert github_dependency("https://ghe.example.com/api/v3").label == "GitHub ghe.example.com"
    model = model_breaker(None, "claude-haiku-5-5")
    assert (model.key, model.label) == (
        "model:anthropic:api.anthropic.com:claude-haiku-5-5",
        "Anthropic claude-haiku-5-5 at api.anthropic.com",
    )
    assert "/" not in model.key  # no dependency key looks like a repository name (bot/core/operations/forget.py)


# -- where a job waits, and what it needs ------------------------------------------------------------


def test_a_maintainers_command_has_its_own_lane() -> None:
    assert lane(command_job("c", "@hookwise summarize")) is Lane.COMMAND
    assert lane(summary_job("s")) is Lane.BULK
    assert lane(triage_job("t")) is Lane.BULK


def test_what_each_job_needs_before_it_starts() -> None:
    github = github_dependency("https://api.github.com")

    def model(task: str) -> breaker.Dependency:
        return model_breaker(None, f"model-of-{task}")

    assert needs(summary_job("s"), github, model) == (github, model("summary"))
    assert needs(triage_job("t"), github, model) == (github,)  # its batch round asks the model
    assert needs(command_job("c", "@hookwise help"), github, model) == (github,)
