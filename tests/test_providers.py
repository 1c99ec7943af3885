"""MODEL_PROVIDER: the provider table and how it combines with the model table, prices per provider,
the settings each provider needs, the cost ledger's provider dimension (old fields still read), and
what a weaker local model does to an answer (repaired, isolated or estimated, never written
unvalidated), and refused credentials, over the sandboxes' real sockets."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest
from pydantic import BaseModel
from redis.asyncio import Redis

from bot.adapters.llm import AnthropicLLM, Question
from bot.adapters.store.costs import Spending
from bot.adapters.store.records import JobRecord
from bot.cli import format_record
from bot.config import ConfigError, Settings, load_settings
from bot.core.costs.ledger import Report, format_report, rows_from_hashes
from bot.core.costs.pricing import Usage, price_table
from bot.core.errors import PermanentError
from bot.core.model import providers
from bot.core.model.providers import Provider, capabilities, provider_cost_usd, provider_price
from bot.core.outcome import ModelUsage, Outcome, OutcomeKind
from bot.sandbox.anthropic import BATCH_TOOL, AnthropicSandbox
from bot.sandbox.bedrock import BedrockSandbox
from bot.sandbox.bedrock import start_sandbox as start_bedrock
from bot.sandbox.compatible import NO_TOOL_TEXT, PREAMBLE
from bot.sandbox.github import GitHubSandbox
from bot.sandbox.providers import ProviderWorld, start_provider
from bot.worker.actions import triage
from bot.worker.deps import Deps
from bot.worker.settings import anthropic_client, build_deps, build_llm
from tests.helpers import ISSUE_REPO, add_issues, run_pending_round, seed_issue, triage_job

MILLION = Usage(input_tokens=1_000_000)

# -- the table --------------------------------------------------------------------------------------


def test_the_claude_api_offers_what_the_model_offers() -> None:
    haiku = capabilities("anthropic", "claude-haiku-4-5-20251001")
    assert (haiku.forced_tool_choice, haiku.strict_tools, haiku.prompt_caching, haiku.usage_reliable) == (
        True, True, True, True,
    )  # fmt: skip
    assert haiku.cache_minimum == 4096 and haiku.token_counting and haiku.message_batches
    assert not capabilities("anthropic", "claude-opus-5-5").forced_tool_choice  # the model's own column


def test_bedrock_and_vertex_keep_the_models_columns_less_what_the_platform_lacks() -> None:
    bedrock = capabilities("bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0")
    assert bedrock.forced_tool_choice and bedrock.strict_tools and bedrock.prompt_caching
    assert not bedrock.token_counting and not bedrock.message_batches  # the SDK refuses both on Bedrock
    assert bedrock.cache_minimum == 4096
    vertex = capabilities("vertex", "claude-haiku-4-5@20251001")
    assert vertex.forced_tool_choice and vertex.prompt_caching and vertex.token_counting
    assert not vertex.strict_tools  # off by Vertex's default organisation policy
    assert not capabilities("bedrock", "global.anthropic.claude-opus-5-5").forced_tool_choice


def test_a_compatible_server_gets_auto_no_cache_marks_and_no_strict_tools() -> None:
    for model in ("qwen3:8b", "claude-haiku-4-5"):  # whatever the name, it is the server's
        local = capabilities("compatible", model)
        assert not (local.forced_tool_choice or local.strict_tools or local.prompt_caching or local.usage_reliable)


def test_cache_marks_are_removed_everywhere_and_nothing_else_is() -> None:
    tool = {"name": "t", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
    system = [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}}]
    assert providers.without_cache_marks(tool) == {"name": "t", "input_schema": {"type": "object"}}
    assert providers.without_cache_marks(system) == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    assert "cache_control" in tool  # copied, not changed
    assert providers.without_cache_marks("plain") == "plain"


def test_the_provider_setting_is_checked_and_named() -> None:
    assert load_settings(MODEL_PROVIDER=" Bedrock ").MODEL_PROVIDER is Provider.BEDROCK
    with pytest.raises(ConfigError, match=r"^MODEL_PROVIDER: "):
        load_settings(MODEL_PROVIDER="openai")


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        ({"MODEL_PROVIDER": "bedrock", "AWS_PROFILE": "no-such-profile-here"}, "AWS_REGION: required"),
        ({"MODEL_PROVIDER": "bedrock", "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIA1"},
         "AWS_SECRET_ACCESS_KEY: required with AWS_ACCESS_KEY_ID"),
        ({"MODEL_PROVIDER": "vertex", "ANTHROPIC_VERTEX_PROJECT_ID": "p"}, "CLOUD_ML_REGION: required"),
        ({"MODEL_PROVIDER": "vertex", "CLOUD_ML_REGION": "global"}, "ANTHROPIC_VERTEX_PROJECT_ID: required"),
        ({"MODEL_PROVIDER": "vertex", "CLOUD_ML_REGION": "global", "ANTHROPIC_VERTEX_PROJECT_ID": "p",
          "GOOGLE_APPLICATION_CREDENTIALS": "/nowhere/key.json"}, "GOOGLE_APPLICATION_CREDENTIALS: no file"),
        ({"MODEL_PROVIDER": "compatible"}, "ANTHROPIC_BASE_URL: required for MODEL_PROVIDER=compatible"),
    ],
)  # fmt: skip
def test_a_provider_missing_what_it_needs_stops_with_one_line_naming_it(
    settings: dict[str, str], line: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "ANTHROPIC_BASE_URL", "CLOUD_ML_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))  # no profile region from this machine
    with pytest.raises(ConfigError) as caught:
        load_settings(**settings).check_model()
    assert str(caught.value).startswith(line) and "\n" not in str(caught.value)


def test_the_region_comes_from_the_aws_profile_when_no_variable_names_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "aws-config"
    config.write_text("[profile hookwise]\nregion = ap-northeast-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(MODEL_PROVIDER="bedrock", AWS_PROFILE="hookwise")
    settings.check_model()
    assert settings.bedrock_region() == "ap-northeast-1"


# -- prices -------------------------------------------------------------------------------------------


def test_bedrock_is_the_claude_price_on_the_global_profile_and_ten_percent_more_elsewhere() -> None:
    prices = price_table()
    model = "claude-haiku-4-5-20251001-v1:0"
    assert provider_cost_usd("anthropic", "claude-haiku-4-5", MILLION, prices) == pytest.approx(1.0)
    assert provider_cost_usd("bedrock", f"global.anthropic.{model}", MILLION, prices) == pytest.approx(1.0)
    assert provider_cost_usd("bedrock", f"us.anthropic.{model}", MILLION, prices) == pytest.approx(1.1)
    assert provider_cost_usd("bedrock", f"anthropic.{model}", MILLION, prices) == pytest.approx(1.1)
    assert "Bedrock price list could not be read" in provider_price("bedrock", f"eu.anthropic.{model}", prices).note


def test_vertex_is_priced_by_its_region() -> None:
    prices = price_table()
    assert provider_cost_usd("vertex", "claude-haiku-4-5@20251001", MILLION, prices, region="global") == 1.0
    cost = provider_cost_usd("vertex", "claude-haiku-4-5@20251001", MILLION, prices, region="us-east5")
    assert cost == pytest.approx(1.1)
    assert provider_price("vertex", "claude-haiku-4-5@20251001", prices).estimate


def test_a_local_model_is_free_unless_model_prices_names_it() -> None:
    assert provider_cost_usd("compatible", "qwen3:8b", MILLION, price_table()) == 0.0
    assert provider_cost_usd("compatible", "claude-haiku-4-5", MILLION, price_table()) == 0.0  # the server's model
    priced = price_table("qwen3:8b=0.2/0.8")
    assert provider_cost_usd("compatible", "qwen3:8b", MILLION, priced) == pytest.approx(0.2)
    assert provider_price("compatible", "qwen3:8b", priced).note == ""
    scoped = price_table("compatible:qwen3:8b=0.3/0.9")
    assert provider_cost_usd("compatible", "qwen3:8b", MILLION, scoped) == pytest.approx(0.3)


def test_a_provider_scoped_override_prices_exactly() -> None:
    prices = price_table("bedrock:claude-haiku-4-5=0.9/4.5")
    resolved = provider_price("bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0", prices)
    assert resolved.note == "" and not resolved.estimate
    assert provider_cost_usd("bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0", MILLION, prices) == 0.9
    assert provider_cost_usd("anthropic", "claude-haiku-4-5", MILLION, prices) == 1.0  # only Bedrock's


# -- the ledger, records and reports ----------------------------------------------------------------------


def test_ledger_fields_filed_before_providers_read_as_the_claude_apis() -> None:
    rows = rows_from_hashes([
        {"7|o/r|triage|claude-haiku-5-5|calls": "2", "7|o/r|triage|claude-haiku-5-5|usd": "0.5",
         "7|o/r|triage||skipped": "1",
         "7|o/r|triage|bedrock|us.anthropic.claude-haiku-4-5-v1:0|calls": "1",
         "7|o/r|triage|compatible|qwen3:8b|calls": "3", "7|o/r|triage|compatible|qwen3:8b|estimated": "2"},
    ])  # fmt: skip
    found = {(r.provider, r.model): (r.calls, r.skipped, r.estimated) for r in rows}
    assert found == {
        ("", ""): (0, 1, 0),
        ("anthropic", "claude-haiku-5-5"): (2, 0, 0),
        ("bedrock", "us.anthropic.claude-haiku-4-5-v1:0"): (1, 0, 0),
        ("compatible", "qwen3:8b"): (3, 0, 2),
    }
    report = format_report(Report("then", rows), price_table())
    assert "provider" in report.splitlines()[1] and "tokens estimated for 2 call(s)" in report
    assert "qwen3:8b (compatible): a local model: costs 0 unless MODEL_PRICES prices it" in report


def test_a_record_names_where_the_model_ran_and_an_old_one_still_reads() -> None:
    usage = ModelUsage(model="qwen3:8b", provider="compatible", input_tokens=10, output_tokens=2, estimated_calls=1)
    record = JobRecord("d1", "issues", "opened", "o/r", 1, 7)
    record.merge(Outcome.done("labels added", usage=usage))
    line = format_record(JobRecord.from_json(record.to_json()))
    assert "provider=compatible model=qwen3:8b" in line and "estimated" in line
    old = JobRecord.from_json(
        '{"delivery_id": "d0", "event": "issues", "action": "opened", "repository": "o/r", "target": 1, '
        '"installation_id": 7, "model": "claude-haiku-5-5", "input_tokens": 3}'
    )
    assert old.provider == "" and "model=claude-haiku-5-5" in format_record(old)
    half = usage.share(2, 0)
    assert (half.provider, half.estimated_calls, (usage + usage).provider) == ("compatible", 1, "compatible")


# -- a weaker local model, over the compatible sandbox -------------------------------------------------------


@pytest.fixture
async def local(model: AnthropicSandbox, tmp_path: Path) -> AsyncIterator[ProviderWorld]:
    world = await start_provider("compatible", model, tmp_path)
    yield world
    await world.stop()


@pytest.fixture
async def local_deps(
    settings_env: dict[str, str], settings: Settings, local: ProviderWorld, redis: Redis
) -> AsyncIterator[Deps]:
    configured = load_settings(**{**settings_env, **local.env})
    async with aiohttp.ClientSession() as session:
        client = anthropic_client(configured)
        try:
            yield build_deps(configured, session, redis, build_llm(configured, client), lock_ttl_s=30)
        finally:
            await client.close()


TEXTS = {11: "The app crashes on start: clearly a bug.", 12: "It would be a nice enhancement to export as CSV."}


async def batch_of_two(deps: Deps, github: GitHubSandbox) -> tuple[Any, str]:
    seed_issue(github)
    add_issues(github, TEXTS)
    repo = await deps.github.repo(461842, ISSUE_REPO)
    rounds = set()
    for number in TEXTS:
        outcome = await triage.on_opened(triage_job(f"local-{number}", number=number), repo, deps, job_try=1)
        assert outcome.kind is OutcomeKind.WAITING
        rounds.add(outcome.detail.rsplit("(", 1)[1].rstrip(")"))
    [round_job] = rounds
    return repo, round_job


@pytest.mark.e2e  # the provider's sandbox served over HTTP
async def test_text_before_the_tool_call_is_read_past(
    local_deps: Deps, local: ProviderWorld, github: GitHubSandbox
) -> None:
    assert local.compatible is not None
    local.compatible.misbehave_next("text-first")
    repo, round_job = await batch_of_two(local_deps, github)
    await run_pending_round(local_deps, repo, round_job)
    assert len(local.compatible.requests) == 1  # the tool call after the text is the answer
    assert github.issue_labels(ISSUE_REPO, 11) == ["bug"] and github.issue_labels(ISSUE_REPO, 12) == ["enhancement"]


@pytest.mark.e2e  # the provider's sandbox served over HTTP
async def test_a_batch_answered_without_a_tool_call_is_asked_once_more_for_it(
    local_deps: Deps, local: ProviderWorld, github: GitHubSandbox
) -> None:
    assert local.compatible is not None
    local.compatible.misbehave_next("no-tool")
    repo, round_job = await batch_of_two(local_deps, github)
    await run_pending_round(local_deps, repo, round_job)
    first, repair = local.compatible.requests
    assert first["tools"][0]["name"] == repair["tools"][0]["name"] == BATCH_TOOL
    assert repair["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": NO_TOOL_TEXT}]}
    assert repair["messages"][2] == {"role": "user", "content": f"Call the {BATCH_TOOL} tool."}
    assert github.issue_labels(ISSUE_REPO, 11) == ["bug"] and github.issue_labels(ISSUE_REPO, 12) == ["enhancement"]


@pytest.mark.e2e  # the provider's sandbox served over HTTP
async def test_a_batch_never_answered_with_the_tool_sends_each_issue_alone_and_writes_nothing_unvalidated(
    local_deps: Deps, local: ProviderWorld, github: GitHubSandbox
) -> None:
    assert local.compatible is not None
    local.compatible.misbehave_next("no-tool", "no-tool", "no-tool")  # the batch twice, then #11 alone once
    repo, round_job = await batch_of_two(local_deps, github)
    result = await run_pending_round(local_deps, repo, round_job)
    names = [body["tools"][0]["name"] for body in local.compatible.requests]
    assert names[:2] == [BATCH_TOOL, BATCH_TOOL] and set(names[2:]) == {"choose_labels"}
    # Each issue alone, the one that met the third text-only answer after its own repair turn.
    assert github.issue_labels(ISSUE_REPO, 12) == ["enhancement"]
    assert github.issue_labels(ISSUE_REPO, 11) == ["bug"]
    assert all(r.outcome is not None and r.outcome.kind is OutcomeKind.DONE for r in result.results)
    assert PREAMBLE not in str(github.requests[-1].json)


@pytest.mark.e2e  # the provider's sandbox served over HTTP
async def test_an_answer_without_usage_is_estimated_and_the_ledger_says_so(
    local_deps: Deps, local: ProviderWorld, github: GitHubSandbox, redis: Redis
) -> None:
    assert local.compatible is not None
    local.compatible.always = {"no-usage"}
    repo, round_job = await batch_of_two(local_deps, github)
    result = await run_pending_round(local_deps, repo, round_job)
    assert result.batch_usage is not None
    assert result.batch_usage.estimated_calls == 1 and result.batch_usage.input_tokens > 100
    assert result.batch_usage.cost_usd == 0.0
    [row] = await Spending(redis, tokens_per_day=0).rows(time.time() - 3600)
    assert (row.provider, row.model, row.calls, row.estimated) == ("compatible", "qwen3:8b", 1, 1)
    assert "~" in format_report(Report("then", [row]), price_table())


# -- refused credentials ------------------------------------------------------------------------------


@pytest.mark.e2e  # the provider's sandbox served over HTTP
async def test_bedrock_takes_a_bedrock_api_key_and_refuses_a_bad_signature(model: AnthropicSandbox) -> None:
    server = BedrockSandbox(model, region="eu-central-1", bearer_token="bedrock-api-key-sandbox")
    runner, url = await start_bedrock(server)
    question: Question[Any] = Question(
        system="s", user="u", answer=_Answer, tool_name="answer", tool_description="d",
        model="eu.anthropic.claude-haiku-4-5-20251001-v1:0",
    )  # fmt: skip
    meter = _NoMeter()
    try:
        keyed = load_settings(
            MODEL_PROVIDER="bedrock", AWS_REGION="eu-central-1", AWS_BEARER_TOKEN_BEDROCK="bedrock-api-key-sandbox",
            ANTHROPIC_BEDROCK_BASE_URL=url,
        )  # fmt: skip
        client = anthropic_client(keyed)
        answer = await AnthropicLLM(client, "", provider=Provider.BEDROCK).ask(question, meter=meter)
        await client.close()
        assert server.calls[-1].auth == "bearer" and answer.usage.provider == "bedrock"

        wrong = anthropic.AsyncAnthropicBedrock(
            aws_region="eu-central-1", aws_access_key=server.access_key, aws_secret_key="not-the-secret",
            base_url=url, max_retries=0,
        )  # fmt: skip
        with pytest.raises(PermanentError, match="403"):
            await AnthropicLLM(wrong, "", provider=Provider.BEDROCK).ask(question, meter=meter)
        await wrong.close()
        assert server.refused == ["The request signature we calculated does not match the signature you provided."]
    finally:
        await runner.cleanup()


@pytest.mark.e2e  # the provider's sandbox served over HTTP
async def test_vertex_refuses_a_token_it_did_not_issue(model: AnthropicSandbox, tmp_path: Path) -> None:
    world = await start_provider("vertex", model, tmp_path)
    assert world.vertex is not None
    try:
        forged = anthropic.AsyncAnthropicVertex(
            region=world.vertex.region, project_id=world.vertex.project, access_token="ya29.forged",
            base_url=world.vertex.api_base_url, max_retries=0,
        )  # fmt: skip
        with pytest.raises(anthropic.AuthenticationError):
            await forged.messages.create(
                model="claude-haiku-4-5@20251001", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        await forged.close()
        assert world.vertex.calls == [] and "invalid authentication credentials" in world.vertex.refused[0]
    finally:
        await world.stop()


class _Answer(BaseModel):
    text: str


class _NoMeter:
    async def before_call(self, model: str) -> None:
        return None

    async def after_call(self, usage: ModelUsage) -> None:
        return None


class _CountingWarmth:
    """A Warmth that lets every call go and counts the prefixes it was asked to warm."""

    def __init__(self) -> None:
        self.keys: list[str | None] = []

    def turn(self, key: str | None) -> Any:
        import contextlib

        self.keys.append(key)
        return contextlib.nullcontext()


@pytest.mark.e2e  # the provider's sandbox served over HTTP
async def test_a_provider_without_caching_gets_no_cache_marks_and_no_warm_up(
    local: ProviderWorld, model: AnthropicSandbox
) -> None:
    assert local.compatible is not None
    marked = {"type": "ephemeral"}
    question: Question[Any] = Question(
        system=[{"type": "text", "text": "rules " * 3000, "cache_control": marked}],
        user="u",
        answer=_Answer,
        tool_name="answer",
        tool_description="d",
        tool={
            "name": "answer",
            "description": "d",
            "input_schema": _Answer.model_json_schema(),
            "cache_control": marked,
        },
    )
    client = anthropic.AsyncAnthropic(api_key="ollama", base_url=local.compatible.base_url, max_retries=0)
    warmth = _CountingWarmth()
    try:
        await AnthropicLLM(client, "qwen3:8b", provider=Provider.COMPATIBLE, warmth=warmth).ask(
            question, meter=_NoMeter()
        )
        assert local.compatible.cache_marks_received() == 0 and warmth.keys == []
        # The same question to the Claude API keeps its marks and leads the warm-up.
        direct = anthropic.AsyncAnthropic(api_key=model.api_key, base_url=model.base_url, max_retries=0)
        await AnthropicLLM(direct, "claude-haiku-4-5", warmth=warmth).ask(question, meter=_NoMeter())
        await direct.close()
        assert "cache_control" in model.requests[-1]["tools"][0] and len(warmth.keys) == 1
    finally:
        await client.close()
