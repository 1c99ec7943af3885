"""A local server that answers the Messages API the way a local model server does (Ollama 0.14 and
later, llama.cpp's server), for tests and `python -m bot demo --provider compatible`.

As Ollama's Anthropic compatibility page documents, it:
- takes any API key (`x-api-key` or a bearer token: "required but ignored");
- ignores `cache_control` (nothing is cached, no cache tokens are reported) and `tool_choice`
  (a forced tool is answered as with `auto`); `strict` on a tool is ignored too.
It records what arrived, so a test can check that hookwise sent none of those, and it can be told to
behave like a small local model (`misbehave_next`, or `always`):
- `text-first`: some text before the tool call;
- `no-tool`: text only, no tool call at all;
- `no-usage`: an answer without `usage` (some servers send none).

The request, so stripped, is handed to the sandbox Anthropic, whose answer is sent back reshaped.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from aiohttp import web

from bot.sandbox.anthropic import AnthropicSandbox
from bot.sandbox.relay import JSON, Relay, start

MISBEHAVIOURS: Final = frozenset({"text-first", "no-tool", "no-usage"})
PREAMBLE: Final = "Let me look at this before I answer."
NO_TOOL_TEXT: Final = "I think this is a documentation issue."


class CompatibleSandbox:
    """A Messages-API-compatible server in front of `model`, already serving."""

    def __init__(self, model: AnthropicSandbox) -> None:
        self.relay = Relay(model)
        self.base_url = ""
        self.requests: list[JSON] = []  # as they arrived, before anything was ignored
        self._queued: deque[str] = deque()
        self.always: set[str] = set()

    def misbehave_next(self, *behaviours: str) -> None:
        """The next answers, one behaviour each, are those of a weaker model (see the module)."""
        for behaviour in behaviours:
            if behaviour not in MISBEHAVIOURS:
                raise ValueError(f"unknown behaviour {behaviour!r}; expected one of {sorted(MISBEHAVIOURS)}")
        self._queued.extend(behaviours)

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.cleanup_ctx.append(self.relay.session_ctx)
        app.router.add_post("/v1/messages", self._messages)
        return app

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            return _error(400, "invalid JSON")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object")
        self.requests.append(body)
        relayed = await self.relay.messages(_as_understood(body))
        if relayed.status != 200:
            return _error(relayed.status, relayed.error_message or "error", relayed.error_type)
        behaviours = set(self.always)
        if self._queued:
            behaviours.add(self._queued.popleft())
        return web.json_response(_reshaped(relayed.body, behaviours))

    # -- what tests read -------------------------------------------------------------------------

    def cache_marks_received(self) -> int:
        """How many `cache_control` marks arrived, in all requests."""
        return sum(_count_key(body, "cache_control") for body in self.requests)

    def forced_choices_received(self) -> int:
        return sum(1 for body in self.requests if (body.get("tool_choice") or {}).get("type") == "tool")

    def strict_tools_received(self) -> int:
        return sum(1 for body in self.requests for tool in body.get("tools") or [] if tool.get("strict"))


def _as_understood(body: JSON) -> JSON:
    """The request less what the server ignores: `tool_choice`, every `cache_control`, `strict`."""
    kept: JSON = _without_cache_control({key: value for key, value in body.items() if key != "tool_choice"})
    kept["tools"] = [{k: v for k, v in tool.items() if k != "strict"} for tool in kept.get("tools") or []]
    if not kept["tools"]:
        del kept["tools"]
    return kept


def _without_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_without_cache_control(item) for item in value]
    return value


def _count_key(value: Any, key: str) -> int:
    if isinstance(value, dict):
        return (key in value) + sum(_count_key(v, key) for v in value.values())
    if isinstance(value, list):
        return sum(_count_key(item, key) for item in value)
    return 0


def _reshaped(answer: JSON, behaviours: set[str]) -> JSON:
    answer = dict(answer)
    usage = dict(answer.get("usage") or {})
    usage.pop("cache_creation_input_tokens", None)  # a server without a cache reports none
    usage.pop("cache_read_input_tokens", None)
    answer["usage"] = usage
    if "text-first" in behaviours:
        answer["content"] = [{"type": "text", "text": PREAMBLE}, *answer["content"]]
    if "no-tool" in behaviours:
        answer["content"] = [{"type": "text", "text": NO_TOOL_TEXT}]
        answer["stop_reason"] = "end_turn"
    if "no-usage" in behaviours:
        answer.pop("usage", None)
    return answer


def _error(status: int, message: str, kind: str = "") -> web.Response:
    error = {"type": kind or "invalid_request_error", "message": message}
    return web.json_response({"type": "error", "error": error}, status=status)


async def start_sandbox(
    sandbox: CompatibleSandbox, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, str]:
    """Serve the compatible server in this event loop (its sandbox Anthropic must be serving)."""
    runner, sandbox.base_url = await start(sandbox.make_app(), host, port)
    return runner, sandbox.base_url
