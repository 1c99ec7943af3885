"""What each Claude model can do and costs: the one table of per-model facts. Pure.

One row per model family, read by every part that depends on the model: the price of a call
(bot/core/costs/pricing.py), the shortest prefix the prompt cache keeps (bot/core/model/caching.py), whether
the model takes a forced `tool_choice`, and whether it offers strict tools (`strict: true`:
constrained decoding, so a tool call's input always matches its schema) (bot/adapters/llm.py).

Sources, read on the dates given (stored copies of Anthropic's pages):

- Prices, USD per million tokens, in four columns: base input, 5-minute cache write, cache read,
  output. Read on 2026-12-01 from https://platform.claude.com/docs/en/about-claude/pricing and the
  model pages it links (the newest stored copy dated 2026-11-10). `MODEL_PRICES` overrides any row.
- Cache minimums: the "Cache limitations" section of
  https://platform.claude.com/docs/en/build-with-claude/prompt-caching (2026-10-07 and its copy
  of 2026-08-21). Fable 5.2 and Mythos 5.2 (2026-11-09) are on no copy seen; they are given the 512
  their line has had since Fable 5.
- Forced tool choice: the models whose "what's new" pages say a forced `tool_choice`
  (`{"type": "tool"}`) answers 400 are asked with `auto` and an instruction instead.
- Strict tools: https://platform.claude.com/docs/en/build-with-claude/structured-outputs (GA on the
  Claude API and Amazon Bedrock for Opus 4.5, Opus 4.6, Sonnet 4.6 and Haiku 4.5; Vertex AI lists
  Opus 4.7). The later models are on no copy of that list seen (`strict_inferred`): they are marked
  as offering strict tools because every model since 4.5 has, and a model that refuses one anyway
  costs one 400, after which hookwise asks it without (bot/adapters/llm.py). An id outside the
  table never gets strict tools: its answers are validated, which every answer is anyway.

A model id is matched to the longest family it starts with, so dated and suffixed ids resolve
(`claude-haiku-4-5-20251001` is Haiku 4.5, `us.anthropic.claude-opus-4-6-v1:0` on Bedrock is
Opus 4.6) while a newer version never passes for an older one (`claude-opus-5-7` is not Opus 5).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

CACHE_WRITE_RATIO = 1.25  # a 5-minute cache write, times base input
CACHE_READ_RATIO = 0.1  # a cache read (hit or refresh), times base input

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


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """One model family's row."""

    price: ModelPrice
    cache_minimum: int  # the fewest prompt tokens the prompt cache keeps
    forced_tool_choice: bool = True  # False: a forced tool_choice answers 400
    strict_tools: bool = True  # offers `strict: true` tools
    strict_inferred: bool = False  # strict tools not on the structured-outputs page's list (see above)

    @property
    def name(self) -> str:
        return self.price.name


_FABLE_5_2 = (
    "claude-fable-5-2 (released 2026-11-09) is not on the stored copy of the pricing page; "
    "$8/$40 with $10 writes and $0.20 reads as republished at list price on 2026-11-10"
)
_NO_FORCED = {"forced_tool_choice": False}
_INFERRED = {"strict_inferred": True}

MODELS: Mapping[str, ModelFacts] = MappingProxyType(
    {
        "claude-fable-5-2": ModelFacts(
            ModelPrice("Claude Fable 5.2", Price(8.0, 40.0, 10.0, 0.20), _FABLE_5_2), 512, **_INFERRED
        ),
        "claude-mythos-5-2": ModelFacts(
            ModelPrice(
                "Claude Mythos 5.2",
                Price(8.0, 40.0, 10.0, 0.20),
                "assumed equal to Fable 5.2, as every earlier Mythos release was priced as its Fable",
                inferred=True,
            ),
            512,
            **_INFERRED,
        ),
        # Fable/Mythos 5.1 cache hits are 0.025x input (a footnote on the pricing page).
        "claude-fable-5-1": ModelFacts(
            ModelPrice("Claude Fable 5.1", Price(10.0, 50.0, 12.50, 0.25)), 512, **_NO_FORCED, **_INFERRED
        ),
        "claude-mythos-5-1": ModelFacts(
            ModelPrice("Claude Mythos 5.1", Price(10.0, 50.0, 12.50, 0.25)), 512, **_NO_FORCED, **_INFERRED
        ),
        "claude-fable-5": ModelFacts(ModelPrice("Claude Fable 5", Price(10.0, 50.0, 12.50, 1.0)), 512, **_INFERRED),
        "claude-mythos-5": ModelFacts(ModelPrice("Claude Mythos 5", Price(10.0, 50.0, 12.50, 1.0)), 512, **_INFERRED),
        "claude-mythos-preview": ModelFacts(
            ModelPrice(
                "Claude Mythos Preview",
                Price.of(25.0, 125.0),
                "not on the public pricing page (invitation only, Project Glasswing); $25/$125 as announced "
                "for participants in 2026-04, cache columns by the standard ratios",
                inferred=True,
            ),
            2048,
            **_NO_FORCED,
            **_INFERRED,
        ),
        # Opus 5.5 cache hits are 0.05x input (model page and pricing footnote).
        "claude-opus-5-5": ModelFacts(
            ModelPrice("Claude Opus 5.5", Price(4.0, 20.0, 5.0, 0.20)), 512, **_NO_FORCED, **_INFERRED
        ),
        "claude-opus-5": ModelFacts(ModelPrice("Claude Opus 5", Price.of(5.0, 25.0)), 512, **_INFERRED),
        "claude-opus-4-8": ModelFacts(ModelPrice("Claude Opus 4.8", Price.of(5.0, 25.0)), 1024, **_INFERRED),
        "claude-opus-4-7": ModelFacts(ModelPrice("Claude Opus 4.7", Price.of(5.0, 25.0)), 2048),
        "claude-opus-4-6": ModelFacts(ModelPrice("Claude Opus 4.6", Price.of(5.0, 25.0)), 4096),
        "claude-opus-4-5": ModelFacts(ModelPrice("Claude Opus 4.5", Price.of(5.0, 25.0)), 4096),
        # Sonnet 5.5 cache reads were cut from $0.20 to $0.10 (0.05x) on 2026-10-07.
        "claude-sonnet-5-5": ModelFacts(
            ModelPrice("Claude Sonnet 5.5", Price(2.0, 10.0, 2.50, 0.10)), 512, **_NO_FORCED, **_INFERRED
        ),
        "claude-sonnet-5": ModelFacts(ModelPrice("Claude Sonnet 5", Price.of(2.0, 10.0)), 1024, **_INFERRED),
        "claude-sonnet-4-6": ModelFacts(ModelPrice("Claude Sonnet 4.6", Price.of(3.0, 15.0)), 1024),
        # Haiku 5.5 is priced by prompt length: a request whose prompt (input + cache writes + cache
        # reads) is over 100,000 tokens pays the second rate on all its tokens, output included.
        "claude-haiku-5-5": ModelFacts(
            ModelPrice(
                "Claude Haiku 5.5",
                Price(0.10, 0.50, 0.125, 0.01),
                long=Price(0.50, 2.50, 0.625, 0.05),
                long_above=100_000,
            ),
            512,
            **_INFERRED,
        ),
        "claude-haiku-4-5": ModelFacts(ModelPrice("Claude Haiku 4.5", Price.of(1.0, 5.0)), 4096),
    }
)
UNKNOWN_MODEL_MINIMUM = max(row.cache_minimum for row in MODELS.values())


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


def facts(model: str) -> ModelFacts | None:
    """The row of `model`'s family, or None for an id outside the table."""
    family = match_model(model, MODELS)
    return MODELS[family] if family is not None else None


def cache_minimum(model: str) -> int:
    """The fewest prompt tokens `model` caches; the largest known minimum for an unknown id, so an
    unknown model is never marked below what it can cache."""
    row = facts(model)
    return row.cache_minimum if row is not None else UNKNOWN_MODEL_MINIMUM
