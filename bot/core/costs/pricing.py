"""What a model call cost: the price table, an operator's overrides, and the arithmetic. Pure.

Prices are USD per million tokens in four columns: base input, 5-minute cache write (hookwise only
uses the default 5-minute `ephemeral` cache), cache read (Anthropic's "cache hits & refreshes") and
output. The defaults are the price column of the per-model table (bot/core/model/facts.py, which says
where each figure was read).

Prices change: `MODEL_PRICES` (see `parse_model_prices`) overrides any row, or adds one, without a
release. A model id is priced by the longest family in the table it starts with, so dated and
suffixed ids resolve (`claude-haiku-4-5-20251001` is Haiku 4.5) while a newer version never passes
for an older one (`claude-opus-5-7` is not Opus 5). An id outside the table is priced as its family's
newest row, or as `FALLBACK_MODEL` when not even the family is known, and is flagged as an estimate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.core.model.facts import (
    CACHE_READ_RATIO,
    CACHE_WRITE_RATIO,
    MODELS,
    ModelPrice,
    Price,
    match_model,
    normalise_model,
)

__all__ = ["CACHE_READ_RATIO", "CACHE_WRITE_RATIO", "ModelPrice", "Price", "match_model", "normalise_model"]

PER_MILLION = 1_000_000
OUTPUT_EQUIVALENT = 5.0  # output tokens in the bench's cost unit (input-token equivalents)

PRICES_CHECKED = "2026-12-01"
PRICES_SOURCE = "https://platform.claude.com/docs/en/about-claude/pricing"
FALLBACK_MODEL = "claude-opus-5"
"""Prices an id whose family is unknown: $5/$25, the highest standard rate of the Opus, Sonnet and
Haiku lines, so an unknown model is more likely over- than under-estimated."""

PriceTable = Mapping[str, ModelPrice]


@dataclass(frozen=True, slots=True)
class Usage:
    """A call's token counts, named as in the Messages API's `usage` object."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0

    @classmethod
    def of(cls, usage: object) -> Usage:
        """From the SDK's `message.usage`, a dict with the same keys, or a record naming the cache
        counts `cache_write_tokens` / `cache_read_tokens`; an absent or None count is 0."""

        def count(*names: str) -> int:
            for name in names:
                value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
                if isinstance(value, int) and not isinstance(value, bool):
                    return max(value, 0)
            return 0

        return cls(
            count("input_tokens"),
            count("output_tokens"),
            count("cache_creation_input_tokens", "cache_write_tokens"),
            count("cache_read_input_tokens", "cache_read_tokens"),
        )

    @property
    def prompt_tokens(self) -> int:
        """Everything the model read: uncached input, cache writes and cache reads."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @property
    def total_tokens(self) -> int:
        """Input, output and cache, all counted (what `MODEL_TOKENS_PER_DAY` limits)."""
        return self.prompt_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_creation_input_tokens + other.cache_creation_input_tokens,
            self.cache_read_input_tokens + other.cache_read_input_tokens,
        )


DEFAULT_PRICES: PriceTable = MappingProxyType({family: row.price for family, row in MODELS.items()})
# An unknown id naming a family is priced as that family's newest row.
_FAMILY_NEWEST = {
    "fable": "claude-fable-5-2",
    "mythos": "claude-mythos-5-2",
    "opus": "claude-opus-5-5",
    "sonnet": "claude-sonnet-5-5",
    "haiku": "claude-haiku-5-5",
}


@dataclass(frozen=True, slots=True)
class Resolved:
    model: str  # the id asked about
    priced_as: str  # the table row used
    entry: ModelPrice
    fallback: bool  # the id is not in the table: `priced_as` stands in for it

    @property
    def estimate(self) -> bool:
        """The cost is an estimate: an unknown id, or a row not read off Anthropic's table."""
        return self.fallback or self.entry.inferred

    @property
    def note(self) -> str:
        """Empty for a priced model; otherwise the words an output line should carry."""
        if self.fallback:
            return f"estimate: {self.model} is not in the price table, priced as {self.priced_as}"
        if self.entry.inferred:
            return f"estimate: {self.entry.source}"
        return ""


def resolve_price(model: str, prices: PriceTable = DEFAULT_PRICES) -> Resolved:
    """The row that prices `model`, falling back (and flagging an estimate) for an unknown id."""
    matched = match_model(model, prices)
    if matched is not None:
        return Resolved(model, matched, prices[matched], fallback=False)
    name = normalise_model(model)
    family = next((f for f in _FAMILY_NEWEST if re.search(rf"(^|[^a-z]){f}([^a-z]|$)", name)), None)
    fallback = _FAMILY_NEWEST[family] if family is not None else FALLBACK_MODEL
    if fallback not in prices:
        fallback = FALLBACK_MODEL if FALLBACK_MODEL in prices else next(iter(prices))
    return Resolved(model, fallback, prices[fallback], fallback=True)


def cost_usd(model: str, usage: Usage, prices: PriceTable = DEFAULT_PRICES) -> float:
    """Estimated US dollars for one call (or a sum of calls of one model whose prompts stayed
    under any long-prompt threshold). `resolve_price(model, prices).note` says whether it is an estimate."""
    return priced(usage, resolve_price(model, prices).entry.for_prompt(usage.prompt_tokens))


def priced(usage: Usage, rate: Price) -> float:
    """US dollars for `usage` at `rate` (per million tokens, each kind of token at its own price)."""
    return (
        usage.input_tokens * rate.input
        + usage.output_tokens * rate.output
        + usage.cache_creation_input_tokens * rate.cache_write
        + usage.cache_read_input_tokens * rate.cache_read
    ) / PER_MILLION


def input_equivalents(usage: Usage) -> float:
    """The bench's model-independent cost unit: input + 1.25 x cache writes + 0.1 x cache reads +
    5 x output."""
    return (
        usage.input_tokens
        + CACHE_WRITE_RATIO * usage.cache_creation_input_tokens
        + CACHE_READ_RATIO * usage.cache_read_input_tokens
        + OUTPUT_EQUIVALENT * usage.output_tokens
    )


# -- the operator's override ----------------------------------------------------------------------

OVERRIDE_FORMAT = "MODEL=INPUT/OUTPUT or MODEL=INPUT/OUTPUT/CACHE_WRITE/CACHE_READ (USD per million tokens)"
_MODEL_KEY = re.compile(r"^[a-z0-9][a-z0-9._:@\[\]-]*$")


class PriceOverrideError(ValueError):
    """A malformed `MODEL_PRICES` value; the message is one line (without the setting's name, which
    the settings loader puts in front)."""


def parse_model_prices(value: str) -> dict[str, ModelPrice]:
    """`MODEL_PRICES`: comma-separated `MODEL=INPUT/OUTPUT` entries, e.g.
    `claude-haiku-5-5=1/5,claude-sonnet-5-5=3/15`, cache write and read derived by the standard
    ratios; or `MODEL=INPUT/OUTPUT/CACHE_WRITE/CACHE_READ` to give all four. Empty: no overrides."""
    overrides: dict[str, ModelPrice] = {}
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        model, sep, figures = entry.partition("=")
        key = model.strip().lower()
        if not sep or not _MODEL_KEY.match(key):
            raise PriceOverrideError(f"{entry!r} is not {OVERRIDE_FORMAT}, e.g. claude-haiku-5-5=1/5")
        if "=" in figures:
            raise PriceOverrideError(f"{entry!r} has more than one '='; separate entries with commas")
        parts = [part.strip() for part in figures.split("/")]
        if len(parts) not in (2, 4):
            raise PriceOverrideError(f"{entry!r} has {len(parts)} price(s); expected {OVERRIDE_FORMAT}")
        numbers = [_price(part, entry) for part in parts]
        if key in overrides:
            raise PriceOverrideError(f"{key} is priced twice")
        price = Price.of(numbers[0], numbers[1]) if len(numbers) == 2 else Price(*numbers)
        overrides[key] = ModelPrice(key, price, "MODEL_PRICES")
    return overrides


def _price(text: str, entry: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        raise PriceOverrideError(
            f"{entry!r}: {text!r} is not a price (a non-negative number of USD per million tokens)"
        )
    return number


def price_table(overrides: str = "") -> dict[str, ModelPrice]:
    """The defaults with `MODEL_PRICES` applied: an override replaces a row (its long-prompt rate
    too) or adds one, and matches dated ids by prefix like any row."""
    return {**DEFAULT_PRICES, **parse_model_prices(overrides)}
