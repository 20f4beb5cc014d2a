"""Backfill with stripe-nrr's own sync against a running fake, exactly as bench/run.py
does (default settings, SQLite store), and print one JSON line of what it did.

    .venv/bin/python bench/compare/run_ours.py --base http://127.0.0.1:PORT --key KEY --now EPOCH
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from syncer.app.settings import load_settings
from syncer.app.usecases import sync_stripe
from syncer.app.wiring import open_store


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--now", type=int, required=True)
    args = p.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            _env_file=None, stripe_api_key=args.key, stripe_api_base=args.base,
            database_url=f"sqlite:///{Path(tmp) / 'bench.db'}", log_level="warning",
        )
        store = open_store(settings)
        out = sync_stripe(settings, store, clock=lambda: float(args.now))
    print(json.dumps({
        "status": out.result.status,
        "sync_seconds": round(out.seconds, 2),
        "process_seconds": round(time.monotonic() - started, 2),
        "client_requests": out.requests,
        "client_rate_limited": out.rate_limited,
        "records_by_stream": dict(out.result.counts),
        "max_rps_budget": settings.max_rps,
        "max_concurrency": settings.stripe_max_concurrency,
    }))


if __name__ == "__main__":
    main()
