"""The 13-month trend chart: MRR movements as stacked bars, NRR as a line (PNG bytes).

Pure: reports in, bytes out. Uses a bare ``Figure`` with the Agg canvas, never pyplot, so
no global state is touched and it is safe in a daemon thread. Output is deterministic
(fixed size and dpi, no "Software" metadata, no timestamps) so equal data gives equal bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import StrMethodFormatter

from reports.fx import to_major
from reports.metrics import MonthReport
from reports.render.text import month_title

WIDTH_IN, HEIGHT_IN, DPI = 8.0, 3.6, 100
UP = (("new", "#2e7d32"), ("reactivation", "#81c784"), ("expansion", "#1565c0"))
DOWN = (("contraction", "#ef6c00"), ("churn", "#c62828"))
NRR_COLOR = "#212121"


def month_label(month: str) -> str:
    # "Oct 26": short enough for 13 ticks on an 8-inch chart.
    name, year = month_title(month).split(" ")
    return f"{name[:3]} {year[2:]}"


def render_chart_png(reports: Sequence[MonthReport], current: str) -> bytes:
    """Stacked movement bars per month (gains up, losses down), monthly NRR on a second axis,
    the ``current`` month highlighted. ``reports`` oldest first (``metrics.history``)."""
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(reports)))
    cur = reports[0].currency if reports else "usd"

    def major(values: Sequence[int]) -> list[float]:
        return [float(to_major(v, cur)) for v in values]

    bottom = [0.0] * len(reports)
    for name, color in UP:
        values = major([getattr(r.mrr, name) for r in reports])
        ax.bar(xs, values, bottom=bottom, color=color, label=name, width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    bottom = [0.0] * len(reports)
    for name, color in DOWN:
        values = [-v for v in major([getattr(r.mrr, name) for r in reports])]
        ax.bar(xs, values, bottom=bottom, color=color, label=name, width=0.7)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.axhline(0, color="#9e9e9e", linewidth=0.8)
    for i, r in enumerate(reports):
        if r.month == current:
            ax.axvspan(i - 0.45, i + 0.45, color="#fff59d", alpha=0.6, zorder=0)
    ax.set_xticks(xs, [month_label(r.month) for r in reports], fontsize=8)
    ax.set_ylabel(f"MRR movements ({cur.upper()})", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))

    nrr_ax = ax.twinx()
    points = [(i, float(r.retention.nrr)) for i, r in enumerate(reports) if r.retention.nrr is not None]
    if points:
        nrr_ax.plot([p[0] for p in points], [p[1] for p in points], color=NRR_COLOR, marker="o",
                    markersize=3, linewidth=1.5, label="NRR %")
    nrr_ax.set_ylabel("monthly NRR (%)", fontsize=8)
    nrr_ax.tick_params(axis="y", labelsize=8)

    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = nrr_ax.get_legend_handles_labels()
    # Above the plot, so that it never hides a bar.
    ax.legend(handles + h2, labels + l2, fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncol=6,
              frameon=False)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()
