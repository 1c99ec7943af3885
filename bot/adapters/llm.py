"""The one module that talks to Anthropic: an `LLM` protocol and its Messages-API adapter.

Answers come back through a forced tool call whose input schema is the pydantic model's; they are
validated before anything else sees them. An answer that fails validation is sent back once with
the validation error (a repair turn, unless the question asks for one call only); a second
failure is `InvalidAnswer`, which is permanent and carries what the calls cost.
The SDK's exceptions do not leave this module: `model_error` turns them into hookwise's own
transient or permanent errors (bot/core/errors.py), with the wait the API asked for.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

import anthropic
from anthropic import AsyncAnthropic
from anthropic.types import Message, ToolUseBlock
from pydantic import BaseModel, ValidationError

from bot.core.errors import HookwiseError, InvalidAnswer, PermanentError, TransientError
from bot.core.outcome import ModelUsage

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


def model_error(exc: BaseException) -> BaseException:
    """hookwise's error for what the anthropic SDK raised; anything else is returned unchanged.

    Transient: 429 (but not a spend limit: waiting will not help), 529 and other 5xx, connection
    problems and timeouts. Everything else is permanent."""
    if isinstance(exc, anthropic.RateLimitError):
        # Enforced (workspace) and contract spend limits: waiting will not help.
        if str(getattr(exc, "error_code", "")).endswith("spend_limit_reached") or "spend limit" in str(exc).lower():
            return PermanentError("Anthropic spend limit reached", status=429)
        wait = _retry_after(exc.response.headers)
        return TransientError("Anthropic rate limit (429)", retry_after_s=wait, status=429)
    if isinstance(exc, anthropic.InternalServerError):
        return TransientError(
            f"Anthropic {exc.status_code}", retry_after_s=_retry_after(exc.response.headers), status=exc.status_code
        )
    if isinstance(exc, anthropic.APIStatusError):
        return PermanentError(f"Anthropic {exc.status_code}: {exc.message}", status=exc.status_code)
    if isinstance(exc, anthropic.APIConnectionError):  # APITimeoutError too
        return TransientError(f"connection problem: {type(exc).__name__}")
    if isinstance(exc, anthropic.APIError | json.JSONDecodeError):
        return PermanentError(f"unreadable answer from Anthropic: {exc}")
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
    system: str
    user: str
    answer: type[T]
    tool_name: str
    tool_description: str
    max_tokens: int = 1500
    schema: dict[str, Any] | None = None  # overrides answer.model_json_schema() (e.g. a label enum)
    repair: bool = True  # False: one call only; an invalid answer is InvalidAnswer at once


class LLM(Protocol):
    async def ask(self, question: Question[T]) -> ModelAnswer[T]: ...


def _tool_input(message: Message, tool_name: str) -> tuple[str, Any]:
    for block in message.content:
        if isinstance(block, ToolUseBlock) and block.name == tool_name:
            return block.id, block.input
    return "", None


class AnthropicLLM:
    def __init__(self, client: AsyncAnthropic, model: str) -> None:
        self._client = client
        self.model = model

    async def ask(self, question: Question[T]) -> ModelAnswer[T]:
        schema = question.schema or question.answer.model_json_schema()
        tool = {"name": question.tool_name, "description": question.tool_description, "input_schema": schema}
        messages: list[dict[str, Any]] = [{"role": "user", "content": question.user}]
        input_tokens = output_tokens = cache_write = cache_read = calls = 0
        problem = ""
        for _turn in range(2 if question.repair else 1):
            try:
                message: Message = await cast(Any, self._client.messages).create(
                    model=self.model,
                    max_tokens=question.max_tokens,
                    system=question.system,
                    messages=messages,
                    tools=[tool],
                    tool_choice={"type": "tool", "name": question.tool_name},
                )
            except (anthropic.APIError, json.JSONDecodeError) as exc:
                error = model_error(exc)
                assert isinstance(error, HookwiseError)
                raise error from exc
            calls += 1
            input_tokens += message.usage.input_tokens
            output_tokens += message.usage.output_tokens
            cache_write += message.usage.cache_creation_input_tokens or 0
            cache_read += message.usage.cache_read_input_tokens or 0
            tool_use_id, raw = _tool_input(message, question.tool_name)
            try:
                value = question.answer.model_validate(raw)
            except ValidationError as exc:
                problem = _short_errors(exc)
                log.info("model answer failed validation (%s); asking once more", problem)
                if not tool_use_id:
                    messages.append({"role": "assistant", "content": "(no tool call)"})
                    messages.append({"role": "user", "content": f"Call the {question.tool_name} tool."})
                    continue
                messages.append({"role": "assistant", "content": [b.model_dump() for b in message.content]})
                messages.append(
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
                    }
                )
                continue
            usage = ModelUsage(
                model=message.model,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_write_tokens=cache_write,
                cache_read_tokens=cache_read,
                calls=calls,
            )
            return ModelAnswer(value, usage)
        spent = ModelUsage(
            model=self.model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_write_tokens=cache_write,
            cache_read_tokens=cache_read,
            calls=calls,
        )
        times = "twice" if calls > 1 else "once"
        raise InvalidAnswer(f"the model's answer failed validation {times}: {problem}", usage=spent)


def _short_errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}" for err in exc.errors()[:5]]
    return json.dumps(parts)[:600]
