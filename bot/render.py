"""What a comment says: markdown from validated answers, made safe and kept under GitHub's limit.

Pure. Text the model wrote is untrusted: it must not ping anybody, must not inject HTML (or a
forged hidden marker), and must not make a comment GitHub would refuse.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from bot.answers import PullSummary, Risk

SUMMARY_MARKER = "<!-- hookwise:summary -->"
TRIAGE_MARKER = "<!-- hookwise:triage -->"
REPLY_MARKER = "<!-- hookwise:reply -->"
MARKERS = (SUMMARY_MARKER, TRIAGE_MARKER, REPLY_MARKER)

COMMENT_LIMIT = 65_536
TRUNCATED_NOTE = "\n\n_…shortened to fit GitHub's comment limit._"

# `@user`, `@org/team`: a GitHub login is alphanumerics and single hyphens, at most 39 characters.
# Not after a word character or a backtick (emails, already-quoted mentions).
_MENTION = re.compile(r"(?<![\w`])@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9_.-]+)?)")
_RISK_BADGE = {Risk.LOW: "🟢 low", Risk.MEDIUM: "🟡 medium", Risk.HIGH: "🔴 high"}


def neutralise(text: str) -> str:
    """Escape raw HTML and turn mentions into code spans, which GitHub never notifies."""
    escaped = html.escape(text, quote=False)
    return _MENTION.sub(lambda match: f"`@{match.group(1)}`", escaped)


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
        files = ", ".join(f"`{name.replace('`', '')}`" for name in summary.notable_files[:10])
        lines += [f"**Look first at:** {files}", ""]
    skipped, shortened = list(skipped), list(shortened)
    if skipped or shortened:
        lines.append("<details><summary>Not fully read</summary>\n")
        lines += [f"- `{name.replace('`', '')}` (not read: {why})" for name, why in _pairs(skipped)]
        lines += [f"- `{name.replace('`', '')}` (read in part)" for name in shortened]
        lines += ["", "</details>", ""]
    footer = "<sub>Written by hookwise"
    footer += f" with `{model.replace('`', '')}`" if model else ""
    lines.append(footer + "</sub>")
    return fit("\n".join(lines))


def _pairs(skipped: list[str]) -> list[tuple[str, str]]:
    """`skipped` entries are `path: reason`."""
    pairs = []
    for entry in skipped:
        name, _, why = entry.partition(": ")
        pairs.append((name, why or "left out"))
    return pairs


def triage_comment(labels: list[str], reason: str) -> str:
    """The optional triage comment (only where the repository's config asks for one)."""
    chosen = ", ".join(f"`{label.replace('`', '')}`" for label in labels) or "none"
    body = f"{TRIAGE_MARKER}\n**hookwise triage** — labels: {chosen}\n\n{neutralise(reason.strip())}"
    return fit(body)


def has_marker(body: str | None, marker: str) -> bool:
    """True when `body`'s first line is `marker` (how hookwise finds its own comments)."""
    if not body:
        return False
    return body.lstrip().split("\n", 1)[0].strip() == marker
