"""The benchmark's regression check and table (pure; the bench itself is `make bench`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bench.run import (
    BEGIN_MARK,
    END_MARK,
    STEPS,
    Regression,
    _parser,
    backfill_figures,
    comparable,
    find_regressions,
    flatten,
    in_order,
    peak_memory_mb,
    plan_steps,
    rekeyed,
    render_results,
    render_table,
    render_targets,
    replace_generated,
    result_key,
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
        "normalize": {"seconds": 3.0, "cpu_seconds": 3.4, "customers": 999, "peak_rss_mb": 300},
        "normalize_after_nothing_changed": {"seconds": 0.4, "cpu_seconds": 0.35, "customers": 0, "peak_rss_mb": 110},
        "normalize_after_1pct_changed": {"seconds": 0.6, "cpu_seconds": 0.5, "customers": 7, "peak_rss_mb": 112},
        "report_1_month": {"seconds": 0.5, "month": "2026-10", "peak_rss_mb": 120},
        "report_36_months": {"seconds": 2.0, "months": 24, "peak_rss_mb": 130},
        "daemon_tick_nothing_changed": {"seconds": 0.9, "cpu_seconds": 0.8, "requests": 1, "peak_rss_mb": 115},
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


def test_identical_cpu_times_within_noise_are_not_a_regression_but_a_doubling_is() -> None:
    now = _entry()
    now["normalize_after_nothing_changed"]["cpu_seconds"] = 0.39  # +11%
    now["daemon_tick_nothing_changed"]["cpu_seconds"] = 1.7
    assert [r.figure for r in find_regressions(_entry(), now)] == ["daemon_tick_nothing_changed.cpu_seconds"]


def _rows_of(table: str) -> list[str]:
    return [line for line in table.splitlines() if line.startswith("| ") and "| step |" not in line]


def test_table_has_a_row_per_step_in_the_order_they_run_and_names_the_machine() -> None:
    table = render_table(_entry())
    rows = _rows_of(table)
    assert [r.split(" | ")[0] for r in rows] == [
        "| backfill", "| normalize whole account", "| incremental, nothing changed",
        "| normalize after the no-change resync", "| incremental, 1% changed", "| normalize after the 1% resync",
        "| `nrr report`, 1 month", "| `nrr report`, 36 months", "| daemon tick, nothing changed"]
    assert "150 ms per request. x86_64, Some CPU, 2 CPUs, 7.8 GB RAM, Python 3.11.7" in table
    assert "671" in rows[0] and "3.04× lower bound" in rows[0] and "0 429s" in rows[0]
    assert "7 subscriptions changed, 7 objects stored" in rows[4]
    assert rows[3].split(" | ")[1:3] == ["0.40 s", "0.35 s"]  # wall and CPU time
    assert rows[0].split(" | ")[2] == "–"  # an older entry without CPU time


def test_a_partial_or_older_entry_shows_the_steps_it_has() -> None:
    older = {k: v for k, v in _entry().items() if not k.startswith(("normalize_after", "daemon_tick"))}
    assert len(_rows_of(render_table(older))) == 6
    only_backfill = {k: v for k, v in _entry().items() if not isinstance(v, dict) or k in ("backfill", "machine")}
    assert [r.split(" | ")[0] for r in _rows_of(render_table(only_backfill))] == ["| backfill"]


def test_peak_memory_is_the_largest_of_any_step() -> None:
    assert peak_memory_mb(_entry()) == 300


def _at(size: str, latency: float = 0.15, **backfill: Any) -> dict[str, Any]:
    entry = copy.deepcopy(_entry())
    entry.update(size=size, latency_seconds=latency)
    entry["backfill"].update(backfill)
    return entry


def test_backfill_targets_are_judged_at_every_size_and_latency_and_the_rest_at_m_and_150_ms() -> None:
    results = {"XS@600ms": _at("XS", 0.6, vs_lower_bound=1.25), "S@150ms": _at("S"),
               "M@150ms": _at("M", vs_lower_bound=1.15, requests_vs_minimal=1.05),
               "L@150ms": _at("L"), "M@600ms": _at("M", 0.6)}
    rows = render_targets(results).splitlines()[2:]
    assert "| backfill within 1.3× its lower bound (size XS, 600 ms) | 1.25× (21.9 s; lower bound 7.2 s) | met |" in rows
    assert "| backfill within 1.3× its lower bound (size S, 150 ms) | 3.04× (21.9 s; lower bound 7.2 s) | **not met** |" in rows
    assert "| backfill within 1.2× its lower bound (size M, 150 ms) | 1.15× (21.9 s; lower bound 7.2 s) | met |" in rows
    assert "| backfill requests within 1.1× the minimal page count (size M, 150 ms) | 1.05× | met |" in rows
    assert "| backfill requests within 1.1× the minimal page count (size L, 150 ms) | 1.167× | **not met** |" in rows
    assert not any("lower bound (size L" in r for r in rows)  # no speed target at L
    assert "| at most 2% of requests answered 429 (size XS, 600 ms) | 0 of 671 | met |" in rows
    # Resync, normalization and reports: once, at size M and 150 ms.
    assert [r for r in rows if "normalization within 30 s" in r] == ["| normalization within 30 s (size M, 150 ms) | 3.00 s | met |"]
    assert rows[-3:] == [
        "| peak memory under 300 MB for every step (size M, 150 ms) | 300 MB at most | **not met** |",
        "| peak memory under 300 MB for every step (size M, 600 ms) | 300 MB at most | **not met** |",
        "| peak memory under 300 MB for every step (size L, 150 ms) | 300 MB at most | **not met** |",
    ]
    assert render_targets({}) == "No run yet: `make bench`."


def test_results_show_each_size_then_each_latency_then_the_targets() -> None:
    text = render_results({"L": _at("L"), "S@600ms": _at("S", 0.6), "S": _at("S"), "XS@150ms": _at("XS")})
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    assert headings == ["### Size XS, 150 ms", "### Size S, 150 ms", "### Size S, 600 ms", "### Size L, 150 ms",
                        "### Targets"]


def test_results_are_keyed_by_size_and_latency_and_a_file_keyed_by_size_is_read_alike() -> None:
    assert result_key(_at("S", 0.6)) == "S@600ms"
    legacy = {"S": _at("S"), "M": _at("M")}
    assert sorted(rekeyed(legacy)) == ["M@150ms", "S@150ms"]
    assert [e["size"] for e in in_order({"M@150ms": _at("M"), "XS@600ms": _at("XS", 0.6)})] == ["XS", "M"]


def test_a_step_brings_the_steps_it_needs_and_they_run_in_order() -> None:
    assert [s.name for s in plan_steps(None)] == [s.name for s in STEPS]
    assert [s.name for s in plan_steps(["backfill"])] == ["backfill"]
    assert [s.name for s in plan_steps(["normalize_changed", "report_1"])] == [
        "backfill", "normalize", "changed", "normalize_changed", "report_1"]
    assert [s.name for s in plan_steps(["tick"])] == ["backfill", "normalize", "tick"]
    with pytest.raises(ValueError, match="unknown step 'nope'"):
        plan_steps(["nope"])


def test_latency_is_given_in_milliseconds_or_seconds_and_steps_by_name() -> None:
    args = _parser().parse_args(["--size", "XS", "--latency-ms", "600", "--steps", "backfill,idle"])
    assert (args.size, args.latency_ms, args.latency, args.steps) == ("XS", 600, None, ["backfill", "idle"])
    assert _parser().parse_args(["--latency", "0.6"]).latency == 0.6
    assert _parser().parse_args([]).latency_ms == 150
    with pytest.raises(SystemExit):
        _parser().parse_args(["--steps", "backfill,nope"])
    with pytest.raises(SystemExit):
        _parser().parse_args(["--latency", "0.6", "--latency-ms", "600"])


def test_the_backfill_is_judged_against_the_pages_the_account_needs() -> None:
    summary = {"minimal_pages": 400, "minimal_pages_by_endpoint": {"/v1/charges": 150, "/v1/events": 50}}
    step = {"status": "success", "seconds": 9.0, "cpu_seconds": 5.0, "requests": 440, "retries": 0,
            "rate_limited": 0, "objects": 30_000, "peak_rss_mb": 190, "budget_rps": 80.0, "endpoint_budget_rps": 20.0}
    figures = backfill_figures(step, summary, db_mb=143.2)
    # 400 pages at 80/s is 5 s, but the charges alone at 20/s take 7.5 s.
    assert (figures["lower_bound_seconds"], figures["global_lower_bound_seconds"]) == (7.5, 5.0)
    assert (figures["vs_lower_bound"], figures["requests_vs_minimal"]) == (1.2, 1.1)
    assert (figures["requests_per_second"], figures["database_mb"], figures["cpu_seconds"]) == (48.9, 143, 5.0)


def test_only_the_text_between_the_markers_is_replaced() -> None:
    doc = f"# Benchmark\n\nmethod\n\n{BEGIN_MARK}\nold table\n{END_MARK}\nafter\n"
    assert replace_generated(doc, "new table") == (
        f"# Benchmark\n\nmethod\n\n{BEGIN_MARK}\nnew table\n{END_MARK}\nafter\n")
    with pytest.raises(ValueError, match="markers"):
        replace_generated("# no markers\n", "new table")


def test_what_a_tick_costs_is_judged_at_m_and_l_at_150_ms() -> None:
    results = {"M@150ms": _at("M"), "L@150ms": _at("L"), "S@150ms": _at("S"), "M@600ms": _at("M", 0.6)}
    results["M@150ms"]["normalize_after_1pct_changed"].update(seconds=1.5)
    results["M@150ms"]["normalize_after_nothing_changed"].update(seconds=0.2)
    results["M@150ms"]["daemon_tick_nothing_changed"].update(cpu_seconds=1.2)
    results["L@150ms"]["normalize_after_1pct_changed"].update(seconds=6.0)
    results["L@150ms"]["normalize_after_nothing_changed"].update(seconds=0.4)
    results["L@150ms"]["daemon_tick_nothing_changed"].update(cpu_seconds=0.9)
    rows = render_targets(results).splitlines()[2:]
    assert [r for r in rows if "resync within" in r or "tick with nothing" in r] == [
        "| normalization after the 1% resync within 2 s (size M, 150 ms) | 1.50 s | met |",
        "| normalization after the no-change resync within 0.5 s (size M, 150 ms) | 0.20 s | met |",
        "| daemon tick with nothing changed within 1 s of CPU (size M, 150 ms) | 1.20 s | **not met** |",
        "| normalization after the 1% resync within 5 s (size L, 150 ms) | 6.00 s | **not met** |",
        "| normalization after the no-change resync within 0.5 s (size L, 150 ms) | 0.40 s | met |",
        "| daemon tick with nothing changed within 1 s of CPU (size L, 150 ms) | 0.90 s | met |",
    ]


def test_an_incremental_normalization_says_how_many_customers_it_rederived() -> None:
    entry = _entry()
    entry["normalize_after_1pct_changed"].update(customers=9839, customers_updated=120)
    rows = _rows_of(render_table(entry))
    assert any("120 of 9,839 customers re-derived" in r for r in rows)


def _with_dashboard(entry: dict[str, Any], overview_ms: float = 250.0, chart_cold_ms: float = 500.0) -> dict[str, Any]:
    entry["dashboard_pages"] = {
        "seconds": 9.5, "cpu_seconds": 6.1, "requests": 18, "repeats": 5, "peak_rss_mb": 240,
        "pages": {
            "month": {"order": 3, "path": "/month/2026-10", "cold_ms": 90.0, "warm_ms": 80.5, "bytes": 2300},
            "chart": {"order": 2, "path": "/chart.png", "cold_ms": chart_cold_ms, "warm_ms": 120.0, "bytes": 43200},
            "overview": {"order": 1, "path": "/", "cold_ms": 420.0, "warm_ms": overview_ms, "bytes": 4000},
        },
    }
    return entry


def test_the_dashboard_has_a_row_and_a_table_of_its_pages_flagging_those_over_300_ms() -> None:
    table = render_table(_with_dashboard(_entry(), overview_ms=1840.0))
    rows = _rows_of(table)
    dashboard = next(r for r in rows if r.startswith("| dashboard, every page |"))
    assert dashboard.split(" | ")[1:4] == ["9.50 s", "6.10 s", "18"]
    assert "slowest overview, 1,840 ms; 1 over 300 ms" in dashboard
    assert "| overview | `/` | **420 ms** | **1,840 ms** | 4.0 kB | **over the target** |" in rows
    assert "| chart | `/chart.png` | **500 ms** | 120 ms | 43.2 kB | first request over the target |" in rows
    assert "| month | `/month/2026-10` | 90 ms | 80 ms | 2.3 kB |  |" in rows
    pages = [r.split(" | ")[0] for r in rows if r.startswith(("| overview", "| chart", "| month"))]
    assert pages == ["| overview", "| chart", "| month"]  # the sitemap's order, whatever the keys' order
    assert "median of 5" in table
    assert "| page |" not in render_table(_entry())  # an entry without the dashboard has no such table


def test_every_dashboard_page_is_judged_at_m_and_150_ms_on_its_median_request() -> None:
    results = {"M@150ms": _with_dashboard(_at("M"), overview_ms=310.0), "S@150ms": _with_dashboard(_at("S"))}
    rows = [r for r in render_targets(results).splitlines() if "dashboard page" in r]
    assert rows == ["| every dashboard page within 300 ms (median request) (size M, 150 ms) | slowest overview: "
                    "310 ms (first request 420 ms); 1 of 3 over: overview | **not met** |"]
    results["M@150ms"] = _with_dashboard(_at("M"))
    rows = [r for r in render_targets(results).splitlines() if "dashboard page" in r]
    assert rows == ["| every dashboard page within 300 ms (median request) (size M, 150 ms) | slowest overview: "
                    "250 ms (first request 420 ms) | met |"]


def test_a_dashboard_page_regresses_past_20_percent_and_50_ms_but_not_within_noise() -> None:
    before = _with_dashboard(_entry(), overview_ms=100.0)
    noisy = _with_dashboard(_entry(), overview_ms=140.0)  # +40%, but 40 ms
    assert find_regressions(before, noisy) == []
    slower = _with_dashboard(_entry(), overview_ms=200.0)
    assert [r.figure for r in find_regressions(before, slower)] == ["dashboard_pages.pages.overview.warm_ms"]


def test_the_dashboard_step_needs_a_normalized_account() -> None:
    assert [s.name for s in plan_steps(["web"])] == ["backfill", "normalize", "web"]


def test_a_merged_partial_run_replaces_the_steps_it_names_dated_and_keeps_the_rest() -> None:
    from bench.run import BY_NAME, merged

    entry = _entry()
    partial = _with_dashboard({**_at("S"), "when": "2026-12-08T09:00:00Z", "customers": 1001})
    partial["normalize"]["seconds"] = 99.0  # needed by the step, not named: not merged
    out = merged(entry, partial, [BY_NAME["web"]])
    assert out["dashboard_pages"]["when"] == "2026-12-08T09:00:00Z"
    assert out["dashboard_pages"]["pages"] == partial["dashboard_pages"]["pages"]
    assert (out["normalize"], out["customers"], out["when"]) == (entry["normalize"], 999, entry["when"])
    assert "Measured 2026-12-08T09:00:00Z." in render_table(out)
    assert "dashboard_pages" not in entry
    assert _parser().parse_args(["--steps", "web", "--merge"]).merge
