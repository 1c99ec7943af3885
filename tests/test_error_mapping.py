"""Each adapter turns its SDK's real exceptions into hookwise's own errors at the edge: gidgethub's
and aiohttp's in bot/adapters/github.py, the anthropic SDK's in bot/adapters/llm.py. Checked with
exceptions the SDKs themselves build, through the pure retry policy (bot/core/operations/retry.py)."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import aiohttp
import anthropic
import gidgethub
import httpx2
import pytest
from gidgethub.sansio import decipher_response

from bot.adapters.github import github_error
from bot.adapters.llm import model_error
from bot.adapters.store.errors import store_error
from bot.core.errors import HookwiseError
from bot.core.operations.retry import Permanent, Transient, classify
from tests.helpers import API

NOW = 1_700_000_000.0


# -- GitHub ----------------------------------------------------------------------------------------


def _github_error(status: int, headers: dict[str, str], body: dict[str, Any]) -> gidgethub.HTTPException:
    """What gidgethub itself raises for this response."""
    headers = {"content-type": "application/json; charset=utf-8", **headers}
    with pytest.raises(gidgethub.HTTPException) as caught:
        decipher_response(status, headers, json.dumps(body).encode())
    return caught.value


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_github_5xx_is_transient(status: int) -> None:
    verdict = classify(github_error(gidgethub.GitHubBroken(HTTPStatus(status))))
    assert isinstance(verdict, Transient)
    assert str(status) in verdict.reason


def test_github_502_from_gidgethub_is_transient() -> None:
    exc = _github_error(502, {}, {"message": "Server Error"})
    assert isinstance(exc, gidgethub.GitHubBroken)
    assert isinstance(classify(github_error(exc)), Transient)


def test_secondary_rate_limit_with_retry_after() -> None:
    exc = gidgethub.BadRequest(
        HTTPStatus(403), "You have exceeded a secondary rate limit", headers={"retry-after": "3"}
    )
    assert classify(github_error(exc, now=NOW)) == Transient("GitHub api.github.com: rate limit (403)", 3.0)


def test_secondary_rate_limit_with_capitalised_retry_after() -> None:
    exc = gidgethub.BadRequest(HTTPStatus(403), "Forbidden", headers={"Retry-After": "60"})
    assert classify(github_error(exc, now=NOW)) == Transient("GitHub api.github.com: rate limit (403)", 60.0)


def test_secondary_rate_limit_from_gidgethub_without_retry_after() -> None:
    exc = _github_error(
        403,
        {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4990", "x-ratelimit-reset": str(int(NOW) + 600)},
        {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."},
    )
    verdict = classify(github_error(exc, now=NOW))
    assert isinstance(verdict, Transient)
    assert verdict.wait_s is None


def test_primary_rate_limit_waits_until_reset() -> None:
    exc = _github_error(
        403,
        {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)},
        {"message": "API rate limit exceeded for installation ID 461842."},
    )
    assert isinstance(exc, gidgethub.RateLimitExceeded)
    verdict = classify(github_error(exc, now=NOW))
    assert isinstance(verdict, Transient)
    assert verdict.wait_s == pytest.approx(121.0)


def test_primary_rate_limit_reset_in_the_past_waits_briefly() -> None:
    exc = gidgethub.BadRequest(
        HTTPStatus(403), headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 30)}
    )
    verdict = classify(github_error(exc, now=NOW))
    assert isinstance(verdict, Transient)
    assert verdict.wait_s is not None and 0 <= verdict.wait_s <= 2


def test_github_429_is_transient() -> None:
    verdict = classify(github_error(gidgethub.BadRequest(HTTPStatus(429), headers={"retry-after": "7"}), now=NOW))
    assert verdict == Transient("GitHub api.github.com: rate limit (429)", 7.0)


def test_unparseable_retry_after_is_still_transient() -> None:
    exc = gidgethub.BadRequest(HTTPStatus(429), headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    verdict = classify(github_error(exc, now=NOW))
    assert isinstance(verdict, Transient)
    assert verdict.wait_s is None


def test_recorded_404_is_permanent() -> None:
    meta = json.loads((API / "errors/pulls-get.404.meta.json").read_text())
    body = (API / "errors/pulls-get.404.json").read_bytes()
    with pytest.raises(gidgethub.BadRequest) as caught:
        decipher_response(meta["status"], meta["headers"], body)
    verdict = classify(github_error(caught.value, now=NOW))
    assert isinstance(verdict, Permanent)
    assert "404" in verdict.reason


def test_422_from_gidgethub_is_permanent() -> None:
    exc = _github_error(
        422,
        {},
        {"message": "Validation Failed", "errors": [{"resource": "Label", "code": "invalid", "field": "name"}]},
    )
    assert isinstance(exc, gidgethub.InvalidField)
    assert isinstance(classify(github_error(exc)), Permanent)


def test_403_without_rate_limit_is_permanent() -> None:
    exc = _github_error(
        403,
        {"x-ratelimit-remaining": "4999", "x-ratelimit-reset": str(int(NOW) + 600)},
        {"message": "Resource not accessible by integration"},
    )
    verdict = classify(github_error(exc, now=NOW))
    assert isinstance(verdict, Permanent)
    assert "403" in verdict.reason


@pytest.mark.parametrize("status", [401, 404, 410, 422])
def test_other_4xx_are_permanent(status: int) -> None:
    assert isinstance(classify(github_error(gidgethub.BadRequest(HTTPStatus(status)))), Permanent)


# -- Anthropic -------------------------------------------------------------------------------------


def _response(status: int, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(
        status, headers=headers, request=httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    )


def _error_body(kind: str, message: str, error_code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if error_code:
        error["details"] = {"error_code": error_code}
    return {"type": "error", "error": error}


def _anthropic(
    cls: type[anthropic.APIStatusError], status: int, body: dict[str, Any] | None, headers: dict[str, str] | None = None
) -> anthropic.APIStatusError:
    """Built the way the SDK builds them: message `Error code: N - <body>`."""
    return cls(f"Error code: {status} - {body}", response=_response(status, headers), body=body)


def test_anthropic_429_is_transient() -> None:
    exc = anthropic.RateLimitError("rate limited", response=_response(429), body=None)
    verdict = classify(model_error(exc))
    assert isinstance(verdict, Transient)
    assert verdict.wait_s is None


def test_anthropic_429_honours_retry_after() -> None:
    body = _error_body("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
    exc = _anthropic(anthropic.RateLimitError, 429, body, {"retry-after": "12"})
    assert classify(model_error(exc)) == Transient("Anthropic api.anthropic.com: rate limit (429)", 12.0)


def test_anthropic_retry_after_ms_wins() -> None:
    exc = _anthropic(anthropic.RateLimitError, 429, None, {"retry-after": "12", "retry-after-ms": "1500"})
    verdict = classify(model_error(exc))
    assert isinstance(verdict, Transient)
    assert verdict.wait_s == pytest.approx(1.5)


def test_enforced_spend_limit_is_permanent() -> None:
    body = _error_body(
        "rate_limit_error",
        "Your organization has reached its usage threshold for this tier.",
        "enforced_spend_limit_reached",
    )
    exc = _anthropic(anthropic.EnforcedSpendLimitReachedError, 429, body)
    assert isinstance(exc, anthropic.RateLimitError)
    assert exc.error_code == "enforced_spend_limit_reached"
    assert classify(model_error(exc)) == Permanent("Anthropic api.anthropic.com: spend limit reached")


def test_spend_limit_code_on_a_plain_rate_limit_error_is_permanent() -> None:
    body = _error_body("rate_limit_error", "Usage threshold reached.", "enforced_spend_limit_reached")
    exc = anthropic.RateLimitError("Usage threshold reached.", response=_response(429), body=body)
    assert isinstance(classify(model_error(exc)), Permanent)


def test_spend_limit_in_the_message_is_permanent() -> None:
    exc = anthropic.RateLimitError("You have reached your spend limit.", response=_response(429), body=None)
    assert isinstance(classify(model_error(exc)), Permanent)


def test_contract_spend_limit_is_permanent() -> None:
    body = _error_body("rate_limit_error", "Contract usage cap reached.", "contract_spend_limit_reached")
    exc = _anthropic(anthropic.ContractSpendLimitReachedError, 429, body)
    assert isinstance(exc, anthropic.RateLimitError)
    assert isinstance(classify(model_error(exc)), Permanent)


def test_overloaded_529_is_transient() -> None:
    exc = _anthropic(anthropic.OverloadedError, 529, _error_body("overloaded_error", "Overloaded"))
    verdict = classify(model_error(exc))
    assert isinstance(verdict, Transient)
    assert "529" in verdict.reason


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_anthropic_5xx_is_transient(status: int) -> None:
    exc = _anthropic(anthropic.InternalServerError, status, _error_body("api_error", "Internal server error"))
    assert isinstance(classify(model_error(exc)), Transient)


@pytest.mark.parametrize(
    ("cls", "status", "kind"),
    [
        (anthropic.BadRequestError, 400, "invalid_request_error"),
        (anthropic.AuthenticationError, 401, "authentication_error"),
        (anthropic.PermissionDeniedError, 403, "permission_error"),
        (anthropic.NotFoundError, 404, "not_found_error"),
        (anthropic.ContentTooLargeError, 413, "request_too_large"),
    ],
)
def test_anthropic_4xx_are_permanent(cls: type[anthropic.APIStatusError], status: int, kind: str) -> None:
    verdict = classify(model_error(_anthropic(cls, status, _error_body(kind, "nope"))))
    assert isinstance(verdict, Permanent)
    assert str(status) in verdict.reason


def test_anthropic_connection_and_timeout_errors_are_transient() -> None:
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages")
    assert isinstance(classify(model_error(anthropic.APIConnectionError(request=request))), Transient)
    assert isinstance(classify(model_error(anthropic.APITimeoutError(request=request))), Transient)


@pytest.mark.parametrize("exc", [aiohttp.ServerDisconnectedError(), aiohttp.ClientConnectionError("reset")])
def test_connection_errors_talking_to_github_are_transient(exc: BaseException) -> None:
    assert isinstance(classify(github_error(exc)), Transient)


def test_unreadable_json_from_github_is_permanent() -> None:
    try:
        json.loads("{not json")
    except json.JSONDecodeError as exc:
        assert isinstance(classify(github_error(exc)), Permanent)


def test_redis_going_away_inside_a_job_is_transient() -> None:
    from redis import exceptions as redis_errors

    for exc in (redis_errors.ConnectionError("gone"), redis_errors.TimeoutError("slow")):
        error = store_error(exc)
        assert isinstance(error, HookwiseError)
        assert classify(error) == Transient(f"Redis unavailable: {type(exc).__name__}")


def test_what_an_adapter_does_not_know_leaves_it_unchanged() -> None:
    other = ValueError("x")
    assert github_error(other) is other and model_error(other) is other and store_error(other) is other


def test_backoff_with_a_github_wait() -> None:
    import random

    from bot.core.operations.retry import backoff

    exc = gidgethub.BadRequest(HTTPStatus(403), "secondary rate limit", headers={"retry-after": "45"})
    verdict = classify(github_error(exc, now=NOW))
    assert isinstance(verdict, Transient)
    assert backoff(1, verdict.wait_s, rng=random.Random(7)) == 45.0
