"""Examples for the triage prompt from people's corrections: the issues of a repository a person
labelled most recently, fenced as untrusted data; never an issue whose text addresses the model.
Pure."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence

from bot.core.agreement.records import (
    EXAMPLE_CHARS,
    EXAMPLE_LINES,
    EXAMPLES,
    EXAMPLES_INTRO,
    EXAMPLES_TOKENS,
    HTML_COMMENT,
    TITLE_CHARS,
    Example,
    TriageRecord,
    final_labels,
    net_changes,
)
from bot.core.prompts import fence
from bot.core.triage.hostile import addresses_model


def excerpt(body: str | None, *, lines: int = EXAMPLE_LINES, chars: int = EXAMPLE_CHARS) -> str:
    """The first `lines` non-blank lines of an issue body (template comments left out), at most
    `chars` characters, with `…` where it was cut."""
    text = HTML_COMMENT.sub("", body or "")
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    result = "\n".join(kept[: max(lines, 0)])
    cut = len(kept) > lines
    if len(result) > chars:
        result, cut = result[: max(chars, 0)].rstrip(), True
    return result + "…" if cut else result


def select_examples(
    records: Iterable[TriageRecord], *, repository: str, limit: int = EXAMPLES, exclude: Collection[int] = ()
) -> list[Example]:
    """Up to `limit` issues of `repository` a person touched, most recently touched first (by their last
    counted change). Records of other repositories are never used, nor the issues in `exclude` (the
    ones being triaged), nor an issue whose text addresses the model (bot/core/triage/hostile.py): an example
    is shown to the model with every later triage, and must not carry anyone's instructions."""
    latest: dict[int, TriageRecord] = {}
    for record in records:
        if record.repository != repository or record.number in exclude:
            continue
        if addresses_model(record.title, record.body_excerpt):
            continue
        if record.number not in latest or record.triaged_at > latest[record.number].triaged_at:
            latest[record.number] = record
    touched: list[tuple[float, TriageRecord]] = []
    for record in latest.values():
        last_at = net_changes(record).last_at
        if last_at is not None:
            touched.append((last_at, record))
    touched.sort(key=lambda pair: (-pair[0], -pair[1].number))
    return [
        Example(
            number=record.number,
            title=" ".join(record.title.split())[:TITLE_CHARS],
            body=excerpt(record.body_excerpt),
            labels=final_labels(record),
            corrected_at=last_at,
        )
        for last_at, record in touched[: max(limit, 0)]
    ]


def render_example(example: Example, index: int) -> str:
    labels = json.dumps(list(example.labels), ensure_ascii=False)
    return "\n".join(
        (
            f"Example {index}:",
            f'<untrusted name="example title">{fence(example.title)}</untrusted>',
            f'<untrusted name="example body">{fence(example.body)}</untrusted>',
            f'<untrusted name="example labels">{fence(labels)}</untrusted>',
        )
    )


def examples_block(
    examples: Sequence[Example], *, count_tokens: Callable[[str], int], max_tokens: int = EXAMPLES_TOKENS
) -> str:
    """The examples as a prompt block of at most `max_tokens` (by `count_tokens`), the oldest dropped
    first to fit; an empty string when there are none (or none fits). No leading or trailing newline."""
    kept = list(examples)
    while kept:
        block = "\n\n".join([EXAMPLES_INTRO, *(render_example(item, i) for i, item in enumerate(kept, 1))])
        if count_tokens(block) <= max_tokens:
            return block
        kept.pop()
    return ""
