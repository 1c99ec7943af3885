"""Small bar charts as inline SVG, drawn on the server: no script, no external resource. Pure.

The status page (bot/core/views/status.py) shows two: deliveries per hour by outcome (stacked bars) and
model cost per day. Each bar carries a `<title>`, which browsers show on hover, so the exact
figures are there without a script. Colours come from the page's CSS classes (`s-<series>`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Series", "nice_ceiling", "stacked_bars"]

WIDTH, HEIGHT = 560, 190
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 10, 24  # room for the y labels and the x labels


@dataclass(frozen=True, slots=True)
class Series:
    name: str  # also the CSS class `s-<name>` that colours it
    values: Sequence[float]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 4, 6 or 8 times a power of ten that is at least `value` (1 for nothing):
    the axis is labelled at 0, half and the top, and half of each is a round figure too."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 4, 6, 8, 10):
        if value <= step * power * (1 + 1e-9):
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def stacked_bars(
    *,
    chart_id: str,
    label: str,
    x_labels: Sequence[str],
    series: Sequence[Series],
    titles: Sequence[str],
    y_format: Callable[[float], str],
    label_every: int = 1,
    empty: str = "nothing yet",
    least_top: float = 0.0,
) -> str:
    """One `<svg>`: a bar per x label, the series stacked bottom up in the order given.

    `titles` is each bar's hover text; `y_format` writes the axis values; every `label_every`-th
    x label is written, counted back from the last (now). `least_top` keeps the axis from
    shrinking below it (2 for counts, so its middle is a whole number)."""
    count = len(x_labels)
    totals = [sum(s.values[i] for s in series) for i in range(count)]
    top = nice_ceiling(max(max(totals, default=0.0), least_top))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(count, 1)
    bar_w = max(slot * 0.72, 1.0)
    parts = [
        f'<svg id="{_esc(chart_id)}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{_esc(label)}" preserveAspectRatio="xMidYMid meet">'
    ]
    for fraction in (0.0, 0.5, 1.0):  # grid lines and the y axis's values
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        tick = _esc(y_format(top * fraction))
        parts.append(f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for i in range(count):
        x = LEFT + slot * i + (slot - bar_w) / 2
        bottom = float(TOP + plot_h)
        rects = []
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / top
            bottom -= h
            rects.append(
                f'<rect class="s-{_esc(s.name)}" x="{x:.1f}" y="{bottom:.1f}" width="{bar_w:.1f}" height="{h:.1f}"/>'
            )
        # A transparent full-height rectangle takes the hover for the whole slot, zero included.
        hover = f'<rect class="hover" x="{LEFT + slot * i:.1f}" y="{TOP}" width="{slot:.1f}" height="{plot_h}"/>'
        parts.append(f"<g><title>{_esc(titles[i])}</title>{''.join(rects)}{hover}</g>")
        if (count - 1 - i) % label_every == 0:  # counted back from the last, which is always labelled
            cx = LEFT + slot * i + slot / 2
            parts.append(
                f'<text class="axis" x="{cx:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{_esc(x_labels[i])}</text>'
            )
    if not any(totals):
        parts.append(
            f'<text class="axis empty-chart" x="{LEFT + plot_w / 2:.1f}" y="{TOP + plot_h / 2:.1f}" '
            f'text-anchor="middle">{_esc(empty)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
