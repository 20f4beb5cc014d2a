"""The overview's retention trend: monthly NRR and GRR over the months given, as an SVG
drawn here (pure: no I/O, no clock), so the page needs no chart library and no script.

Colours are presentation attributes, not ``style``: the dashboard's policy allows no
inline style, and this image is served under it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from xml.sax.saxutils import escape

from reports.metrics import MonthReport

WIDTH, HEIGHT = 760, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 24, 28
LINES = (("NRR", "#0969da", lambda r: r.retention.nrr), ("GRR", "#cf222e", lambda r: r.retention.grr))


def render_trend_svg(reports: Sequence[MonthReport]) -> str:
    """NRR and GRR of each of ``reports`` (oldest first), with 100 % marked; a month
    without the figure (no customer at its start) leaves a gap."""
    values = [v for r in reports for _, _, get in LINES if (v := get(r)) is not None]
    low, high = _bounds(values)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(reports) - 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(v: Decimal | int) -> float:
        return TOP + plot_h * float((high - v) / (high - low))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica, Arial, sans-serif" font-size="11">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>']
    for tick in _ticks(low, high):
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="{"#8c959f" if tick == 100 else "#eaeef2"}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" fill="#57606a">{tick}%</text>')
    for i, r in enumerate(reports):
        if i % 3 == (len(reports) - 1) % 3:  # every third month, ending with the last
            anchor = "end" if i == len(reports) - 1 else "middle"  # the last one inside the picture
            parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" fill="#57606a">'
                         f'{escape(r.month)}</text>')
    for n, (name, colour, get) in enumerate(LINES):
        for run in _runs([(i, get(r)) for i, r in enumerate(reports)]):
            points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in run)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<line x1="{LEFT + 8 + n * 70}" x2="{LEFT + 26 + n * 70}" y1="12" y2="12" stroke="{colour}" '
                     f'stroke-width="2"/><text x="{LEFT + 30 + n * 70}" y="16" fill="#1f2328">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _bounds(values: Sequence[Decimal]) -> tuple[Decimal, Decimal]:
    """The range shown: the values and 100 %, widened to whole steps of 5 points."""
    low, high = min([*values, Decimal(100)]), max([*values, Decimal(100)])
    # math's floor and ceil: Decimal's // truncates towards zero.
    low, high = Decimal(math.floor(low / 5) * 5), Decimal(math.ceil(high / 5) * 5)
    return (low, high) if high > low else (low - 5, high + 5)


def _ticks(low: Decimal, high: Decimal) -> list[int]:
    step = 5 if high - low <= 40 else 10
    return list(range(int(low) - int(low) % step + (step if int(low) % step else 0), int(high) + 1, step))


def _runs(points: Sequence[tuple[int, Decimal | None]]) -> list[list[tuple[int, Decimal]]]:
    """Consecutive months with a value: each a line of its own."""
    runs: list[list[tuple[int, Decimal]]] = [[]]
    for i, v in points:
        if v is None:
            runs.append([])
        else:
            runs[-1].append((i, v))
    return [run for run in runs if run]
