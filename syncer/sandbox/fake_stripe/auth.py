"""API keys: the one the fake accepts, how Stripe masks one, test-mode-only helpers."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

from syncer.sandbox.fake_stripe.responses import StripeError, invalid

DEFAULT_API_KEY = "sk_test_51Sandbox00000000000000000000"


def mask_key(key: str) -> str:
    """How Stripe echoes a key in errors: prefix, stars, last four."""
    m = re.match(r"(?:sk|rk|pk)_(?:test|live)_", key)
    prefix = m.group(0) if m else ""
    tail = key[-4:] if len(key) >= len(prefix) + 8 else ""
    return f"{prefix}****{tail}"


def authenticate(headers: Mapping[str, str], api_key: str) -> str:
    """The request's API key, if it is ``api_key`` (headers are lower-cased)."""
    auth = headers.get("authorization") or ""
    key = ""
    if auth.startswith("Bearer "):
        key = auth[7:].strip()
    elif auth.startswith("Basic "):  # Stripe also takes the key as a Basic username
        try:
            key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    if not key:
        raise StripeError(
            401, "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for "
            "details, or we can help at https://support.stripe.com/.",
            headers=[("WWW-Authenticate", 'Basic realm="Stripe"')])
    if key != api_key:
        raise StripeError(401, "invalid_request_error",
                          f"Invalid API Key provided: {mask_key(key)}",
                          headers=[("WWW-Authenticate", 'Basic realm="Stripe"')])
    return key


def test_mode_only(key: str, what: str) -> None:
    # Test helpers exist in test mode only; a live key is refused.
    if re.match(r"(?:sk|rk)_live_", key):
        raise invalid(f"{what} are only available in test mode: use a test mode API key.")
