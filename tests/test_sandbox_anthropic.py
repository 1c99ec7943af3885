"""The Anthropic sandbox, driven by the real ``anthropic`` SDK over a real socket.

These pin what the rest of the suite relies on: the SDK accepts its answers, retries its
transient failures by itself, and raises the documented exception for each permanent one.
"""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

import aiohttp
import anthropic
import pydantic
import pytest
from anthropic.types import Message, ToolParam, ToolUseBlock

from bot.sandbox.anthropic import (
    AnthropicSandbox,
    fake_tool_input,
    garbage_tool_input,
    start_sandbox,
)

pytestmark = pytest.mark.e2e  # the sandbox itself, served over a real socket

MODEL = "claude-sandbox-1"


class Risk(enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Change(pydantic.BaseModel):
    path: str = pydantic.Field(max_length=40)
    kind: Literal["added", "removed", "changed"]
    lines: int = pydantic.Field(ge=1)


class Summary(pydantic.BaseModel):
    """Shaped like what the bot asks for: nested $defs, optional fields, bounds."""

    title: str = pydantic.Field(max_length=20)
    summary: str
    risk: Risk
    changes: list[Change] = pydantic.Field(min_length=1, max_length=5)
    breaking: bool
    confidence: float = pydantic.Field(gt=0, le=1)
    follow_up: str | None = None
    reviewers: list[str] = pydantic.Field(default_factory=list, max_length=3)


class Triage(pydantic.BaseModel):
    labels: list[Literal["bug", "enhancement", "documentation", "good first issue"]] = pydantic.Field(max_length=2)
    risk: Risk
    severity: Literal["minor", "major", "critical"]


class Node(pydantic.BaseModel):
    name: str
    children: list[Node] = pydantic.Field(default_factory=list)


def tool(model: type[pydantic.BaseModel], name: str = "answer") -> ToolParam:
    return {"name": name, "description": "Answer", "input_schema": model.model_json_schema()}


@pytest.fixture
async def sandbox() -> AsyncIterator[AnthropicSandbox]:
    sb = AnthropicSandbox()
    runner, url = await start_sandbox(sb)
    assert url == sb.base_url and url.startswith("http://127.0.0.1:")
    yield sb
    await runner.cleanup()


def client(sb: AnthropicSandbox, *, max_retries: int = 0, key: str = "sk-ant-sandbox") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=key, base_url=sb.base_url, max_retries=max_retries)


async def ask(
    sb: AnthropicSandbox,
    text: str = "Please summarise.",
    model: type[pydantic.BaseModel] = Summary,
    *,
    max_retries: int = 0,
    key: str = "sk-ant-sandbox",
) -> Message:
    async with client(sb, max_retries=max_retries, key=key) as c:
        message: Message = await c.messages.create(
            model=MODEL,
            max_tokens=1024,
            system="You label issues. Labels: bug, enhancement, documentation.",
            messages=[{"role": "user", "content": text}],
            tools=[tool(model)],
            tool_choice={"type": "tool", "name": "answer"},
        )
    return message


def tool_input(message: Message) -> dict[str, Any]:
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert isinstance(block, ToolUseBlock) and block.name == "answer"
    assert block.id.startswith("toolu_")
    assert isinstance(block.input, dict)
    return block.input


async def test_forced_tool_call_validates_against_the_pydantic_schema(
    sandbox: AnthropicSandbox,
) -> None:
    message = await ask(sandbox)

    parsed = Summary.model_validate(tool_input(message))
    assert parsed.follow_up is not None  # optional fields are filled too
    assert message.id.startswith("msg_") and message.model == MODEL
    assert message.stop_sequence is None
    assert message.usage.input_tokens > 1 and message.usage.output_tokens >= 1
    assert message._request_id is not None and message._request_id.startswith("req_")
    assert sandbox.usage_totals == {
        "input_tokens": message.usage.input_tokens,
        "output_tokens": message.usage.output_tokens,
        "cache_creation_input_tokens": 0,  # nothing marked for the cache
        "cache_read_input_tokens": 0,
    }
    [sent] = sandbox.requests
    assert sent["messages"][0]["content"] == "Please summarise."
    assert sent["tool_choice"] == {"type": "tool", "name": "answer"}


async def test_enums_are_picked_from_the_user_text_as_whole_words(
    sandbox: AnthropicSandbox,
) -> None:
    text = "A BUG in the docs: the Documentation is wrong, risk is HIGH, a critical good first issue"
    triage = Triage.model_validate(tool_input(await ask(sandbox, text, Triage)))

    assert triage.labels == ["bug", "documentation"]  # capped by maxItems, in enum order
    assert triage.risk is Risk.HIGH
    assert triage.severity == "critical"

    quiet = Triage.model_validate(tool_input(await ask(sandbox, "debugging it", Triage)))
    assert quiet.labels == []  # "bug" inside "debugging" is not a mention
    assert quiet.risk is Risk.LOW and quiet.severity == "minor"  # first value by default


def test_generator_is_deterministic_and_handles_recursion_and_constraints() -> None:
    schema = Summary.model_json_schema()
    assert fake_tool_input(schema) == fake_tool_input(schema)
    Node.model_validate(fake_tool_input(Node.model_json_schema()))
    bounded = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "minimum": 3, "maximum": 9},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "short": {"type": "string", "minLength": 80, "maxLength": 90},
        },
    }
    value = fake_tool_input(bounded)
    assert value["n"] == 3 and len(value["tags"]) == 2 and len(set(value["tags"])) == 2
    assert 80 <= len(value["short"]) <= 90


async def test_responder_overrides_the_generated_input(sandbox: AnthropicSandbox) -> None:
    seen: list[dict[str, Any]] = []

    def responder(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return {"labels": ["enhancement"], "risk": "medium", "severity": "major"}

    sandbox.responder = responder
    triage = Triage.model_validate(tool_input(await ask(sandbox, "bug", Triage)))
    assert triage.labels == ["enhancement"] and seen == sandbox.requests


async def test_without_tools_answers_one_text_block(sandbox: AnthropicSandbox) -> None:
    async with client(sandbox) as c:
        message = await c.messages.create(
            model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hello there"}]
        )
    assert message.stop_reason == "end_turn"
    [block] = message.content
    assert block.type == "text" and "hello there" in block.text


@pytest.mark.parametrize("status", [429, 529, 500])
async def test_sdk_retries_transient_failures_by_itself(sandbox: AnthropicSandbox, status: int) -> None:
    sandbox.fail_next(status, status)
    Summary.model_validate(tool_input(await ask(sandbox, max_retries=2)))
    assert len(sandbox.requests) == 3


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (429, anthropic.RateLimitError),
        (529, anthropic.OverloadedError),
        (500, anthropic.InternalServerError),
        (400, anthropic.BadRequestError),
    ],
)
async def test_failures_raise_the_sdk_error_without_retries(
    sandbox: AnthropicSandbox, failure: int, error: type[anthropic.APIStatusError]
) -> None:
    sandbox.fail_next(failure)
    with pytest.raises(error) as caught:
        await ask(sandbox)
    assert caught.value.status_code == failure
    assert caught.value.request_id is not None
    assert len(sandbox.requests) == 1
    assert issubclass(anthropic.OverloadedError, anthropic.InternalServerError)


async def test_retries_run_out_under_always_fail(sandbox: AnthropicSandbox) -> None:
    sandbox.always_fail(529)
    with pytest.raises(anthropic.OverloadedError):
        await ask(sandbox, max_retries=2)
    assert len(sandbox.requests) == 3
    sandbox.always_fail(None)
    tool_input(await ask(sandbox))
    assert sandbox.usage_totals["output_tokens"] >= 1


async def test_spend_limit_is_a_permanent_rate_limit(sandbox: AnthropicSandbox) -> None:
    sandbox.fail_next("spend-limit")
    with pytest.raises(anthropic.RateLimitError) as caught:
        await ask(sandbox, max_retries=2)
    assert len(sandbox.requests) == 1  # x-should-retry: false stops the SDK's own retries
    assert caught.value.error_code == "enforced_spend_limit_reached"
    assert "usage limits" in (caught.value.api_message or "")


async def test_garbage_tool_input_fails_validation(sandbox: AnthropicSandbox) -> None:
    sandbox.fail_next("garbage-tool")
    with pytest.raises(pydantic.ValidationError):
        Summary.model_validate(tool_input(await ask(sandbox)))
    for model in (Summary, Triage, Node):
        with pytest.raises(pydantic.ValidationError):
            model.model_validate(garbage_tool_input(model.model_json_schema()))


async def test_garbage_json_raises_a_decode_error(sandbox: AnthropicSandbox) -> None:
    sandbox.fail_next("garbage-json")
    with pytest.raises(json.JSONDecodeError):
        await ask(sandbox, max_retries=2)
    assert len(sandbox.requests) == 1  # a body that does not parse is not retried


async def test_bad_api_key_is_an_authentication_error(sandbox: AnthropicSandbox) -> None:
    sandbox.fail_next(529)
    with pytest.raises(anthropic.AuthenticationError):
        await ask(sandbox, key="sk-ant-wrong", max_retries=2)
    Summary.model_validate(tool_input(await ask(sandbox, max_retries=2)))  # 529 still queued
    assert len(sandbox.requests) == 3


async def test_invalid_tool_choice_is_a_bad_request(sandbox: AnthropicSandbox) -> None:
    async with client(sandbox) as c:
        with pytest.raises(anthropic.BadRequestError, match="no tool named"):
            await c.messages.create(
                model=MODEL,
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                tools=[tool(Triage)],
                tool_choice={"type": "tool", "name": "missing"},
            )


def test_unknown_failures_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown sandbox failure"):
        AnthropicSandbox().fail_next(418)


HEADERS = {"x-api-key": "sk-ant-sandbox", "anthropic-version": "2023-06-01"}
GOOD = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("status", "kind", "data", "headers", "path"),
    [
        (400, "invalid_request_error", b"{not json", HEADERS, "/v1/messages"),
        (400, "invalid_request_error", {**GOOD, "max_tokens": 0}, HEADERS, "/v1/messages"),
        (400, "invalid_request_error", {**GOOD, "messages": []}, HEADERS, "/v1/messages"),
        (400, "invalid_request_error", {"max_tokens": 5, "messages": []}, HEADERS, "/v1/messages"),
        (400, "invalid_request_error", {**GOOD, "tools": [{"name": "x"}]}, HEADERS, "/v1/messages"),
        (400, "invalid_request_error", GOOD, {"x-api-key": "sk-ant-sandbox"}, "/v1/messages"),
        (401, "authentication_error", GOOD, {"anthropic-version": "2023-06-01"}, "/v1/messages"),
        (404, "not_found_error", GOOD, HEADERS, "/v1/complete"),
    ],
)
async def test_raw_wire_errors(
    sandbox: AnthropicSandbox,
    status: int,
    kind: str,
    data: Any,
    headers: dict[str, str],
    path: str,
) -> None:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(sandbox.base_url + path, data=body, headers=headers) as response,
    ):
        assert response.status == status
        assert response.headers["request-id"].startswith("req_")
        error = await response.json()
    assert error["type"] == "error" and error["error"]["type"] == kind
    assert error["error"]["message"]


async def test_rate_limits_carry_short_retry_after_headers(sandbox: AnthropicSandbox) -> None:
    sandbox.fail_next(429)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sandbox.base_url}/v1/messages", json=GOOD, headers=HEADERS) as response,
    ):
        assert response.status == 429
        assert float(response.headers["retry-after-ms"]) <= 50
        assert response.headers["retry-after"]
