"""Run the fake Stripe server by hand.

    python -m syncer.sandbox --customers 300 --port 12111

then point stripe-nrr at it with ``STRIPE_API_BASE=http://127.0.0.1:12111`` and the
printed key. Stops on Ctrl-C or SIGTERM.

With ``--control`` it also reads commands on stdin, one a line, and answers each with one
JSON line on stdout (``make bench`` changes the account between two syncs this way):

    mutate FRACTION NOW   add a seat to FRACTION of the active subscriptions at NOW
                          (unix time), with the events Stripe sends -> {"changed": N, ...}
    requests              requests served so far -> {"requests": N}
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any, TextIO

from syncer.sandbox.fake_stripe import DEFAULT_API_KEY, FAULT_KINDS, FakeStripe
from syncer.sandbox.generator import API_VERSION, JSON, generate_account
from syncer.sandbox.pages import minimal_pages, minimal_pages_by_endpoint


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
    p.add_argument("--endpoint-rate-limit", type=float, default=None,
                   help="requests per second per endpoint (Stripe: 25)")
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
    p.add_argument("--control", action="store_true",
                   help="read commands on stdin (mutate FRACTION NOW, requests); see above")
    return p


def _seat_based(sub: JSON) -> bool:
    """A live subscription whose first item is licensed (a quantity of seats, not metered)."""
    if sub["status"] not in ("active", "trialing", "past_due"):
        return False
    item = sub["items"]["data"][0]
    recurring = item["price"].get("recurring") or {}
    return recurring.get("usage_type") != "metered" and isinstance(item.get("quantity"), int)


def mutate_subscriptions(fake: FakeStripe, fraction: float, now: int, *, seed: int = 1) -> list[str]:
    """Add one seat to ``fraction`` of the seat-based live subscriptions (at least one when
    the fraction is positive), chosen by a seeded RNG so two runs change the same ones.
    Goes through ``FakeStripe.change_subscription``, so each change emits the
    ``customer.subscription.updated`` event Stripe would. Returns the changed ids."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction {fraction} is not between 0 and 1")
    candidates = sorted(s["id"] for s in fake.account.subscriptions if _seat_based(s))
    wanted = min(len(candidates), max(1, round(fraction * len(candidates)))) if fraction else 0
    chosen = sorted(random.Random(seed).sample(candidates, wanted))
    for sub_id in chosen:
        sub = fake.account.get("subscriptions", sub_id)
        assert sub is not None  # chosen from the account just above
        item = sub["items"]["data"][0]
        fake.change_subscription(sub_id, now=now, item=item["id"], quantity=item["quantity"] + 1)
    return chosen


def answer_command(fake: FakeStripe, line: str, *, seed: int = 1) -> dict[str, Any] | None:
    """One control command -> its JSON answer (``None`` for a blank line)."""
    words = line.split()
    if not words:
        return None
    try:
        if words[0] == "mutate" and len(words) == 3:
            changed = mutate_subscriptions(fake, float(words[1]), int(words[2]), seed=seed)
            return {"changed": len(changed), "subscriptions": changed}
        if words == ["requests"]:
            return {"requests": len(fake.log)}
    except (ValueError, KeyError) as exc:
        return {"error": f"{line.strip()}: {exc}"}
    return {"error": f"unknown command {line.strip()!r}; use 'mutate FRACTION NOW' or 'requests'"}


def serve_control(fake: FakeStripe, lines: Iterable[str], out: TextIO, *, seed: int = 1) -> None:
    """Answer each command line until the input ends (the server keeps serving after)."""
    for line in lines:
        reply = answer_command(fake, line, seed=seed)
        if reply is not None:
            out.write(json.dumps(reply) + "\n")
            out.flush()


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
        endpoint_rate_limit=args.endpoint_rate_limit,
        fail_rate=args.fail_rate,
        fault_kinds=[f for f in args.faults.split(",") if f],
        seed=args.seed,
        prewarm=args.prewarm,
    )
    if args.prewarm:  # serve_forever, unlike start, does not warm by itself
        fake.warm()
    print(f"generated {counts['customers']} customers, {counts['invoices']} invoices, "
          f"{counts['events']} events in {time.monotonic() - started:.1f}s", file=sys.stderr)
    print(f"serving http://{args.host}:{args.port}  (Ctrl-C to stop)", file=sys.stderr)
    if args.summary:
        print(json.dumps({"counts": counts, "minimal_pages": minimal_pages(account),
                          "minimal_pages_by_endpoint": minimal_pages_by_endpoint(account)}))
    else:
        print(f"STRIPE_API_BASE=http://{args.host}:{args.port} STRIPE_API_KEY={args.api_key}")
    sys.stdout.flush()
    # SIGTERM (docker stop, kill) ends the server like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if args.control:
        threading.Thread(target=serve_control, args=(fake, sys.stdin, sys.stdout),
                         kwargs={"seed": args.seed}, name="control", daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):
        fake.serve_forever(args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
