"""A local server that speaks Anthropic's Messages API, for tests and ``python -m bot demo``.

The bot talks to it through the real ``anthropic`` SDK, so the SDK's own request building,
retry policy (``retry-after-ms``, ``x-should-retry``), error mapping and response parsing all run
over a real socket. Answers are deterministic: forced tool calls are filled in from the tool's
JSON schema (or by ``AnthropicSandbox.responder``), and failures are injected on demand.

Like the real API it also:

- reports prompt caching: a request whose `tools`/`system`/`messages` carry `cache_control` on a
  prefix at least the model's minimum cacheable length gets `cache_creation_input_tokens` the
  first time and `cache_read_input_tokens` afterwards (5 minutes, refreshed by each read). As on
  the real API, an entry becomes readable only once the response that wrote it has been sent, so
  requests sent in parallel before the first one answers all write;
- refuses a forced `tool_choice` (``{"type": "tool"}``) with a 400 for the models whose docs say
  they do not support it (`NO_FORCED_TOOL_CHOICE`);
- answers a batched triage call (tool ``label_issues``) per issue: each item's labels come from
  that issue's own text in the user turn (``labeller``), so a test can tell whether an issue got
  another issue's labels;
- refuses a strict tool (``strict: true``) whose schema uses what constrained decoding does not
  support (numeric, string-length and array bounds), and constrains a strict tool's answer to its
  schema (label names only from the enum, in its spelling).

It also answers badly on purpose, in the modes of bot/sandbox/misbehaviour.py (``set_mode``):
``realistic`` (seeded: invented and mis-cased labels, a missing, a stranger and a repeated item, a
cut answer, a 529) and ``worst-case`` (obeys every instruction an issue gives it); ``refuse_text``
makes it refuse any prompt whose issues contain that text; ``ignore_cache_control`` makes it ignore
cache marks, like a compatible server that has no prompt cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from aiohttp import web

from bot.core.costs.pricing import match_model
from bot.core.model.caching import cache_minimum
from bot.sandbox.misbehaviour import (
    DEFAULT_SEED,
    OVERLOADED_REQUEST,
    Mode,
    Realistic,
    constrain_labels,
    obey,
    orders,
)

JSON = dict[str, Any]
Failure = str | int
Responder = Callable[[JSON], JSON]
Labeller = Callable[[str, Sequence[str]], list[str]]  # (one issue's text, the label enum) -> labels

FAILURES: Final[frozenset[Failure]] = frozenset(
    {429, 529, 500, 400, "garbage-tool", "garbage-json", "spend-limit", "no-tool-call", "max-tokens", "refusal"}
)
"""Every value ``fail_next`` and ``always_fail`` accept (``no-tool-call``: a text answer only;
``max-tokens``: the answer stops at max_tokens, half written; ``refusal``: `stop_reason: refusal`)."""
_ANSWERED_FAILURES: Final = frozenset({"garbage-tool", "garbage-json", "no-tool-call", "max-tokens", "refusal"})
# What strict tools refuse in a schema (the structured-outputs page's "JSON Schema limitations").
_STRICT_UNSUPPORTED: Final = frozenset(
    {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "maxItems"}
)

# Models that answer a forced tool_choice with a 400, per Anthropic's tool-use docs.
NO_FORCED_TOOL_CHOICE: Final = (
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-fable-5-1",
    "claude-mythos-5-1",
    "claude-mythos-preview",
)
CACHE_TTL_S: Final = 300.0
BATCH_TOOL: Final = "label_issues"
_BATCH_ISSUE = re.compile(
    r'Issue (\d+):\n<untrusted name="issue \1 title">(.*?)</untrusted>\n'
    r'<untrusted name="issue \1 body">(.*?)</untrusted>',
    re.S,
)

_EXAMPLE = re.compile(r'<untrusted name="example [a-z]+">.*?</untrusted>', re.S)

_ERROR_STATUS: Final[dict[str, int]] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_MAX_DEPTH: Final = 6
_RETRY_AFTER_MS: Final = "10"
MAX_BODY: Final = 32 * 1024 * 1024  # the real API's request size limit


class _InvalidRequest(Exception):
    """A request the real API would refuse with 400; the message is what the caller sees."""


class AnthropicSandbox:
    """State and behaviour of one fake Anthropic: recorded requests, injected failures, usage."""

    def __init__(self, *, api_key: str = "sk-ant-sandbox", base_url: str = "") -> None:
        self.api_key = api_key
        self.base_url = base_url
        self.requests: list[JSON] = []
        self.request_times: list[float] = []  # when each request of `requests` arrived (monotonic seconds)
        self.in_flight = 0  # Messages requests being answered now
        self.most_in_flight = 0  # the most ever answered at once
        self.responder: Responder | None = None
        # Chooses one issue's labels from its text; the default picks every allowed label the text
        # mentions as a word. Used for `choose_labels` and each item of `label_issues`.
        self.labeller: Labeller = mentioned_labels
        self.latency_s = 0.0  # every answer takes this long (a slow model), without holding others
        self._cache: dict[str, float] = {}  # prefix hash -> expiry (monotonic)
        # While `hold` is set and not released, answers wait (a slow model): tests kill a worker
        # mid-call. `arrived` is set whenever a request has been received.
        self.hold: asyncio.Event | None = None
        self.arrived = asyncio.Event()
        self._queued: deque[Failure] = deque()
        self._always: Failure | None = None
        self._input_tokens = 0
        self._output_tokens = 0
        self._cache_write_tokens = 0
        self._cache_read_tokens = 0
        self._ids = itertools.count(1)
        self._request_ids = itertools.count(1)
        self.mode = Mode.POLITE
        self.realistic: Realistic | None = None  # the realistic mode's seeded state
        self.refuse_text: str | None = None  # refuse any prompt whose issues contain this text
        self.refuse_strict = False  # answer any strict tool with a 400, as a model without them does
        self.ignore_cache_control = False  # no prompt cache at all, like a compatible server
        self._served = 0  # messages requests seen (the realistic mode's 529 is the 2nd)

    def set_mode(self, mode: Mode | str, *, seed: int = DEFAULT_SEED) -> None:
        """polite, realistic (seeded) or worst-case: see bot/sandbox/misbehaviour.py."""
        self.mode = Mode(mode)
        self.realistic = Realistic(seed) if self.mode is Mode.REALISTIC else None

    # --- configuration used by tests -------------------------------------------------------

    def fail_next(self, *failures: Failure) -> None:
        """Queue failures for the next requests, one per request, so retry paths can be tested."""
        for failure in failures:
            _check_failure(failure)
        self._queued.extend(failures)

    def always_fail(self, failure: Failure | None) -> None:
        """Fail every request this way (``None`` to stop), to test retries running out."""
        if failure is not None:
            _check_failure(failure)
        self._always = failure

    @property
    def usage_totals(self) -> dict[str, int]:
        """Tokens billed by successful answers, so tests can check usage logging."""
        return {
            "input_tokens": self._input_tokens,
            "output_tokens": self._output_tokens,
            "cache_creation_input_tokens": self._cache_write_tokens,
            "cache_read_input_tokens": self._cache_read_tokens,
        }

    # --- the web application ---------------------------------------------------------------

    def make_app(self) -> web.Application:
        """Build the aiohttp app; routes are bound to this sandbox so several can coexist."""
        app = web.Application(middlewares=[self._json_errors], client_max_size=MAX_BODY)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        return app

    @web.middleware
    async def _json_errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Turn aiohttp's own 404/405/413 into the API's JSON error shape the SDK parses."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status == 404:
                return self._error("not_found_error", f"Not found: {request.method} {request.path}")
            if exc.status == 413:
                return self._error("request_too_large", "Request exceeds the maximum size")
            kind = "invalid_request_error"
            return self._error(kind, f"{exc.reason}: {request.method} {request.path}", exc.status)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/messages: record, authenticate, maybe fail on purpose, then answer."""
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return await self._message(request)
        finally:
            self.in_flight -= 1

    async def _message(self, request: web.Request) -> web.StreamResponse:
        body, early = await self._read(request)
        if early is not None:
            return early
        self.arrived.set()
        if self.hold is not None:
            await self.hold.wait()
        failure = self._take_failure()
        self._served += 1
        if failure is None and self.realistic is not None and self._served == OVERLOADED_REQUEST:
            self.realistic.faults.append(f"request {self._served}: 529")
            failure = 529
        if failure is not None and failure not in _ANSWERED_FAILURES:
            return self._injected_error(failure)
        try:
            _validate(body)
            _validate_strict(body, refuse=self.refuse_strict)
        except _InvalidRequest as exc:
            return self._error("invalid_request_error", str(exc))
        cache = self._cache_lookup(body)  # as the request arrives: a write still in flight is no hit
        if self.latency_s > 0:
            await asyncio.sleep(self.latency_s)  # a model that takes its time; others answer meanwhile
        if failure == "garbage-json":
            return web.Response(
                status=200,
                text='{"id": "msg_sandbox", "type": "message", "content": [',
                content_type="application/json",
                headers=self._headers(),
            )
        refused = failure == "refusal" or bool(self.refuse_text and self.refuse_text in _issue_text(body))
        garbage, text_only, cut = failure == "garbage-tool", failure == "no-tool-call", failure == "max-tokens"
        return self._answer(body, cache, garbage=garbage, text_only=text_only, cut=cut, refused=refused)

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        """POST /v1/messages/count_tokens, for callers that budget prompts before sending."""
        body, early = await self._read(request, record=False)
        if early is not None:
            return early
        return web.json_response({"input_tokens": _input_tokens(body)}, headers=self._headers())

    async def _read(self, request: web.Request, *, record: bool = True) -> tuple[JSON, web.StreamResponse | None]:
        """Parse and record the body and check headers, in the order the real API does."""
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return {}, self._error("invalid_request_error", "Request body is not valid JSON")
        if not isinstance(body, dict):
            return {}, self._error("invalid_request_error", "Request body must be a JSON object")
        if record:
            self.requests.append(body)
            self.request_times.append(time.monotonic())
        bearer = request.headers.get("authorization", "")
        key = request.headers.get("x-api-key") or bearer.removeprefix("Bearer ").strip()
        if key != self.api_key:
            return body, self._error("authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            message = "anthropic-version: header is required"
            return body, self._error("invalid_request_error", message)
        return body, None

    def _take_failure(self) -> Failure | None:
        if self._queued:
            return self._queued.popleft()
        return self._always

    def _injected_error(self, failure: Failure) -> web.Response:
        """The error responses the real API sends, with headers that keep SDK retries fast."""
        retry = {"retry-after": "1", "retry-after-ms": _RETRY_AFTER_MS}
        if failure == 429:
            message = "Number of request tokens has exceeded your per-minute rate limit (sandbox)"
            return self._error("rate_limit_error", message, headers=retry)
        if failure == "spend-limit":
            # A permanent 429: x-should-retry tells the SDK not to retry it, and the error code
            # maps it to the SDK's EnforcedSpendLimitReachedError (a RateLimitError subclass).
            message = (
                "You have reached your specified workspace API usage limits. You will regain "
                "access on the first of next month (sandbox)"
            )
            details = {"error_code": "enforced_spend_limit_reached"}
            return self._error("rate_limit_error", message, headers={"x-should-retry": "false"}, details=details)
        if failure == 529:
            return self._error("overloaded_error", "Overloaded (sandbox)", headers=retry)
        if failure == 500:
            return self._error("api_error", "Internal server error (sandbox)", headers=retry)
        return self._error("invalid_request_error", "Injected invalid request (sandbox)")

    def _answer(
        self,
        body: JSON,
        cache: tuple[str, int, bool] | None,
        *,
        garbage: bool,
        text_only: bool = False,
        cut: bool = False,
        refused: bool = False,
    ) -> web.Response:
        """A well-formed Message: one tool_use block when a tool is chosen, else one text block; a
        refusal is a short text with `stop_reason: refusal`, as the API ends a declined answer."""
        n = next(self._ids)
        tool = None if text_only or refused else _chosen_tool(body)
        content: list[JSON]
        if refused:
            content = [{"type": "text", "text": "I can't help with labelling this content."}]
            stop_reason = "refusal"
        elif tool is not None:
            if garbage:
                tool_input = garbage_tool_input(tool["input_schema"])
            elif self.responder is not None:
                tool_input = self.responder(body)
            elif tool["name"] == BATCH_TOOL:
                tool_input = batch_answer(body, tool["input_schema"], self.labeller)
            else:
                tool_input = self._single_answer(body, tool["input_schema"])
            if not garbage:
                tool_input, cut = self._misbehave(body, tool, tool_input, cut)
            block = {"type": "tool_use", "id": f"toolu_sandbox{n:012d}", "name": tool["name"]}
            content = [{**block, "input": tool_input}]
            stop_reason = "max_tokens" if cut else "tool_use"
        else:
            text = _reply_text(body)
            content = [{"type": "text", "text": text}]
            stop_reason = "end_turn"
        total = _input_tokens(body)
        write, read = self._cache_settle(cache)
        input_tokens = max(1, total - write - read)
        output_tokens = int(body["max_tokens"]) if stop_reason == "max_tokens" else _output_tokens(content)
        self._input_tokens += input_tokens
        self._output_tokens += output_tokens
        self._cache_write_tokens += write
        self._cache_read_tokens += read
        message = {
            "id": f"msg_sandbox{n:012d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cache_creation_input_tokens": write,
                "cache_read_input_tokens": read,
            },
        }
        return web.json_response(message, headers=self._headers())

    def _misbehave(self, body: JSON, tool: JSON, tool_input: JSON, cut: bool) -> tuple[JSON, bool]:
        """The answer as this mode gives it, constrained when the tool is strict; and whether it is
        cut at max_tokens."""
        batched = tool["name"] == BATCH_TOOL
        allowed = _batch_enum(tool["input_schema"]) if batched else _label_enum(tool["input_schema"])
        items: list[JSON] = tool_input.get("issues", []) if batched else [tool_input]
        issues = batch_issues(user_text(body)) if batched else [(0, without_examples(user_text(body)))]
        if self.mode is Mode.WORST_CASE:
            told = orders(issues, allowed)
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("labels"), list):
                    item["labels"] = obey(item["labels"], int(item.get("number", 0) or 0), told)
        elif self.realistic is not None and allowed:
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("labels"), list):
                    item["labels"] = self.realistic.labels(item["labels"], allowed)
            if batched:
                items, cut_now = self.realistic.batch(items, [number for number, _ in issues])
                cut = cut or cut_now
        if tool.get("strict") is True and allowed:
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("labels"), list):
                    item["labels"] = constrain_labels(item["labels"], allowed)
        if cut and batched:
            items = items[: len(items) // 2]
        return ({**tool_input, "issues": items} if batched else tool_input), cut

    def _single_answer(self, body: JSON, schema: JSON) -> JSON:
        text = without_examples(user_text(body))
        value = fake_tool_input(schema, text)
        allowed = _label_enum(schema)
        if allowed and isinstance(value.get("labels"), list) and self.labeller is not mentioned_labels:
            value["labels"] = self.labeller(text, allowed)
        return value

    def _cache_lookup(self, body: JSON) -> tuple[str, int, bool] | None:
        """(prefix hash, its tokens, whether a live entry holds it) for this request's marked
        prefix; None when nothing is marked or the prefix is shorter than the model's minimum.
        Counted by the same four characters a token as everything else here."""
        prefix = None if self.ignore_cache_control else _cached_prefix(body)
        if prefix is None:
            return None
        tokens = max(1, len(json.dumps(prefix)) // 4)
        if tokens < cache_minimum(str(body.get("model", ""))):
            return None
        key = hashlib.sha256(json.dumps([body.get("model"), prefix], sort_keys=True).encode()).hexdigest()
        expiry = self._cache.get(key)
        return key, tokens, expiry is not None and expiry > time.monotonic()

    def _cache_settle(self, cache: tuple[str, int, bool] | None) -> tuple[int, int]:
        """(cache write, cache read) tokens; the entry is written (or refreshed) as the response
        goes out, so it serves only requests that arrive after this one has answered."""
        if cache is None:
            return 0, 0
        key, tokens, hit = cache
        self._cache[key] = time.monotonic() + CACHE_TTL_S
        return (0, tokens) if hit else (tokens, 0)

    def _headers(self) -> dict[str, str]:
        return {"request-id": f"req_sandbox{next(self._request_ids):012d}"}

    def _error(
        self,
        kind: str,
        message: str,
        status: int | None = None,
        *,
        headers: dict[str, str] | None = None,
        details: JSON | None = None,
    ) -> web.Response:
        """The API's error envelope, which the SDK reads into ``APIStatusError`` fields."""
        error: JSON = {"type": kind, "message": message}
        if details is not None:
            error["details"] = details
        all_headers = {**self._headers(), **(headers or {})}
        body = {"type": "error", "error": error, "request_id": all_headers["request-id"]}
        return web.json_response(body, status=status or _ERROR_STATUS[kind], headers=all_headers)


async def start_sandbox(sandbox: AnthropicSandbox, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve the sandbox in this event loop; the caller owns the runner and must clean it up."""
    runner = web.AppRunner(sandbox.make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    sandbox.base_url = f"http://{host}:{bound_port}"
    return runner, sandbox.base_url


def _check_failure(failure: Failure) -> None:
    if isinstance(failure, bool) or failure not in FAILURES:
        raise ValueError(f"unknown sandbox failure {failure!r}; expected one of {sorted(map(str, FAILURES))}")


# --- request validation ------------------------------------------------------------------------


def _validate(body: JSON) -> None:
    """Refuse what the real API refuses at a basic level, so bad requests fail in tests too."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _InvalidRequest("model: Field required (a non-empty string)")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _InvalidRequest("max_tokens: Field required (an integer >= 1)")
    if body.get("stream"):
        raise _InvalidRequest("stream: the sandbox does not support streaming")
    _validate_system(body.get("system"))
    _validate_messages(body.get("messages"))
    tools = body.get("tools")
    names = _validate_tools(tools)
    _validate_tool_choice(body.get("tool_choice"), names)
    _validate_forced_choice(model, body.get("tool_choice"))


def _validate_system(system: object) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list) or not all(
        isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str) for b in system
    ):
        raise _InvalidRequest("system: Input should be a string or a list of text blocks")


def _validate_messages(messages: object) -> None:
    if not isinstance(messages, list) or not messages:
        raise _InvalidRequest("messages: Field required (a non-empty list)")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _InvalidRequest(f"messages.{i}: Input should be an object")
        if message.get("role") not in ("user", "assistant"):
            raise _InvalidRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            if not content:
                raise _InvalidRequest(f"messages.{i}.content: text content must be non-empty")
            continue
        if not isinstance(content, list) or not content:
            raise _InvalidRequest(f"messages.{i}.content: Input should be a string or a list")
        for j, block in enumerate(content):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                raise _InvalidRequest(f"messages.{i}.content.{j}.type: Field required")


def _validate_tools(tools: object) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _InvalidRequest("tools: Input should be a list")
    names: list[str] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _InvalidRequest(f"tools.{i}: Input should be an object")
        name = tool.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise _InvalidRequest(f"tools.{i}.name: String should match {_TOOL_NAME.pattern}")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise _InvalidRequest(f"tools.{i}.input_schema: an object schema with type 'object'")
        if name in names:
            raise _InvalidRequest("tools: Tool names must be unique.")
        names.append(name)
    return names


def _validate_strict(body: JSON, *, refuse: bool) -> None:
    """A strict tool's schema must be in the subset constrained decoding compiles (as the API says)."""
    for i, tool in enumerate(body.get("tools") or []):
        if not isinstance(tool, dict) or tool.get("strict") is not True:
            continue
        if refuse:
            raise _InvalidRequest(f"tools.{i}.strict: strict tool use is not supported for the model {body['model']}")
        problem = _strict_problem(tool.get("input_schema"), f"tools.{i}.input_schema")
        if problem:
            raise _InvalidRequest(problem)


def _strict_problem(schema: object, where: str) -> str:
    if isinstance(schema, list):
        return next((p for i, sub in enumerate(schema) if (p := _strict_problem(sub, f"{where}.{i}"))), "")
    if not isinstance(schema, dict):
        return ""
    for keyword in sorted(_STRICT_UNSUPPORTED & set(schema)):
        return f"{where}: For '{schema.get('type', 'any')}' type, property '{keyword}' is not supported"
    if isinstance(schema.get("minItems"), int) and schema["minItems"] > 1:
        return f"{where}: minItems values other than 0 or 1 are not supported"
    if (schema.get("type") == "object" or "properties" in schema) and schema.get("additionalProperties") is not False:
        return f"{where}: additionalProperties must be set to false for every object"
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            problem = next((p for name, sub in value.items() if (p := _strict_problem(sub, f"{where}.{name}"))), "")
        elif isinstance(value, dict | list) and key not in ("enum", "required", "const", "default"):
            problem = _strict_problem(value, f"{where}.{key}")
        else:
            problem = ""
        if problem:
            return problem
    return ""


def _validate_forced_choice(model: str, choice: object) -> None:
    if isinstance(choice, dict) and choice.get("type") == "tool" and match_model(model, NO_FORCED_TOOL_CHOICE):
        raise _InvalidRequest(
            f"tool_choice: forcing a tool (type 'tool') is not supported with {model}; "
            "use tool_choice type 'auto' or 'none'"
        )


def _validate_tool_choice(choice: object, names: list[str]) -> None:
    if choice is None:
        return
    if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
        raise _InvalidRequest("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if not names and choice["type"] != "none":
        raise _InvalidRequest("tool_choice may only be specified while providing tools.")
    if choice["type"] == "tool" and choice.get("name") not in names:
        raise _InvalidRequest(f"tool_choice.name: no tool named {choice.get('name')!r} in tools")


# --- answering -------------------------------------------------------------------------------


def _chosen_tool(body: JSON) -> JSON | None:
    """The tool the model "calls": the forced one, else the first (for any/auto), else none."""
    tools: list[JSON] = body.get("tools") or []
    choice: JSON = body.get("tool_choice") or {"type": "auto"}
    if not tools or choice["type"] == "none":
        return None
    if choice["type"] == "tool":
        return next(t for t in tools if t["name"] == choice["name"])
    return tools[0]


def user_text(body: JSON) -> str:
    """All text the user sent (not the system prompt, which usually lists every option)."""
    parts: list[str] = []

    def collect(content: object) -> None:
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "text":
                    parts.append(str(block.get("text", "")))
                elif isinstance(block, dict) and block.get("type") == "tool_result":
                    collect(block.get("content"))

    for message in body.get("messages") or []:
        if isinstance(message, dict) and message.get("role") == "user":
            collect(message.get("content"))
    return "\n".join(parts)


def _reply_text(body: JSON) -> str:
    words = " ".join(user_text(body).split()[:12])
    text = f"Sandbox reply to: {words}" if words else "Sandbox reply."
    return text[: max(1, int(body["max_tokens"]) * 4)]


def _output_tokens(content: list[JSON]) -> int:
    """About one token per four characters of what the model wrote: the text, or the tool's name
    and input (not the block's envelope or id, which the API adds)."""
    written = [
        block.get("text", "") if block.get("type") == "text" else {"name": block["name"], "input": block["input"]}
        for block in content
    ]
    return max(1, len(json.dumps(written)) // 4)


def _input_tokens(body: JSON) -> int:
    """About one token per four characters of everything the model would read."""
    sent = [body.get("system") or "", body.get("messages") or [], body.get("tools") or []]
    return max(1, len(json.dumps(sent)) // 4)


def _cached_prefix(body: JSON) -> list[Any] | None:
    """Everything up to and including the last block carrying `cache_control`, in the API's order
    (tools, then system, then messages); None when no block is marked."""
    parts: list[Any] = []
    found: list[Any] | None = None
    for tool in body.get("tools") or []:
        parts.append(tool)
        if isinstance(tool, dict) and "cache_control" in tool:
            found = list(parts)
    system = body.get("system")
    for block in system if isinstance(system, list) else ([system] if system else []):
        parts.append(block)
        if isinstance(block, dict) and "cache_control" in block:
            found = list(parts)
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else [content]:
            parts.append(block)
            if isinstance(block, dict) and "cache_control" in block:
                found = list(parts)
    return found


# --- per-issue answers -----------------------------------------------------------------------


def without_examples(text: str) -> str:
    """A triage prompt's text without its examples from corrections (other issues' labels): the
    sandbox judges only the issue itself."""
    return _EXAMPLE.sub("", text)


def mentioned_labels(text: str, allowed: Sequence[str]) -> list[str]:
    """Every allowed label the text mentions as a whole word (the sandbox's "judgement")."""
    return [label for label in allowed if _mentioned(label, text)]


def _issue_text(body: JSON) -> str:
    """The issues' own text in a triage prompt (examples from corrections left out)."""
    return without_examples(user_text(body))


def _batch_enum(schema: JSON) -> list[str]:
    items = (schema.get("properties") or {}).get("issues", {}).get("items", {})
    return [str(v) for v in (items.get("properties") or {}).get("labels", {}).get("items", {}).get("enum", [])]


def _label_enum(schema: JSON) -> list[str]:
    root = _Faker(schema, "").resolve(schema)
    labels = _Faker(schema, "").resolve((root.get("properties") or {}).get("labels") or {})
    items = _Faker(schema, "").resolve(labels.get("items") or {})
    return [str(v) for v in items.get("enum") or []]


def batch_issues(text: str) -> list[tuple[int, str]]:
    """(number, title and body) of each issue a batched triage prompt fences."""
    return [(int(number), f"{title}\n{body}") for number, title, body in _BATCH_ISSUE.findall(text)]


def batch_answer(body: JSON, schema: JSON, labeller: Labeller) -> JSON:
    """A `label_issues` answer: one item per issue of the prompt, labels from that issue's text."""
    items_schema = (schema.get("properties") or {}).get("issues", {}).get("items", {})
    properties = items_schema.get("properties", {})
    allowed = [str(v) for v in properties.get("labels", {}).get("items", {}).get("enum", [])]
    reason = {"reason": "Sandbox: from the issue's own text."} if "reason" in properties else {}
    return {
        "issues": [
            {"number": number, "labels": labeller(text, allowed), **reason}
            for number, text in batch_issues(user_text(body))
        ]
    }


# --- schema-driven tool input ----------------------------------------------------------------


def fake_tool_input(schema: JSON, text: str = "") -> JSON:
    """A deterministic value valid for ``schema``, picking enum values mentioned in ``text``.

    Handles what pydantic's ``model_json_schema()`` emits: ``$defs``/``$ref``, ``anyOf`` with
    null, enums, constrained strings, numbers and arrays.
    """
    value = _Faker(schema, text).value(schema, "", 0)
    return value if isinstance(value, dict) else {}


def garbage_tool_input(schema: JSON) -> JSON:
    """Input that does not match ``schema``: wrong types everywhere and a required field missing."""
    faker = _Faker(schema, "")
    root = faker.resolve(schema)
    properties: JSON = root.get("properties") or {}
    garbage: JSON = {name: ([] if _is_stringy(faker.resolve(prop)) else "garbage") for name, prop in properties.items()}
    required: list[str] = root.get("required") or []
    if required:
        garbage.pop(required[0], None)
    return garbage or {"garbage": True}


def _is_stringy(schema: JSON) -> bool:
    return schema.get("type") == "string" or "enum" in schema or "const" in schema


def _mentioned(value: str, text: str) -> bool:
    """Whole-word, case-insensitive: 'bug' is in 'a bug here' but not in 'debugging'."""
    pattern = rf"(?<!\w){re.escape(value)}(?!\w)"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


class _Faker:
    """Walks one JSON schema; holds the root (for ``$ref``) and the text enums are picked from."""

    def __init__(self, root: JSON, text: str) -> None:
        self.root = root
        self.text = text

    def resolve(self, schema: JSON) -> JSON:
        """Follow ``$ref`` (keeping sibling keywords) and collapse ``allOf``."""
        seen = 0
        while "$ref" in schema and seen < 32:
            target = self._pointer(str(schema["$ref"]))
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        if "allOf" in schema:
            merged: JSON = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                merged = {**self.resolve(part), **merged}
            schema = merged
        return schema

    def _pointer(self, ref: str) -> JSON:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node: Any = self.root
        for part in ref.lstrip("#").strip("/").split("/"):
            if part:
                node = node[part.replace("~1", "/").replace("~0", "~")]
        if not isinstance(node, dict):
            raise ValueError(f"$ref {ref!r} does not point at a schema")
        return node

    def value(self, schema: JSON, name: str, depth: int, index: int = 0) -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self._enum_one(schema["enum"])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                branches = [self.resolve(b) for b in schema[key]]
                real = [b for b in branches if b.get("type") != "null"]
                return self.value(real[0], name, depth, index) if real else None
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, name, depth)
        if kind == "string":
            return _string(schema, name, index)
        if kind in ("integer", "number"):
            return _number(schema, integer=kind == "integer")
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        return _string(schema, name, index)  # untyped: a string is valid for `Any`

    def _enum_one(self, options: list[Any]) -> Any:
        for option in options:
            if isinstance(option, str) and _mentioned(option, self.text):
                return option
        return options[0]

    def _object(self, schema: JSON, depth: int) -> JSON:
        properties: JSON = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        # Past the depth limit only required fields are filled, so recursive models terminate.
        return {
            key: self.value(prop, key, depth + 1)
            for key, prop in properties.items()
            if depth < _MAX_DEPTH or key in required
        }

    def _array(self, schema: JSON, name: str, depth: int) -> list[Any]:
        items = self.resolve(schema.get("items") or {})
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", max(low, 2)))
        if "enum" in items:
            options: list[Any] = items["enum"]
            picked = [o for o in options if isinstance(o, str) and _mentioned(o, self.text)]
            picked += [o for o in options if o not in picked][: max(0, low - len(picked))]
            return picked[:high]
        count = low if depth >= _MAX_DEPTH else min(max(low, 1), high)
        return [self.value(items, name, depth + 1, i) for i in range(count)]


def _words(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ")
    return " ".join(spaced.split()).lower()


def _string(schema: JSON, name: str, index: int) -> str:
    fmt = schema.get("format")
    special = {
        "uri": "https://example.com/sandbox",
        "url": "https://example.com/sandbox",
        "email": "sandbox@example.com",
        "date-time": "2024-01-01T00:00:00Z",
        "date": "2024-01-01",
        "time": "00:00:00",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    if isinstance(fmt, str) and fmt in special:
        return special[fmt]
    words = _words(name) or "text"
    suffix = f" {index + 1}" if index else ""
    text = f"Sandbox {words}{suffix}: a short deterministic sentence."
    low = int(schema.get("minLength", 0))
    if len(text) < low:
        text = text + "." * (low - len(text))
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _number(schema: JSON, *, integer: bool) -> int | float:
    value: float = 0
    if "minimum" in schema:
        value = schema["minimum"]
    elif "exclusiveMinimum" in schema:
        value = schema["exclusiveMinimum"] + 1
    if "maximum" in schema and value > schema["maximum"]:
        value = schema["maximum"]
    if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
        value = schema["exclusiveMaximum"] - 1
    return int(value) if integer else value
