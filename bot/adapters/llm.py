"""The one module that talks to Anthropic: an `LLM` protocol and its Messages-API adapter.

Answers come back through a forced tool call whose input schema is the pydantic model's; they are
validated before anything else sees them. An answer that fails validation is sent back once with
the validation error (a repair turn); a second failure is `InvalidAnswer`, which is permanent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from anthropic import AsyncAnthropic
from anthropic.types import Message, ToolUseBlock
from pydantic import BaseModel, ValidationError

log = logging.getLogger("hookwise.llm")

T = TypeVar("T", bound=BaseModel)


class InvalidAnswer(Exception):
    """The model's answer still failed validation after one repair turn."""


@dataclass(frozen=True, slots=True)
class ModelAnswer(Generic[T]):
    value: T
    model: str
    input_tokens: int
    output_tokens: int
    calls: int


@dataclass(frozen=True, slots=True)
class Question(Generic[T]):
    system: str
    user: str
    answer: type[T]
    tool_name: str
    tool_description: str
    max_tokens: int = 1500
    schema: dict[str, Any] | None = None  # overrides answer.model_json_schema() (e.g. a label enum)


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
        input_tokens = output_tokens = calls = 0
        problem = ""
        for _turn in range(2):
            message: Message = await cast(Any, self._client.messages).create(
                model=self.model,
                max_tokens=question.max_tokens,
                system=question.system,
                messages=messages,
                tools=[tool],
                tool_choice={"type": "tool", "name": question.tool_name},
            )
            calls += 1
            input_tokens += message.usage.input_tokens
            output_tokens += message.usage.output_tokens
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
            return ModelAnswer(value, message.model, input_tokens, output_tokens, calls)
        raise InvalidAnswer(f"the model's answer failed validation twice: {problem}")


def _short_errors(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}" for err in exc.errors()[:5]]
    return json.dumps(parts)[:600]
