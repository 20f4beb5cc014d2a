"""Run the fake Stripe server by hand.

    python -m syncer.sandbox --customers 300 --port 12111

then point stripe-nrr at it with ``STRIPE_API_BASE=http://127.0.0.1:12111`` and the
printed key. Stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

from syncer.sandbox.fake_stripe import DEFAULT_API_KEY, FAULT_KINDS, FakeStripe
from syncer.sandbox.generator import API_VERSION, generate_account
from syncer.sandbox.pages import minimal_pages


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m syncer.sandbox", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--months", type=int, default=24)
    p.add_argument("--now", type=int, default=None,
                   help="end of the simulated history (unix time; default: now)")
    p.add_argument("--currency", default="usd")
    p.add_argument("--api-version", default=API_VERSION)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=12111)
    p.add_argument("--api-key", default=DEFAULT_API_KEY)
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    p.add_argument("--rate-limit", type=float, default=None, help="requests per second")
    p.add_argument("--fail-rate", type=float, default=0.0,
                   help="fraction of requests answered by an injected fault")
    p.add_argument("--faults", default=",".join(FAULT_KINDS),
                   help=f"comma-separated fault kinds among {', '.join(FAULT_KINDS)}")
    p.add_argument("--deny", default="",
                   help="comma-separated resources the key may not read (403)")
    p.add_argument("--livemode", action="store_true", help="objects and account in live mode")
    p.add_argument("--summary", action="store_true",
                   help="print one JSON line of counts and the minimal page count, then serve")
    p.add_argument("--prewarm", action="store_true",
                   help="serialise every object before serving (faster first sync)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    now = args.now if args.now is not None else int(time.time())
    started = time.monotonic()
    account = generate_account(customers=args.customers, seed=args.seed, now=now,
                               months=args.months, currency=args.currency,
                               api_version=args.api_version, livemode=args.livemode)
    counts = account.counts()
    fake = FakeStripe(
        account,
        api_key=args.api_key,
        restricted_denied=[r for r in args.deny.split(",") if r],
        latency=args.latency,
        rate_limit=args.rate_limit,
        fail_rate=args.fail_rate,
        fault_kinds=[f for f in args.faults.split(",") if f],
        seed=args.seed,
        prewarm=args.prewarm,
    )
    print(f"generated {counts['customers']} customers, {counts['invoices']} invoices, "
          f"{counts['events']} events in {time.monotonic() - started:.1f}s", file=sys.stderr)
    print(f"serving http://{args.host}:{args.port}  (Ctrl-C to stop)", file=sys.stderr)
    if args.summary:
        print(json.dumps({"counts": counts, "minimal_pages": minimal_pages(account)}))
    else:
        print(f"STRIPE_API_BASE=http://{args.host}:{args.port} STRIPE_API_KEY={args.api_key}")
    sys.stdout.flush()
    # SIGTERM (docker stop, kill) ends the server like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        fake.serve_forever(args.host, args.port)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
