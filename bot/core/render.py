"""What a comment says: markdown from validated answers, made safe and kept under GitHub's limit.

Pure. Text the model wrote is untrusted: it must not ping anybody, must not inject HTML (or a
forged hidden marker), and must not make a comment GitHub would refuse.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from bot.core.answers import PullSummary, Risk

SUMMARY_MARKER = "<!-- hookwise:summary -->"
TRIAGE_MARKER = "<!-- hookwise:triage -->"
REPLY_MARKER = "<!-- hookwise:reply -->"
MARKERS = (SUMMARY_MARKER, TRIAGE_MARKER, REPLY_MARKER)

COMMENT_LIMIT = 65_536
LISTED_FILES = 50  # a PR of thousands of lockfiles still gets a readable list
TRUNCATED_NOTE = "\n\n_…shortened to fit GitHub's comment limit._"

# GitHub links `@user` and `@org/team` only when a login character follows the `@` directly.
# An invisible word joiner after every such `@` (not after an alphanumeric: emails stay as they
# are) breaks the link wherever the text lands - emphasis, an unclosed code span, a cut - while
# the text still reads the same.
_MENTION = re.compile(r"(?<![A-Za-z0-9])@(?=[A-Za-z0-9])")
WORD_JOINER = "\u2060"
_NOT_IN_CODE = str.maketrans("", "", "`<>")
_RISK_BADGE = {Risk.LOW: "🟢 low", Risk.MEDIUM: "🟡 medium", Risk.HIGH: "🔴 high"}


def neutralise(text: str) -> str:
    """Escape raw HTML (so no tag and no hidden marker survives) and defuse every mention."""
    return _MENTION.sub("@" + WORD_JOINER, html.escape(text, quote=False))


def code(text: str) -> str:
    """`text` as one inline code span: one line, bounded, no backticks or angle brackets (so
    nothing can close the span or read as a tag, whatever renders it)."""
    flat = " ".join(text.translate(_NOT_IN_CODE).split())[:200]
    return f"`{_MENTION.sub('@' + WORD_JOINER, flat)}`"


def _one_line(text: str) -> str:
    return " ".join(neutralise(text).split())


def fit(body: str, limit: int = COMMENT_LIMIT) -> str:
    """Shorten `body` to at most `limit` characters, saying so, rather than have GitHub refuse it."""
    if len(body) <= limit:
        return body
    return body[: limit - len(TRUNCATED_NOTE)].rstrip() + TRUNCATED_NOTE


def _bullets(items: Iterable[str]) -> list[str]:
    return [f"- {_one_line(item)}" for item in items if item.strip()]


def summary_comment(
    summary: PullSummary, *, skipped: Iterable[str] = (), shortened: Iterable[str] = (), model: str = ""
) -> str:
    """The PR summary comment, marker first."""
    lines = [SUMMARY_MARKER, "### hookwise summary", "", neutralise(summary.overview.strip()), ""]
    lines += ["**What changed**", *_bullets(summary.changes), ""]
    lines += ["**Why**", neutralise(summary.why.strip()), ""]
    risk = f"**Risk:** {_RISK_BADGE[summary.risk]}"
    if summary.risk_notes.strip():
        risk += f" — {_one_line(summary.risk_notes)}"
    lines += [risk, ""]
    if summary.notable_files:
        files = ", ".join(code(name) for name in summary.notable_files[:10])
        lines += [f"**Look first at:** {files}", ""]
    skipped, shortened = list(skipped), list(shortened)
    if skipped or shortened:
        lines.append("<details><summary>Not fully read</summary>\n")
        lines += [f"- {code(name)} (not read: {why})" for name, why in _pairs(skipped[:LISTED_FILES])]
        lines += [f"- {code(name)} (read in part)" for name in shortened[:LISTED_FILES]]
        more = max(len(skipped) - LISTED_FILES, 0) + max(len(shortened) - LISTED_FILES, 0)
        if more:
            lines.append(f"- …and {more} more")
        lines += ["", "</details>", ""]
    footer = "<sub>Written by hookwise"
    footer += f" with {code(model)}" if model else ""
    lines.append(footer + "</sub>")
    return fit("\n".join(lines))


def _pairs(skipped: list[str]) -> list[tuple[str, str]]:
    """`skipped` entries are `path: reason`; the reason is one of bot/budget.py's (none holds
    `: `), so the split is at the last `: ` - a path may hold anything, and goes through `code()`."""
    pairs = []
    for entry in skipped:
        name, sep, why = entry.rpartition(": ")
        pairs.append((name, why) if sep else (entry, "left out"))
    return pairs


def triage_comment(labels: list[str], reason: str) -> str:
    """The optional triage comment (only where the repository's config asks for one)."""
    chosen = ", ".join(code(label) for label in labels) or "none"
    body = f"{TRIAGE_MARKER}\n**hookwise triage** — labels: {chosen}\n\n{neutralise(reason.strip())}"
    return fit(body)


def has_marker(body: str | None, marker: str) -> bool:
    """True when `body`'s first line is `marker` (how hookwise finds its own comments)."""
    if not body:
        return False
    return body.lstrip().split("\n", 1)[0].strip() == marker
