"""A tool definition made strict for constrained decoding. Pure.

With `strict: true` on a tool, Anthropic compiles its `input_schema` into a grammar and samples only
input that parses under it: label names outside the enum, a missing required field or an unknown
one cannot come back. The compiler takes a subset of JSON Schema
(https://platform.claude.com/docs/en/build-with-claude/structured-outputs, "JSON Schema
limitations"): every object closed with `additionalProperties: false`; no numeric bounds, no string
lengths, no array bounds but a `minItems` of 0 or 1. `strict_tool` drops what the subset refuses;
the bounds it drops are still enforced when the answer is read (pydantic, bot/core/triage/label_answers.py),
as for every model without strict tools.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

DROPPED_KEYWORDS = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "default",
    }
)
SCHEMA_LISTS = ("anyOf", "allOf", "oneOf", "prefixItems")
SCHEMA_MAPS = ("properties", "$defs", "definitions")


def strict_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """`tool` (a Messages API `tools` entry) with `strict: true` and its schema in the strict subset;
    `tool` itself is left as it was."""
    strict = copy.deepcopy(dict(tool))
    strict["input_schema"] = strict_schema(strict["input_schema"])
    strict["strict"] = True
    return strict


def strict_schema(schema: Any) -> Any:
    """One schema node, and everything under it, in the strict subset."""
    if not isinstance(schema, dict):
        return schema
    node = {key: value for key, value in schema.items() if key not in DROPPED_KEYWORDS}
    if isinstance(node.get("minItems"), int) and node["minItems"] > 1:
        node["minItems"] = 1
    for key in SCHEMA_MAPS:
        if isinstance(node.get(key), dict):
            node[key] = {name: strict_schema(sub) for name, sub in node[key].items()}
    for key in SCHEMA_LISTS:
        if isinstance(node.get(key), list):
            node[key] = [strict_schema(sub) for sub in node[key]]
    if isinstance(node.get("items"), dict):
        node["items"] = strict_schema(node["items"])
    if node.get("type") == "object" or "properties" in node:
        node["additionalProperties"] = False
    return node


def is_strict(tool: Mapping[str, Any]) -> bool:
    return tool.get("strict") is True
