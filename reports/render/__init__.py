"""Pure renderers: a ``MonthReport`` in, text out (no I/O)."""

from __future__ import annotations

from reports.render.csvout import render_csv
from reports.render.jsonout import render_json
from reports.render.text import render_text

__all__ = ["render_csv", "render_json", "render_text"]
