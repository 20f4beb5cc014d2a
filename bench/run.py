"""``make bench``: backfill, incremental syncs, normalization and reports of a generated
account, measured.

Not a test: it prints a table, writes it to ``bench/results.json`` (one entry per size),
flags every figure more than 20% worse than the previous entry of the same size, and
regenerates the tables of ``docs/BENCHMARK.md`` from ``bench/results.json``.

The fake Stripe runs in its own process with Stripe's live-mode rate limit and a
per-request latency; between two syncs the bench tells it (``--control`` on its stdin)
to change 1% of the subscriptions. Each step runs in a fresh process of its own
(``python -m bench.run --step NAME ...``, printing one JSON line) so that its peak
resident memory is its own, not the high-water mark of the steps before it. A step's wall
time is measured inside that process around the call itself, so it leaves out the
interpreter's start but includes what the call imports lazily (the Stripe SDK on a first
request, about 0.3 s), as a cold `nrr sync` from cron would pay.
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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SIZES = {"S": (1_000, 24), "M": (10_000, 36), "L": (50_000, 36)}
KEY = "sk_live_51BenchmarkKey000000000000000"
# Stripe's documented per-endpoint limit; the fake enforces it as Stripe would.
ENDPOINT_RATE_LIMIT = 25.0
CHANGED_FRACTION = 0.01
THRESHOLD = 0.20  # a figure this much worse than the previous run is a regression
# Figures whose name says which way is better; any other figure (counts of the generated
# account, status, budget) is context, not compared.
LOWER_IS_BETTER = frozenset(
    {"seconds", "requests", "rate_limited", "peak_rss_mb", "vs_lower_bound", "requests_vs_minimal"}
)
HIGHER_IS_BETTER = frozenset({"requests_per_second"})
# Differences of timings below this are scheduler noise, not a regression (an idle
# resync of 0.15 s that takes 0.19 s once is not 27% slower code).
SECONDS_NOISE = 0.05
# Simulated time of each step after the generated "now" (the fake's history ends there).
IDLE_AT, MUTATE_AT, CHANGED_AT = 600, 1200, 1800


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
        if name == "seconds" and current - previous < SECONDS_NOISE:
            return False
        return current > previous * (1 + threshold) if previous > 0 else current > 0
    if name in HIGHER_IS_BETTER:
        return current < previous * (1 - threshold)
    return False


def find_regressions(
    previous: Mapping[str, Any], current: Mapping[str, Any], threshold: float = THRESHOLD
) -> list[Regression]:
    """Every compared figure of ``current`` more than ``threshold`` worse than in
    ``previous`` (entries of the same size). Figures only one of them has are skipped, so
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


def run_step(step: str, base: str, database_url: str, now: int, clock: int) -> dict[str, Any]:
    """Run one step against the database and return its figures (``now`` is where the
    generated history ends, ``clock`` the simulated time of this step)."""
    from syncer.app.settings import load_settings
    from syncer.app.usecases import sync_stripe
    from syncer.app.wiring import open_store

    settings = load_settings(_env_file=None, stripe_api_key=KEY, stripe_api_base=base,
                             database_url=database_url, log_level="warning")
    store = open_store(settings)
    if step in ("backfill", "idle", "changed"):
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
    if step == "normalize":
        from syncer.app.reporting import normalize_account

        started = time.monotonic()
        counts = normalize_account(settings, store, now=clock).counts
        return {"seconds": round(time.monotonic() - started, 2), "customers": counts.customers,
                "spans": counts.spans}
    if step in ("report_1", "report_36"):
        from reports.month import last_complete_month
        from reports.render import render_text
        from syncer.app.reporting import report_months

        month = last_complete_month(now, settings.report_timezone)
        started = time.monotonic()
        reports = report_months(settings, store, month, now=clock, count=int(step.split("_")[1]))
        text = render_text(reports[-1])  # what `nrr report` prints
        return {"seconds": round(time.monotonic() - started, 2), "month": month,
                "months": len(reports), "chars": len(text)}
    raise ValueError(f"unknown step {step!r}")


def step_main(args: argparse.Namespace) -> None:
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


def _sync_figures(step: dict[str, Any]) -> dict[str, Any]:
    keep = ("status", "seconds", "requests", "retries", "rate_limited", "objects", "peak_rss_mb")
    return {k: step[k] for k in keep}


def run(size: str, latency: float, rate: float,
        progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Every step of one size; the result entry (without machine and date)."""
    now = int(time.time())
    started = time.monotonic()
    progress(f"generating size {size} and starting the fake Stripe")
    server = Server(size, latency, rate, now)
    ready = time.monotonic() - started
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db_path = Path(tmp) / "bench.db"
            url = f"sqlite:///{db_path}"

            def step(name: str, clock: int) -> dict[str, Any]:
                progress(f"step {name}")
                return spawn_step(name, server.base, url, now, clock)

            backfill = step("backfill", now)
            db_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
            idle = step("idle", now + IDLE_AT)
            mutated = server.command(f"mutate {CHANGED_FRACTION} {now + MUTATE_AT}")
            changed = step("changed", now + CHANGED_AT)
            normalize = step("normalize", now + CHANGED_AT)
            report_1 = step("report_1", now + CHANGED_AT)
            report_36 = step("report_36", now + CHANGED_AT)
    finally:
        server.close()
    pages = int(server.summary["minimal_pages"])
    budget = float(backfill["budget_rps"])
    busiest = max(server.summary["minimal_pages_by_endpoint"].values())
    endpoint_budget = float(backfill["endpoint_budget_rps"])
    # The floor is whichever limit binds: the total at the global budget, or the busiest
    # endpoint at its own budget.
    floor = max(pages / budget, busiest / endpoint_budget)
    counts = server.summary["counts"]
    return {
        "size": size,
        "customers": counts["customers"],
        "subscriptions": counts["subscriptions"],
        "invoices": counts["invoices"],
        "latency_seconds": latency,
        "rate_limit_rps": rate,
        "server_ready_seconds": round(ready, 1),
        "backfill": {
            **_sync_figures(backfill),
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
        },
        "incremental_nothing_changed": _sync_figures(idle),
        "incremental_1pct_changed": {**_sync_figures(changed), "changed_subscriptions": mutated["changed"]},
        "normalize": {k: normalize[k] for k in ("seconds", "customers", "peak_rss_mb", "workers_peak_rss_mb")
                      if k in normalize},
        "report_1_month": {k: report_1[k] for k in ("seconds", "month", "peak_rss_mb")},
        "report_36_months": {k: report_36[k] for k in ("seconds", "months", "peak_rss_mb")},
    }


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


def _rows(r: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str, str]]:
    b = r["backfill"]
    details = (f"{b['objects']:,} objects; {b['requests_vs_minimal']}× minimal pages ({b['minimal_pages']:,}); "
               f"{b['requests_per_second']:.1f} req/s of {b['budget_rps']:.0f} budget; "
               f"{b['vs_lower_bound']}× lower bound ({b['lower_bound_seconds']} s: "
               f"{b['minimal_pages']:,} pages at {b['budget_rps']:.0f}/s, or the busiest endpoint's "
               f"{b['busiest_endpoint_pages']:,} at {b['endpoint_budget_rps']:.0f}/s); "
               f"{b['rate_limited']} 429s; db {b['database_mb']} MB")
    yield ("backfill", f"{b['seconds']:.1f} s", f"{b['requests']:,}", details, f"{b['peak_rss_mb']} MB")
    i = r["incremental_nothing_changed"]
    yield ("incremental, nothing changed", f"{i['seconds']:.2f} s", f"{i['requests']:,}",
           f"{i['objects']:,} objects stored; {i['rate_limited']} 429s", f"{i['peak_rss_mb']} MB")
    c = r["incremental_1pct_changed"]
    details = (f"{c['changed_subscriptions']:,} subscriptions changed, {c['objects']:,} objects stored; "
               f"{c['rate_limited']} 429s")
    yield ("incremental, 1% changed", f"{c['seconds']:.2f} s", f"{c['requests']:,}", details,
           f"{c['peak_rss_mb']} MB")
    n = r["normalize"]
    worker = (f"; a worker process beside it ({n['workers_peak_rss_mb']} MB of the memory)"
              if n.get("workers_peak_rss_mb") else "")
    yield ("normalize whole account", f"{n['seconds']:.2f} s", "–", f"{n['customers']:,} customers{worker}",
           f"{n['peak_rss_mb']} MB")
    m1 = r["report_1_month"]
    yield ("`nrr report`, 1 month", f"{m1['seconds']:.2f} s", "–", m1["month"], f"{m1['peak_rss_mb']} MB")
    m36 = r["report_36_months"]
    yield ("`nrr report`, 36 months", f"{m36['seconds']:.2f} s", "–", f"{m36['months']} months with data",
           f"{m36['peak_rss_mb']} MB")


def render_table(r: Mapping[str, Any]) -> str:
    """One size's result as a Markdown table, with the machine it ran on."""
    m = r["machine"]
    head = (f"Size {r['size']}: {r['customers']:,} customers, {r['subscriptions']:,} subscriptions, "
            f"{r['invoices']:,} invoices; fake Stripe at {r['rate_limit_rps']:g} requests/s, "
            f"{r['latency_seconds'] * 1000:g} ms per request. {m['arch']}, {m['cpu']}, {m['cpus']} CPUs, "
            f"{m['ram_gb']} GB RAM, Python {m['python']}, {r['when']}.")
    lines = [head, "", "| step | wall time | requests | details | peak memory |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(r)]
    return "\n".join(lines)


# The targets, at size M; peak memory also at size L (a streaming step does not grow with
# the account).
TARGET_SIZE = "M"
MEMORY_SIZES = ("M", "L")
MEMORY_LIMIT_MB = 300


def peak_memory_mb(r: Mapping[str, Any]) -> int:
    """The largest peak memory of any step of one result entry."""
    return max(int(step["peak_rss_mb"]) for step in r.values()
               if isinstance(step, Mapping) and "peak_rss_mb" in step)


def _target_rows(r: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(target, result, met) for the speed and request targets of one entry."""
    b = r["backfill"]
    yield ("backfill within 1.2× its lower bound",
           f"{b['vs_lower_bound']}× ({b['seconds']:.1f} s; lower bound {b['lower_bound_seconds']} s)",
           b["vs_lower_bound"] <= 1.2)
    yield ("backfill requests within 1.1× the minimal page count", f"{b['requests_vs_minimal']}×",
           b["requests_vs_minimal"] <= 1.1)
    yield ("at most 2% of requests answered 429", f"{b['rate_limited']:,} of {b['requests']:,}",
           b["rate_limited"] <= 0.02 * b["requests"])
    idle = r["incremental_nothing_changed"]
    yield ("resync with nothing changed: at most 3 requests", f"{idle['requests']:,}", idle["requests"] <= 3)
    n = r["normalize"]
    yield ("normalization within 30 s", f"{n['seconds']:.2f} s", n["seconds"] <= 30)
    one, many = r["report_1_month"], r["report_36_months"]
    yield ("one-month report within 1 s", f"{one['seconds']:.2f} s", one["seconds"] <= 1)
    yield ("36-month history within 5 s", f"{many['seconds']:.2f} s", many["seconds"] <= 5)


def render_targets(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The targets against the latest results, as a Markdown table."""
    rows: list[tuple[str, str, bool]] = []
    if TARGET_SIZE in results:
        rows += [(f"{what} (size {TARGET_SIZE})", result, met)
                 for what, result, met in _target_rows(results[TARGET_SIZE])]
    for size in MEMORY_SIZES:
        if size in results:
            peak = peak_memory_mb(results[size])
            rows.append((f"peak memory under {MEMORY_LIMIT_MB} MB for every step (size {size})",
                         f"{peak} MB at most", peak < MEMORY_LIMIT_MB))
    if not rows:
        return f"No size {TARGET_SIZE} run yet: `make bench SIZE={TARGET_SIZE}`."
    lines = ["| target | result | |", "|---|---|---|"]
    lines += [f"| {what} | {result} | {'met' if met else '**not met**'} |" for what, result, met in rows]
    return "\n".join(lines)


def render_results(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The generated part of docs/BENCHMARK.md: each size's table, then the targets."""
    parts = [f"### Size {size}\n\n{render_table(results[size])}" for size in SIZES if size in results]
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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=sorted(SIZES), default="S")
    p.add_argument("--latency", type=float, default=0.15, help="seconds per request at the fake Stripe")
    p.add_argument("--rate", type=float, default=100.0, help="the fake Stripe's rate limit (requests/s)")
    p.add_argument("--out", type=Path, default=Path("bench/results.json"))
    p.add_argument("--strict", action="store_true", help="exit 1 when a figure regressed")
    p.add_argument("--doc", type=Path, default=DOC, help="the document whose tables are regenerated")
    p.add_argument("--doc-only", action="store_true",
                   help="regenerate the document's tables from --out, run nothing")
    # One step in this process (what the bench itself runs in each subprocess).
    p.add_argument("--step", choices=("backfill", "idle", "changed", "normalize", "report_1", "report_36"),
                   help=argparse.SUPPRESS)
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
    result = run(args.size, args.latency, args.rate,
                 progress=lambda msg: print(f"bench: {msg}", file=sys.stderr, flush=True))
    result["machine"] = machine()
    result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(render_table(result))

    previous_file: dict[str, Any] = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous = previous_file.get(args.size)
    regressions: list[Regression] = []
    if previous is None:
        print(f"\nno previous size {args.size} run in {args.out}; nothing to compare")
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

    previous_file[args.size] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(previous_file, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"written to {args.out}")
    if _update_doc(args.doc, previous_file):
        return 1
    return 1 if regressions and args.strict else 0


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
