"""The first call of a burst writes the prompt cache alone: through the real anthropic SDK against
the sandbox Anthropic (which, like the API, makes an entry readable only once the response that
wrote it has gone out) and real Redis. Five calls sent at once with the same marked prefix pay one
write and four reads instead of five writes; a leader that fails lets the next one lead; without
Redis every call still goes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from anthropic import AsyncAnthropic
from redis.asyncio import Redis

from bot.adapters.llm import AnthropicLLM, Question
from bot.adapters.store import keys
from bot.adapters.store.costs import Spending, TaskMeter
from bot.adapters.store.prompt_cache import CacheWarmth
from bot.core.errors import PermanentError
from bot.core.model.caching import prefix_key
from bot.core.model.tool_schema import strict_tool
from bot.core.triage.label_answers import LabelChoice
from bot.core.triage.plan import single_tool
from bot.sandbox.anthropic import AnthropicSandbox

MODEL = "claude-haiku-5-5"  # 512 tokens at least to cache
RULES = "Choose the labels that clearly apply to the issue, from the list given. " * 60


def question(user: str, *, marked: bool = True) -> Question[LabelChoice]:
    block: dict[str, Any] = {"type": "text", "text": RULES}
    if marked:
        block["cache_control"] = {"type": "ephemeral"}
    tool = single_tool(["bug", "documentation"], reason=False)
    return Question(
        system=[block], user=user, answer=LabelChoice, tool_name=tool["name"], tool_description=tool["description"],
        tool=tool, model=MODEL, max_tokens=200,
    )  # fmt: skip


@pytest.fixture
async def client(model: AnthropicSandbox) -> AsyncIterator[AsyncAnthropic]:
    model.latency_s = 0.3  # answers overlap, as in a burst
    sdk = AsyncAnthropic(api_key=model.api_key, base_url=model.base_url, max_retries=0)
    yield sdk
    await sdk.close()


def free(redis: Redis) -> TaskMeter:
    """The real cost ledger's meter, with no daily limit."""
    return Spending(redis, tokens_per_day=0).meter(1, "octo/repo", "triage")


async def burst(llm: AnthropicLLM, redis: Redis, count: int = 5) -> list[Any]:
    asks = (llm.ask(question(f"issue {n}"), meter=free(redis)) for n in range(count))
    return await asyncio.gather(*asks, return_exceptions=True)


def sent_key(marked: bool = True) -> str | None:
    """The warm-up's key of what the adapter sends: the tool strict, as MODEL offers strict tools."""
    return prefix_key(
        MODEL, [strict_tool(question("x", marked=marked).tool or {})], question("x", marked=marked).system
    )


def prefix_tokens(model: AnthropicSandbox) -> int:
    """The marked prefix's size as the sandbox counts it: what one write costs."""
    totals = model.usage_totals
    return totals["cache_creation_input_tokens"]


async def test_five_calls_at_once_write_the_prefix_once_and_read_it_four_times(
    client: AsyncAnthropic, model: AnthropicSandbox, redis: Redis
) -> None:
    llm = AnthropicLLM(client, MODEL, warmth=CacheWarmth(redis))
    answers = await burst(llm, redis)
    assert all(not isinstance(answer, BaseException) for answer in answers), answers
    written = prefix_tokens(model)
    assert written > 512 and model.usage_totals["cache_read_input_tokens"] == 4 * written
    key = sent_key()
    assert key is not None and await redis.exists(keys.PROMPT_WARM + key)
    assert not await redis.exists(keys.PROMPT_WARMING + key)  # the leader let go

    await burst(llm, redis)  # warm now: five reads at once, no write
    assert model.usage_totals["cache_creation_input_tokens"] == written
    assert model.usage_totals["cache_read_input_tokens"] == 9 * written


async def test_without_the_gate_every_call_sent_at_once_writes_the_prefix(
    client: AsyncAnthropic, model: AnthropicSandbox, redis: Redis
) -> None:
    await burst(AnthropicLLM(client, MODEL), redis)
    totals = model.usage_totals
    assert totals["cache_read_input_tokens"] == 0 and totals["cache_creation_input_tokens"] > 5 * 512


async def test_a_leader_that_fails_hands_the_lead_on(
    client: AsyncAnthropic, model: AnthropicSandbox, redis: Redis
) -> None:
    model.fail_next(400)  # the first request to arrive, the leader's
    answers = await burst(AnthropicLLM(client, MODEL, warmth=CacheWarmth(redis)), redis)
    assert sum(isinstance(answer, PermanentError) for answer in answers) == 1
    assert sum(not isinstance(answer, BaseException) for answer in answers) == 4
    written = prefix_tokens(model)
    assert model.usage_totals["cache_read_input_tokens"] == 3 * written  # one of the four led, three read


async def test_a_leader_that_never_answers_holds_the_others_back_only_so_long(
    client: AsyncAnthropic, model: AnthropicSandbox, redis: Redis
) -> None:
    key = sent_key()
    await redis.set(keys.PROMPT_WARMING + (key or ""), "a worker that died", px=30_000)
    answers = await burst(AnthropicLLM(client, MODEL, warmth=CacheWarmth(redis, wait_s=0.2)), redis)
    assert all(not isinstance(answer, BaseException) for answer in answers), answers


async def test_without_redis_every_call_still_goes(client: AsyncAnthropic, model: AnthropicSandbox) -> None:
    gone = Redis.from_url("redis://127.0.0.1:9", socket_connect_timeout=0.2)
    try:
        answers = await burst(AnthropicLLM(client, MODEL, warmth=CacheWarmth(gone)), gone)
    finally:
        await gone.aclose()
    assert all(not isinstance(answer, BaseException) for answer in answers), answers
    assert len(model.requests) == 5


async def test_a_call_that_marks_nothing_never_waits_or_touches_redis(
    client: AsyncAnthropic, model: AnthropicSandbox, redis: Redis
) -> None:
    llm = AnthropicLLM(client, MODEL, warmth=CacheWarmth(redis))
    await asyncio.gather(*(llm.ask(question(f"issue {n}", marked=False), meter=free(redis)) for n in range(3)))
    assert await redis.keys("hookwise:prompt-*") == []
    assert sent_key(marked=False) is None
