"""Injected faults: what each kind does to an answer."""

from __future__ import annotations

import json

from syncer.sandbox.fake_stripe.responses import RESET, Response, StripeError

# The default mix: each one fails fast and a retry gets the real answer.
FAULT_KINDS: tuple[str, ...] = ("500", "502", "503", "429", "truncated", "reset")
# The reasons Stripe gives in ``Stripe-Rate-Limited-Reason`` on a 429.
RATE_LIMITED_REASONS: tuple[str, ...] = (
    "global-rate", "endpoint-rate", "global-concurrency", "endpoint-concurrency", "resource-specific",
)
# Opt-in kinds: a 429 per reason; "timeout" holds the answer ``timeout_hold`` seconds (past
# the client's timeout, which a test sets short); "malformed-html" is a proxy's HTML page
# sent as a 200; "malformed-shape" is valid JSON without the ``object``/``data`` it needs.
EXTRA_FAULT_KINDS: tuple[str, ...] = (
    *(f"429-{reason}" for reason in RATE_LIMITED_REASONS), "timeout", "malformed-html", "malformed-shape",
)
ALL_FAULT_KINDS: tuple[str, ...] = FAULT_KINDS + EXTRA_FAULT_KINDS


def apply_fault(fault: str, resp: Response, *, retry_after: int | None) -> Response:
    """The answer ``resp`` spoilt by ``fault`` (``RESET``: drop the connection)."""
    if fault == "reset":
        return RESET
    if fault == "truncated":
        body = resp.body[: max(1, len(resp.body) // 2)]
        return Response(200, body, [], fault)
    if fault == "429" or fault.startswith("429-"):
        return _rate_limited(fault, retry_after)
    if fault == "timeout":
        # The real answer, but the handler sits on it first (see Handler._serve).
        return Response(resp.status, resp.body, resp.headers, fault)
    if fault == "malformed-html":
        page = (b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>"
                b"502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n")
        return Response(200, page, [], fault, content_type="text/html")
    if fault == "malformed-shape":
        return Response(200, _misshapen(resp.body), [], fault)
    status = int(fault)
    message = {500: "An unknown error occurred", 502: "Bad gateway",
               503: "Service temporarily unavailable"}[status]
    err = StripeError(status, "api_error", message)
    return Response(status, err.body(), [], fault)


def _rate_limited(fault: str, retry_after: int | None) -> Response:
    reason = fault.removeprefix("429-") if fault != "429" else None
    headers = [("Retry-After", str(retry_after))] if retry_after is not None else []
    if reason is not None:
        headers.append(("Stripe-Rate-Limited-Reason", reason))
    err = StripeError(429, "rate_limit_error",
                      "Request rate limit exceeded. Learn more about rate limits here "
                      "https://stripe.com/docs/rate-limits.", code="rate_limit", headers=headers)
    return Response(429, err.body(), err.headers, fault)


def _misshapen(body: bytes) -> bytes:
    """Valid JSON that is not the answer: the envelope without ``object`` and ``data``."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return b"[]"
    kept = {k: v for k, v in parsed.items() if k not in ("object", "data")}
    return json.dumps(kept or {"ok": True}, separators=(",", ":")).encode()
