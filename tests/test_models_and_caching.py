"""A model per task, prompt caching where it pays, and models that refuse a forced tool choice:
through the real web app and an arq worker, with the sandbox Anthropic answering as the real API
does (cache writes then reads of a marked prefix; a 400 for a forced tool choice where the docs
say so)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.adapters.store.records import Records
from bot.config import Settings, load_settings
from bot.sandbox.anthropic import BATCH_TOOL, AnthropicSandbox
from bot.sandbox.github import GitHubSandbox
from tests.helpers import (
    ISSUE_REPO,
    MERGED,
    PR_REPO,
    add_issues,
    deliver,
    guid,
    issue_delivery,
    run_worker,
    seed_issue,
    seed_merged_pr,
)


def settings_with(settings_env: dict[str, str], **extra: str) -> Settings:
    return load_settings(**settings_env, **extra)


async def test_each_task_asks_its_own_model_and_every_record_names_it(
    client: TestClient[Any, Any],
    settings_env: dict[str, str],
    github: GitHubSandbox,
    model: AnthropicSandbox,
    redis: Redis,
) -> None:
    settings = settings_with(
        settings_env, ANTHROPIC_MODEL_TRIAGE="claude-haiku-4-5", ANTHROPIC_MODEL_SUMMARY="claude-opus-5"
    )
    seed_merged_pr(github)
    seed_issue(github)
    add_issues(github, {11: "a bug"})
    await deliver(client, "pull_request", MERGED, "merged")
    await deliver(client, "issues", issue_delivery(11), "opened")
    await run_worker(settings)

    models = {request["tools"][0]["name"]: request["model"] for request in model.requests}
    assert models == {"record_summary": "claude-opus-5", BATCH_TOOL: "claude-haiku-4-5"}
    records = Records(redis)
    summary, triaged = await records.get(guid("merged")), await records.get(guid("opened"))
    assert summary is not None and summary.model == "claude-opus-5" and summary.cost_usd > 0
    assert triaged is not None and triaged.model == "claude-haiku-4-5" and triaged.outcome == "done"
    [comment] = github.comments(PR_REPO, 2)
    assert "`claude-opus-5`" in comment["body"]  # the summary says which model wrote it


async def test_the_static_prefix_is_cached_where_it_reaches_the_models_minimum(
    client: TestClient[Any, Any], settings: Settings, github: GitHubSandbox, model: AnthropicSandbox, redis: Redis
) -> None:
    seed_issue(github)
    add_issues(github, {11: "a bug", 12: "another bug"})
    await deliver(client, "issues", issue_delivery(11), "first")
    await run_worker(settings)
    await deliver(client, "issues", issue_delivery(12), "second")
    await run_worker(settings)

    first, second = model.requests
    marked = [block for block in first["system"] if "cache_control" in block]
    assert marked == [first["system"][-1]] and marked[0]["cache_control"] == {"type": "ephemeral"}
    assert "The repository's labels you may choose from" in first["system"][-1]["text"]  # the label list
    assert "cache_control" not in str(first["messages"])  # the issues are never part of the prefix
    assert first["system"] == second["system"] and first["tools"] == second["tools"]  # byte for byte
    records = Records(redis)
    written, read = await records.get(guid("first")), await records.get(guid("second"))
    assert written is not None and written.cache_write_tokens > 0 and written.cache_read_tokens == 0
    assert read is not None and read.cache_read_tokens == written.cache_write_tokens and read.cache_write_tokens == 0


async def test_a_prefix_below_the_models_minimum_is_not_marked(
    client: TestClient[Any, Any], settings_env: dict[str, str], github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    settings = settings_with(settings_env, ANTHROPIC_MODEL_TRIAGE="claude-haiku-4-5")  # caches from 4,096 tokens
    seed_issue(github)
    add_issues(github, {11: "a bug"})
    await deliver(client, "issues", issue_delivery(11))
    await run_worker(settings)
    [request] = model.requests
    assert "cache_control" not in str(request["system"]) + str(request["tools"])
    # Not cached, so the tool may pin the batch's numbers: the model can name no other issue.
    number = request["tools"][0]["input_schema"]["properties"]["issues"]["items"]["properties"]["number"]
    assert number["enum"] == [11]


async def test_a_model_that_refuses_a_forced_tool_choice_is_asked_with_auto_and_an_instruction(
    client: TestClient[Any, Any], settings_env: dict[str, str], github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    settings = settings_with(settings_env, ANTHROPIC_MODEL_TRIAGE="claude-sonnet-5-5-20261007")
    seed_issue(github)
    add_issues(github, {11: "a bug"})
    model.fail_next("no-tool-call")  # the first answer is text: with `auto` the model may do that
    await deliver(client, "issues", issue_delivery(11))
    await run_worker(settings)

    first, repair = model.requests
    assert first["tool_choice"] == {"type": "auto"}
    instruction = "Answer only by calling the `label_issues` tool, exactly once; do not answer in text."
    assert first["messages"][0]["content"].endswith(instruction)
    # No tool call is an invalid answer: one repair turn, with what the model said.
    assert [m["role"] for m in repair["messages"]] == ["user", "assistant", "user"]
    assert repair["messages"][2]["content"] == "Call the label_issues tool."
    assert github.issue_labels(ISSUE_REPO, 11) == ["bug"]


@pytest.mark.parametrize("model_id", ["claude-opus-5-5", "claude-sonnet-5-5-20261007", "claude-fable-5-1"])
async def test_the_sandbox_refuses_a_forced_tool_choice_for_those_models_as_the_api_does(
    model_client: anthropic.AsyncAnthropic, model_id: str
) -> None:
    tool: Any = {"name": "answer", "description": "d", "input_schema": {"type": "object", "properties": {}}}
    with pytest.raises(anthropic.BadRequestError, match="forcing a tool"):
        await model_client.messages.create(
            model=model_id, max_tokens=10, messages=[{"role": "user", "content": "hi"}],
            tools=[tool], tool_choice={"type": "tool", "name": "answer"},
        )  # fmt: skip
    answer = await model_client.messages.create(
        model="claude-haiku-5-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}],
        tools=[tool], tool_choice={"type": "tool", "name": "answer"},
    )  # fmt: skip
    assert answer.stop_reason == "tool_use"


async def test_the_sandbox_writes_then_reads_a_marked_prefix_only_above_the_minimum(
    model_client: anthropic.AsyncAnthropic,
) -> None:
    long_text = "word " * 4000  # ~5,000 tokens by the sandbox's count
    short_text = "word " * 100

    async def ask(text: str, model_id: str = "claude-haiku-5-5") -> Any:
        system: Any = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]
        message = await model_client.messages.create(
            model=model_id, max_tokens=10, system=system, messages=[{"role": "user", "content": "hi"}]
        )
        return message.usage

    first, second = await ask(long_text), await ask(long_text)
    assert first.cache_creation_input_tokens > 4000 and first.cache_read_input_tokens == 0
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0 and second.input_tokens < 50
    small = await ask(short_text)  # under Haiku 5.5's 512 tokens: processed without caching
    assert small.cache_creation_input_tokens == small.cache_read_input_tokens == 0


@pytest.mark.parametrize(
    ("config", "asked", "batch_max"),
    [("", False, "20"), ("triage:\n  comment: true\n", True, "20"), ("triage:\n  comment: true\n", True, "1"),
     ("", False, "1"), ("triage:\n  comment: true\n  shadow: true\n", False, "20")],
)  # fmt: skip
async def test_a_reason_is_asked_for_only_where_a_triage_comment_shows_it(
    client: TestClient[Any, Any],
    settings_env: dict[str, str],
    github: GitHubSandbox,
    model: AnthropicSandbox,
    config: str,
    asked: bool,
    batch_max: str,
) -> None:
    """Output costs five times input: a reason nobody reads is not bought (single and batched)."""
    seed_issue(github)
    if config:
        github.set_file(ISSUE_REPO, ".github/hookwise.yml", config)
    add_issues(github, {11: "the docs have a documentation typo"})
    await deliver(client, "issues", issue_delivery(11), "opened")
    await run_worker(settings_with(settings_env, TRIAGE_BATCH_MAX=batch_max))

    [request] = model.requests
    schema = request["tools"][0]["input_schema"]
    item = schema["properties"]["issues"]["items"] if request["tools"][0]["name"] == BATCH_TOOL else schema
    assert ("reason" in item["properties"], "reason" in item["required"]) == (asked, asked)
    system = " ".join(block["text"] for block in request["system"])
    assert ("Write the reason in English." in system) is asked
    comments = [c["body"] for c in github.comments(ISSUE_REPO, 11)]
    assert len(comments) == (1 if asked else 0)
    assert github.issue_labels(ISSUE_REPO, 11) == ([] if "shadow" in config else ["documentation"])
