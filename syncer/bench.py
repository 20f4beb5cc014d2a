"""``make bench``: backfill and incremental sync of generated accounts, measured.

Not a test: it prints a table and writes ``bench/results.json``. The fake Stripe runs in
its own process (so it does not share this one's CPU or memory) with Stripe's live-mode
rate limit and a per-request latency; the sync runs at its default budget (80% of it).
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
from pathlib import Path
from typing import Any

from syncer.app import sync_stripe
from syncer.settings import load_settings
from syncer.wiring import open_store

SIZES = {"S": (1_000, 24), "M": (10_000, 36), "L": (50_000, 36)}
KEY = "sk_live_51BenchmarkKey000000000000000"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(size: str, latency: float, rate: float, now: int) -> tuple[subprocess.Popen[str], str, dict[str, Any]]:
    customers, months = SIZES[size]
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncer.sandbox", "--customers", str(customers), "--months", str(months),
         "--now", str(now), "--port", str(port), "--api-key", KEY, "--livemode", "--summary",
         "--latency", str(latency), "--rate-limit", str(rate), "--prewarm"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert proc.stdout is not None
    summary = json.loads(proc.stdout.readline())
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    return proc, base, summary


def run(size: str, latency: float, rate: float) -> dict[str, Any]:
    now = int(time.time())
    t0 = time.monotonic()
    proc, base, summary = start_server(size, latency, rate, now)
    ready = time.monotonic() - t0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                _env_file=None, stripe_api_key=KEY, stripe_api_base=base,
                database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", log_level="warning",
            )
            store = open_store(settings)
            backfill = sync_stripe(settings, store, clock=lambda: float(now))
            rss_backfill = peak_rss_mb()
            idle = sync_stripe(settings, store, clock=lambda: float(now + 600))
            db_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
    finally:
        proc.terminate()
        proc.wait(30)
    pages = int(summary["minimal_pages"])
    budget = settings.max_rps
    counts = summary["counts"]
    return {
        "size": size,
        "customers": counts["customers"],
        "invoices": counts["invoices"],
        "objects": sum(backfill.result.counts.values()),
        "server_ready_seconds": round(ready, 1),
        "backfill": {
            "status": backfill.result.status,
            "seconds": round(backfill.seconds, 1),
            "requests": backfill.requests,
            "minimal_pages": pages,
            "requests_vs_minimal": round(backfill.requests / pages, 3),
            "requests_per_second": round(backfill.requests / backfill.seconds, 1),
            "budget_rps": budget,
            "lower_bound_seconds": round(pages / budget, 1),
            "vs_lower_bound": round(backfill.seconds / (pages / budget), 2),
            "rate_limited": backfill.rate_limited,
            "peak_rss_mb": round(rss_backfill),
            "database_mb": round(db_mb),
        },
        "incremental_nothing_changed": {"requests": idle.requests, "seconds": round(idle.seconds, 2)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--latency", type=float, default=0.15, help="seconds per request at the fake Stripe")
    parser.add_argument("--rate", type=float, default=100.0, help="the fake Stripe's rate limit (requests/s)")
    parser.add_argument("--out", type=Path, default=Path("bench/results.json"))
    args = parser.parse_args()
    result = run(args.size, args.latency, args.rate)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    result["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    b = result["backfill"]
    print(f"size {result['size']}: {result['customers']:,} customers, {result['invoices']:,} invoices, "
          f"{result['objects']:,} objects stored")
    print(f"  backfill     {b['seconds']:>8.1f} s  {b['requests']:>7,} requests ({b['requests_vs_minimal']}x minimal)  "
          f"{b['requests_per_second']:.1f} req/s of {b['budget_rps']:.0f}  {b['vs_lower_bound']}x lower bound  "
          f"429s {b['rate_limited']}  peak {b['peak_rss_mb']} MB  db {b['database_mb']} MB")
    i = result["incremental_nothing_changed"]
    print(f"  idle resync  {i['seconds']:>8.2f} s  {i['requests']:>7,} requests")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.out.read_text()) if args.out.exists() else {}
    previous[result["size"]] = result
    args.out.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
