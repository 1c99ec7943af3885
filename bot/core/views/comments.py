"""What a comment says: markdown from validated answers, made safe and kept under GitHub's limit.

Pure. Text the model wrote is untrusted: it must not ping anybody, must not inject HTML (or a
forged hidden marker), and must not make a comment GitHub would refuse.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Iterable, Sequence

from bot.core.commands.release_notes import GROUP_TITLES, NoteLine, SummaryRecord, grouped, record_of
from bot.core.summary.answer import PullSummary, Risk
from bot.core.summary.diff_budget import MINUS, BudgetedDiff
from bot.core.summary.grounding import ground_bullets, grounded_paths, unquote_ungrounded

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


def grounded_summary(summary: PullSummary, pr_paths: Collection[str]) -> PullSummary:
    """`summary` naming only files of the pull request: notable files that are not one are
    dropped, so are bullets whose backticked path is not one (bot/core/summary/grounding.py), and the
    backticks go from such paths in the prose, so nothing reads as a file of the PR that is not."""
    return summary.model_copy(
        update={
            "overview": unquote_ungrounded(summary.overview, pr_paths),
            "changes": ground_bullets(summary.changes, pr_paths),
            "why": unquote_ungrounded(summary.why, pr_paths),
            "risk_notes": unquote_ungrounded(summary.risk_notes, pr_paths),
            "notable_files": grounded_paths(summary.notable_files, pr_paths),
        }
    )


def summary_comment(
    summary: PullSummary, diff: BudgetedDiff | None = None, *, closes: Iterable[str] = (), model: str = ""
) -> str:
    """The PR summary comment, marker first: the summary grounded in the PR's files, the issues it
    closes (markdown links, see grounding.closing_links) and what of the diff the model read."""
    diff = diff or BudgetedDiff()
    summary = grounded_summary(summary, diff.pr_paths)
    lines = [SUMMARY_MARKER, "### hookwise summary", "", neutralise(summary.overview.strip()), ""]
    lines += ["**What changed**", *_bullets(summary.changes), ""]
    lines += ["**Why**", neutralise(summary.why.strip()), ""]
    risk = f"**Risk:** {_RISK_BADGE[summary.risk]}"
    if summary.risk_notes.strip():
        risk += f" — {_one_line(summary.risk_notes)}"
    lines += [risk, ""]
    links = list(closes)
    if links:
        lines += [f"**Closes:** {', '.join(links)}", ""]
    if summary.notable_files:
        files = ", ".join(
            code(name) + ("" if name in diff.read_paths else " (not read)") for name in summary.notable_files[:10]
        )
        lines += [f"**Look first at:** {files}", ""]
    lines += _coverage_details(diff)
    footer = "<sub>Written by hookwise"
    footer += f" with {code(model)}" if model else ""
    lines.append(footer + "</sub>")
    return fit("\n".join(lines))


def _coverage_details(diff: BudgetedDiff) -> list[str]:
    """What the model did not read, or read in part, under the coverage line; nothing when it read
    every changed line."""
    if not diff.not_shown and not diff.in_part:
        return []
    lines = [f"<details><summary>{neutralise(diff.coverage(names=False))}</summary>\n"]
    for file in diff.not_shown[:LISTED_FILES]:
        lines.append(f"- {code(file.path)} (not read: {file.reason}, {_counts(file.additions, file.deletions)})")
    for part in diff.in_part[:LISTED_FILES]:
        read = f"{part.hunks_shown} of {part.hunks_total} hunks, {part.lines_shown} of {part.lines_total} changed lines"
        lines.append(f"- {code(part.path)} (read in part: {read})")
    more = max(len(diff.not_shown) - LISTED_FILES, 0) + max(len(diff.in_part) - LISTED_FILES, 0)
    if more:
        lines.append(f"- …and {more} more")
    return [*lines, "", "</details>", ""]


def _counts(additions: int, deletions: int) -> str:
    return f"+{additions} {MINUS}{deletions}"


_BADGE_RISK = {badge.split(" ", 1)[1]: risk for risk, badge in _RISK_BADGE.items()}


def read_summary_comment(
    body: str, *, number: int, title: str, merged_at: str | None, comment_id: int
) -> SummaryRecord | None:
    """The record of a summary comment `summary_comment` wrote (for pull requests summarised before
    records were kept); None when `body` is not one. The text comes back as it was before it was
    made safe, so it is made safe again wherever it is shown."""
    if not has_marker(body, SUMMARY_MARKER):
        return None
    text = html.unescape(body.replace("@" + WORD_JOINER, "@"))
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        changed = lines.index("**What changed**")
    except ValueError:
        return None
    overview = " ".join(line.strip() for line in lines[2:changed] if line.strip() and not line.startswith("###"))
    changes: list[str] = []
    for line in lines[changed + 1 :]:
        if not line.startswith("- "):
            break
        changes.append(line[2:].strip())
    risk = Risk.LOW
    for line in lines:
        if line.startswith("**Risk:** "):
            badge = line.removeprefix("**Risk:** ").split(" — ", 1)[0].split(" ", 1)[-1].strip()
            risk = _BADGE_RISK.get(badge, Risk.LOW)
            break
    summary = PullSummary(
        overview=overview[:1200] or title[:1200] or "-", changes=changes[:12] or ["-"], why="", risk=risk
    )
    return record_of(number, title, summary, merged_at=merged_at, comment_id=comment_id)


# -- release notes ---------------------------------------------------------------------------------

WITHOUT_SUMMARY = "a pull request without one is listed by its title"
RELEASE_NOTES_ROOM = COMMENT_LIMIT - 1_000  # the reply's marker, tag and any other reply share the rest


def pull_link(repository: str, number: int, web_root: str) -> str:
    """`[#12](https://github.com/o/r/pull/12)`, on the GitHub instance of `web_root`."""
    return f"[#{number}]({web_root.rstrip('/')}/{repository}/pull/{number})"


def release_notes(
    repository: str,
    lines: Sequence[NoteLine],
    *,
    since: str,
    since_date: str,
    web_root: str,
    model: str = "",
    more: int = 0,
) -> str:
    """The release-notes reply: the lines by group, each linking its pull request, bounded."""
    count = len(lines) + more
    noun = "pull request" if count == 1 else "pull requests"
    out = [f"### Release notes since {code(since)}", ""]
    out.append(f"{count} {noun} merged since {code(since)} ({since_date[:10]}), oldest first.")
    if not lines:
        return "\n".join(out)
    size = sum(len(line) + 1 for line in out)
    listed = 0
    for group, found in grouped(lines):
        section = ["", f"**{GROUP_TITLES[group]}**"]
        for line in found:
            item = f"- {_one_line(line.text)} ({pull_link(repository, line.number, web_root)})"
            if size + len(item) + sum(len(s) + 1 for s in section) > RELEASE_NOTES_ROOM:
                break
            section.append(item)
        if len(section) > 2:
            out += section
            size += sum(len(s) + 1 for s in section)
            listed += len(section) - 2
    left = count - listed
    if left:
        out += ["", f"…and {left} more {'pull request' if left == 1 else 'pull requests'}, not listed."]
    how = f"grouped and phrased by {code(model)} from" if model else "grouped by their risk and words, from"
    out += ["", f"<sub>Written by hookwise: {how} the summaries it posted; {WITHOUT_SUMMARY}.</sub>"]
    return "\n".join(out)


def triage_comment(labels: Sequence[str], reason: str, suggested: Sequence[str] = ()) -> str:
    """The optional triage comment (only where the repository's config asks for one)."""
    chosen = ", ".join(code(label) for label in labels) or "none"
    body = f"{TRIAGE_MARKER}\n**hookwise triage** — labels: {chosen}"
    if suggested:
        body += f"\n\nSuggested, not added (not trusted enough yet): {', '.join(code(label) for label in suggested)}"
    if reason.strip():
        body += f"\n\n{neutralise(reason.strip())}"
    return fit(body)


def shadow_triage_reply(labels: Sequence[str], suggested: Sequence[str] = ()) -> str:
    """`@app triage` in shadow mode: what triage would add, since nothing is written."""
    chosen = ", ".join(code(label) for label in labels) or "no label"
    text = f"Shadow mode (`triage: shadow: true`): nothing was written. Triage would add {chosen}."
    if suggested:
        text += f" Suggested only: {', '.join(code(label) for label in suggested)}."
    return text


def has_marker(body: str | None, marker: str) -> bool:
    """True when `body`'s first line is `marker` (how hookwise finds its own comments)."""
    if not body:
        return False
    return body.lstrip().split("\n", 1)[0].strip() == marker
