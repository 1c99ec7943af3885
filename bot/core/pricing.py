"""What a model call cost: Claude's price table, an operator's overrides, and the arithmetic. Pure.

Prices are USD per million tokens in four columns: base input, 5-minute cache write (hookwise only
uses the default 5-minute `ephemeral` cache), cache read (Anthropic's "cache hits & refreshes") and
output. The defaults below were read on 2026-12-01 from Anthropic's pricing and prompt-caching pages
and the model pages they link (stored copies, the newest dated 2026-11-10):

- https://platform.claude.com/docs/en/about-claude/pricing ("Model pricing")
- https://platform.claude.com/docs/en/build-with-claude/prompt-caching ("Pricing": 5-minute cache
  writes are 1.25x base input, cache reads 0.1x, with the exceptions noted per row below)
- https://platform.claude.com/docs/en/models/<model>/overview (Haiku 5.5, Sonnet 5.5, Opus 5.5)

Prices change: `MODEL_PRICES` (see `parse_model_prices`) overrides any row, or adds one, without a
release. A model id is priced by the longest family in the table it starts with, so dated and
suffixed ids resolve (`claude-haiku-4-5-20251001` is Haiku 4.5) while a newer version never passes
for an older one (`claude-opus-5-7` is not Opus 5). An id outside the table is priced as its family's
newest row, or as `FALLBACK_MODEL` when not even the family is known, and is flagged as an estimate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

PER_MILLION = 1_000_000
CACHE_WRITE_RATIO = 1.25  # a 5-minute cache write, times base input
CACHE_READ_RATIO = 0.1  # a cache read (hit or refresh), times base input
OUTPUT_EQUIVALENT = 5.0  # output tokens in the bench's cost unit (input-token equivalents)

PRICES_CHECKED = "2026-12-01"
PRICES_SOURCE = "https://platform.claude.com/docs/en/about-claude/pricing"
FALLBACK_MODEL = "claude-opus-5"
"""Prices an id whose family is unknown: $5/$25, the highest standard rate of the Opus, Sonnet and
Haiku lines, so an unknown model is more likely over- than under-estimated."""

# A family matches a longer id only when what follows is not another version number: a date
# (-20251001, @20251001), a Bedrock/Vertex tail (-v1:0), a context tag ([1m]) or a word.
_VERSION_TAIL = re.compile(r"-\d{1,2}(?!\d)")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    @classmethod
    def of(cls, input: float, output: float) -> Price:
        """Cache columns derived by Anthropic's standard ratios (1.25x and 0.1x of input)."""
        return cls(input, output, input * CACHE_WRITE_RATIO, input * CACHE_READ_RATIO)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    name: str
    price: Price
    source: str = ""  # where the figures come from, when it is not the pricing page itself
    inferred: bool = False  # not read off Anthropic's own table: costs priced with it are estimates
    long: Price | None = None  # the rate for a whole request whose prompt exceeds `long_above` tokens
    long_above: int = 0

    def for_prompt(self, prompt_tokens: int) -> Price:
        if self.long is not None and prompt_tokens > self.long_above:
            return self.long
        return self.price


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


_FABLE_5_2 = (
    "claude-fable-5-2 (released 2026-11-09) is not on the stored copy of the pricing page; "
    "$8/$40 with $10 writes and $0.20 reads as republished at list price on 2026-11-10"
)
_DEFAULTS: dict[str, ModelPrice] = {
    "claude-fable-5-2": ModelPrice("Claude Fable 5.2", Price(8.0, 40.0, 10.0, 0.20), _FABLE_5_2),
    "claude-mythos-5-2": ModelPrice(
        "Claude Mythos 5.2",
        Price(8.0, 40.0, 10.0, 0.20),
        "assumed equal to Fable 5.2, as every earlier Mythos release was priced as its Fable",
        inferred=True,
    ),
    # Fable/Mythos 5.1 cache hits are 0.025x input (a footnote on the pricing page).
    "claude-fable-5-1": ModelPrice("Claude Fable 5.1", Price(10.0, 50.0, 12.50, 0.25)),
    "claude-mythos-5-1": ModelPrice("Claude Mythos 5.1", Price(10.0, 50.0, 12.50, 0.25)),
    "claude-fable-5": ModelPrice("Claude Fable 5", Price(10.0, 50.0, 12.50, 1.0)),
    "claude-mythos-5": ModelPrice("Claude Mythos 5", Price(10.0, 50.0, 12.50, 1.0)),
    "claude-mythos-preview": ModelPrice(
        "Claude Mythos Preview",
        Price.of(25.0, 125.0),
        "not on the public pricing page (invitation only, Project Glasswing); $25/$125 as announced "
        "for participants in 2026-04, cache columns by the standard ratios",
        inferred=True,
    ),
    # Opus 5.5 cache hits are 0.05x input (model page and pricing footnote).
    "claude-opus-5-5": ModelPrice("Claude Opus 5.5", Price(4.0, 20.0, 5.0, 0.20)),
    "claude-opus-5": ModelPrice("Claude Opus 5", Price.of(5.0, 25.0)),
    "claude-opus-4-8": ModelPrice("Claude Opus 4.8", Price.of(5.0, 25.0)),
    "claude-opus-4-7": ModelPrice("Claude Opus 4.7", Price.of(5.0, 25.0)),
    "claude-opus-4-6": ModelPrice("Claude Opus 4.6", Price.of(5.0, 25.0)),
    "claude-opus-4-5": ModelPrice("Claude Opus 4.5", Price.of(5.0, 25.0)),
    # Sonnet 5.5 cache reads were cut from $0.20 to $0.10 (0.05x) on 2026-10-07.
    "claude-sonnet-5-5": ModelPrice("Claude Sonnet 5.5", Price(2.0, 10.0, 2.50, 0.10)),
    "claude-sonnet-5": ModelPrice("Claude Sonnet 5", Price.of(2.0, 10.0)),
    "claude-sonnet-4-6": ModelPrice("Claude Sonnet 4.6", Price.of(3.0, 15.0)),
    # Haiku 5.5 is priced by prompt length: a request whose prompt (input + cache writes + cache
    # reads) is over 100,000 tokens pays the second rate on all its tokens, output included.
    "claude-haiku-5-5": ModelPrice(
        "Claude Haiku 5.5",
        Price(0.10, 0.50, 0.125, 0.01),
        long=Price(0.50, 2.50, 0.625, 0.05),
        long_above=100_000,
    ),
    "claude-haiku-4-5": ModelPrice("Claude Haiku 4.5", Price.of(1.0, 5.0)),
}
DEFAULT_PRICES: PriceTable = MappingProxyType(_DEFAULTS)
# An unknown id naming a family is priced as that family's newest row.
_FAMILY_NEWEST = {
    "fable": "claude-fable-5-2",
    "mythos": "claude-mythos-5-2",
    "opus": "claude-opus-5-5",
    "sonnet": "claude-sonnet-5-5",
    "haiku": "claude-haiku-5-5",
}


def normalise_model(model: str) -> str:
    """Lower case, without a Bedrock region/vendor prefix (`us.anthropic.claude-...`)."""
    name = model.strip().lower()
    marker = name.find("anthropic.")
    return name[marker + len("anthropic.") :] if marker >= 0 else name


def match_model(model: str, families: Iterable[str]) -> str | None:
    """The longest of `families` that `model` is (a dated or suffixed id of), or None."""
    name = normalise_model(model)
    best: str | None = None
    for family in families:
        if not name.startswith(family) or (best is not None and len(family) <= len(best)):
            continue
        tail = name[len(family) :]
        if tail == "" or (tail[0] in "-@:[" and not _VERSION_TAIL.match(tail)):
            best = family
    return best


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
    rate = resolve_price(model, prices).entry.for_prompt(usage.prompt_tokens)
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
