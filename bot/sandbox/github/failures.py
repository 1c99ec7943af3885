"""Failure injection for the sandbox GitHub: canned 5xx, rate limits and lost answers, so the
bot's retry paths run against real status codes and headers."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web

from bot.sandbox.github.state import (
    DOCS,
    JSON_CT,
    RATE_LIMIT,
    SECONDARY_RATE_LIMIT_MESSAGE,
    JSONDict,
    SandboxState,
    _now,
)


@dataclass
class Injected:
    """One canned answer for :meth:`GitHubSandbox.fail_next`.

    ``apply=True`` performs the real effect first and then answers with this failure, which is how
    a write that GitHub applied but whose answer was lost looks to the client.
    """

    status: int
    body: JSONDict | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    apply: bool = False

    @classmethod
    def server_error(cls, status: int = 502, *, apply: bool = False) -> Injected:
        """A GitHub 5xx, as seen during incidents (gidgethub raises GitHubBroken)."""
        return cls(status, {"message": "Server Error"}, apply=apply)

    @classmethod
    def secondary_rate_limit(cls, retry_after: int = 1, *, apply: bool = False) -> Injected:
        """403 with ``Retry-After``; the primary limit still has room, as on GitHub."""
        return cls(
            403,
            {
                "message": SECONDARY_RATE_LIMIT_MESSAGE.format(request_id="0000:0000"),
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
            },
            {"retry-after": str(retry_after)},
            apply,
        )

    @classmethod
    def primary_rate_limit(cls, reset_in: int = 1, *, apply: bool = False) -> Injected:
        """403 with ``x-ratelimit-remaining: 0`` (gidgethub raises RateLimitExceeded)."""
        return cls(
            403,
            {
                "message": "API rate limit exceeded for installation ID 1.",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
            },
            {
                "x-ratelimit-remaining": "0",
                "x-ratelimit-used": str(RATE_LIMIT),
                "x-ratelimit-reset": str(int(time.time()) + reset_in),
            },
            apply,
        )

    @classmethod
    def not_found(cls, *, apply: bool = False) -> Injected:
        return cls(404, {"message": "Not Found", "documentation_url": DOCS}, apply=apply)


@dataclass
class Pause:
    """A request held before GitHub acts on it (see :meth:`GitHubSandbox.pause_next`): ``arrived``
    is set when it comes; it waits for ``release``. If its client has gone by then (a worker killed
    meanwhile) nothing is applied, as when a request never reached GitHub."""

    method: str
    pattern: re.Pattern[str]
    after: int = 0  # matching requests let through before the one held
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    responses: list[Injected]


class FailureInjection(SandboxState):
    def fail_next(self, method: str, path_regex: str, *responses: Injected) -> None:
        """Answer the next matching requests (``re.search`` on the path) with ``responses``."""
        self._injections.append(_Injection(method.upper(), re.compile(path_regex), list(responses)))

    def pause_next(self, method: str, path_regex: str, *, after: int = 0) -> Pause:
        """Hold a matching request (``re.search`` on the path) until ``release`` is set: the next
        one, or the one after `after` more have gone through."""
        pause = Pause(method.upper(), re.compile(path_regex), after)
        self._pauses.append(pause)
        return pause

    def _take_pause(self, method: str, path: str) -> Pause | None:
        for pause in self._pauses:
            if pause.method in (method, "*") and pause.pattern.search(path):
                if pause.after > 0:
                    pause.after -= 1
                    return None
                self._pauses.remove(pause)
                return pause
        return None

    def _take_injection(self, method: str, path: str) -> Injected | None:
        for inj in self._injections:
            if inj.method in (method, "*") and inj.pattern.search(path) and inj.responses:
                answer = inj.responses.pop(0)
                if not inj.responses:
                    self._injections.remove(inj)
                return answer
        return None

    def expire_tokens(self, installation_id: int | None = None) -> None:
        """Expire issued installation tokens now, to test the client's refresh path."""
        past = _now() - timedelta(seconds=1)
        for token, (inst, _) in list(self._tokens.items()):
            if installation_id is None or inst == installation_id:
                self._tokens[token] = (inst, past)

    def _injected_response(self, injected: Injected, request_id: str) -> web.Response:
        if isinstance(injected.body, str):
            body = injected.body.replace("0000:0000", request_id)
            resp = web.Response(status=injected.status, text=body, content_type="text/plain")
        elif injected.body is None:
            resp = web.Response(status=injected.status)
        else:
            text = json.dumps(injected.body).replace("0000:0000", request_id)
            resp = web.Response(status=injected.status, text=text)
            resp.headers["content-type"] = JSON_CT
        resp.headers["x-sandbox-injected"] = "1"
        for name, value in injected.headers.items():
            resp.headers[name] = value
        return resp
