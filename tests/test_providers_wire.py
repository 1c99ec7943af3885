"""Each MODEL_PROVIDER end to end, through the SDK's real clients over real sockets: the sandbox
Bedrock (SigV4 recomputed with botocore's signer), the sandbox Vertex (a service account's JWT
traded at a local token endpoint for a bearer token) and a compatible local-model server (which
ignores cache_control and tool_choice) each check their own request shape and authentication,
then the sandbox Anthropic answers. Summaries, single and batched triage, commands and release
notes run through each; records and the cost ledger name the provider."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from bot.adapters.store.costs import Spending
from bot.adapters.store.records import Records
from bot.config import Settings, load_settings
from bot.core.costs.ledger import Report, format_report
from bot.core.outcome import OutcomeKind
from bot.core.views.comments import REPLY_MARKER, SUMMARY_MARKER
from bot.sandbox import world as sandbox_world
from bot.sandbox.anthropic import BATCH_TOOL, AnthropicSandbox, batch_answer, batch_issues, fake_tool_input, user_text
from bot.sandbox.github import GitHubSandbox
from bot.sandbox.providers import ProviderWorld, start_provider
from bot.worker.actions import triage
from bot.worker.deps import Deps
from bot.worker.settings import anthropic_client, build_deps, build_llm
from tests.helpers import (
    HOOK,
    ISSUE,
    ISSUE_REPO,
    MERGED,
    PR_NUMBER,
    PR_REPO,
    add_issues,
    delivery_headers,
    merged_pull,
    run_pending_round,
    run_worker,
    seed_issue,
    seed_merged_pr,
    seed_merged_pulls,
    triage_job,
)

pytestmark = pytest.mark.e2e  # the providers' sandboxes served over HTTP, the SDK's clients over sockets

MAINTAINER = "maintainer-mia"
FAST = {"retry_base_s": 0.01}
TEXTS = {
    11: "The app crashes on start: clearly a bug.",
    12: "It would be a nice enhancement to export as CSV.",
    13: "A question about the documentation of the config file.",
}
MEANT = {11: ["bug"], 12: ["enhancement"], 13: ["documentation", "question"]}


@pytest.fixture(params=["bedrock", "vertex", "compatible"])
async def provider(
    request: pytest.FixtureRequest, model: AnthropicSandbox, tmp_path: Path
) -> AsyncIterator[ProviderWorld]:
    world = await start_provider(request.param, model, tmp_path)
    yield world
    await world.stop()


@pytest.fixture
def provider_settings(settings_env: dict[str, str], provider: ProviderWorld, settings: Settings) -> Settings:
    """The `settings` fixture's deployment, with the model at `provider` (settings: chdir'd already)."""
    return load_settings(**{**settings_env, **provider.env})


@pytest.fixture
async def provider_deps(provider_settings: Settings, redis: Redis) -> AsyncIterator[Deps]:
    """What a handler gets in the worker, with the model client the worker builds for the provider."""
    async with aiohttp.ClientSession() as session:
        client = anthropic_client(provider_settings)
        try:
            yield build_deps(provider_settings, session, redis, build_llm(provider_settings, client), lock_ttl_s=30)
        finally:
            await client.close()


def sent_bodies(world: ProviderWorld) -> list[dict[str, Any]]:
    """The Messages API bodies as the provider's server received them."""
    if world.bedrock is not None:
        return [call.body for call in world.bedrock.calls]
    if world.vertex is not None:
        return [call.body for call in world.vertex.calls]
    assert world.compatible is not None
    return world.compatible.requests


def assert_provider_wire(world: ProviderWorld) -> None:
    """Each request came in the provider's own shape and authentication, and was asked as the
    provider can answer."""
    bodies = sent_bodies(world)
    assert bodies
    if world.bedrock is not None:
        assert world.bedrock.refused == []
        assert {call.auth for call in world.bedrock.calls} == {"sigv4"}
        assert {call.model_id for call in world.bedrock.calls} == {world.model_id}
        assert all("model" not in body and body["anthropic_version"] for body in bodies)
        assert all(body["tool_choice"]["type"] == "tool" for body in bodies)  # Haiku 4.5 takes a forced choice
    if world.vertex is not None:
        assert world.vertex.refused == []
        # A token per client (each worker run builds one), minted by google-auth, reused for its calls.
        assert 1 <= world.vertex.grants <= len(world.vertex.calls)
        assert {(c.project, c.region, c.model) for c in world.vertex.calls} == {
            (world.vertex.project, world.vertex.region, world.model_id)
        }
        assert all("model" not in body and body["anthropic_version"] for body in bodies)
        assert not any(tool.get("strict") for body in bodies for tool in body["tools"])  # off on Vertex
    if world.compatible is not None:
        assert world.compatible.cache_marks_received() == 0
        assert world.compatible.forced_choices_received() == 0
        assert world.compatible.strict_tools_received() == 0
        assert all(body["tool_choice"] == {"type": "auto"} for body in bodies)
        assert all(body["model"] == world.model_id for body in bodies)
        assert all("do not answer in text" in json.dumps(body["messages"][0]) for body in bodies)


async def send(client: TestClient[Any, Any], event: str, body: bytes) -> int:
    response = await client.post(HOOK, data=body, headers=delivery_headers(event, body))
    return response.status


def documentation(request: dict[str, Any]) -> dict[str, Any]:
    """The sandbox model: `documentation` for every issue, a schema-valid answer to anything else."""
    tool = request["tools"][0]
    if tool["name"] == "choose_labels":
        return {"labels": ["documentation"], "reason": "A README typo."}
    if tool["name"] == BATCH_TOOL:
        return batch_answer(request, tool["input_schema"], lambda _text, _allowed: ["documentation"])
    return fake_tool_input(tool["input_schema"], user_text(request))


def merge_delivery(pull: dict[str, Any]) -> bytes:
    payload = json.loads(MERGED)
    payload["pull_request"] = pull
    payload["number"] = pull["number"]
    return json.dumps(payload).encode()


async def test_the_whole_pipeline_runs_through_the_provider_in_its_own_wire_format(
    client: TestClient[Any, Any],
    provider_settings: Settings,
    provider: ProviderWorld,
    github: GitHubSandbox,
    model: AnthropicSandbox,
    redis: Redis,
) -> None:
    seed_merged_pr(github)
    seed_issue(github)
    pull = merged_pull(11, "Add a retry to uploads", "2018-11-20T09:00:00Z")
    seed_merged_pulls(github, [pull])
    github.add_release(PR_REPO, "v1.0.0", created_at="2018-11-19T00:00:00Z")
    github.set_permission(PR_REPO, MAINTAINER, "maintain")
    model.responder = documentation

    # A merge is summarised; a new issue is triaged (a batch round of one).
    assert await send(client, "pull_request", MERGED) == 202
    assert await send(client, "pull_request", merge_delivery(pull)) == 202
    assert await send(client, "issues", ISSUE) == 202
    await run_worker(provider_settings, **FAST)
    assert [c for c in github.comments(PR_REPO, PR_NUMBER) if c["body"].startswith(SUMMARY_MARKER)]
    assert github.issue_labels(ISSUE_REPO, 1) == ["bug", "documentation"]

    # A maintainer's commands: summarize again, then release notes.
    for text in ("@hookwise summarize", "@hookwise release-notes"):
        command = sandbox_world.command_delivery(github, MERGED, PR_NUMBER, text, MAINTAINER)
        assert await send(client, "issue_comment", command) == 202
        await run_worker(provider_settings, **FAST)
        assert github.reactions(PR_REPO, json.loads(command)["comment"]["id"]) == ["eyes", "rocket"]
    [reply] = [c["body"] for c in github.comments(PR_REPO, PR_NUMBER) if c["body"].startswith(REPLY_MARKER)]
    assert "since `v1.0.0`" in reply
    tools = [body["tools"][0]["name"] for body in sent_bodies(provider)]
    assert {"record_summary", "record_release_notes"} <= set(tools)
    assert {"choose_labels", BATCH_TOOL} & set(tools)
    assert_provider_wire(provider)

    # Records, history and the cost ledger name the provider (and price it as the provider is priced).
    records = [r for r in await Records(redis).recent(20) if r.model]
    assert records and {(r.provider, r.model) for r in records} == {(provider.name, provider.model_id)}
    rows = await Spending(redis, tokens_per_day=0).rows(time.time() - 3600)
    assert rows and {(row.provider, row.model) for row in rows} == {(provider.name, provider.model_id)}
    spent = sum(row.usd for row in rows)
    assert spent == 0 if provider.name == "compatible" else spent > 0
    report = format_report(Report("the start", rows), provider_settings.prices())
    assert re.search(rf"\b{provider.name} +{re.escape(provider.model_id)}", report), report


async def open_three(deps: Deps, github: GitHubSandbox) -> tuple[Any, str]:
    seed_issue(github)
    add_issues(github, TEXTS)
    repo = await deps.github.repo(461842, ISSUE_REPO)
    rounds = set()
    for number in TEXTS:
        outcome = await triage.on_opened(triage_job(f"open-{number}", number=number), repo, deps, job_try=1)
        assert outcome.kind is OutcomeKind.WAITING, outcome
        rounds.add(outcome.detail.rsplit("(", 1)[1].rstrip(")"))
    [round_job] = rounds
    return repo, round_job


async def test_a_batch_of_three_issues_is_one_call_at_the_provider(
    provider_deps: Deps, provider: ProviderWorld, github: GitHubSandbox, model: AnthropicSandbox
) -> None:
    repo, round_job = await open_three(provider_deps, github)
    result = await run_pending_round(provider_deps, repo, round_job)

    [body] = sent_bodies(provider)
    assert body["tools"][0]["name"] == BATCH_TOOL
    assert [n for n, _ in batch_issues(user_text(model.requests[0]))] == [11, 12, 13]
    for number, labels in MEANT.items():
        assert github.issue_labels(ISSUE_REPO, number) == labels
    assert result.batch_usage is not None and result.batch_usage.provider == provider.name
    assert_provider_wire(provider)
