"""The one module that talks to Anthropic: an `LLM` protocol and its Messages-API adapter.

Answers come back through a forced tool call whose input schema is the pydantic model's; they are
validated before anything else sees them. An answer that fails validation is sent back once with
the validation error (a repair turn, unless the question asks for one call only); a second
failure is `InvalidAnswer`, which is permanent and carries what the calls cost.
The SDK's exceptions do not leave this module: `model_error` turns them into hookwise's own
transient or permanent errors (bot/core/errors.py), with the wait the API asked for.

Some models refuse a forced `tool_choice` with a 400; `tool_choice_for` is the one place that
knows which, and asks those with `auto` plus an instruction, treating an answer without the tool
call as invalid (the repair turn asks again). Each call is priced when it is made
(bot/core/pricing.py) and, with a `Meter`, checked against the day's budget before it and
counted after it, so a job overshoots the budget by at most the call it was making. With a
`Warmth`, the first call that marks a prefix for the prompt cache goes alone and the calls sent
alongside it wait for its answer, so they read the entry instead of each writing it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

import anthropic
from anthropic import AsyncAnthropic
from anthropic.types import Message, TextBlock, ToolUseBlock
from pydantic import BaseModel, ValidationError

from bot.core.caching import prefix_key
from bot.core.errors import HookwiseError, InvalidAnswer, PermanentError, TransientError, connection_problem
from bot.core.outcome import ModelUsage
from bot.core.pricing import DEFAULT_PRICES, PriceTable, Usage, cost_usd, match_model

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
    if isinstance(exc, anthropic.APIConnectionError):  # APITimeoutError too
        words = "timed out" if isinstance(exc, anthropic.APITimeoutError) else connection_problem(exc)
        return TransientError(f"{where}: {words}", outage=True)
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
    task: str = ""  # what the cost ledger files the call under: triage, triage-batch, summary
    installation_id: int = 0
    repository: str = ""
    max_tokens: int = 1500
    schema: dict[str, Any] | None = None  # overrides answer.model_json_schema() (e.g. a label enum)
    tool: Mapping[str, Any] | None = None  # the whole tool definition (e.g. with cache_control)
    repair: bool = True  # False: one call only; an invalid answer is InvalidAnswer at once


class Meter(Protocol):
    """Checks the budget before each model call and counts each call after it."""

    async def before_call(self, question: Question[Any], model: str) -> None:
        """Raise `BudgetExhausted` when the question's installation has used today's budget."""

    async def after_call(self, question: Question[Any], usage: ModelUsage) -> None:
        """Record one call's tokens and cost."""


class LLM(Protocol):
    async def ask(self, question: Question[T], *, meter: Meter | None = None) -> ModelAnswer[T]: ...


class Warmth(Protocol):
    """Lets the first call that writes a prompt-cache prefix go alone (bot/adapters/store/prompt_cache.py)."""

    def turn(self, key: str | None) -> AbstractAsyncContextManager[None]: ...


# Models that answer a forced tool_choice ({"type": "tool"}) with a 400 (Anthropic's tool-use docs):
# they are asked with tool_choice auto and an instruction instead. Matched like the price table
# (dated and suffixed ids resolve; a newer version is not taken for an older one).
NO_FORCED_TOOL_CHOICE = (
    "claude-opus-5-5",
    "claude-sonnet-5-5",
    "claude-fable-5-1",
    "claude-mythos-5-1",
    "claude-mythos-preview",
)
AUTO_TOOL_INSTRUCTION = "Answer only by calling the `{tool}` tool, exactly once; do not answer in text."


def forces_tool(model: str) -> bool:
    """Whether `model` accepts a forced tool_choice (most do; the ones listed above do not)."""
    return match_model(model, NO_FORCED_TOOL_CHOICE) is None


def tool_choice_for(model: str, tool_name: str) -> dict[str, str]:
    """The `tool_choice` to send: forced where the model accepts it, otherwise `auto` (the user
    turn then carries AUTO_TOOL_INSTRUCTION, and an answer without the call is invalid)."""
    return {"type": "tool", "name": tool_name} if forces_tool(model) else {"type": "auto"}


def call_usage(model: str, usage: object, prices: PriceTable) -> ModelUsage:
    """One call's tokens (the SDK's `message.usage`) and its price, computed for this call alone:
    a long-prompt rate applies per request, so prices of sums would be wrong."""
    counted = Usage.of(usage)
    return ModelUsage(
        model=model,
        input_tokens=counted.input_tokens,
        output_tokens=counted.output_tokens,
        cache_write_tokens=counted.cache_creation_input_tokens,
        cache_read_tokens=counted.cache_read_input_tokens,
        calls=1,
        cost_usd=cost_usd(model, counted, prices),
    )


def _tool_input(message: Message, tool_name: str) -> tuple[str, Any]:
    for block in message.content:
        if isinstance(block, ToolUseBlock) and block.name == tool_name:
            return block.id, block.input
    return "", None


class AnthropicLLM:
    def __init__(
        self, client: AsyncAnthropic, model: str, *, prices: PriceTable = DEFAULT_PRICES, warmth: Warmth | None = None
    ) -> None:
        self._client = client
        self.model = model  # the default, for a question that names none
        self.prices = prices
        self._warmth = warmth

    async def ask(self, question: Question[T], *, meter: Meter | None = None) -> ModelAnswer[T]:
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
        choice = tool_choice_for(model, question.tool_name)
        user = question.user
        if choice["type"] != "tool":
            user = f"{user}\n\n{AUTO_TOOL_INSTRUCTION.format(tool=question.tool_name)}"
        system: Any = question.system if isinstance(question.system, str) else [dict(b) for b in question.system]
        messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
        spent: ModelUsage | None = None
        problem = ""
        for turn in range(2 if question.repair else 1):
            if meter is not None:
                await meter.before_call(question, model)
            # The first call of a burst writes the cached prefix alone; a repair turn reads it.
            warm_up = self._warmth.turn(prefix_key(model, [tool], system)) if self._warmth and turn == 0 else None
            try:
                async with warm_up or nullcontext():
                    message: Message = await cast(Any, self._client.messages).create(
                        model=model,
                        max_tokens=question.max_tokens,
                        system=system,
                        messages=messages,
                        tools=[tool],
                        tool_choice=choice,
                    )
            except (anthropic.APIError, json.JSONDecodeError) as exc:
                error = model_error(exc)
                assert isinstance(error, HookwiseError)
                raise error from exc
            this_call = call_usage(message.model or model, message.usage, self.prices)
            if meter is not None:
                await meter.after_call(question, this_call)
            spent = this_call if spent is None else spent + this_call
            tool_use_id, raw = _tool_input(message, question.tool_name)
            try:
                value = question.answer.model_validate(raw)
            except ValidationError as exc:
                problem = _short_errors(exc) if raw is not None else f"no call of the {question.tool_name} tool"
                log.info("model answer failed validation (%s); asking once more", problem)
                messages.extend(_repair_turn(message, tool_use_id, question.tool_name, problem))
                continue
            return ModelAnswer(value, spent)
        times = "twice" if spent is not None and spent.calls > 1 else "once"
        raise InvalidAnswer(f"the model's answer failed validation {times}: {problem}", usage=spent)


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
