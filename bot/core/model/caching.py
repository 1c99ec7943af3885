"""Prompt caching where it pays: where the `cache_control` marker goes, and a name for the prefix
it marks. Pure.

Anthropic caches a prompt prefix up to and including the block marked with `cache_control`, in the
order tools, then system, then messages; a marked prefix shorter than the model's minimum is simply
not cached ("processed without caching, and no error is returned"). The minimums are a column of
the per-model table (bot/core/model/facts.py, with their source); an id not in the table gets the
largest minimum, so an unknown model is never marked below what it can cache.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from bot.core.model.facts import MODELS, UNKNOWN_MODEL_MINIMUM, cache_minimum
from bot.core.tokens import estimate_tokens

__all__ = ["UNKNOWN_MODEL_MINIMUM", "cache_minimum"]

CACHE_MINIMUM_SOURCE = "https://platform.claude.com/docs/en/build-with-claude/prompt-caching#cache-limitations"
EPHEMERAL: Mapping[str, str] = MappingProxyType({"type": "ephemeral"})  # the 5-minute cache

CACHE_MINIMUMS: Mapping[str, int] = MappingProxyType({family: row.cache_minimum for family, row in MODELS.items()})

TokenEstimator = Callable[[str], int]


def tool_text(tool: Mapping[str, Any]) -> str:
    """A tool definition as the text an estimator counts."""
    return json.dumps(tool, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class CachePlan:
    """The request fragments for the static prefix, marked or not.

    Send `tools` as the request's `tools` and `system` as its `system` (a list of text blocks; the
    Messages API accepts it wherever a string is accepted). When `cache` is true the marker is on
    the last block of the prefix: the last system block, or the tool when there is no system text.
    """

    cache: bool
    prefix_tokens: int
    minimum: int
    tools: list[dict[str, Any]]
    system: list[dict[str, Any]]


def plan_static_prefix(
    *,
    tool: Mapping[str, Any],
    system: str,
    model: str,
    estimate: TokenEstimator = estimate_tokens,
    labels: str | None = None,
) -> CachePlan:
    """Whether to cache the static prefix (tool definition, system text, then the repository's
    label list as its own system block), and the fragments with `cache_control` placed.

    `tool` is the whole tool definition (`name`, `description`, `input_schema`); it is copied, never
    changed. Everything in the prefix must be byte-identical from call to call for a cache hit, so
    nothing that varies per request (an issue, a batch's numbers) may be in it.
    """
    tool_block: dict[str, Any] = copy.deepcopy(dict(tool))
    texts = [text for text in (system, labels or "") if text]  # an empty text block is refused
    system_blocks: list[dict[str, Any]] = [{"type": "text", "text": text} for text in texts]
    prefix_tokens = estimate(tool_text(tool_block)) + sum(estimate(text) for text in texts)
    minimum = cache_minimum(model)
    cache = prefix_tokens >= minimum
    if cache:
        last = system_blocks[-1] if system_blocks else tool_block
        last["cache_control"] = dict(EPHEMERAL)
    return CachePlan(cache, prefix_tokens, minimum, [tool_block], system_blocks)


def prefix_key(model: str, tools: Sequence[Mapping[str, Any]], system: str | Sequence[Mapping[str, Any]]) -> str | None:
    """A name for the prefix a request marks for the cache (tools, then system blocks, up to the
    last one carrying `cache_control`), the same for every request that would read the same cache
    entry; None when nothing is marked. Messages are never part of it: hookwise marks only the
    static prefix."""
    parts = [*tools, *([] if isinstance(system, str) else system)]
    marked = [index for index, part in enumerate(parts) if "cache_control" in part]
    if not marked:
        return None
    prefix = json.dumps([model, parts[: marked[-1] + 1]], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(prefix.encode()).hexdigest()[:32]
