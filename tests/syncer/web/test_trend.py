"""The overview's NRR/GRR trend as SVG: each month where its figure is, a gap where a
month has none, 100 % marked, and nothing the page's policy would block."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from syncer.web.trend import BOTTOM, HEIGHT, TOP, render_trend_svg

SVG = "{http://www.w3.org/2000/svg}"


def _month(month: str, nrr: str | None, grr: str | None) -> Any:
    retention = SimpleNamespace(nrr=Decimal(nrr) if nrr else None, grr=Decimal(grr) if grr else None)
    return SimpleNamespace(month=month, retention=retention)


def _lines(svg: str) -> list[list[tuple[float, float]]]:
    root = ET.fromstring(svg)
    return [[tuple(map(float, p.split(","))) for p in line.get("points", "").split()]  # type: ignore[misc]
            for line in root.iter(f"{SVG}polyline")]


def test_each_month_is_a_point_and_a_month_without_a_figure_a_gap() -> None:
    months = [_month("2026-01", "100", "95"), _month("2026-02", "110", "90"), _month("2026-03", None, None),
              _month("2026-04", "105", "100")]
    svg = render_trend_svg(months)  # type: ignore[arg-type]
    nrr_before, nrr_after, grr_before, grr_after = _lines(svg)
    assert [x for x, _ in nrr_before] == [x for x, _ in grr_before] and len(nrr_before) == 2
    assert len(nrr_after) == 1 and nrr_after[0][0] > nrr_before[-1][0]  # March left out
    # Higher is higher on the page: 110 % above 100 %, GRR 90 % below both.
    (_, y100), (_, y110) = nrr_before
    assert y110 < y100 < grr_before[1][1] < HEIGHT
    # 100 % is a marked line, with its label.
    assert ">100%<" in svg and 'stroke="#8c959f"' in svg
    assert "style=" not in svg and "<script" not in svg  # presentation attributes only
    assert re.findall(r">(2026-\d\d)<", svg)[-1] == "2026-04"  # the last month is labelled


def test_every_point_is_inside_the_plot_whatever_the_figures() -> None:
    months = [_month("2026-01", "104.2", "96.1"), _month("2026-02", "131", "77.4"), _month("2026-03", "99.9", "99")]
    for line in _lines(render_trend_svg(months)):  # type: ignore[arg-type]
        assert all(TOP <= y <= HEIGHT - BOTTOM for _, y in line), line


def test_a_single_month_draws_without_dividing_by_zero() -> None:
    svg = render_trend_svg([_month("2026-10", "100", "100")])  # type: ignore[arg-type]
    assert ET.fromstring(svg).tag == f"{SVG}svg"
