"""The one module that talks to the model: an `LLM` protocol, its Messages-API adapter, and the
`ModelClient` every job asks through.

Answers come back through a tool call whose input schema is the answer's; they are validated before
anything else sees them. What the per-model table (bot/core/model/facts.py) says decides the request:
a forced `tool_choice` where the model takes one (otherwise `auto` plus an instruction, an answer
without the call being invalid), and `strict: true` tools where the model offers them
(bot/core/model/tool_schema.py; a model that refuses a strict tool with a 400 anyway is asked without
one, once, and not offered one again by this process).

How an answer ends decides what happens next:
- a valid tool call: the answer;
- a tool call that fails validation, or text without the call: sent back once with the error (a
  repair turn, unless the question allows one call only), then `InvalidAnswer`;
- `stop_reason: max_tokens`: once more with twice the room (unless the question says `grow=False`:
  a batch is split by its caller instead), then `AnswerCut`;
- `stop_reason: refusal`: `Refused` at once (no retry, no repair: asking again gets the same).
All three are permanent and carry what the calls cost. The SDK's exceptions do not leave this
module: `model_error` turns them into hookwise's own transient or permanent errors
(bot/core/errors.py), with the wait the API asked for.

Every call goes through a `Meter` bound to who pays (the installation, repository and task): the
day's budget is checked before it, and the call is priced (bot/core/costs/pricing.py) and filed in the
cost ledger after it, so a job overshoots the budget by at most the call it was making. Jobs hold a
`ModelClient` (an LLM and such a meter), never the LLM itself. With a `Warmth`, the first call that
marks a prefix for the prompt cache goes alone and the calls sent alongside it wait for its answer,
so they read the entry instead of each writing it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, Generic, Protocol, TypeVar, cast

import anthropic
from anthropic import AsyncAnthropic
from anthropic.types import Message, TextBlock, ToolUseBlock
from pydantic import BaseModel, ValidationError

from bot.core.costs.pricing import DEFAULT_PRICES, PriceTable, Usage
from bot.core.errors import (
    AnswerCut,
    HookwiseError,
    InvalidAnswer,
    PermanentError,
    Refused,
    TransientError,
    connection_problem,
)
from bot.core.model.caching import prefix_key
from bot.core.model.providers import Capabilities, Provider, capabilities, provider_cost_usd, without_cache_marks
from bot.core.model.tool_schema import strict_tool
from bot.core.operations.breaker import service_name
from bot.core.outcome import ModelUsage
from bot.core.tokens import estimate_tokens

log = logging.getLogger("hookwise.llm")

T = TypeVar("T", bound=BaseModel)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def _host(exc: BaseException) -> str:
    """Where the failed request went: `api.anthropic.com`, or a host:port of ANTHROPIC_BASE_URL."""
    url = getattr(getattr(exc, "request", None), "url", None)
    host, port = getattr(url, "host", None), getattr(url, "port", None)
    if not host:
        return "api.anthropic.com"
    return f"{host}:{port}" if port else str(host)


def model_error(exc: BaseException, *, service: str = "Anthropic") -> BaseException:
    """hookwise's error for what the anthropic SDK raised; anything else is returned unchanged.
    The reason names the service and the host the request went to
    (`Anthropic api.anthropic.com: overloaded (529)`).

    Transient, and an outage of the model (counted by its breaker): 429 (but not a spend limit:
    waiting will not help), 529 and other 5xx, connection problems and timeouts. Everything else
    is permanent."""
    where = f"{service} {_host(exc)}"
    if isinstance(exc, anthropic.RateLimitError):
        # Enforced (workspace) and contract spend limits: waiting will not help.
        if str(getattr(exc, "error_code", "")).endswith("spend_limit_reached") or "spend limit" in str(exc).lower():
            return PermanentError(f"{where}: spend limit reached", status=429)
        wait = _retry_after(exc.response.headers)
        return TransientError(f"{where}: rate limit (429)", retry_after_s=wait, status=429, outage=True)
    if isinstance(exc, anthropic.InternalServerError):
        status = exc.status_code
        words = "overloaded" if status == 529 else "server error"
        wait = _retry_after(exc.response.headers)
        return TransientError(f"{where}: {words} ({status})", retry_after_s=wait, status=status, outage=True)
    if isinstance(exc, anthropic.APIStatusError):
        return PermanentError(f"{where}: {exc.status_code} {exc.message}", status=exc.status_code)
    if isinstance(exc, anthropic.APIConnectionError):  # APITimeoutError too: "timed out"
        return TransientError(f"{where}: {connection_problem(exc)}", outage=True)
    if isinstance(exc, anthropic.APIError | json.JSONDecodeError):
        return PermanentError(f"{where}: unreadable answer: {exc}")
    return exc


@dataclass(frozen=True, slots=True)
class ModelAnswer(Generic[T]):
    value: T
    usage: ModelUsage

    @property
    def model(self) -> str:
        return self.usage.model


@dataclass(frozen=True, slots=True)
class Question(Generic[T]):
    system: str | Sequence[Mapping[str, Any]]  # text, or text blocks (a cached prefix's are marked)
    user: str
    answer: type[T]
    tool_name: str
    tool_description: str
    model: str = ""  # the task's model (Settings.model_for); empty: the adapter's default
    max_tokens: int = 1500
    schema: dict[str, Any] | None = None  # overrides answer.model_json_schema() (e.g. a label enum)
    tool: Mapping[str, Any] | None = None  # the whole tool definition (e.g. with cache_control)
    repair: bool = True  # False: one call only; an invalid answer is InvalidAnswer at once
    grow: bool = True  # on max_tokens, once more with twice the room; False: AnswerCut at once


MAX_GROWN_TOKENS = 16_000  # the most a question grows to after a max_tokens stop


class Meter(Protocol):
    """Bound to who pays for a call (installation, repository, task): checks the day's budget before
    each call and files each call after it."""

    async def before_call(self, model: str) -> None:
        """Raise `BudgetExhausted` when the installation has used today's budget."""

    async def after_call(self, usage: ModelUsage) -> None:
        """Record one call's tokens and cost."""


class LLM(Protocol):
    async def ask(self, question: Question[T], *, meter: Meter) -> ModelAnswer[T]: ...


@dataclass(frozen=True, slots=True)
class ModelClient:
    """The one way a job asks the model: an LLM bound to the meter of the installation, repository
    and task it asks for, so no call escapes the budget or the cost ledger."""

    llm: LLM
    meter: Meter

    async def ask(self, question: Question[T]) -> ModelAnswer[T]:
        return await self.llm.ask(question, meter=self.meter)


class Warmth(Protocol):
    """Lets the first call that writes a prompt-cache prefix go alone (bot/adapters/store/prompt_cache.py)."""

    def turn(self, key: str | None) -> AbstractAsyncContextManager[None]: ...


AUTO_TOOL_INSTRUCTION = "Answer only by calling the `{tool}` tool, exactly once; do not answer in text."


def tool_choice_for(model: str, tool_name: str, provider: Provider = Provider.ANTHROPIC) -> dict[str, str]:
    """The `tool_choice` to send: forced where the model and its provider accept it, otherwise
    `auto` (the user turn then carries AUTO_TOOL_INSTRUCTION, and an answer without the call is
    invalid)."""
    forced = capabilities(provider, model).forced_tool_choice
    return {"type": "tool", "name": tool_name} if forced else {"type": "auto"}


def call_usage(
    model: str,
    usage: object,
    prices: PriceTable,
    *,
    provider: Provider = Provider.ANTHROPIC,
    region: str = "",
    estimated: bool = False,
) -> ModelUsage:
    """One call's tokens (the SDK's `message.usage`, or an estimate) and its price at its provider,
    computed for this call alone: a long-prompt rate applies per request, so prices of sums would
    be wrong."""
    counted = Usage.of(usage)
    return ModelUsage(
        model=model,
        provider=provider.value,
        input_tokens=counted.input_tokens,
        output_tokens=counted.output_tokens,
        cache_write_tokens=counted.cache_creation_input_tokens,
        cache_read_tokens=counted.cache_read_input_tokens,
        calls=1,
        cost_usd=provider_cost_usd(provider, model, counted, prices, region=region),
        estimated_calls=1 if estimated else 0,
    )


def reported_usage(message: Message) -> object | None:
    """The answer's `usage` when it says anything (some compatible servers send none, or zeros)."""
    usage = getattr(message, "usage", None)
    counted = Usage.of(usage) if usage is not None else Usage()
    return usage if counted.input_tokens or counted.output_tokens else None


def estimated_usage(system: Any, messages: list[dict[str, Any]], tool: dict[str, Any], message: Message) -> Usage:
    """Tokens of a call whose answer carried no usage: what was sent and what came back, by
    bot/core/tokens.py's estimator (which errs high, never low)."""
    sent = json.dumps([system, messages, [tool]], ensure_ascii=False, default=str)
    content = getattr(message, "content", None) or []
    said = json.dumps([b.model_dump(exclude_none=True) for b in content], ensure_ascii=False, default=str)
    return Usage(input_tokens=estimate_tokens(sent), output_tokens=estimate_tokens(said))


def _tool_input(message: Message, tool_name: str) -> tuple[str, Any]:
    for block in message.content:
        if isinstance(block, ToolUseBlock) and block.name == tool_name:
            return block.id, block.input
    return "", None


def refuses_strict(exc: BaseException) -> bool:
    """A 400 that says the request's strict tool is the problem (a model or gateway without them)."""
    return isinstance(exc, anthropic.BadRequestError) and "strict" in str(exc.message).lower()


class AnthropicLLM:
    """The Messages API through the SDK's client for the provider (`AsyncAnthropic`, or its Bedrock
    or Vertex client, or `AsyncAnthropic` at a compatible server): what it asks of a model is what
    `capabilities(provider, model)` says the pair can do (bot/core/model/providers.py)."""

    def __init__(
        self,
        client: AsyncAnthropic | Any,
        model: str,
        *,
        prices: PriceTable = DEFAULT_PRICES,
        warmth: Warmth | None = None,
        strict_tools: bool = True,
        provider: Provider = Provider.ANTHROPIC,
        region: str = "",
    ) -> None:
        self._client = client
        self.model = model  # the default, for a question that names none
        self.prices = prices
        self.provider = provider
        self.region = region  # prices depend on it (Vertex's CLOUD_ML_REGION)
        self._warmth = warmth
        self._strict_tools = strict_tools
        self._refused_strict: set[str] = set()  # models that answered a strict tool with a 400

    def capabilities(self, model: str) -> Capabilities:
        return capabilities(self.provider, model)

    def strict_for(self, model: str) -> bool:
        """Whether this process sends `model` strict tools."""
        return self._strict_tools and self.capabilities(model).strict_tools and model not in self._refused_strict

    async def ask(self, question: Question[T], *, meter: Meter) -> ModelAnswer[T]:
        model = question.model or self.model
        tool: dict[str, Any] = (
            dict(question.tool)
            if question.tool is not None
            else {
                "name": question.tool_name,
                "description": question.tool_description,
                "input_schema": question.schema or question.answer.model_json_schema(),
            }
        )
        caps = self.capabilities(model)
        choice = tool_choice_for(model, question.tool_name, self.provider)
        user = question.user
        if choice["type"] != "tool":
            user = f"{user}\n\n{AUTO_TOOL_INSTRUCTION.format(tool=question.tool_name)}"
        system: Any = question.system if isinstance(question.system, str) else [dict(b) for b in question.system]
        if not caps.prompt_caching:  # a provider that does not cache gets no cache marks at all
            tool, system = without_cache_marks(tool), without_cache_marks(system)
        messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
        spent: ModelUsage | None = None
        max_tokens = question.max_tokens
        repairs = 1 if question.repair else 0
        problem = ""
        first = True
        while True:
            message = await self._call(model, tool, system, messages, choice, max_tokens, meter, first=first, caps=caps)
            first = False
            this_call = self._usage(model, message, system, messages, tool)
            await meter.after_call(this_call)
            spent = this_call if spent is None else spent + this_call
            if message.stop_reason == "refusal":
                raise Refused(f"the model refused to answer ({_said(message)})", usage=spent)
            if message.stop_reason in ("max_tokens", "model_context_window_exceeded"):
                if question.grow and max_tokens < MAX_GROWN_TOKENS:
                    log.info("model answer cut at max_tokens=%d; asking once more with more room", max_tokens)
                    max_tokens = min(max_tokens * 2, MAX_GROWN_TOKENS)
                    question = replace(question, grow=False)
                    continue
                raise AnswerCut(f"the model's answer was cut at max_tokens ({max_tokens})", usage=spent)
            tool_use_id, raw = _tool_input(message, question.tool_name)
            try:
                return ModelAnswer(question.answer.model_validate(raw), spent)
            except ValidationError as exc:
                problem = _short_errors(exc) if raw is not None else f"no call of the {question.tool_name} tool"
            if repairs == 0:
                times = "twice" if spent.calls > 1 else "once"
                raise InvalidAnswer(f"the model's answer failed validation {times}: {problem}", usage=spent)
            repairs -= 1
            log.info("model answer failed validation (%s); asking once more", problem)
            messages.extend(_repair_turn(message, tool_use_id, question.tool_name, problem))

    def _usage(
        self, model: str, message: Message, system: Any, messages: list[dict[str, Any]], tool: dict[str, Any]
    ) -> ModelUsage:
        """One call's usage at this provider: as the answer reports it, or estimated when it reports
        none. The Claude API names the model it ran (a dated id); elsewhere the id asked for is kept,
        since prices depend on it (a Bedrock `global.` profile) and the answer may name another."""
        named = getattr(message, "model", None) or model
        recorded = named if self.provider is Provider.ANTHROPIC else model
        usage = reported_usage(message)
        if usage is None:
            usage = estimated_usage(system, messages, tool, message)
            log.info("%s at %s answered without usage; tokens estimated (%s)", model, self.provider.value, usage)
            return call_usage(recorded, usage, self.prices, provider=self.provider, region=self.region, estimated=True)
        return call_usage(recorded, usage, self.prices, provider=self.provider, region=self.region)

    async def _call(
        self,
        model: str,
        tool: dict[str, Any],
        system: Any,
        messages: list[dict[str, Any]],
        choice: dict[str, str],
        max_tokens: int,
        meter: Meter,
        *,
        first: bool,
        caps: Capabilities,
    ) -> Message:
        """One request (the budget checked first), strict where the model offers it; a model that
        refuses the strict tool is asked again without it, at once, and never offered one again."""
        while True:
            sent = strict_tool(tool) if self.strict_for(model) else tool
            await meter.before_call(model)
            # The first call of a burst writes the cached prefix alone; a repair turn reads it. A
            # provider that does not cache has nothing to warm: no call waits for another.
            leads = self._warmth is not None and first and caps.prompt_caching
            warm_up = self._warmth.turn(prefix_key(model, [sent], system)) if self._warmth and leads else None
            try:
                async with warm_up or nullcontext():
                    message: Message = await cast(Any, self._client.messages).create(
                        model=model,
                        max_tokens=max_tokens,
                        system=system,
                        messages=messages,
                        tools=[sent],
                        tool_choice=choice,
                    )
                return message
            except (anthropic.APIError, json.JSONDecodeError) as exc:
                if sent is not tool and refuses_strict(exc):
                    log.warning("%s refused a strict tool (%s); asking without strict tools from now on", model, exc)
                    self._refused_strict.add(model)
                    continue
                error = model_error(exc, service=service_name(self.provider.value))
                assert isinstance(error, HookwiseError)
                raise error from exc


def _said(message: Message) -> str:
    """What a refusal said, shortened for a record."""
    text = " ".join(b.text for b in message.content if isinstance(b, TextBlock) and b.text).strip()
    return " ".join(text.split())[:200] or "no text"


def _repair_turn(message: Message, tool_use_id: str, tool_name: str, problem: str) -> list[dict[str, Any]]:
    """The turns that send an invalid answer back: the error as the tool's result, or (no tool
    call at all, possible with tool_choice auto) the model's text and a request to call the tool."""
    if not tool_use_id:
        said = [b.model_dump(exclude_none=True) for b in message.content if isinstance(b, TextBlock) and b.text]
        return [
            {"role": "assistant", "content": said or "(no tool call)"},
            {"role": "user", "content": f"Call the {tool_name} tool."},
        ]
    return [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]},
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": tool_use_id,
                    "is_error": True,
                    "content": f"Invalid input: {problem}. Call the tool again with valid input.",
                }
            ],
        },
    ]


def _short_errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}" for err in exc.errors()[:5]]
    return json.dumps(parts)[:600]
