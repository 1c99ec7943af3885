"""Triage's pure steps: the request's static prefix, and which of the chosen labels to apply. Pure.

A triage request is a static prefix - the tool definition, the system text (rules, the
repository's instructions and language) and the repository's label list as its own system block -
followed by the issue(s) in the user turn. The prefix is the same for every issue of a repository,
so it is marked for Anthropic's prompt cache where it reaches the model's minimum cacheable length
(bot/core/caching.py); whatever varies per call stays in the user turn. The single call
(`choose_labels`) and the batched one (`label_issues`, bot/core/batch.py) share all of it but the
tool.

`plan_labels` is the one decision of what to write once the model has answered, for a single or a
batched answer alike: the seam where a policy that turns some chosen labels into suggestions (a
shadow mode, a trust floor) plugs in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

from bot.core import labels as label_policy
from bot.core.answers import LabelChoice
from bot.core.batch import batch_tool
from bot.core.caching import CachePlan, plan_static_prefix
from bot.core.prompts import Prompts, instructions_block
from bot.core.tokens import estimate_tokens

SINGLE_TOOL_NAME = "choose_labels"
SINGLE_TOOL_DESCRIPTION = "Record which of the repository's labels apply to the issue."
SINGLE_MAX_TOKENS = 500


def single_tool(allowed: Sequence[str]) -> dict[str, Any]:
    """`choose_labels`: LabelChoice's schema with the label names as an enum, so the model can only
    pick those. The same for every issue of the repository (nothing per issue in it)."""
    schema = LabelChoice.model_json_schema()
    schema["properties"]["labels"]["items"] = {"type": "string", "enum": list(allowed)}
    schema["properties"]["labels"]["maxItems"] = min(len(allowed), 10)
    return {"name": SINGLE_TOOL_NAME, "description": SINGLE_TOOL_DESCRIPTION, "input_schema": schema}


def label_list(labels: Iterable[tuple[str, str]], allowed: Sequence[str]) -> str:
    """The `name: description` lines of the labels the model may choose, in the repository's order."""
    allowed_set = set(allowed)
    return "\n".join(
        f"- {name}: {description or '(no description)'}" for name, description in labels if name in allowed_set
    )


@dataclass(frozen=True, slots=True)
class Prefix:
    """A triage request's static part: the tool and system blocks to send, and the cache decision."""

    tool: dict[str, Any]
    system: list[dict[str, Any]]
    plan: CachePlan


def static_prefix(
    prompts: Prompts,
    *,
    model: str,
    labels: Iterable[tuple[str, str]],
    allowed: Sequence[str],
    language: str,
    instructions: str,
    batched: bool,
    examples: str = "",
) -> Prefix:
    """The tool (single `choose_labels` or batched `label_issues`), the system text and the label
    list (with `examples`, a block shared by every issue of the repository, after it), marked for
    the cache when long enough for `model`.

    The batched tool leaves the issue numbers out of its schema when the prefix is cached (a tool
    that changed per batch would never hit the cache) and pins them otherwise (`pin_numbers`)."""
    tool = batch_tool(allowed) if batched else single_tool(allowed)
    system = system_text(prompts.triage.system, tool=tool["name"], language=language, instructions=instructions)
    listed = prompts.triage_labels.safe_substitute(labels=label_list(labels, allowed)).strip()
    shared = f"{listed}\n\n{examples.strip()}" if examples.strip() else listed
    plan = plan_static_prefix(tool=tool, system=system, model=model, estimate=estimate_tokens, labels=shared)
    return Prefix(tool=plan.tools[0], system=plan.system, plan=plan)


def pin_numbers(prefix: Prefix, allowed: Sequence[str], numbers: Sequence[int]) -> dict[str, Any]:
    """The batched tool to send with `numbers`: pinned to them (an enum, exactly that many items)
    when the prefix is not cached anyway, else the repository's unchanging tool."""
    if prefix.plan.cache:
        return prefix.tool
    return batch_tool(allowed, numbers)


def system_text(template: Template, *, tool: str, language: str, instructions: str) -> str:
    return template.safe_substitute(tool=tool, language=language, instructions=instructions_block(instructions))


# -- what to write ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelPlan:
    """What triage writes for one issue: the labels to add (existing, allowed, not on the issue,
    not taken off by a person, within the config's limit)."""

    apply: tuple[str, ...]


def plan_labels(
    chosen: Iterable[str],
    *,
    allowed: Sequence[str],
    current: Iterable[str],
    removed_by_humans: Iterable[str],
    limit: int,
) -> LabelPlan:
    """The model's choice for one issue, reduced to what may be added to it."""
    apply = label_policy.labels_to_add(
        chosen, allowed=allowed, current=current, removed_by_humans=removed_by_humans, limit=limit
    )
    return LabelPlan(apply=tuple(apply))


def issue_prompt(prompts: Prompts, *, repository: str, title: str, body: str) -> str:
    """The user turn of a single triage call (title and body already fenced by the caller)."""
    return prompts.triage.user.safe_substitute(repository=repository, title=title, body=body)


def describe_batch(detail: str, size: int) -> str:
    """A batched issue's record detail: what was done, and that one call answered `size` issues."""
    return f"{detail} (answered in a batch of {size})" if size >= 1 else detail
