"""bot.core.model.caching: one table of cache minimums, and where `cache_control` goes."""

from __future__ import annotations

import copy
import json
from typing import Any, get_args

import pytest
from anthropic.types.model_param import ModelParam

from bot.core.costs.pricing import DEFAULT_PRICES
from bot.core.model.caching import (
    CACHE_MINIMUMS,
    UNKNOWN_MODEL_MINIMUM,
    cache_minimum,
    plan_static_prefix,
    tool_text,
)
from bot.core.tokens import estimate_tokens

SDK_MODELS: list[str] = list(get_args(get_args(ModelParam)[0]))

TOOL: dict[str, Any] = {
    "name": "choose_labels",
    "description": "Record which of the repository's labels apply to the issue.",
    "input_schema": {
        "type": "object",
        "properties": {"labels": {"type": "array", "items": {"type": "string", "enum": ["bug", "docs"]}}},
        "required": ["labels"],
    },
}
MARK = {"type": "ephemeral"}


def one_per_char(text: str) -> int:
    return len(text)


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-haiku-5-5", 512),
        ("claude-sonnet-5-5", 512),
        ("claude-opus-5-5", 512),
        ("claude-opus-5", 512),
        ("claude-fable-5-1", 512),
        ("claude-mythos-5", 512),
        ("claude-fable-5-2", 512),
        ("claude-mythos-preview", 2048),
        ("claude-opus-4-7", 2048),
        ("claude-opus-4-6", 4096),
        ("claude-opus-4-5-20251101", 4096),
        ("claude-opus-4-8", 1024),
        ("claude-sonnet-5", 1024),
        ("claude-sonnet-4-6", 1024),
        ("claude-haiku-4-5-20251001", 4096),
    ],
)
def test_documented_minimums(model: str, minimum: int) -> None:
    assert cache_minimum(model) == minimum


@pytest.mark.parametrize("model", ["claude-opus-5-7", "claude-haiku-6", "gpt-4o", ""])
def test_an_unknown_model_gets_the_largest_minimum(model: str) -> None:
    assert UNKNOWN_MODEL_MINIMUM == 4096
    assert cache_minimum(model) == 4096


@pytest.mark.parametrize("model", SDK_MODELS)
def test_every_model_the_sdk_knows_has_its_own_minimum(model: str) -> None:
    assert any(model.startswith(family) for family in CACHE_MINIMUMS), model


def test_the_cache_table_and_the_price_table_know_the_same_models() -> None:
    assert set(CACHE_MINIMUMS) == set(DEFAULT_PRICES)


@pytest.mark.parametrize(("model", "below", "at"), [("claude-haiku-5-5", 511, 512), ("claude-haiku-4-5", 4095, 4096)])
def test_a_prefix_is_cached_from_the_minimum_up(model: str, below: int, at: int) -> None:
    def plan(size: int) -> bool:
        tool = {"name": "t", "description": "", "input_schema": {"type": "object"}}
        text = "x" * (size - len(json.dumps(tool, separators=(",", ":"))))
        return plan_static_prefix(tool=tool, system=text, model=model, estimate=one_per_char).cache

    assert (plan(below), plan(at)) == (False, True)


# -- plan_static_prefix -----------------------------------------------------------------------------


def test_a_long_enough_prefix_is_marked_on_its_last_block_the_label_list() -> None:
    system, labels = "S" * 300, "L" * 100
    plan = plan_static_prefix(tool=TOOL, system=system, labels=labels, model="claude-haiku-5-5", estimate=one_per_char)
    assert plan.prefix_tokens == len(tool_text(TOOL)) + 400
    assert (plan.cache, plan.minimum) == (True, 512)
    assert plan.tools == [TOOL]  # the tool itself carries no marker: the system block after it does
    assert plan.system == [
        {"type": "text", "text": system},
        {"type": "text", "text": labels, "cache_control": MARK},
    ]


def test_without_a_label_list_the_system_text_carries_the_marker() -> None:
    plan = plan_static_prefix(tool=TOOL, system="S" * 600, model="claude-haiku-5-5", estimate=one_per_char)
    assert plan.cache is True
    assert plan.system == [{"type": "text", "text": "S" * 600, "cache_control": MARK}]


def test_without_any_system_text_the_tool_carries_the_marker() -> None:
    big_tool = {**TOOL, "description": "D" * 600}
    plan = plan_static_prefix(tool=big_tool, system="", model="claude-haiku-5-5", estimate=one_per_char)
    assert plan.cache is True
    assert plan.system == []
    assert plan.tools == [{**big_tool, "cache_control": MARK}]


def test_an_empty_system_text_is_left_out_rather_than_sent_as_an_empty_block() -> None:
    plan = plan_static_prefix(tool=TOOL, system="", labels="L" * 600, model="claude-haiku-5-5", estimate=one_per_char)
    assert plan.system == [{"type": "text", "text": "L" * 600, "cache_control": MARK}]


def test_a_short_prefix_is_not_marked_at_all() -> None:
    plan = plan_static_prefix(
        tool=TOOL, system="S" * 300, labels="L" * 100, model="claude-haiku-4-5", estimate=one_per_char
    )
    assert (plan.cache, plan.minimum) == (False, 4096)
    assert "cache_control" not in str(plan.tools) + str(plan.system)
    assert plan.system == [{"type": "text", "text": "S" * 300}, {"type": "text", "text": "L" * 100}]


def test_the_callers_tool_is_never_changed() -> None:
    tool = copy.deepcopy(TOOL)
    tool["description"] = "D" * 2000
    before = copy.deepcopy(tool)
    plan = plan_static_prefix(tool=tool, system="", model="claude-haiku-5-5", estimate=one_per_char)
    plan.tools[0]["input_schema"]["required"].append("oops")
    assert tool == before


def test_the_default_estimator_is_the_diff_budgets() -> None:
    """One estimate of a text's tokens everywhere (bot/core/tokens.py), for caching decisions too."""
    plan = plan_static_prefix(tool=TOOL, system="x" * 3852, model="claude-sonnet-4-6")
    assert plan.prefix_tokens == estimate_tokens(tool_text(TOOL)) + estimate_tokens("x" * 3852)


def test_the_same_inputs_give_byte_identical_fragments() -> None:
    first = plan_static_prefix(tool=TOOL, system="S" * 600, labels="- bug: x", model="claude-opus-5")
    second = plan_static_prefix(tool=copy.deepcopy(TOOL), system="S" * 600, labels="- bug: x", model="claude-opus-5")
    assert tool_text(first.tools[0]) == tool_text(second.tools[0])
    assert first.system == second.system
