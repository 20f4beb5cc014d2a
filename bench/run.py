"""``make bench``: backfill, incremental syncs, normalization, reports, the daemon's tick
and the dashboard's pages of a generated account, measured.

Not a test: it prints a table, writes it to ``bench/results.json`` (one entry per size and
latency), flags every figure more than 20% worse than the previous entry of the same size
and latency, and regenerates the tables of ``docs/BENCHMARK.md`` from ``bench/results.json``.

The fake Stripe runs in its own process with Stripe's live-mode rate limit and a
per-request latency; between two syncs the bench tells it (``--control`` on its stdin)
to change 1% of the subscriptions. Each step runs in a fresh process of its own
(``python -m bench.run --step NAME ...``, printing one JSON line) so that its peak
resident memory is its own, not the high-water mark of the steps before it. A step's wall
time is measured inside that process around the call itself, so it leaves out the
interpreter's start but includes what the call imports lazily (the Stripe SDK on a first
request, about 0.3 s), as a cold `nrr sync` from cron would pay. Its CPU time is that of
the process and of the worker processes it waited for, over the same span.

``--steps`` runs some of the steps (and those they need first); such a partial run is
printed and compared, not written, unless ``--merge`` writes the figures of the steps it
names (each with the date it ran) into the entry of that size and latency, keeping the
entry's other figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

# (customers, months of history). XS is a small business's account: a year of a thousand
# customers, a few hundred pages in all.
SIZES = {"XS": (1_000, 12), "S": (1_000, 24), "M": (10_000, 36), "L": (50_000, 36)}
KEY = "sk_live_51BenchmarkKey000000000000000"
# Stripe's documented per-endpoint limit; the fake enforces it as Stripe would.
ENDPOINT_RATE_LIMIT = 25.0
CHANGED_FRACTION = 0.01
THRESHOLD = 0.20  # a figure this much worse than the previous run is a regression
# Figures whose name says which way is better; any other figure (counts of the generated
# account, status, budget) is context, not compared.
LOWER_IS_BETTER = frozenset(
    {"seconds", "cpu_seconds", "requests", "rate_limited", "peak_rss_mb", "vs_lower_bound",
     "requests_vs_minimal", "cold_ms", "warm_ms"}
)
HIGHER_IS_BETTER = frozenset({"requests_per_second"})
# Differences of timings below this are scheduler noise, not a regression (an idle
# resync of 0.15 s that takes 0.19 s once is not 27% slower code).
SECONDS_NOISE = 0.05
TIMINGS = frozenset({"seconds", "cpu_seconds"})
MS_TIMINGS = frozenset({"cold_ms", "warm_ms"})  # a dashboard page's, in milliseconds
# Simulated time of each step after the generated "now" (the fake's history ends there).
IDLE_AT, MUTATE_AT, CHANGED_AT, TICK_AT, WEB_AT = 600, 1200, 1800, 2400, 3000


@dataclass(frozen=True)
class Step:
    name: str  # for --steps and the step's process
    key: str  # its figures' key in a result entry
    needs: tuple[str, ...]  # steps that must have run before it
    clock: int  # simulated seconds after the generated "now"


# In the order they run: each normalization follows its sync, as the daemon's tick does.
STEPS = (
    Step("backfill", "backfill", (), 0),
    Step("normalize", "normalize", ("backfill",), 0),
    Step("idle", "incremental_nothing_changed", ("backfill",), IDLE_AT),
    Step("normalize_idle", "normalize_after_nothing_changed", ("idle", "normalize"), IDLE_AT),
    Step("changed", "incremental_1pct_changed", ("backfill",), CHANGED_AT),
    Step("normalize_changed", "normalize_after_1pct_changed", ("changed", "normalize"), CHANGED_AT),
    Step("report_1", "report_1_month", ("normalize",), CHANGED_AT),
    Step("report_36", "report_36_months", ("normalize",), CHANGED_AT),
    Step("tick", "daemon_tick_nothing_changed", ("normalize",), TICK_AT),
    Step("web", "dashboard_pages", ("normalize",), WEB_AT),
)
BY_NAME = {s.name: s for s in STEPS}
SYNC_STEPS = frozenset({"backfill", "idle", "changed"})
NORMALIZE_STEPS = frozenset({"normalize", "normalize_idle", "normalize_changed"})


def plan_steps(wanted: Iterable[str] | None) -> list[Step]:
    """The steps to run for ``wanted`` (all when None): those and what they need, in order."""
    if wanted is None:
        return list(STEPS)
    chosen: set[str] = set()
    todo = list(wanted)
    while todo:
        name = todo.pop()
        if name not in BY_NAME:
            raise ValueError(f"unknown step {name!r}; the steps are {', '.join(BY_NAME)}")
        if name not in chosen:
            chosen.add(name)
            todo.extend(BY_NAME[name].needs)
    return [s for s in STEPS if s.name in chosen]


def latency_ms(entry: Mapping[str, Any]) -> int:
    return round(float(entry.get("latency_seconds", 0.15)) * 1000)


def result_key(entry: Mapping[str, Any]) -> str:
    """Where an entry lives in bench/results.json: its size and the fake's latency."""
    return f"{entry['size']}@{latency_ms(entry)}ms"


def rekeyed(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """``results`` keyed by ``result_key`` (a file from before the latency was a key
    names its entries by size alone)."""
    return {result_key(entry): entry for entry in results.values()}


def _order(entry: Mapping[str, Any]) -> tuple[int, int]:
    sizes = list(SIZES)
    size = entry["size"]
    return (sizes.index(size) if size in sizes else len(sizes), latency_ms(entry))


def in_order(results: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The entries by size (as SIZES lists them), then latency."""
    return sorted(rekeyed(results).values(), key=_order)


# -- the comparison (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class Regression:
    figure: str  # dotted path in the entry, e.g. "backfill.seconds"
    previous: float
    current: float

    def __str__(self) -> str:
        if self.previous:
            change = f"{(self.current - self.previous) / self.previous:+.0%}"
        else:
            change = "was 0"
        return f"{self.figure}: {self.previous:g} -> {self.current:g} ({change})"


def flatten(entry: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The numeric figures of a result entry, keyed by dotted path."""
    out: dict[str, float] = {}
    for key, value in entry.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{path}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[path] = float(value)
    return out


def _worse(name: str, previous: float, current: float, threshold: float) -> bool:
    if name in LOWER_IS_BETTER:
        if name in TIMINGS and current - previous < SECONDS_NOISE:
            return False
        if name in MS_TIMINGS and current - previous < SECONDS_NOISE * 1000:
            return False
        return current > previous * (1 + threshold) if previous > 0 else current > 0
    if name in HIGHER_IS_BETTER:
        return current < previous * (1 - threshold)
    return False


def find_regressions(
    previous: Mapping[str, Any], current: Mapping[str, Any], threshold: float = THRESHOLD
) -> list[Regression]:
    """Every compared figure of ``current`` more than ``threshold`` worse than in
    ``previous`` (entries of the same size and latency). Figures only one of them has are skipped, so
    a new step or an older results file never counts as a regression."""
    before, after = flatten(previous), flatten(current)
    return [
        Regression(path, before[path], value)
        for path, value in sorted(after.items())
        if path in before and _worse(path.rsplit(".", 1)[-1], before[path], value, threshold)
    ]


def comparable(previous: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    """Why two entries cannot be compared (another latency, rate limit or account), or None."""
    for key in ("latency_seconds", "rate_limit_rps", "customers"):
        if key in previous and previous[key] != current.get(key):
            return f"{key} was {previous[key]}, now {current.get(key)}"
    return None


# -- one step, in its own process ------------------------------------------------------------


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> int:
    """Peak resident memory of this process, or (RUSAGE_CHILDREN) of the largest of its
    ended child processes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(who).ru_maxrss
    return round(peak / (1 << 20 if sys.platform == "darwin" else 1 << 10))


def cpu_seconds() -> float:
    """CPU time of this process and of the child processes it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class _Captured:
    """A logger that keeps the fields of what is logged at info (normalize_logged's counts)."""

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}

    def info(self, event: str, **fields: Any) -> None:
        self.fields.update(fields)


def run_step(step: str, base: str, database_url: str, now: int, clock: int) -> dict[str, Any]:
    """Run one step against the database and return its figures (``now`` is where the
    generated history ends, ``clock`` the simulated time of this step)."""
    from syncer.app.settings import load_settings
    from syncer.app.wiring import open_store

    settings = load_settings(_env_file=None, stripe_api_key=KEY, stripe_api_base=base,
                             database_url=database_url, log_level="warning")
    store = open_store(settings)
    started, cpu_started = time.monotonic(), cpu_seconds()
    figures = _call_step(step, settings, store, now, clock)

    def took() -> dict[str, float]:
        return {"seconds": round(time.monotonic() - started, 2),
                "cpu_seconds": round(cpu_seconds() - cpu_started, 2)}

    return {**took(), **figures}  # a sync's own seconds (around the sync alone) win


def _call_step(step: str, settings: Any, store: Any, now: int, clock: int) -> dict[str, Any]:
    if step in SYNC_STEPS:
        from syncer.app.usecases import sync_stripe

        outcome = sync_stripe(settings, store, clock=lambda: float(clock))
        return {
            "status": outcome.result.status,
            "seconds": round(outcome.seconds, 2),
            "requests": outcome.requests,
            "retries": outcome.retries,
            "rate_limited": outcome.rate_limited,
            "objects": sum(outcome.result.counts.values()),
            "budget_rps": settings.max_rps,
            "endpoint_budget_rps": settings.max_rps_per_endpoint,
        }
    if step in NORMALIZE_STEPS:
        from syncer.app.usecases import normalize_logged

        # What the daemon calls after a successful sync, whatever it does inside.
        log = _Captured()
        normalize_logged(settings, store, now=clock, log=log)
        return {k: v for k, v in log.fields.items()
                if k != "seconds" and isinstance(v, int | float) and not isinstance(v, bool)}
    if step in ("report_1", "report_36"):
        from reports.month import last_complete_month
        from reports.render import render_text
        from syncer.app.reporting import report_months

        month = last_complete_month(now, settings.report_timezone)
        reports = report_months(settings, store, month, now=clock, count=int(step.split("_")[1]))
        text = render_text(reports[-1])  # what `nrr report` prints
        return {"month": month, "months": len(reports), "chars": len(text)}
    if step == "tick":
        from syncer.daemon.run import Daemon

        # The scheduler's job, without the scheduler: sync, normalize, deliver what is due.
        Daemon(settings, store, clock=lambda: float(clock)).tick("sync")
        return {}
    if step == "web":
        from bench.web import time_pages

        # `nrr serve` over loopback HTTP, logged in: each page of the sitemap.
        return time_pages(settings, store, now=clock)
    raise ValueError(f"unknown step {step!r}")


def step_main(args: argparse.Namespace) -> None:
    from syncer.app.logging import configure_logging

    configure_logging("json", "warning", sys.stderr)  # stdout is the one JSON line
    figures = run_step(args.step, args.base, args.db, args.now, args.clock)
    # A step's memory is that of all its processes: normalization's worker counts. Their
    # peaks are added, an upper bound (they need not peak at the same moment).
    workers = peak_rss_mb(resource.RUSAGE_CHILDREN)
    figures["peak_rss_mb"] = peak_rss_mb() + workers
    if workers:
        figures["workers_peak_rss_mb"] = workers
    print(json.dumps(figures))


# -- the orchestration -------------------------------------------------------------------------


class Server:
    """The fake Stripe in a subprocess, with its stdin control channel."""

    def __init__(self, size: str, latency: float, rate: float, now: int) -> None:
        customers, months = SIZES[size]
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncer.sandbox", "--customers", str(customers),
             "--months", str(months), "--now", str(now), "--port", str(self.port),
             "--api-key", KEY, "--livemode", "--summary", "--prewarm", "--control",
             "--latency", str(latency), "--rate-limit", str(rate),
             "--endpoint-rate-limit", str(ENDPOINT_RATE_LIMIT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.summary = self._reply()
        _wait_for_port(self.port)

    def _reply(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.proc.stdout
        line = stdout.readline() if stdout else ""
        if not line:
            raise RuntimeError(f"the fake Stripe exited (code {self.proc.poll()}); run "
                               "`python -m syncer.sandbox --summary` to see why")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"fake Stripe: {reply['error']}")
        return reply

    def command(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the fake Stripe did not listen on port {port} "
                                   f"within {timeout:.0f} s") from None
            time.sleep(0.1)


def spawn_step(step: str, base: str, database_url: str, now: int, clock: int) -> dict[str, Any]:
    """Run one step in a fresh interpreter and return the JSON line it prints."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--step", step, "--base", base,
         "--db", database_url, "--now", str(now), "--clock", str(clock)],
        capture_output=True, text=True, check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"bench step {step} failed (exit {done.returncode}): {tail}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


# What each kind of step keeps of what its process printed (the rest is for the bench).
_SYNC_KEEP = ("status", "seconds", "cpu_seconds", "requests", "retries", "rate_limited", "objects",
              "peak_rss_mb")
_NOT_KEPT = frozenset({"budget_rps", "endpoint_budget_rps", "chars"})


def _kept(name: str, figures: Mapping[str, Any]) -> dict[str, Any]:
    if name in SYNC_STEPS:
        return {k: figures[k] for k in _SYNC_KEEP if k in figures}
    return {k: v for k, v in figures.items() if k not in _NOT_KEPT}


def backfill_figures(backfill: Mapping[str, Any], summary: Mapping[str, Any], db_mb: float) -> dict[str, Any]:
    """The backfill's figures against what the account needs at least (pure)."""
    pages = int(summary["minimal_pages"])
    budget = float(backfill["budget_rps"])
    busiest = max(summary["minimal_pages_by_endpoint"].values())
    endpoint_budget = float(backfill["endpoint_budget_rps"])
    # The floor is whichever limit binds: the total at the global budget, or the busiest
    # endpoint at its own budget.
    floor = max(pages / budget, busiest / endpoint_budget)
    return {
        **_kept("backfill", backfill),
        "minimal_pages": pages,
        "requests_vs_minimal": round(backfill["requests"] / pages, 3),
        "requests_per_second": round(backfill["requests"] / backfill["seconds"], 1),
        "budget_rps": budget,
        "endpoint_budget_rps": endpoint_budget,
        "busiest_endpoint_pages": busiest,
        "lower_bound_seconds": round(floor, 1),
        "global_lower_bound_seconds": round(pages / budget, 1),
        "vs_lower_bound": round(backfill["seconds"] / floor, 2),
        "database_mb": round(db_mb),
    }


def run(size: str, latency: float, rate: float, steps: Iterable[Step] = STEPS,
        progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """``steps`` of one size (each after those it needs); the result entry (without
    machine and date)."""
    now = int(time.time())
    started = time.monotonic()
    progress(f"generating size {size} and starting the fake Stripe")
    server = Server(size, latency, rate, now)
    ready = time.monotonic() - started
    counts = server.summary["counts"]
    entry: dict[str, Any] = {
        "size": size,
        "customers": counts["customers"],
        "subscriptions": counts["subscriptions"],
        "invoices": counts["invoices"],
        "latency_seconds": latency,
        "rate_limit_rps": rate,
        "server_ready_seconds": round(ready, 1),
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            for step in steps:
                if step.name == "changed":
                    mutated = server.command(f"mutate {CHANGED_FRACTION} {now + MUTATE_AT}")
                progress(f"step {step.name}")
                served = server.command("requests")["requests"]
                figures = spawn_step(step.name, server.base, url, now, now + step.clock)
                if step.name == "backfill":
                    db_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
                    figures = backfill_figures(figures, server.summary, db_mb)
                else:
                    figures = _kept(step.name, figures)
                if step.name == "changed":
                    figures["changed_subscriptions"] = mutated["changed"]
                if step.name == "tick":  # the daemon does not say; the server counts
                    figures["requests"] = server.command("requests")["requests"] - served
                entry[step.key] = figures
    finally:
        server.close()
    return entry


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return {
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "ram_gb": round(ram / (1 << 30), 1),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# -- the table -------------------------------------------------------------------------------


Row = tuple[str, str, str, str, str, str]


def _cpu(step: Mapping[str, Any]) -> str:
    return f"{step['cpu_seconds']:.2f} s" if "cpu_seconds" in step else "–"


def _normalize_row(label: str, n: Mapping[str, Any]) -> Row:
    what = f"{n['customers']:,} customers" if "customers" in n else "–"
    if "customers_updated" in n and "customers" in n and n["customers_updated"] != n["customers"]:
        what = f"{n['customers_updated']:,} of {n['customers']:,} customers re-derived"
    worker = (f"; a worker process beside it ({n['workers_peak_rss_mb']} MB of the memory)"
              if n.get("workers_peak_rss_mb") else "")
    return (label, f"{n['seconds']:.2f} s", _cpu(n), "–", f"{what}{worker}", f"{n['peak_rss_mb']} MB")


def _sync_row(label: str, i: Mapping[str, Any], changed: str = "") -> Row:
    return (label, f"{i['seconds']:.2f} s", _cpu(i), f"{i['requests']:,}",
            f"{changed}{i['objects']:,} objects stored; {i['rate_limited']} 429s", f"{i['peak_rss_mb']} MB")


def _rows(r: Mapping[str, Any]) -> Iterator[Row]:
    """A row for each step the entry has, in the order they run."""
    if b := r.get("backfill"):
        details = (f"{b['objects']:,} objects; {b['requests_vs_minimal']}× minimal pages ({b['minimal_pages']:,}); "
                   f"{b['requests_per_second']:.1f} req/s of {b['budget_rps']:.0f} budget; "
                   f"{b['vs_lower_bound']}× lower bound ({b['lower_bound_seconds']} s: "
                   f"{b['minimal_pages']:,} pages at {b['budget_rps']:.0f}/s, or the busiest endpoint's "
                   f"{b['busiest_endpoint_pages']:,} at {b['endpoint_budget_rps']:.0f}/s); "
                   f"{b['rate_limited']} 429s; db {b['database_mb']} MB")
        yield ("backfill", f"{b['seconds']:.1f} s", _cpu(b), f"{b['requests']:,}", details, f"{b['peak_rss_mb']} MB")
    if n := r.get("normalize"):
        yield _normalize_row("normalize whole account", n)
    if i := r.get("incremental_nothing_changed"):
        yield _sync_row("incremental, nothing changed", i)
    if n := r.get("normalize_after_nothing_changed"):
        yield _normalize_row("normalize after the no-change resync", n)
    if c := r.get("incremental_1pct_changed"):
        yield _sync_row("incremental, 1% changed", c, f"{c['changed_subscriptions']:,} subscriptions changed, ")
    if n := r.get("normalize_after_1pct_changed"):
        yield _normalize_row("normalize after the 1% resync", n)
    if m1 := r.get("report_1_month"):
        yield ("`nrr report`, 1 month", f"{m1['seconds']:.2f} s", _cpu(m1), "–", m1["month"],
               f"{m1['peak_rss_mb']} MB")
    if m36 := r.get("report_36_months"):
        yield ("`nrr report`, 36 months", f"{m36['seconds']:.2f} s", _cpu(m36), "–",
               f"{m36['months']} months with data", f"{m36['peak_rss_mb']} MB")
    if t := r.get("daemon_tick_nothing_changed"):
        yield ("daemon tick, nothing changed", f"{t['seconds']:.2f} s", _cpu(t), f"{t['requests']:,}",
               "sync, normalization, then the check for a report due", f"{t['peak_rss_mb']} MB")
    if d := r.get("dashboard_pages"):
        pages = _pages(d)
        name, slowest = max(pages, key=lambda page: page[1]["warm_ms"])
        over = sum(1 for _, p in pages if p["warm_ms"] > PAGE_TARGET_MS)
        yield ("dashboard, every page", f"{d['seconds']:.2f} s", _cpu(d), f"{d['requests']:,}",
               f"{len(pages)} pages over loopback HTTP (below); slowest {name}, {_ms(slowest['warm_ms'])}; "
               f"{over} over {PAGE_TARGET_MS} ms", f"{d['peak_rss_mb']} MB")


def _pages(d: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """The dashboard step's pages in the sitemap's order (bench/results.json sorts the keys)."""
    return sorted(d["pages"].items(), key=lambda page: (page[1].get("order", 0), page[0]))


def _ms(ms: float) -> str:
    return f"{ms:,.0f} ms"


def _flagged_ms(ms: float) -> str:
    return f"**{_ms(ms)}**" if ms > PAGE_TARGET_MS else _ms(ms)


def render_pages(r: Mapping[str, Any]) -> str:
    """The dashboard's pages of one entry, each over the target flagged ("" without them)."""
    d = r.get("dashboard_pages")
    if not d:
        return ""
    when = f" Measured {d['when']}." if "when" in d else ""
    warm_up = (f" Before them, the server's warm-up (the overview's and the last month's reports, computed "
               f"after each sync before anyone asks) took {_ms(d['warm_up_ms'])}." if "warm_up_ms" in d else "")
    lines = [f"Dashboard pages (`nrr serve` over loopback HTTP, logged in): each page's first request, "
             f"then the median of {d['repeats']} more; the target is {PAGE_TARGET_MS} ms at size {TARGET_SIZE}."
             f"{warm_up}{when}",
             "", f"| page | path | first request | median of {d['repeats']} | size | |", "|---|---|---|---|---|---|"]
    for name, p in _pages(d):
        flag = ("**over the target**" if p["warm_ms"] > PAGE_TARGET_MS
                else "first request over the target" if p["cold_ms"] > PAGE_TARGET_MS else "")
        lines.append(f"| {name} | `{p['path']}` | {_flagged_ms(p['cold_ms'])} | {_flagged_ms(p['warm_ms'])} | "
                     f"{p['bytes'] / 1000:,.1f} kB | {flag} |")
    return "\n".join(lines)


def heading(r: Mapping[str, Any]) -> str:
    return f"Size {r['size']}, {latency_ms(r)} ms"


def render_table(r: Mapping[str, Any]) -> str:
    """One entry (a size at a latency) as a Markdown table, with the machine it ran on."""
    m = r["machine"]
    head = (f"Size {r['size']}: {r['customers']:,} customers, {r['subscriptions']:,} subscriptions, "
            f"{r['invoices']:,} invoices; fake Stripe at {r['rate_limit_rps']:g} requests/s, "
            f"{latency_ms(r)} ms per request. {m['arch']}, {m['cpu']}, {m['cpus']} CPUs, "
            f"{m['ram_gb']} GB RAM, Python {m['python']}, {r['when']}.")
    lines = [head, "", "| step | wall time | CPU time | requests | details | peak memory |",
             "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(r)]
    if pages := render_pages(r):
        lines += ["", pages]
    return "\n".join(lines)


# How close to its lower bound the backfill must come, by size: a small account has few
# pages to spread over the budget's ramp-up and its last, partial pages.
BACKFILL_BOUND = {"XS": 1.3, "S": 1.3, "M": 1.2}
MAX_REQUESTS_VS_MINIMAL = 1.1
MAX_RATE_LIMITED_SHARE = 0.02
# The other speed targets are judged at size M and 150 ms; peak memory at M and L (a
# streaming step does not grow with the account).
TARGET_SIZE, TARGET_LATENCY_MS = "M", 150
MEMORY_SIZES = ("M", "L")
MEMORY_LIMIT_MB = 300


def peak_memory_mb(r: Mapping[str, Any]) -> int:
    """The largest peak memory of any step of one result entry."""
    return max(int(step["peak_rss_mb"]) for step in r.values()
               if isinstance(step, Mapping) and "peak_rss_mb" in step)


def _backfill_targets(r: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(target, result, met) for the backfill of one entry."""
    b = r["backfill"]
    bound = BACKFILL_BOUND.get(r["size"])
    if bound is not None:
        yield (f"backfill within {bound}× its lower bound",
               f"{b['vs_lower_bound']}× ({b['seconds']:.1f} s; lower bound {b['lower_bound_seconds']} s)",
               b["vs_lower_bound"] <= bound)
    yield (f"backfill requests within {MAX_REQUESTS_VS_MINIMAL}× the minimal page count",
           f"{b['requests_vs_minimal']}×", b["requests_vs_minimal"] <= MAX_REQUESTS_VS_MINIMAL)
    yield (f"at most {MAX_RATE_LIMITED_SHARE:.0%} of requests answered 429", f"{b['rate_limited']:,} of {b['requests']:,}",
           b["rate_limited"] <= MAX_RATE_LIMITED_SHARE * b["requests"])


def _other_targets(r: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(target, result, met) for the resync, normalization and reports of one entry."""
    idle = r["incremental_nothing_changed"]
    yield ("resync with nothing changed: at most 3 requests", f"{idle['requests']:,}", idle["requests"] <= 3)
    n = r["normalize"]
    yield ("normalization within 30 s", f"{n['seconds']:.2f} s", n["seconds"] <= 30)
    one, many = r["report_1_month"], r["report_36_months"]
    yield ("one-month report within 1 s", f"{one['seconds']:.2f} s", one["seconds"] <= 1)
    yield ("36-month history within 5 s", f"{many['seconds']:.2f} s", many["seconds"] <= 5)


# A tick costs what changed: normalization after a resync and the daemon's idle tick, at M
# and L (seconds of wall time; the tick in CPU seconds of its process).
AFTER_CHANGE_SECONDS = {"M": 2.0, "L": 5.0}
AFTER_NOTHING_SECONDS = 0.5
TICK_CPU_SECONDS = 1.0


def _tick_targets(r: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(target, result, met) for what a daemon's tick costs, at M and L."""
    limit = AFTER_CHANGE_SECONDS.get(r["size"])
    if limit is None:
        return
    if n := r.get("normalize_after_1pct_changed"):
        yield (f"normalization after the 1% resync within {limit:g} s", f"{n['seconds']:.2f} s", n["seconds"] <= limit)
    if n := r.get("normalize_after_nothing_changed"):
        yield (f"normalization after the no-change resync within {AFTER_NOTHING_SECONDS:g} s", f"{n['seconds']:.2f} s",
               n["seconds"] <= AFTER_NOTHING_SECONDS)
    if t := r.get("daemon_tick_nothing_changed"):
        yield (f"daemon tick with nothing changed within {TICK_CPU_SECONDS:g} s of CPU", f"{t['cpu_seconds']:.2f} s",
               t["cpu_seconds"] <= TICK_CPU_SECONDS)


# Every page of the dashboard, at size M (its median request: the first one after a restart
# is shown beside it).
PAGE_TARGET_MS = 300


def _web_targets(r: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(target, result, met) for the dashboard's pages of one entry."""
    if d := r.get("dashboard_pages"):
        pages = _pages(d)
        name, slowest = max(pages, key=lambda page: page[1]["warm_ms"])
        over = [n for n, p in pages if p["warm_ms"] > PAGE_TARGET_MS]
        result = f"slowest {name}: {_ms(slowest['warm_ms'])} (first request {_ms(slowest['cold_ms'])})"
        if "warm_up_ms" in d:
            result += f", after a warm-up of {_ms(d['warm_up_ms'])}"
        if over:
            result += f"; {len(over)} of {len(pages)} over: {', '.join(over)}"
        yield (f"every dashboard page within {PAGE_TARGET_MS} ms (median request)", result, not over)


def render_targets(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The targets against the latest results, as a Markdown table."""
    rows: list[tuple[str, str, bool]] = []
    entries = in_order(results)
    for r in entries:
        where = f"(size {r['size']}, {latency_ms(r)} ms)"
        if "backfill" in r:
            rows += [(f"{what} {where}", result, met) for what, result, met in _backfill_targets(r)]
        if r["size"] == TARGET_SIZE and latency_ms(r) == TARGET_LATENCY_MS:
            rows += [(f"{what} {where}", result, met) for what, result, met in _other_targets(r)]
            rows += [(f"{what} {where}", result, met) for what, result, met in _web_targets(r)]
        if latency_ms(r) == TARGET_LATENCY_MS:
            rows += [(f"{what} {where}", result, met) for what, result, met in _tick_targets(r)]
    for r in entries:
        if r["size"] in MEMORY_SIZES:
            peak = peak_memory_mb(r)
            rows.append((f"peak memory under {MEMORY_LIMIT_MB} MB for every step (size {r['size']}, "
                         f"{latency_ms(r)} ms)", f"{peak} MB at most", peak < MEMORY_LIMIT_MB))
    if not rows:
        return "No run yet: `make bench`."
    lines = ["| target | result | |", "|---|---|---|"]
    lines += [f"| {what} | {result} | {'met' if met else '**not met**'} |" for what, result, met in rows]
    return "\n".join(lines)


def render_results(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The generated part of docs/BENCHMARK.md: each entry's table (by size, then
    latency), then the targets."""
    parts = [f"### {heading(r)}\n\n{render_table(r)}" for r in in_order(results)]
    parts.append(f"### Targets\n\n{render_targets(results)}")
    return "\n\n".join(parts)


# -- the document --------------------------------------------------------------------------------

DOC = Path("docs/BENCHMARK.md")
BEGIN_MARK = "<!-- bench:begin: generated from bench/results.json by `make bench`; do not edit -->"
END_MARK = "<!-- bench:end -->"


def replace_generated(text: str, generated: str) -> str:
    """``text`` with what lies between the two markers replaced by ``generated``."""
    head, begin, rest = text.partition(BEGIN_MARK)
    _, end, tail = rest.partition(END_MARK)
    if not begin or not end:
        raise ValueError(f"the markers {BEGIN_MARK!r} and {END_MARK!r} are missing")
    return f"{head}{BEGIN_MARK}\n{generated}\n{END_MARK}{tail}"


def write_doc(doc: Path, results: Mapping[str, Mapping[str, Any]]) -> None:
    """Regenerate the tables of ``doc`` (docs/BENCHMARK.md) from ``results``."""
    doc.write_text(replace_generated(doc.read_text(), render_results(results)))


# -- entry point -------------------------------------------------------------------------------


def _steps_arg(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{','.join(unknown) or text!r}: the steps are {','.join(BY_NAME)}")
    return names


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=list(SIZES), default="S")
    latency = p.add_mutually_exclusive_group()
    latency.add_argument("--latency-ms", type=int, default=150, help="milliseconds per request at the fake Stripe")
    latency.add_argument("--latency", type=float, help="the same in seconds")
    p.add_argument("--rate", type=float, default=100.0, help="the fake Stripe's rate limit (requests/s)")
    p.add_argument("--steps", type=_steps_arg,
                   help=f"run only these (comma-separated, with the steps they need): {','.join(BY_NAME)}; "
                        "the results are printed and compared, not written")
    p.add_argument("--merge", action="store_true",
                   help="with --steps: write the figures of the steps named (not of those they needed) into "
                        "the entry of that size and latency in --out, keeping its other figures")
    p.add_argument("--out", type=Path, default=Path("bench/results.json"))
    p.add_argument("--strict", action="store_true", help="exit 1 when a figure regressed")
    p.add_argument("--doc", type=Path, default=DOC, help="the document whose tables are regenerated")
    p.add_argument("--doc-only", action="store_true",
                   help="regenerate the document's tables from --out, run nothing")
    # One step in this process (what the bench itself runs in each subprocess).
    p.add_argument("--step", choices=list(BY_NAME), help=argparse.SUPPRESS)
    p.add_argument("--base", help=argparse.SUPPRESS)
    p.add_argument("--db", help=argparse.SUPPRESS)
    p.add_argument("--now", type=int, help=argparse.SUPPRESS)
    p.add_argument("--clock", type=int, help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.step:
        step_main(args)
        return 0
    if args.doc_only:
        return _update_doc(args.doc, json.loads(args.out.read_text()))
    latency = args.latency if args.latency is not None else args.latency_ms / 1000
    steps = plan_steps(args.steps)
    result = run(args.size, latency, args.rate, steps,
                 progress=lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
    result["machine"] = machine()
    result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(render_table(result))

    results = rekeyed(json.loads(args.out.read_text())) if args.out.exists() else {}
    key = result_key(result)
    previous = results.get(key)
    regressions: list[Regression] = []
    if previous is None:
        print(f"\nno previous {heading(result)} run in {args.out}; nothing to compare")
    elif reason := comparable(previous, result):
        print(f"\nnot compared with the previous run ({previous.get('when', '?')}): {reason}")
    else:
        regressions = find_regressions(previous, result)
        if regressions:
            print(f"\nREGRESSION: {len(regressions)} figure(s) more than {THRESHOLD:.0%} worse than "
                  f"the previous run ({previous.get('when', '?')}):")
            print("\n".join(f"  REGRESSION {r}" for r in regressions))
        else:
            print(f"\nno figure more than {THRESHOLD:.0%} worse than the previous run "
                  f"({previous.get('when', '?')})")
    failed = 1 if regressions and args.strict else 0
    if len(steps) < len(STEPS):
        if not args.merge:
            print(f"a partial run ({', '.join(s.name for s in steps)}): {args.out} not written")
            return failed
        if previous is None:
            print(f"--merge: no {heading(result)} entry in {args.out} to merge into; not written")
            return 1
        result = merged(previous, result, [BY_NAME[name] for name in args.steps])
        print(f"merged {', '.join(args.steps)} into the {heading(result)} entry of {result.get('when', '?')}")

    results[key] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"written to {args.out}")
    if _update_doc(args.doc, results):
        return 1
    return failed


def merged(entry: Mapping[str, Any], partial: Mapping[str, Any], steps: Iterable[Step]) -> dict[str, Any]:
    """``entry`` with the figures of ``steps`` from ``partial`` (a partial run of the same
    size and latency), each dated with the partial run's ``when``."""
    out = dict(entry)
    for step in steps:
        out[step.key] = {**partial[step.key], "when": partial["when"]}
    return out


def _update_doc(doc: Path, results: Mapping[str, Mapping[str, Any]]) -> int:
    try:
        write_doc(doc, results)
    except (OSError, ValueError) as exc:
        print(f"bench: {doc} not updated: {exc}", file=sys.stderr)
        return 1
    print(f"tables written to {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
