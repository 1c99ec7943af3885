"""One way to read the model's label answers, for a single call and for each item of a batch. Pure.

A real model does not always answer as asked: it names a label the repository does not have, writes
`Bug` for `bug`, picks a label the config denies, picks too many, repeats one, leaves an issue out,
answers for an issue that is not in the batch, or repeats an issue with other labels. What can be
mended is mended, and what cannot be is recorded:

- **Label names** are matched to the repository's own spelling, case-insensitively (and without
  surrounding blanks); duplicates are merged. A name the repository does not have, one the
  repository's config denies (or does not allow), and any past the most one issue may get
  (`MAX_LABELS`) are *dropped*, each with why: an issue keeps the rest of its answer, and its
  record says what was dropped. GitHub would create a label it is asked to add, so nothing else
  could ever reach it anyway.
- Only a **structural** fault costs an issue its answer: its item missing, its labels not a list, or
  the issue answered twice with different labels. That issue, and only that one, is asked again in
  a single call; a batch is never asked again as a whole. An item that is not an object, has no
  usable number, or names an issue not in the batch is a problem line and otherwise ignored (an
  issue it stood in for is then missing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.core.repo_config import MAX_LABELS  # the most labels one issue may get from one answer

REASON_CHARS = 600  # a reason longer than this is cut, not refused

NOT_IN_REPOSITORY = "not in the repository"
DENIED = "denied by the config"
OVER_LIMIT = "over max_labels"


class LabelChoice(BaseModel):
    """Which of the repository's labels apply to a new issue; possibly none."""

    model_config = ConfigDict(extra="forbid")

    labels: list[str] = Field(
        description="Names of labels that apply, only from the list given.", max_length=MAX_LABELS
    )
    reason: str = Field(
        default="", description="One sentence on why these labels (or none) apply.", max_length=REASON_CHARS
    )  # asked for only where a triage comment shows it (bot/core/triage/plan.py: wants_reason)


class LabelItem(BaseModel):
    """What a single answer (or one batch item without its number) must have to be read at all: a
    `labels` list. Everything else is judged by `read_item`, so a wrong label never costs a repair
    turn."""

    model_config = ConfigDict(extra="ignore")

    labels: list[Any]
    reason: Any = ""


@dataclass(frozen=True, slots=True)
class Dropped:
    """A label the model named that is not written, and why."""

    label: str
    why: str

    def __str__(self) -> str:
        return f"{self.label} ({self.why})"


@dataclass(frozen=True, slots=True)
class LabelAnswer:
    """One issue's answer, read: labels in the repository's spelling, the ones dropped, the reason."""

    labels: tuple[str, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Structural:
    """The answer for an issue cannot be read; the issue is asked again alone."""

    problem: str


def read_labels(
    names: Iterable[object],
    *,
    repository: Sequence[str],
    allowed: Sequence[str],
    limit: int = MAX_LABELS,
) -> tuple[tuple[str, ...], tuple[Dropped, ...]]:
    """The names as the repository spells them, merged, allowed and at most `limit`; and the ones
    dropped, with why."""
    spelled = {name.casefold(): name for name in repository}
    permitted = {name.casefold() for name in allowed}
    kept: list[str] = []
    dropped: list[Dropped] = []
    seen: set[str] = set()
    for raw in names:
        text = " ".join(str(raw).split()) if isinstance(raw, str | int | float) else repr(raw)[:60]
        folded = text.casefold()
        if folded in seen:
            continue
        seen.add(folded)
        if folded not in spelled:
            dropped.append(Dropped(text[:100], NOT_IN_REPOSITORY))
        elif folded not in permitted:
            dropped.append(Dropped(spelled[folded], DENIED))
        elif len(kept) >= limit:
            dropped.append(Dropped(spelled[folded], OVER_LIMIT))
        else:
            kept.append(spelled[folded])
    return tuple(kept), tuple(dropped)


def read_item(raw: object, *, repository: Sequence[str], allowed: Sequence[str]) -> LabelAnswer | Structural:
    """One issue's answer (a single call's tool input, or a batch item): read, or a structural fault."""
    if not isinstance(raw, dict):
        return Structural(f"not an object (got {_kind(raw)})")
    names = raw.get("labels")
    if not isinstance(names, list):
        return Structural(f"'labels' is not a list (got {_kind(names)})")
    labels, dropped = read_labels(names, repository=repository, allowed=allowed)
    reason = raw.get("reason")
    text = " ".join(reason.split())[:REASON_CHARS] if isinstance(reason, str) else ""
    return LabelAnswer(labels, dropped, text)


@dataclass(frozen=True, slots=True)
class BatchReading:
    """A batched answer, read item by item."""

    answers: dict[int, LabelAnswer] = field(default_factory=dict)  # issue number -> its answer
    leftovers: list[int] = field(default_factory=list)  # to ask alone, in batch order
    problems: list[str] = field(default_factory=list)  # one line per thing wrong, for the log


def read_batch(
    raw: object, numbers: Sequence[int], *, repository: Sequence[str], allowed: Sequence[str]
) -> BatchReading:
    """A batched tool input (`{"issues": [{"number", "labels", "reason"?}]}`) against the batch's
    issue numbers: each issue's answer, the issues to ask again alone, and what was wrong."""
    batch = list(dict.fromkeys(numbers))
    if not isinstance(raw, dict):
        return BatchReading({}, batch, [f"the answer is not a JSON object (got {_kind(raw)})"])
    items = raw.get("issues")
    if not isinstance(items, list):
        return BatchReading({}, batch, [f"the answer has no 'issues' list (got {_kind(items)})"])
    members = set(batch)
    problems: list[str] = []
    if extra := sorted(str(key) for key in raw if key != "issues"):
        problems.append(f"the answer has unexpected fields: {', '.join(extra)} (ignored)")
    readings: dict[int, list[LabelAnswer | Structural]] = {}
    for index, item in enumerate(items):
        where = f"issues[{index}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: not an object (got {_kind(item)})")
            continue
        number = _number(item.get("number"))
        if number is None:
            problems.append(f"{where}: no usable issue number (got {item.get('number')!r:.40})")
            continue
        if number not in members:
            problems.append(f"{where}: issue #{number} is not in this batch (ignored)")
            continue
        readings.setdefault(number, []).append(read_item(item, repository=repository, allowed=allowed))
    answers: dict[int, LabelAnswer] = {}
    for number, found in readings.items():
        faults = [reading.problem for reading in found if isinstance(reading, Structural)]
        read = [reading for reading in found if isinstance(reading, LabelAnswer)]
        if faults:
            problems.append(f"issue #{number}: {faults[0]}")
        elif len({frozenset(label.casefold() for label in answer.labels) for answer in read}) > 1:
            problems.append(f"issue #{number}: answered {len(read)} times with different labels")
        else:
            if len(read) > 1:
                problems.append(f"issue #{number}: answered {len(read)} times alike (merged)")
            answers[number] = read[0]
    leftovers = [number for number in batch if number not in answers]
    problems += [f"issue #{number}: no answer" for number in leftovers if number not in readings]
    return BatchReading(answers, leftovers, problems)


def dropped_text(dropped: Iterable[Dropped]) -> str:
    """`pwned (not in the repository), wontfix (denied by the config)`, for a record's detail."""
    return ", ".join(str(entry) for entry in dropped)


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*#?\d{1,9}\s*", value):
        return int(value.strip().lstrip("#"))
    return None


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__
