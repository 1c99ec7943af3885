"""What the provider sandboxes share: each speaks one provider's wire format (its URL, its body,
its authentication, its error shape), checks it, and hands the request on, as a plain Messages API
request, to an `AnthropicSandbox` already serving, whose answer it sends back in its own shape.

So the sandbox Anthropic's answering (responders, labellers, injected failures, prompt-cache
accounting) is the one answering for every provider, and each provider's own checks live in its
own module (bot/sandbox/bedrock.py, vertex.py, compatible.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.sandbox.anthropic import AnthropicSandbox

JSON = dict[str, Any]
ANTHROPIC_VERSION = "2023-06-01"
_DATED_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def accepted_version(value: object, platform_version: str) -> bool:
    """The body's `anthropic_version` as a platform accepts it: its own documented value
    (`bedrock-2023-05-31`, `vertex-2023-10-16`) or a dated API version, which the SDK sends."""
    return isinstance(value, str) and (value == platform_version or _DATED_VERSION.match(value) is not None)


@dataclass
class Relayed:
    """The sandbox Anthropic's answer to a relayed request."""

    status: int
    body: JSON
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error_message(self) -> str:
        error = self.body.get("error")
        return str(error.get("message", "")) if isinstance(error, dict) else ""

    @property
    def error_type(self) -> str:
        error = self.body.get("error")
        return str(error.get("type", "")) if isinstance(error, dict) else ""


class Relay:
    """Hands Messages API requests to `model` (which must be serving) over one client session."""

    def __init__(self, model: AnthropicSandbox) -> None:
        self.model = model
        self._session: aiohttp.ClientSession | None = None

    async def session_ctx(self, _app: web.Application) -> AsyncIterator[None]:
        """An aiohttp `cleanup_ctx`: the session lives as long as the provider sandbox's app."""
        self._session = aiohttp.ClientSession()
        yield
        await self._session.close()
        self._session = None

    async def messages(self, body: JSON, path: str = "/v1/messages") -> Relayed:
        if self._session is None:
            raise RuntimeError("the relay's app is not running")
        headers = {"x-api-key": self.model.api_key, "anthropic-version": ANTHROPIC_VERSION}
        async with self._session.post(f"{self.model.base_url}{path}", json=body, headers=headers) as response:
            text = await response.text()
            try:
                answer = json.loads(text)
            except ValueError:
                answer = {"unreadable": text}
            kept = {k: v for k, v in response.headers.items() if k.lower().startswith(("retry-after", "request-id"))}
            return Relayed(response.status, answer if isinstance(answer, dict) else {"answer": answer}, kept)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def start(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve `app` in this event loop; the caller owns the runner and must clean it up."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner, f"http://{host}:{runner.addresses[0][1]}"
