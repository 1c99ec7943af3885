"""Durations as operators type them: `45s`, `90m`, `2h`, `3d`, `1h30m`. Pure."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, *, most: timedelta | None = None) -> timedelta:
    """`text` as a timedelta (more than zero), capped at `most` when given."""
    compact = text.strip().lower()
    if not compact or _DURATION.sub("", compact):
        raise ValueError(f"expected a duration such as 45s, 90m, 2h or 3d, got {text!r}")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _DURATION.findall(compact))
    if seconds <= 0:
        raise ValueError(f"the duration must be more than zero, got {text!r}")
    duration = timedelta(seconds=seconds)
    return min(duration, most) if most is not None else duration
