"""Collect run_compare.sh's raw outputs into bench/compare/results.json and a table."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any


def _records_singer(path: Path) -> Counter[str]:
    c: Counter[str] = Counter()
    for line in path.open():
        if line.startswith("{") and '"type": "RECORD"' in line:
            c[json.loads(line)["stream"]] += 1
    return c


def _records_airbyte(path: Path) -> tuple[Counter[str], list[str]]:
    c: Counter[str] = Counter()
    errors: list[str] = []
    for line in path.open():
        if not line.startswith("{"):
            continue
        m = json.loads(line)
        if m.get("type") == "RECORD":
            c[m["record"]["stream"]] += 1
        elif m.get("type") == "TRACE" and m["trace"].get("type") == "ERROR":
            errors.append(m["trace"]["error"]["message"][:300])
    return c, errors


def _version(venv: Path, dist: str) -> str:
    try:
        out = subprocess.run([str(venv / "bin" / "python"), "-c",
                              f"import importlib.metadata as m; print(m.version('{dist}'))"],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def collect(work: Path, tool: str, venvs: Path) -> dict[str, Any]:
    stats = json.loads((work / f"{tool}.server-stats.json").read_text())
    summary = json.loads((work / f"{tool}.server.out").read_text().splitlines()[0])
    wall = float((work / f"{tool}.time").read_text())
    rc = int((work / f"{tool}.rc").read_text())
    row: dict[str, Any] = {"tool": tool, "exit_code": rc, "wall_seconds": wall,
                           "timed_out": rc == 124}
    if tool == "ours":
        out = json.loads((work / "ours.out").read_text().strip().splitlines()[-1])
        records = Counter(out["records_by_stream"])
        row.update(version=_git_version(), status=out["status"],
                   client_requests=out["client_requests"], max_concurrency=out["max_concurrency"],
                   rps_budget=out["max_rps_budget"])
    elif tool == "tap-stripe":
        records = _records_singer(work / "tap-stripe.out")
        row.update(version=f"tap-stripe {_version(venvs / 'tap', 'tap-stripe')} "
                           f"(stripe SDK {_version(venvs / 'tap', 'stripe')})")
    else:
        records, errors = _records_airbyte(work / "source-stripe.out")
        row.update(version=f"airbyte-source-stripe {_version(venvs / 'airbyte', 'airbyte-source-stripe')} "
                           f"(airbyte-cdk {_version(venvs / 'airbyte', 'airbyte-cdk')})",
                   errors=errors)
    span = None
    if stats["first_request_at"] and stats["last_request_at"]:
        span = round(stats["last_request_at"] - stats["first_request_at"], 2)
    row.update(
        requests=stats["requests"],
        rate_limited_429=stats["rate_limited_429"],
        by_status=stats["by_status"],
        max_in_flight=stats["max_in_flight"],
        request_span_seconds=span,
        requests_per_second=round(stats["requests"] / wall, 1) if wall else None,
        records=sum(records.values()),
        records_by_stream=dict(sorted(records.items())),
        requests_by_endpoint=stats["by_endpoint"],
        server_counts=summary["counts"],
        minimal_pages=summary["minimal_pages"],
    )
    return row


def _git_version() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        return f"stripe-nrr @ {sha} (+ uncommitted)" if sha else "stripe-nrr"
    except (OSError, subprocess.CalledProcessError):
        return "stripe-nrr"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--venvs", type=Path, required=True)
    p.add_argument("--now", type=int, required=True)
    p.add_argument("--latency", type=float, required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--customers", type=int, required=True)
    p.add_argument("--months", type=int, required=True)
    p.add_argument("--tools", required=True)
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    rows = [collect(a.work, t, a.venvs) for t in a.tools.split()]
    ours = next((r for r in rows if r["tool"] == "ours"), None)
    for r in rows:
        if ours and r is not ours:
            r["wall_vs_ours"] = round(r["wall_seconds"] / ours["wall_seconds"], 1)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "server": {"customers": a.customers, "months": a.months, "now": a.now,
                   "latency_seconds": a.latency, "rate_limit_rps": a.rate, "livemode": True},
        "results": rows,
    }
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'tool':<15} {'wall s':>8} {'requests':>9} {'records':>8} {'req/s':>6} {'429s':>5} {'x ours':>7}")
    for r in rows:
        print(f"{r['tool']:<15} {r['wall_seconds']:>8.1f} {r['requests']:>9} {r['records']:>8} "
              f"{r['requests_per_second']:>6} {r['rate_limited_429']:>5} {r.get('wall_vs_ours', 1.0):>7}")


if __name__ == "__main__":
    main()
