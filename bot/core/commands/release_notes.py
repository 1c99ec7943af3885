"""Release notes from the summaries hookwise posted on merged pull requests. Pure.

`@app release-notes [since TAG]` lists the pull requests merged into the default branch since the
latest release (or since TAG), oldest merge first, in four groups. Each pull request is one line
linking it. What a line says comes from the summary hookwise posted on it (stored as a
`SummaryRecord` when it was posted, or read back from the marked comment); a pull request without
a summary is listed by its title.

One model call at most groups and phrases the lines (`NotesAnswer`, validated before anything is
posted). Whatever it answers, every pull request is listed exactly once: a number it did not
list, listed twice, or that is not one of them is put right by `plan_notes`, and when there is no
usable answer at all the lines are grouped by `fallback_group` - the summary's risk, then the
words of the title and overview - and phrased by the summary's first sentence or the title.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from bot.core.summary.answer import PullSummary, Risk

MAX_PULLS = 150  # pull requests listed in one reply; the rest are counted
MAX_SCANNED = 1_000  # closed pull requests read at most to find them (10 pages of 100)
READ_BACK_MAX = 10  # summaries without a stored record read back from their comment, at most
RECORD_OVERVIEW_CHARS = 600
RECORD_CHANGES = 5
RECORD_CHANGE_CHARS = 200
LINE_CHARS = 240  # what one line of the notes may say (the model's, or the fallback's)
TAG_CHARS = 100


class Group(enum.StrEnum):
    BREAKING = "breaking"
    FEATURES = "features"
    FIXES = "fixes"
    OTHER = "other"


# In the order the reply shows them: what may break first.
GROUP_TITLES: Mapping[Group, str] = {
    Group.BREAKING: "Breaking or risky changes",
    Group.FEATURES: "Features",
    Group.FIXES: "Fixes",
    Group.OTHER: "Other",
}


class SummaryRecord(BaseModel):
    """What release notes need of a posted summary: kept per pull request when it is posted."""

    model_config = ConfigDict(extra="ignore")

    number: int
    title: str = ""
    overview: str = ""
    changes: list[str] = Field(default_factory=list)
    risk: Risk = Risk.LOW
    risk_notes: str = ""
    merged_at: str | None = None
    comment_id: int = 0


def record_of(
    number: int, title: str, summary: PullSummary, *, merged_at: str | None, comment_id: int
) -> SummaryRecord:
    """The compact record of a posted summary (bounded, whatever the model wrote)."""
    return SummaryRecord(
        number=number,
        title=title[:300],
        overview=summary.overview.strip()[:RECORD_OVERVIEW_CHARS],
        changes=[change.strip()[:RECORD_CHANGE_CHARS] for change in summary.changes[:RECORD_CHANGES]],
        risk=summary.risk,
        risk_notes=summary.risk_notes.strip()[:RECORD_OVERVIEW_CHARS],
        merged_at=merged_at,
        comment_id=comment_id,
    )


@dataclass(frozen=True, slots=True)
class MergedPull:
    """A pull request merged into the default branch, as GitHub's pull request list shows it."""

    number: int
    title: str
    merged_at: str  # ISO 8601


@dataclass(frozen=True, slots=True)
class Entry:
    """One pull request of the notes, with the summary hookwise posted on it, if any."""

    number: int
    title: str
    merged_at: str
    summary: SummaryRecord | None = None


@dataclass(frozen=True, slots=True)
class NoteLine:
    number: int
    group: Group
    text: str  # untrusted (the model's, a summary's or a title): the renderer neutralises it


# -- the model's answer -------------------------------------------------------------------------


class NoteItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(description="The pull request's number, as given.")
    group: Group = Field(description="breaking (or risky), features, fixes or other.")
    line: str = Field(
        description="One line for the release notes: what changed for users, in plain words.", max_length=400
    )


class NotesAnswer(BaseModel):
    """Each pull request's group and line, as the model proposes them."""

    model_config = ConfigDict(extra="forbid")

    items: list[NoteItem] = Field(description="One item per pull request, in the order given.", max_length=MAX_PULLS)


def answer_schema(numbers: Sequence[int]) -> dict[str, object]:
    """NotesAnswer's schema with the pull request numbers as an enum, so only those can be named."""
    schema = NotesAnswer.model_json_schema()
    item = schema["$defs"]["NoteItem"]
    item["properties"]["number"] = {"type": "integer", "enum": list(numbers), "description": "The pull request."}
    schema["properties"]["items"]["maxItems"] = len(numbers)
    return schema


# -- grouping without the model -----------------------------------------------------------------

_CONVENTIONAL = re.compile(r"^\s*(?P<type>[a-z]+)(?:\([^)]*\))?(?P<bang>!)?:", re.IGNORECASE)
_BREAKING = re.compile(
    r"\bbreaking\b|\bbackwards?[- ]incompatible\b|\bdrop(?:s|ped)? support\b"
    r"|\bremove[sd]? (?:the )?(?:deprecated|support)\b",
    re.IGNORECASE,
)
_FIX = re.compile(r"\b(?:fix(?:e[sd])?|bug(?:fix)?s?|crash(?:es)?|regression|correct(?:s|ed)?|repair(?:s|ed)?)\b", re.I)
_FEATURE = re.compile(
    r"\b(?:add(?:s|ed)?|new|introduce[sd]?|implement(?:s|ed)?|support(?:s|ed)?|allow(?:s|ed)?|enable[sd]?)\b", re.I
)
_TYPES: Mapping[str, Group] = {"feat": Group.FEATURES, "feature": Group.FEATURES, "fix": Group.FIXES}


def fallback_group(entry: Entry) -> Group:
    """A group from what hookwise already knows: a high-risk summary or a breaking marker first,
    then a conventional-commit prefix of the title, then its words and the summary's."""
    summary = entry.summary
    conventional = _CONVENTIONAL.match(entry.title)
    if (summary is not None and summary.risk is Risk.HIGH) or (conventional and conventional["bang"]):
        return Group.BREAKING
    text = " ".join([entry.title, summary.overview if summary else ""])
    if _BREAKING.search(text):
        return Group.BREAKING
    if conventional and conventional["type"].lower() in _TYPES:
        return _TYPES[conventional["type"].lower()]
    if _FIX.search(text):
        return Group.FIXES
    if _FEATURE.search(text):
        return Group.FEATURES
    return Group.OTHER


def _first_sentence(text: str) -> str:
    flat = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(?:\s|$)", flat)
    return _bounded(match.group(1) if match else flat)


def _bounded(text: str, limit: int = LINE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def fallback_line(entry: Entry) -> str:
    """The summary's first sentence, or the title when there is no summary."""
    if entry.summary is not None and entry.summary.overview.strip():
        return _first_sentence(entry.summary.overview)
    return _bounded(entry.title) or f"#{entry.number}"


def plan_notes(entries: Sequence[Entry], answer: NotesAnswer | None) -> list[NoteLine]:
    """Every entry once, oldest merge first: the model's group and line where it gave a usable one
    (a pull request without a summary keeps its title), the fallback's otherwise."""
    proposed: dict[int, NoteItem] = {}
    for proposal in answer.items if answer else ():
        proposed.setdefault(proposal.number, proposal)
    lines: list[NoteLine] = []
    for entry in sorted(entries, key=lambda e: (parse_time(e.merged_at), e.number)):
        item = proposed.get(entry.number)
        group = item.group if item else fallback_group(entry)
        text = _bounded(item.line) if item and item.line.strip() and entry.summary else fallback_line(entry)
        lines.append(NoteLine(entry.number, group, text))
    return lines


def grouped(lines: Iterable[NoteLine]) -> list[tuple[Group, list[NoteLine]]]:
    """The lines by group, in GROUP_TITLES' order, empty groups left out."""
    by_group: dict[Group, list[NoteLine]] = {group: [] for group in GROUP_TITLES}
    for line in lines:
        by_group[line.group].append(line)
    return [(group, found) for group, found in by_group.items() if found]


# -- the model's question -----------------------------------------------------------------------


ENTRY_TITLE_CHARS = 150
ENTRY_OVERVIEW_CHARS = 250
ENTRY_CHANGES = 3
ENTRY_CHANGE_CHARS = 100
ENTRY_RISK_CHARS = 120


def entries_text(entries: Sequence[Entry]) -> str:
    """The pull requests as the model reads them (untrusted: the caller fences it), one short block
    each (900 characters at most, so the 150 of a reply stay under ~35k tokens)."""
    blocks: list[str] = []
    for entry in entries:
        head = f"#{entry.number} (merged {entry.merged_at[:10]}): {_bounded(entry.title, ENTRY_TITLE_CHARS)}"
        summary = entry.summary
        if summary is None:
            blocks.append(f"{head}\n  (no summary: its line will be its title; choose its group)")
            continue
        lines = [
            head,
            f"  risk: {summary.risk.value}",
            f"  summary: {_bounded(summary.overview, ENTRY_OVERVIEW_CHARS)}",
        ]
        lines += [f"  - {_bounded(change, ENTRY_CHANGE_CHARS)}" for change in summary.changes[:ENTRY_CHANGES]]
        if summary.risk_notes.strip():
            lines.append(f"  risk notes: {_bounded(summary.risk_notes, ENTRY_RISK_CHARS)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# -- the command's argument and the cutoff ------------------------------------------------------

RELEASE_NOTES_USAGE = "`release-notes` takes an optional tag: `@{slug} release-notes since v1.2.0`."
_SINCE = re.compile(r"^[\s:,]*since\b\s*(?P<tag>\S*)", re.IGNORECASE)
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+/@-]*$")


def parse_since(argument: str) -> tuple[str | None, bool]:
    """(tag, ok) from what follows `release-notes`: `since v1.2.0` gives ("v1.2.0", True),
    nothing or other words (None, True), `since` with no usable tag (None, False)."""
    match = _SINCE.match(argument)
    if match is None:
        return None, True
    tag = match["tag"].rstrip(".,;:!?)")
    if not tag or len(tag) > TAG_CHARS or not _TAG.match(tag) or ".." in tag:
        return None, False
    return tag, True


def parse_time(iso: str) -> datetime:
    """GitHub's timestamps (`2026-11-30T12:00:00Z`), as aware datetimes; unreadable ones sort first."""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def merged_since(pulls: Iterable[MergedPull], cutoff: str) -> list[MergedPull]:
    """The pull requests merged after `cutoff`, each once, oldest merge first."""
    after = parse_time(cutoff)
    seen: dict[int, MergedPull] = {}
    for pull in pulls:
        if parse_time(pull.merged_at) > after:
            seen.setdefault(pull.number, pull)
    return sorted(seen.values(), key=lambda p: (parse_time(p.merged_at), p.number))
