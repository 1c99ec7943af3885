"""bot.core.operations.retry: the pure policy over hookwise's own errors (no SDK objects), and backoff."""

from __future__ import annotations

import random

import pytest

from bot.core.errors import InvalidAnswer, LockBusy, PermanentError, TransientError
from bot.core.operations.retry import (
    BASE_DELAY_S,
    MAX_DELAY_S,
    Permanent,
    Transient,
    backoff,
    classify,
)


def test_transient_errors_keep_their_reason_and_wait() -> None:
    assert classify(TransientError("GitHub 502", status=502)) == Transient("GitHub 502")
    assert classify(TransientError("GitHub rate limit (403)", retry_after_s=3.0)) == Transient(
        "GitHub rate limit (403)", 3.0
    )


def test_permanent_errors_keep_their_reason() -> None:
    assert classify(PermanentError("GitHub 404: Not Found", status=404)) == Permanent("GitHub 404: Not Found")


@pytest.mark.parametrize("exc", [TimeoutError(), ConnectionResetError(), ConnectionRefusedError()])
def test_timeouts_and_connection_errors_are_transient(exc: BaseException) -> None:
    assert isinstance(classify(exc), Transient)


def test_invalid_answer_is_permanent() -> None:
    verdict = classify(InvalidAnswer("overview: field required"))
    assert verdict == Permanent("overview: field required")


def test_lock_busy_waits_until_the_lock_may_have_expired() -> None:
    assert classify(LockBusy("k", 12.5)) == Transient("another worker is acting on this target", 12.5)


def test_waiting_for_a_lock_is_retried_like_any_transient_failure() -> None:
    from bot.core.operations.retry import Again, Attempt, decide

    assert isinstance(decide(LockBusy("k", 1), Attempt(40, failures=39, since=0.0), 100.0), Again)


@pytest.mark.parametrize("exc", [ValueError("x"), KeyError("k"), RuntimeError("boom")])
def test_anything_else_is_permanent_with_its_reason(exc: BaseException) -> None:
    verdict = classify(exc)
    assert isinstance(verdict, Permanent)
    assert type(exc).__name__ in verdict.reason


# -- backoff ---------------------------------------------------------------------------------------


def test_backoff_grows_and_is_capped() -> None:
    ceilings = []
    for job_try in range(1, 12):
        delays = [backoff(job_try, rng=random.Random(seed)) for seed in range(50)]
        ceiling = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (job_try - 1))
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays), job_try
        ceilings.append(max(delays))
    assert ceilings == sorted(ceilings)
    assert ceilings[0] <= BASE_DELAY_S
    assert max(ceilings) <= MAX_DELAY_S
    assert backoff(50, rng=random.Random(1)) <= MAX_DELAY_S
    assert backoff(1000, rng=random.Random(1)) <= MAX_DELAY_S


def test_backoff_of_a_huge_try_is_capped() -> None:
    assert backoff(10_000, rng=random.Random(1)) <= MAX_DELAY_S


def test_backoff_of_try_zero_is_like_the_first() -> None:
    assert backoff(0, rng=random.Random(3)) == backoff(1, rng=random.Random(3))


def test_backoff_jitter_is_reproducible_with_a_seed() -> None:
    first = [backoff(4, rng=random.Random(42)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    assert len({backoff(4, rng=random.Random(seed)) for seed in range(20)}) > 10  # it does jitter


def test_backoff_honours_a_larger_server_wait() -> None:
    assert backoff(1, 30.0, rng=random.Random(0)) == 30.0
    assert backoff(1, 121.0, rng=random.Random(0)) == 121.0


def test_backoff_ignores_a_smaller_server_wait() -> None:
    assert backoff(6, 0.5, rng=random.Random(0)) == backoff(6, rng=random.Random(0))


def test_backoff_caps_an_absurd_server_wait() -> None:
    assert backoff(1, 1e9, rng=random.Random(0)) == MAX_DELAY_S == 600
