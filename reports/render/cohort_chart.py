"""The signup-cohort heatmap: net MRR retention by signup month and months since (PNG).

Pure, deterministic and pyplot-free like ``reports.render.chart``: a cohort per row, a
month since its start per column, each cell coloured by its net MRR retention (red
under 100%, green over) and labelled with it.
"""

from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from reports.metrics import CohortTable
from reports.render.chart import DPI, WIDTH_IN, month_label

# Retention shown from 50% (deep red) through 100% (white) to 150% (deep green); beyond
# either end a cell keeps the end colour and its label says the figure.
LOW, HIGH = 50.0, 150.0


def render_cohort_heatmap_png(table: CohortTable) -> bytes:
    """Rows oldest cohort first, columns months since the cohort's first month."""
    n = len(table.months)
    grid = [[math.nan] * n for _ in table.cohorts]
    for row, cohort in enumerate(table.cohorts):
        for k, value in enumerate(cohort.net_retention):
            if value is not None:
                grid[row][k] = float(value)
    fig = Figure(figsize=(WIDTH_IN, 0.9 + 0.3 * max(len(table.cohorts), 1)), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(grid, cmap="RdYlGn", norm=TwoSlopeNorm(vcenter=100.0, vmin=LOW, vmax=HIGH), aspect="auto")
    for row, cells in enumerate(grid):
        for k, cell in enumerate(cells):
            if not math.isnan(cell):
                # Light text on the darkest cells, far from 100% either way.
                ink = "#ffffff" if abs(cell - 100.0) > 0.4 * (HIGH - LOW) else "#212121"
                ax.text(k, row, f"{cell:.0f}", ha="center", va="center", fontsize=7, color=ink)
    ax.set_xticks(range(n), [f"M{k}" for k in range(n)], fontsize=7)
    ax.set_yticks(range(len(table.cohorts)),
                  [f"{month_label(c.month or '')} ({c.customers})" for c in table.cohorts], fontsize=7)
    ax.set_xlabel("months since the cohort's first month", fontsize=7)
    ax.set_title(f"Net MRR retention by signup month (%), customers in brackets, {table.currency.upper()}",
                 fontsize=8, loc="left")
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()
