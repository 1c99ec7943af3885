"""The agreement report as people read it: text for a terminal (`python -m bot accuracy`) and one
markdown line for `@app help`. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.core.agreement.records import DAY_S, MIN_JUDGED, Correction, RepoReport, fold
from bot.core.views.comments import code

EMPTY_REPORT = "No issues triaged by hookwise in this period."
NOTHING_TRIAGED_HELP = "Triage agreement: no issues triaged yet."
HELP_LISTED = 5
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def format_report(reports: Sequence[RepoReport]) -> str:
    """The report as text for a terminal, one block per repository."""
    if not reports:
        return EMPTY_REPORT
    return "\n\n".join(_format_one(item) for item in reports)


def _format_one(item: RepoReport) -> str:
    rate = "-" if item.exact_rate is None else f"{item.exact_rate:.2f} ({item.exact}/{item.judged})"
    judged = f"{_plural(item.judged, 'issue')} judged ({item.pending} pending)"
    lines = [f"{_plain(item.repository)}: {judged}, exact match {rate}"]
    width = max((len(_plain(stats.label)) for stats in item.labels), default=0)
    cells = [
        (
            _plain(stats.label),
            _figure("precision", stats.precision, stats.true_positives, stats.judged),
            _figure("recall", stats.recall, stats.true_positives, stats.true_positives + stats.false_negatives),
        )
        for stats in item.labels
    ]
    precision_width = max((len(precision) for _, precision, _ in cells), default=0)
    lines += [
        f"  {label.ljust(width)}  {precision.ljust(precision_width)}  {recall}" for label, precision, recall in cells
    ]
    corrected = ", ".join(_correction(correction) for correction in item.corrected) or "none"
    lines.append(f"  most corrected: {corrected}")
    if item.untrusted:
        listed = ", ".join(
            f"{_plain(stats.label)} {stats.precision or 0.0:.2f} ({stats.true_positives}/{stats.judged})"
            for stats in item.untrusted
        )
        floor = f"{item.min_precision:.2f}"
        lines.append(
            f"  not applied automatically (precision below {floor} over at least {MIN_JUDGED} judged): {listed}"
        )
    if item.suggest_only:
        lines.append(
            f"  suggested only (pinned in the config): {', '.join(_plain(name) for name in item.suggest_only)}"
        )
    return "\n".join(lines)


def help_line(item: RepoReport | None) -> str:
    """One markdown line of the report for `@app help`; label names as code spans."""
    if item is None:
        return NOTHING_TRIAGED_HELP
    period = _period(item.since_s)
    if item.exact_rate is None:
        line = f"Triage agreement (last {period}): no issues judged yet ({item.pending} pending)"
    else:
        line = (
            f"Triage agreement (last {period}): {_plural(item.judged, 'issue')} judged, "
            f"exact match {item.exact_rate * 100:.0f} %"
        )
    pinned = [name for name in item.suggest_only if fold(name) not in {fold(s.label) for s in item.untrusted}]
    withheld = [
        (stats.label, f"precision {stats.precision or 0.0:.2f} over {stats.judged}") for stats in item.untrusted
    ]
    withheld += [(name, "pinned in the config") for name in pinned]
    if len(withheld) == 1:
        name, why = withheld[0]
        line += f"; {code(name)} is suggested only ({why})"
    elif withheld:
        listed = ", ".join(f"{code(name)} ({why})" for name, why in withheld[:HELP_LISTED])
        more = len(withheld) - HELP_LISTED
        line += f"; suggested only: {listed}" + (f" and {more} more" if more > 0 else "")
    return line + "."


def _figure(name: str, value: float | None, part: int, whole: int) -> str:
    return f"{name} -" if value is None else f"{name} {value:.2f} ({part}/{whole})"


def _correction(item: Correction) -> str:
    parts = [f"{item.removed} removed"] * bool(item.removed) + [f"{item.added} added"] * bool(item.added)
    return f"{_plain(item.label)} {item.total} ({', '.join(parts)})"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _period(seconds: float) -> str:
    if seconds % DAY_S == 0:
        return _plural(int(seconds // DAY_S), "day")
    if seconds % 3600 == 0:
        return _plural(int(seconds // 3600), "hour")
    return _plural(round(seconds), "second")


def _plain(text: str) -> str:
    """One line for a terminal: no control characters (escape sequences) from a label or repository name."""
    return _CONTROL.sub("?", text)
