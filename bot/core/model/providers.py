"""Where the model runs: what each provider can do and what a call there costs. Pure.

The per-model table (bot/core/model/facts.py) says what a Claude model can do on the Claude API; a
provider can do less. This module is the provider dimension of that one table, and
`capabilities(provider, model)` combines the two into what the model adapter reads
(bot/adapters/llm.py): whether to force the tool call, whether to send strict tools, whether to
mark prompt-cache prefixes (and hold calls back for the cache warm-up), and whether an answer's
`usage` can be trusted or must be estimated.

Providers (`MODEL_PROVIDER`), read on 2026-12-05 from the stored copies named:

- `anthropic`: the Claude API. Everything the model offers.
- `bedrock`: Amazon Bedrock through the SDK's Bedrock client (`POST /model/{id}/invoke`, SigV4).
  Forced tool choice and prompt caching as on the Claude API (Bedrock's model cards list prompt
  caching with the same minimums, e.g. 4,096 for Haiku 4.5); strict tools for the same models
  (https://docs.aws.amazon.com/bedrock/latest/userguide/structured-output.html: `strict: true` on
  InvokeModel for Claude). The SDK refuses token counting and message batches on Bedrock
  ("not supported in Bedrock yet"), so they are marked missing.
- `vertex`: Google Vertex AI through the SDK's Vertex client (`:rawPredict`, a Google bearer
  token). Forced tool choice and prompt caching as on the Claude API; token counting through
  `count-tokens:rawPredict`; no message batches in the SDK. Strict tools are NOT sent: Vertex lists
  structured outputs for a few models only (Opus 4.7, Sonnet 4.6, Opus 4.6) and disables them by
  default with the organisation policy `constraints/vertexai.allowedPartnerModelFeatures`
  (https://docs.cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude/structured_outputs),
  so a strict tool would be refused unless an administrator changed the policy. Answers are
  validated either way.
- `compatible`: any server answering the Messages API at ANTHROPIC_BASE_URL (Ollama 0.14 and later,
  llama.cpp's server). Ollama's Anthropic compatibility page lists tool use but neither
  `tool_choice` nor `cache_control`: hookwise asks with `tool_choice: auto` and an instruction,
  marks nothing for caching, sends no strict tools, and estimates tokens when an answer carries no
  usage. Its models are the server's own names (`qwen3:8b`), not in the Claude table.

Prices. Neither price list could be read: the stored copies of https://aws.amazon.com/bedrock/pricing/
and https://cloud.google.com/vertex-ai/generative-ai/pricing (read 2026-12-05) do not carry the
Claude rows (the tables are drawn by script). Claude on Bedrock and Vertex is priced at the Claude
API's rates on their global endpoints and 10 % above them on regional and geographic ones (for
Sonnet 4.5, Haiku 4.5, Opus 4.5 and every later model: all rows of the Claude table), as reported
by third parties in 2026 (e.g. https://clauder-navi.com/en/bedrock-claude-cost/,
https://sam.mehdi.consulting/posts/saving-money-on-bedrock-is-hard/). So a Bedrock or Vertex cost
is the Claude API price, times 1.1 off the global endpoint, flagged as an estimate. `MODEL_PRICES`
overrides it: an entry `bedrock:MODEL=...` or `vertex:MODEL=...` prices that provider's calls
exactly (not an estimate). A `compatible` model costs 0 unless `MODEL_PRICES` names it
(`qwen3:8b=0.1/0.4`, or `compatible:qwen3:8b=...`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bot.core.costs.pricing import Usage, priced, resolve_price
from bot.core.model.facts import ModelPrice, Price, cache_minimum, facts, match_model


class Provider(enum.StrEnum):
    ANTHROPIC = "anthropic"
    BEDROCK = "bedrock"
    VERTEX = "vertex"
    COMPATIBLE = "compatible"


PROVIDERS_CHECKED = "2026-12-05"
REGIONAL_PREMIUM = 1.10  # a regional or geographic endpoint of Bedrock or Vertex, times the global rate
OVERRIDE_SOURCE = "MODEL_PRICES"  # bot/core/costs/pricing.py's source of an operator's entry


@dataclass(frozen=True, slots=True)
class ProviderFacts:
    """One provider's row: what it offers whatever the model (the model's own column still decides)."""

    name: Provider
    label: str
    forced_tool_choice: bool  # honours `tool_choice: {"type": "tool"}`
    strict_tools: bool  # accepts `strict: true` tools (for the models that offer them)
    prompt_caching: bool  # honours `cache_control` and reports cache tokens
    token_counting: bool  # `POST /v1/messages/count_tokens` (or its equivalent) through the SDK
    message_batches: bool  # the Message Batches API through the SDK
    usage_reliable: bool  # every answer carries `usage`; otherwise a missing one is estimated
    claude_models: bool  # serves Claude models by their Claude ids (priced by the Claude table)
    price_note: str  # how its calls are priced, for `costs` and /status


PROVIDERS: Mapping[Provider, ProviderFacts] = MappingProxyType(
    {
        Provider.ANTHROPIC: ProviderFacts(
            Provider.ANTHROPIC, "Claude API", True, True, True, True, True, True, True, ""
        ),
        Provider.BEDROCK: ProviderFacts(
            Provider.BEDROCK, "Amazon Bedrock", True, True, True, False, False, True, True,
            "estimate: the Bedrock price list could not be read; the Claude API price, +10 % off the "
            "global endpoint (global.* ids)",
        ),
        Provider.VERTEX: ProviderFacts(
            Provider.VERTEX, "Google Vertex AI", True, False, True, True, False, True, True,
            "estimate: the Vertex AI price list could not be read; the Claude API price, +10 % off the "
            "global region",
        ),
        Provider.COMPATIBLE: ProviderFacts(
            Provider.COMPATIBLE, "a Messages-API-compatible server", False, False, False, False, False, False,
            False, "a local model: costs 0 unless MODEL_PRICES prices it",
        ),
    }
)  # fmt: skip


def provider_named(name: str) -> Provider:
    """The provider a `MODEL_PROVIDER` value names (case and spaces ignored); ValueError otherwise."""
    try:
        return Provider(name.strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in Provider)
        raise ValueError(f"{name!r} is not one of {choices}") from None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the model adapter may ask of `model` at `provider`."""

    provider: Provider
    model: str
    forced_tool_choice: bool
    strict_tools: bool
    prompt_caching: bool
    cache_minimum: int
    token_counting: bool
    message_batches: bool
    usage_reliable: bool


def capabilities(provider: Provider | str, model: str) -> Capabilities:
    """The provider's row and the model's row, combined: a feature is there when both have it.

    A model outside the Claude table (any `compatible` model, or a Claude id too new for the table)
    is asked with a forced tool choice where the provider honours one, and never with strict tools."""
    row = PROVIDERS[Provider(provider)]
    model_row = facts(model) if row.claude_models else None
    return Capabilities(
        provider=row.name,
        model=model,
        forced_tool_choice=row.forced_tool_choice and (model_row is None or model_row.forced_tool_choice),
        strict_tools=row.strict_tools and model_row is not None and model_row.strict_tools,
        prompt_caching=row.prompt_caching,
        cache_minimum=cache_minimum(model),
        token_counting=row.token_counting,
        message_batches=row.message_batches,
        usage_reliable=row.usage_reliable,
    )


# -- prices -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderPrice:
    """The rate one call of `model` at a provider is priced at, and what to say about it."""

    entry: ModelPrice | None  # None: free (a local model nobody priced)
    multiplier: float
    note: str  # "" when the figure is not an estimate

    @property
    def estimate(self) -> bool:
        return bool(self.note) and self.entry is not None

    def rate(self, prompt_tokens: int) -> Price | None:
        if self.entry is None:
            return None
        base = self.entry.for_prompt(prompt_tokens)
        m = self.multiplier
        return Price(base.input * m, base.output * m, base.cache_write * m, base.cache_read * m)


def regional(provider: Provider, model: str, region: str) -> bool:
    """Whether a call goes to a regional or geographic endpoint (10 % above the global rate):
    a Bedrock id without the `global.` profile prefix, or a Vertex region other than `global`."""
    if provider is Provider.BEDROCK:
        return not model.strip().lower().startswith("global.")
    if provider is Provider.VERTEX:
        return region.strip().lower() != "global"
    return False


def _overrides(prices: Mapping[str, ModelPrice], provider: Provider) -> dict[str, ModelPrice]:
    """The MODEL_PRICES entries meant for `provider` alone (`bedrock:claude-haiku-4-5=...`)."""
    prefix = f"{provider.value}:"
    return {key[len(prefix) :]: entry for key, entry in prices.items() if key.startswith(prefix)}


def provider_price(
    provider: Provider | str, model: str, prices: Mapping[str, ModelPrice], *, region: str = ""
) -> ProviderPrice:
    """How a call of `model` at `provider` is priced (`prices`: bot/core/costs/pricing.py's table with
    MODEL_PRICES applied). For the Claude API, the table as it is (bot/core/costs/pricing.py)."""
    chosen = Provider(provider)
    mine = _overrides(prices, chosen)
    family = match_model(model, mine) if mine else None
    if family is None and chosen is not Provider.ANTHROPIC:
        family = match_model(model.strip().lower(), mine) if mine else None
    if family is not None:
        return ProviderPrice(mine[family], 1.0, "")
    if chosen is Provider.COMPATIBLE:
        operator = {key: entry for key, entry in prices.items() if entry.source == OVERRIDE_SOURCE}
        named = match_model(model.strip().lower(), operator) or match_model(model, operator)
        if named is not None:
            return ProviderPrice(operator[named], 1.0, "")
        return ProviderPrice(None, 0.0, PROVIDERS[chosen].price_note)
    resolved = resolve_price(model, prices)
    if chosen is Provider.ANTHROPIC or resolved.entry.source == OVERRIDE_SOURCE:
        return ProviderPrice(resolved.entry, 1.0, resolved.note)
    multiplier = REGIONAL_PREMIUM if regional(chosen, model, region) else 1.0
    note = PROVIDERS[chosen].price_note + (f"; {resolved.note}" if resolved.note else "")
    return ProviderPrice(resolved.entry, multiplier, note)


def provider_cost_usd(
    provider: Provider | str, model: str, usage: Usage, prices: Mapping[str, ModelPrice], *, region: str = ""
) -> float:
    """Estimated US dollars for one call of `model` at `provider` (0 for an unpriced local model)."""
    rate = provider_price(provider, model, prices, region=region).rate(usage.prompt_tokens)
    return 0.0 if rate is None else priced(usage, rate)


def without_cache_marks(value: Any) -> Any:
    """`value` (a tool, the system blocks, the messages) with every `cache_control` key removed,
    copied where anything was removed: what is sent to a provider that does not cache."""
    if isinstance(value, Mapping):
        return {key: without_cache_marks(item) for key, item in value.items() if key != "cache_control"}
    if isinstance(value, list | tuple):
        return [without_cache_marks(item) for item in value]
    return value
