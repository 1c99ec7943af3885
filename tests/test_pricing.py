"""bot.core.costs.pricing: the price table, the MODEL_PRICES override, and what a call cost."""

from __future__ import annotations

from types import SimpleNamespace
from typing import get_args

import pytest
from anthropic.types import Usage as SDKUsage
from anthropic.types.model_param import ModelParam

from bot.core.costs.ledger import CostRow, Report
from bot.core.costs.ledger import format_report as format_costs
from bot.core.costs.pricing import (
    DEFAULT_PRICES,
    FALLBACK_MODEL,
    Price,
    PriceOverrideError,
    Usage,
    cost_usd,
    input_equivalents,
    match_model,
    parse_model_prices,
    price_table,
    resolve_price,
)

SDK_MODELS: list[str] = list(get_args(get_args(ModelParam)[0]))

# USD per million tokens: input, 5-minute cache write, cache read, output. Anthropic's pricing page.
EXPECTED = {
    "claude-fable-5-2": (8.0, 10.0, 0.20, 40.0),
    "claude-mythos-5-2": (8.0, 10.0, 0.20, 40.0),
    "claude-fable-5-1": (10.0, 12.50, 0.25, 50.0),
    "claude-mythos-5-1": (10.0, 12.50, 0.25, 50.0),
    "claude-fable-5": (10.0, 12.50, 1.0, 50.0),
    "claude-mythos-5": (10.0, 12.50, 1.0, 50.0),
    "claude-mythos-preview": (25.0, 31.25, 2.50, 125.0),
    "claude-opus-5-5": (4.0, 5.0, 0.20, 20.0),
    "claude-opus-5": (5.0, 6.25, 0.50, 25.0),
    "claude-opus-4-8": (5.0, 6.25, 0.50, 25.0),
    "claude-opus-4-7": (5.0, 6.25, 0.50, 25.0),
    "claude-opus-4-6": (5.0, 6.25, 0.50, 25.0),
    "claude-opus-4-5": (5.0, 6.25, 0.50, 25.0),
    "claude-sonnet-5-5": (2.0, 2.50, 0.10, 10.0),
    "claude-sonnet-5": (2.0, 2.50, 0.20, 10.0),
    "claude-sonnet-4-6": (3.0, 3.75, 0.30, 15.0),
    "claude-haiku-5-5": (0.10, 0.125, 0.01, 0.50),
    "claude-haiku-4-5": (1.0, 1.25, 0.10, 5.0),
}


def _figures(price: Price) -> tuple[float, float, float, float]:
    return (price.input, price.cache_write, price.cache_read, price.output)


# -- the table -------------------------------------------------------------------------------------


def test_the_default_table_is_exactly_the_documented_one() -> None:
    assert set(DEFAULT_PRICES) == set(EXPECTED)
    for family, figures in EXPECTED.items():
        assert _figures(DEFAULT_PRICES[family].price) == pytest.approx(figures, abs=1e-12), family


def test_haiku_5_5_has_its_long_prompt_rate() -> None:
    entry = DEFAULT_PRICES["claude-haiku-5-5"]
    assert entry.long is not None and entry.long_above == 100_000
    assert _figures(entry.long) == pytest.approx((0.50, 0.625, 0.05, 2.50), abs=1e-12)


@pytest.mark.parametrize("model", SDK_MODELS)
def test_every_model_the_sdk_knows_is_in_the_table(model: str) -> None:
    resolved = resolve_price(model)
    assert not resolved.fallback, f"{model} priced as {resolved.priced_as}"


def test_the_defaults_cannot_be_changed_by_accident() -> None:
    with pytest.raises(TypeError):
        DEFAULT_PRICES["claude-haiku-5-5"] = DEFAULT_PRICES["claude-opus-5"]  # type: ignore[index]


# -- matching model ids ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ("claude-opus-4-5-20251101", "claude-opus-4-5"),
        ("claude-opus-5", "claude-opus-5"),
        ("claude-opus-5-20260724", "claude-opus-5"),
        ("claude-opus-5-5", "claude-opus-5-5"),
        ("claude-sonnet-5-5[1m]", "claude-sonnet-5-5"),
        ("claude-haiku-4-5@20251001", "claude-haiku-4-5"),
        ("us.anthropic.claude-sonnet-5-5-v1:0", "claude-sonnet-5-5"),
        ("anthropic.claude-haiku-5-5", "claude-haiku-5-5"),
        ("  Claude-Haiku-5-5 ", "claude-haiku-5-5"),
        ("claude-mythos-preview", "claude-mythos-preview"),
    ],
)
def test_dated_and_suffixed_ids_resolve_to_their_family(model: str, family: str) -> None:
    assert match_model(model, DEFAULT_PRICES) == family
    resolved = resolve_price(model)
    assert (resolved.priced_as, resolved.fallback) == (family, False)


@pytest.mark.parametrize("model", ["claude-opus-5-7", "claude-sonnet-5-6-20270101", "claude-opus-50", "claude-haiku"])
def test_a_newer_version_never_passes_for_an_older_one(model: str) -> None:
    assert match_model(model, DEFAULT_PRICES) is None


@pytest.mark.parametrize(
    ("model", "priced_as"),
    [
        ("claude-opus-5-7", "claude-opus-5-5"),
        ("claude-sonnet-7", "claude-sonnet-5-5"),
        ("claude-3-5-haiku-20241022", "claude-haiku-5-5"),
        ("claude-mythos-9", "claude-mythos-5-2"),
        ("some-proxy-model", FALLBACK_MODEL),
        ("", FALLBACK_MODEL),
    ],
)
def test_an_unknown_id_is_priced_as_a_named_stand_in_and_flagged(model: str, priced_as: str) -> None:
    resolved = resolve_price(model)
    assert (resolved.priced_as, resolved.fallback, resolved.estimate) == (priced_as, True, True)
    assert resolved.note == f"estimate: {model} is not in the price table, priced as {priced_as}"


def test_the_fallback_for_an_unknown_family_is_opus_5() -> None:
    assert FALLBACK_MODEL == "claude-opus-5"
    assert cost_usd("gpt-9", Usage(input_tokens=1_000_000, output_tokens=1_000_000)) == pytest.approx(30.0)


def test_an_inferred_row_is_an_estimate_even_for_its_own_id() -> None:
    resolved = resolve_price("claude-mythos-5-2")
    assert (resolved.fallback, resolved.estimate) == (False, True)
    assert resolved.note.startswith("estimate: assumed equal to Fable 5.2")
    assert resolve_price("claude-haiku-5-5").note == ""
    assert resolve_price("claude-haiku-5-5").estimate is False


# -- arithmetic ------------------------------------------------------------------------------------------


def test_cost_counts_each_kind_of_token_at_its_own_rate() -> None:
    usage = Usage(
        input_tokens=1000, output_tokens=500, cache_creation_input_tokens=2000, cache_read_input_tokens=10_000
    )
    # Haiku 4.5: 1000 x $1 + 500 x $5 + 2000 x $1.25 + 10000 x $0.10, per million.
    assert cost_usd("claude-haiku-4-5-20251001", usage) == pytest.approx(0.007, abs=1e-15)


@pytest.mark.parametrize(
    ("model", "usd"),
    [
        ("claude-sonnet-5-5", 0.10),  # cache reads cut to 0.05x on 2026-10-07
        ("claude-opus-5-5", 0.20),  # 0.05x
        ("claude-fable-5-1", 0.25),  # 0.025x
        ("claude-fable-5", 1.0),  # the standard 0.1x
        ("claude-sonnet-4-6", 0.30),
    ],
)
def test_a_million_cache_reads(model: str, usd: float) -> None:
    assert cost_usd(model, Usage(cache_read_input_tokens=1_000_000)) == pytest.approx(usd, abs=1e-12)


def test_haiku_5_5_charges_the_whole_request_at_the_long_rate_above_100k_prompt_tokens() -> None:
    at_threshold = Usage(input_tokens=60_000, cache_read_input_tokens=40_000, output_tokens=1000)
    assert cost_usd("claude-haiku-5-5", at_threshold) == pytest.approx((6000 + 400 + 500) / 1e6, abs=1e-15)
    over = Usage(input_tokens=60_001, cache_read_input_tokens=40_000, output_tokens=1000)
    assert cost_usd("claude-haiku-5-5", over) == pytest.approx((30_000.5 + 2000 + 2500) / 1e6, abs=1e-15)


def test_nothing_costs_nothing() -> None:
    assert cost_usd("claude-opus-5", Usage()) == 0.0
    assert input_equivalents(Usage()) == 0.0


def test_input_equivalents_weigh_writes_reads_and_output() -> None:
    usage = Usage(input_tokens=1000, output_tokens=200, cache_creation_input_tokens=400, cache_read_input_tokens=5000)
    assert input_equivalents(usage) == pytest.approx(1000 + 500 + 500 + 1000, abs=1e-9)


def test_usage_from_the_sdks_usage_object() -> None:
    sdk = SDKUsage.model_validate(
        {"input_tokens": 812, "output_tokens": 96, "cache_creation_input_tokens": 1500, "cache_read_input_tokens": None}
    )
    usage = Usage.of(sdk)
    assert usage == Usage(input_tokens=812, output_tokens=96, cache_creation_input_tokens=1500)
    assert (usage.prompt_tokens, usage.total_tokens) == (2312, 2408)


def test_usage_from_a_dict_ignores_what_is_not_a_count() -> None:
    usage = Usage.of({"input_tokens": 5, "output_tokens": True, "cache_read_input_tokens": "7", "extra": 1})
    assert usage == Usage(input_tokens=5)
    assert Usage.of(None) == Usage()


def test_usage_from_a_record_with_short_cache_names() -> None:
    record = SimpleNamespace(
        model="claude-haiku-5-5", input_tokens=40, output_tokens=9, cache_write_tokens=700, cache_read_tokens=0
    )
    assert Usage.of(record) == Usage(input_tokens=40, output_tokens=9, cache_creation_input_tokens=700)


def test_usages_add_up() -> None:
    total = Usage(1, 2, 3, 4) + Usage(10, 20, 30, 40)
    assert total == Usage(11, 22, 33, 44)


# -- MODEL_PRICES ---------------------------------------------------------------------------------------


def test_override_of_input_and_output_derives_the_cache_columns() -> None:
    overrides = parse_model_prices("claude-haiku-5-5=1/5,claude-sonnet-5-5=3/15")
    assert list(overrides) == ["claude-haiku-5-5", "claude-sonnet-5-5"]
    assert _figures(overrides["claude-haiku-5-5"].price) == pytest.approx((1.0, 1.25, 0.1, 5.0), abs=1e-12)
    assert _figures(overrides["claude-sonnet-5-5"].price) == pytest.approx((3.0, 3.75, 0.3, 15.0), abs=1e-12)


def test_override_with_four_figures_takes_them_as_given() -> None:
    overrides = parse_model_prices(" claude-opus-5-5 = 4 / 20 / 5 / 0.2 ")
    assert _figures(overrides["claude-opus-5-5"].price) == (4.0, 5.0, 0.2, 20.0)


def test_an_empty_override_changes_nothing() -> None:
    assert parse_model_prices("") == {}
    assert parse_model_prices(" , ,") == {}
    assert price_table("") == dict(DEFAULT_PRICES)


def test_an_override_prices_dated_ids_and_drops_the_long_prompt_rate() -> None:
    prices = price_table("claude-haiku-5-5=1/5")
    usage = Usage(input_tokens=200_000, output_tokens=10_000)
    assert cost_usd("claude-haiku-5-5-20261007", usage, prices) == pytest.approx(0.2 + 0.05, abs=1e-12)
    assert cost_usd("claude-sonnet-5-5", usage, prices) == cost_usd("claude-sonnet-5-5", usage)
    assert resolve_price("claude-haiku-5-5", prices).note == ""


def test_an_override_can_add_a_model_the_table_lacks() -> None:
    prices = price_table("Claude-Haiku-6=0.2/1")
    resolved = resolve_price("claude-haiku-6-20270101", prices)
    assert (resolved.priced_as, resolved.fallback) == ("claude-haiku-6", False)
    assert cost_usd("claude-haiku-6", Usage(input_tokens=1_000_000, output_tokens=1_000_000), prices) == 1.2


FORMAT = "MODEL=INPUT/OUTPUT or MODEL=INPUT/OUTPUT/CACHE_WRITE/CACHE_READ (USD per million tokens)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("claude-haiku-5-5", f"'claude-haiku-5-5' is not {FORMAT}, e.g. claude-haiku-5-5=1/5"),
        ("=1/5", f"'=1/5' is not {FORMAT}, e.g. claude-haiku-5-5=1/5"),
        ("claude haiku=1/5", f"'claude haiku=1/5' is not {FORMAT}, e.g. claude-haiku-5-5=1/5"),
        ("claude-haiku-5-5=1", f"'claude-haiku-5-5=1' has 1 price(s); expected {FORMAT}"),
        ("a=1/5/2", f"'a=1/5/2' has 3 price(s); expected {FORMAT}"),
        ("a=1/x", "'a=1/x': 'x' is not a price (a non-negative number of USD per million tokens)"),
        ("a=1/", "'a=1/': '' is not a price (a non-negative number of USD per million tokens)"),
        ("a=-1/5", "'a=-1/5': '-1' is not a price (a non-negative number of USD per million tokens)"),
        ("a=nan/5", "'a=nan/5': 'nan' is not a price (a non-negative number of USD per million tokens)"),
        ("a=1/inf", "'a=1/inf': 'inf' is not a price (a non-negative number of USD per million tokens)"),
        ("a=1/5,A=2/6", "a is priced twice"),
        ("a=1/5;b=2/6", "'a=1/5;b=2/6' has more than one '='; separate entries with commas"),
    ],
)
def test_a_malformed_override_is_one_clear_line(value: str, message: str) -> None:
    with pytest.raises(PriceOverrideError) as caught:
        parse_model_prices(value)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)  # a settings validator turns it into the start-up line


def test_costs_prints_a_tiny_cost_as_less_than_a_hundredth_of_a_cent_not_as_zero() -> None:
    rows = [CostRow(461842, "o/r", "triage", "claude-haiku-5-5", calls=1, input=250, usd=0.000031),
            CostRow(461842, "o/s", "triage", "claude-haiku-5-5", calls=1, input=2500, usd=0.00031)]  # fmt: skip
    lines = format_costs(Report("2026-12-01 14:00 UTC (1h)", rows), DEFAULT_PRICES).splitlines()
    assert next(line for line in lines if " o/r " in line).endswith("<$0.0001")
    assert next(line for line in lines if " o/s " in line).endswith("$0.0003")
