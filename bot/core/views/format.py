"""How the status page writes what it shows: HTML escaping, durations, money, token counts and
times (bot/core/views/status.py and its health sections, bot/core/views/health.py)."""

from __future__ import annotations

import html
import time


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:.1f} min"
    return f"{ms / 3_600_000:.1f} h"


def ago(moment: float, now: float) -> str:
    seconds = max(int(now - moment), 0)
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86_400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86_400} d ago"


def dollars(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    return f"${value:.6f}" if value < 0.01 else f"${value:,.4f}"


def tokens(value: int) -> str:
    return f"{value:,}"


def utc(moment: float, now: float) -> str:
    same_day = time.gmtime(moment)[:3] == time.gmtime(now)[:3]
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", time.gmtime(moment))


def iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
