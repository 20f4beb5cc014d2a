"""The benchmark's regression check and table (pure; the bench itself is `make bench`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench.run import (
    BEGIN_MARK,
    END_MARK,
    Regression,
    comparable,
    find_regressions,
    flatten,
    peak_memory_mb,
    render_results,
    render_table,
    render_targets,
    replace_generated,
)


def _entry() -> dict[str, Any]:
    return {
        "size": "S", "customers": 999, "subscriptions": 1200, "invoices": 13459,
        "latency_seconds": 0.15, "rate_limit_rps": 100.0, "server_ready_seconds": 3.2,
        "when": "2026-11-26T11:52:32Z",
        "machine": {"arch": "x86_64", "os": "Linux 6", "cpu": "Some CPU", "cpus": 2,
                    "ram_gb": 7.8, "python": "3.11.7"},
        "backfill": {
            "status": "success", "seconds": 21.9, "requests": 671, "retries": 0,
            "rate_limited": 0, "peak_rss_mb": 182, "objects": 51387, "minimal_pages": 575,
            "requests_vs_minimal": 1.167, "requests_per_second": 30.7, "budget_rps": 80.0,
            "lower_bound_seconds": 7.2, "busiest_endpoint_pages": 197, "endpoint_budget_rps": 20.0, "vs_lower_bound": 3.04, "database_mb": 252,
        },
        "incremental_nothing_changed": {"status": "success", "seconds": 0.17, "requests": 1,
                                        "retries": 0, "rate_limited": 0, "objects": 0, "peak_rss_mb": 90},
        "incremental_1pct_changed": {"status": "success", "seconds": 0.9, "requests": 4,
                                     "retries": 0, "rate_limited": 0, "objects": 7, "peak_rss_mb": 95,
                                     "changed_subscriptions": 7},
        "normalize": {"seconds": 3.0, "customers": 999, "peak_rss_mb": 300},
        "report_1_month": {"seconds": 0.5, "month": "2026-10", "peak_rss_mb": 120},
        "report_36_months": {"seconds": 2.0, "months": 24, "peak_rss_mb": 130},
    }


def test_flatten_keeps_numbers_by_dotted_path_and_drops_text_and_flags() -> None:
    flat = flatten({"a": 1, "b": {"c": 2.5, "d": "text", "e": True}, "f": None})
    assert flat == {"a": 1.0, "b.c": 2.5}


def test_identical_runs_have_no_regression() -> None:
    assert find_regressions(_entry(), _entry()) == []


def test_each_kind_of_lower_is_better_figure_is_flagged_past_20_percent() -> None:
    now = _entry()
    now["backfill"]["seconds"] = 26.4  # +20.5%
    now["backfill"]["requests"] = 806  # +20.1%
    now["backfill"]["vs_lower_bound"] = 3.6  # +18%: not flagged
    now["backfill"]["requests_vs_minimal"] = 1.5
    now["normalize"]["peak_rss_mb"] = 361
    now["report_36_months"]["seconds"] = 2.4  # exactly +20%: not flagged
    flagged = {r.figure for r in find_regressions(_entry(), now)}
    assert flagged == {"backfill.seconds", "backfill.requests", "backfill.requests_vs_minimal",
                       "normalize.peak_rss_mb"}


def test_better_figures_and_context_figures_are_never_flagged() -> None:
    now = _entry()
    now["backfill"]["seconds"] = 10.0  # faster
    now["backfill"]["objects"] = 99999  # context: what was stored
    now["backfill"]["database_mb"] = 999
    now["normalize"]["customers"] = 1
    now["server_ready_seconds"] = 60.0  # the generator, not the project under test
    now["incremental_1pct_changed"]["changed_subscriptions"] = 70
    assert find_regressions(_entry(), now) == []


def test_lower_achieved_request_rate_is_a_regression() -> None:
    now = _entry()
    now["backfill"]["requests_per_second"] = 24.0  # -22%
    assert find_regressions(_entry(), now) == [Regression("backfill.requests_per_second", 30.7, 24.0)]


def test_any_429_after_none_is_flagged_but_tiny_timing_noise_is_not() -> None:
    now = _entry()
    now["backfill"]["rate_limited"] = 1
    now["incremental_nothing_changed"]["seconds"] = 0.21  # +24% but only 40 ms
    regressions = find_regressions(_entry(), now)
    assert regressions == [Regression("backfill.rate_limited", 0.0, 1.0)]
    assert str(regressions[0]) == "backfill.rate_limited: 0 -> 1 (was 0)"


def test_figures_missing_from_either_run_are_skipped() -> None:
    old = copy.deepcopy(_entry())
    del old["normalize"]  # an older results file, before normalization was measured
    now = _entry()
    now["normalize"]["seconds"] = 100.0
    del now["report_1_month"]
    assert find_regressions(old, now) == []


def test_regression_names_the_change() -> None:
    assert str(Regression("backfill.seconds", 20.0, 30.0)) == "backfill.seconds: 20 -> 30 (+50%)"


def test_runs_with_another_setup_are_not_compared() -> None:
    other = _entry()
    other["latency_seconds"] = 0.0
    assert comparable(_entry(), other) == "latency_seconds was 0.15, now 0.0"
    assert comparable(_entry(), _entry()) is None
    legacy = {k: v for k, v in _entry().items() if k not in ("latency_seconds", "rate_limit_rps")}
    assert comparable(legacy, _entry()) is None  # older files lack the setup; assume defaults


def test_table_has_a_row_per_step_and_names_the_machine() -> None:
    table = render_table(_entry())
    rows = [line for line in table.splitlines() if line.startswith("| ") and "step" not in line]
    assert [r.split(" | ")[0] for r in rows] == [
        "| backfill", "| incremental, nothing changed", "| incremental, 1% changed",
        "| normalize whole account", "| `nrr report`, 1 month", "| `nrr report`, 36 months"]
    assert "x86_64, Some CPU, 2 CPUs, 7.8 GB RAM, Python 3.11.7" in table
    assert "671" in rows[0] and "3.04× lower bound" in rows[0] and "0 429s" in rows[0]
    assert "7 subscriptions changed, 7 objects stored" in rows[2]


def test_peak_memory_is_the_largest_of_any_step() -> None:
    assert peak_memory_mb(_entry()) == 300


def test_targets_are_judged_on_size_m_and_memory_on_m_and_l() -> None:
    m = {**_entry(), "size": "M"}
    table = render_targets({"S": _entry(), "M": m, "L": {**_entry(), "size": "L"}})
    rows = table.splitlines()[2:]
    assert all("(size M)" in r for r in rows[:7])
    assert "| backfill within 1.2× its lower bound (size M) | 3.04× (21.9 s; lower bound 7.2 s) | **not met** |" in rows
    assert "| normalization within 30 s (size M) | 3.00 s | met |" in rows
    assert rows[7:] == [
        "| peak memory under 300 MB for every step (size M) | 300 MB at most | **not met** |",
        "| peak memory under 300 MB for every step (size L) | 300 MB at most | **not met** |",
    ]
    assert render_targets({"S": _entry()}) == "No size M run yet: `make bench SIZE=M`."


def test_results_show_each_size_in_order_then_the_targets() -> None:
    text = render_results({"L": _entry(), "S": _entry()})
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == ["### Size S", "### Size L", "### Targets"]


def test_only_the_text_between_the_markers_is_replaced() -> None:
    doc = f"# Benchmark\n\nmethod\n\n{BEGIN_MARK}\nold table\n{END_MARK}\nafter\n"
    assert replace_generated(doc, "new table") == (
        f"# Benchmark\n\nmethod\n\n{BEGIN_MARK}\nnew table\n{END_MARK}\nafter\n")
    with pytest.raises(ValueError, match="markers"):
        replace_generated("# no markers\n", "new table")
