"""The Stripe client layer: the only module that imports ``stripe``.

Everything the sync engine needs from Stripe is a GET: a page of a list endpoint, one
object, or the account. This module sends those GETs through stripe-python's public
``StripeClient.raw_request`` over its own ``HTTPClient`` (so the body of a success is
parsed once, with orjson: no ``StripeObject``, no ``Decimal``), retries what is transient
with one tenacity loop (the SDK's own retries are off), paces every request through a
shared ``TokenBucket``, and maps every failure to ``syncer.errors`` at this boundary.

No secret ever leaves this module in a message: Stripe's own error text is scrubbed of
anything that looks like a key, and a 401 gets a fixed message.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Self
from urllib.parse import urlencode

import httpx
import orjson
import stripe
import tenacity

from syncer.errors import (
    ConfigError,
    MalformedResponse,
    NrrError,
    StripeAccountInaccessible,
    StripeAuthError,
    StripeNotFound,
    StripePermissionError,
    StripeRequestError,
    StripeUnavailable,
)
from syncer.stripe.ratelimit import EndpointLimits, TokenBucket
from syncer.stripe.resources import BY_NAME, EVENTS, TEST_CLOCKS, endpoint_of

# The API version this stripe-python release is generated for (its types match it).
PINNED_API_VERSION: str = stripe.api_version

# The SDK reports request timings to Stripe in a header; a read-only mirror has no use for it.
stripe.enable_telemetry = False

# The logger stripe-python writes to; what it logs at DEBUG includes every response body.
_SDK_LOGGER = logging.getLogger("stripe")

# Backoff between retries: full jitter in a window that doubles from 0.5 s up to 30 s.
_BACKOFF_MULTIPLIER = 0.5
_BACKOFF_MAX = 30.0
# A 429 always pauses every worker at least this long: full jitter alone can draw ~0 s,
# which would not slow the others down at all.
_RATE_LIMIT_FLOOR = 1.0

_KEY_PATTERN = re.compile(r"\b(?:sk|rk|pk)_[A-Za-z0-9_*]+")
_RAK_PATTERN = re.compile(r"\brak_[a-z0-9_]+")

# Permissions of what is fetched but not listed in syncer.stripe.resources.
_EXTRA_PERMISSIONS = {
    "account": "Account: Read",
    EVENTS.name: EVENTS.permission,
    TEST_CLOCKS.name: TEST_CLOCKS.permission,
}

_AUTH_MESSAGE = (
    "Stripe rejected the API key (401): check STRIPE_API_KEY; "
    "it may be revoked, expired or for another account"
)


@dataclass(frozen=True)
class Page:
    """One page of a list endpoint, as plain JSON values."""

    data: list[dict[str, Any]]
    has_more: bool


@dataclass(frozen=True)
class ApiStats:
    """Counters since the ``StripeApi`` was made, for ``sync_runs`` stats."""

    requests: int  # HTTP attempts sent, retries included
    retries: int  # attempts that were retried
    rate_limited: int  # 429 answers of every kind
    by_kind: dict[str, int] = field(default_factory=dict)  # failed attempts by kind

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "by_kind": dict(self.by_kind),
        }


class _Retryable(Exception):
    """One attempt failed in a way that may pass if tried again."""

    def __init__(
        self, kind: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(kind)
        self.kind = kind  # rate_limit, lock_timeout, conflict, server_error, ...
        self.status = status
        self.retry_after = retry_after


class _GetOnlyTransport(stripe.HTTPClient):
    """The SDK's HTTP client: httpx, GET only, and the body of a success kept from the SDK.

    stripe-nrr only reads; refusing anything but GET here makes "never writes to Stripe"
    a property of the transport rather than of the call sites.

    ``raw_request`` hands every body to the SDK, which formats it into a debug log line
    (whether or not anyone listens) and parses it into ordered dicts before returning it:
    for a half-megabyte page of invoices, more CPU than all the rest of the request. So a
    2xx body waits here for the thread that sent the request to ``take_body`` it, and the
    SDK gets an empty object instead, unless someone reads its debug output. An error
    body always goes to the SDK, which turns it into its exception.
    """

    name = "httpx"  # what the SDK reports as its HTTP library in the user agent

    def __init__(self, *, timeout: float, trust: ssl.SSLContext, console_debug: bool) -> None:
        super().__init__()
        self._httpx = httpx.Client(verify=trust, timeout=timeout)
        self._console_debug = console_debug  # STRIPE_LOG=debug: the SDK prints each body
        self._received = threading.local()

    def request(  # type: ignore[override]  # bytes, as the SDK's own HTTPXClient returns
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        **_options: Any,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        _refuse_unless_get(method)
        self._received.body = None
        try:
            response = self._httpx.request(method, url, headers=headers)
        except Exception as exc:
            # The SDK's own type for a request that got no answer; the cause says why.
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]  # unannotated
                f"Unexpected error communicating with Stripe ({type(exc).__name__})",
                should_retry=True,
            ) from exc
        try:
            content, status = response.content, response.status_code
        finally:
            # httpx's response and its stream refer to each other, so each page's body
            # would otherwise wait for the cycle collector rather than go with its last use.
            response.stream = httpx.ByteStream(b"")
        if not 200 <= status < 300:
            return content, status, response.headers
        self._received.body = content
        return (content if self._sdk_logs_bodies() else b"{}"), status, response.headers

    def take_body(self) -> bytes:
        """The body of the 2xx answer this thread's last request got."""
        body: bytes | None = getattr(self._received, "body", None)
        self._received.body = None
        if body is None:
            raise RuntimeError("the Stripe SDK returned without a successful answer")
        return body

    def _sdk_logs_bodies(self) -> bool:
        return (
            self._console_debug or stripe.log == "debug" or _SDK_LOGGER.isEnabledFor(logging.DEBUG)
        )

    def close(self) -> None:
        self._httpx.close()


def operator_trust(environ: Mapping[str, str]) -> ssl.SSLContext | None:
    """The system's trust store when the operator points SSL_CERT_FILE or SSL_CERT_DIR at
    their own CAs (a TLS-inspecting proxy), as SMTP and Slack already honour; else None,
    and the Stripe SDK verifies against the CA bundle it ships."""
    if environ.get("SSL_CERT_FILE") or environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()  # OpenSSL reads both variables
    return None


def _stripe_trust() -> ssl.SSLContext:
    """What the SDK's own HTTP clients verify Stripe's certificate against."""
    return ssl.create_default_context(cafile=stripe.ca_bundle_path)


def _refuse_unless_get(method: str) -> None:
    if method.lower() != "get":
        raise RuntimeError(f"stripe-nrr only reads from Stripe; refusing {method.upper()}")


class StripeApi:
    """GET-only access to one Stripe account, safe to share between threads."""

    def __init__(
        self,
        api_key: str,
        api_base: str,
        api_version: str | None = None,
        limiter: TokenBucket | None = None,
        retry_budget_seconds: float = 300,
        timeout: float = 80,
        account: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        endpoint_limits: EndpointLimits | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ConfigError("STRIPE_API_KEY is empty; set it to a secret or restricted key")
        self._api_key = api_key
        self.api_version: str = api_version or PINNED_API_VERSION
        self.account = account
        self.livemode: bool = api_key.startswith(("sk_live_", "rk_live_"))
        # Stripe's own limit in test mode is 25 requests/s; stay a little under it.
        self._limiter = limiter if limiter is not None else TokenBucket(20)
        self._endpoint_limits = endpoint_limits
        self._budget = retry_budget_seconds
        self._sleep = sleep
        self._clock = clock
        self._http = _GetOnlyTransport(
            timeout=timeout,
            trust=operator_trust(os.environ) or _stripe_trust(),
            console_debug=os.environ.get("STRIPE_LOG") == "debug",
        )
        self._client = stripe.StripeClient(
            api_key,
            stripe_account=account,
            stripe_version=self.api_version,
            base_addresses={"api": api_base.rstrip("/")},
            http_client=self._http,
            max_network_retries=0,
        )
        self._counts_lock = threading.Lock()
        self._requests = 0
        self._retries = 0
        self._rate_limited = 0
        self._by_kind: Counter[str] = Counter()

    # -- public API ---------------------------------------------------------------

    def fetch_list_page(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        resource: str,
        retry_budget: float | None = None,
    ) -> Page:
        """One page of a list endpoint (``limit``, ``starting_after``, ``created``...).

        ``retry_budget`` overrides the retry time for this call (a probe that has a
        plainer request to fall back on should not wait minutes first).
        """
        body = self._get(path, params, resource=resource, valid=_is_list_body, budget=retry_budget)
        data: list[dict[str, Any]] = body["data"]
        return Page(data=data, has_more=body["has_more"])

    def fetch_object(
        self, path: str, *, resource: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """One object, e.g. ``/v1/invoices/in_123``."""
        return self._get(path, params or {}, resource=resource, valid=_is_object_body)

    def fetch_account(self) -> dict[str, Any]:
        """The account the key (and ``Stripe-Account``, if set) belongs to."""
        # With Stripe-Account set, /v1/account answers for the connected account.
        return self._get("/v1/account", {}, resource="account", valid=_is_object_body)

    def stats(self) -> ApiStats:
        with self._counts_lock:
            return ApiStats(
                requests=self._requests,
                retries=self._retries,
                rate_limited=self._rate_limited,
                by_kind=dict(self._by_kind),
            )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one GET with retries -----------------------------------------------------

    def _get(
        self,
        path: str,
        params: Mapping[str, Any],
        *,
        resource: str,
        valid: Callable[[dict[str, Any]], bool],
        budget: float | None = None,
    ) -> dict[str, Any]:
        url = path + ("?" + encode_query(params) if params else "")
        started = self._clock()
        limit = self._budget if budget is None else budget
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retryable),
            wait=self._wait,
            stop=lambda rs: self._clock() - started + rs.upcoming_sleep >= limit,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    return self._attempt(url, path, resource, valid)
        except _Retryable as exc:
            self._give_up(exc, path, self._clock() - started, attempts, limit)
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _attempt(
        self, url: str, path: str, resource: str, valid: Callable[[dict[str, Any]], bool]
    ) -> dict[str, Any]:
        if self._endpoint_limits is not None:
            self._endpoint_limits.bucket(endpoint_of(path)).acquire()
        self._limiter.acquire()
        self._count(requests=1)
        try:
            body = _loads(self._fetch_body(url))
        except stripe.StripeError as exc:
            self._count_failure(exc)
            raise _map_error(exc, path, resource, self._api_key, self.account) from None
        except ValueError:  # json.JSONDecodeError, or a body that is not UTF-8
            self._count(kind="malformed")
            raise _Retryable("malformed") from None
        if not isinstance(body, dict) or not valid(body):
            # Parsed, but not the shape every answer has: treat like a truncated body.
            self._count(kind="malformed")
            raise _Retryable("malformed")
        return body

    def _fetch_body(self, url: str) -> bytes:
        """The body of a 2xx answer, or the SDK's own error for any other status."""
        self._client.raw_request("get", url)  # raises the SDK's error for a non-2xx answer
        return self._http.take_body()

    def _wait(self, rs: tenacity.RetryCallState) -> float:
        wait = tenacity.wait_random_exponential(multiplier=_BACKOFF_MULTIPLIER, max=_BACKOFF_MAX)(
            rs
        )
        exc = rs.outcome.exception() if rs.outcome is not None else None
        if isinstance(exc, _Retryable):
            if exc.kind == "rate_limit":
                wait = max(wait, _RATE_LIMIT_FLOOR)
            if exc.retry_after is not None:
                wait = max(wait, exc.retry_after)
        return wait

    def _before_sleep(self, rs: tenacity.RetryCallState) -> None:
        self._count(retries=1)
        exc = rs.outcome.exception() if rs.outcome is not None else None
        # A rate limit is account-wide: hold back every worker, not just this one.
        # A lock timeout concerns one object, so it only delays this request.
        if isinstance(exc, _Retryable) and exc.kind == "rate_limit":
            self._limiter.penalize(rs.upcoming_sleep)

    def _give_up(
        self, exc: _Retryable, path: str, elapsed: float, attempts: int, budget: float
    ) -> NoReturn:
        if attempts == 1:
            # Only happens when the first wait alone (a long Retry-After) is past the budget.
            trouble = "malformed JSON" if exc.kind == "malformed" else _trouble(exc)
            raise StripeUnavailable(
                f"Stripe answered {trouble} on {path} and asked to wait longer than the "
                f"{_duration(budget)} retry budget; try again later"
            )
        span = f"for {_duration(elapsed)} on {path} ({attempts} attempts); try again later"
        if exc.kind == "malformed":
            raise MalformedResponse(f"Stripe kept sending malformed JSON {span}")
        if exc.kind == "timeout":
            raise StripeUnavailable(f"Stripe kept timing out {span}")
        if exc.kind == "connection":
            raise StripeUnavailable(f"Stripe could not be reached {span}")
        raise StripeUnavailable(f"Stripe kept answering {_trouble(exc)} {span}")

    # -- counters -------------------------------------------------------------------

    def _count(self, *, requests: int = 0, retries: int = 0, kind: str | None = None) -> None:
        with self._counts_lock:
            self._requests += requests
            self._retries += retries
            if kind is not None:
                self._by_kind[kind] += 1

    def _count_failure(self, exc: stripe.StripeError) -> None:
        kind = _transient_kind(exc)
        with self._counts_lock:
            if exc.http_status == 429:
                self._rate_limited += 1
            self._by_kind[kind or f"http_{exc.http_status}"] += 1


def _is_list_body(body: dict[str, Any]) -> bool:
    data = body.get("data")
    return (
        isinstance(data, list)
        and isinstance(body.get("has_more"), bool)
        and all(isinstance(obj, dict) for obj in data)
    )


def _is_object_body(body: dict[str, Any]) -> bool:
    return isinstance(body.get("object"), str)


# -- error mapping ------------------------------------------------------------------


def _map_error(
    exc: stripe.StripeError, path: str, resource: str, api_key: str, account: str | None = None
) -> Exception:
    """The exception to raise for one failed attempt: ``_Retryable`` or an ``NrrError``."""
    status = exc.http_status
    if status == 401:
        return StripeAuthError(_AUTH_MESSAGE)
    untrusted = _certificate_failure(exc)
    if untrusted is not None:
        # Not worth retrying within this run: the same certificate comes back every time.
        return StripeUnavailable(
            f"the TLS certificate of the Stripe API ({untrusted}) could not be verified on {path}; "
            "check STRIPE_API_BASE and any proxy that intercepts TLS"
        )
    message = redact(_stripe_message(exc), api_key)
    if status == 403 and _error_field(exc, "code") == "account_invalid":
        # Stripe-Account names an account this key may not act for: one cause for every
        # resource, and not a missing permission.
        return StripeAccountInaccessible(
            f"STRIPE_ACCOUNTS: the key cannot access {account or 'that account'} (Stripe says it "
            "does not exist or is not connected to this platform); check the id, or remove it"
        )
    if status == 403 or isinstance(exc, stripe.PermissionError):
        return _permission_error(resource, message)
    should_retry = _header(exc, "Stripe-Should-Retry")
    kind = _transient_kind(exc)
    if should_retry == "false":
        if kind is None or kind == "malformed":
            return _final_client_error(status, path, message)
        return StripeUnavailable(
            f"Stripe answered {status} on {path} and asked not to retry; try again later"
        )
    if kind is not None:
        return _Retryable(kind, status, _retry_after(exc))
    if should_retry == "true":
        return _Retryable("should_retry", status, _retry_after(exc))
    return _final_client_error(status, path, message)


def _certificate_failure(exc: BaseException) -> str | None:
    """Why the server's certificate was refused, if that is what sank the connection."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return str(cause.verify_message or "certificate verify failed")
        cause = cause.__cause__ or cause.__context__
    return None


def _transient_kind(exc: stripe.StripeError) -> str | None:
    """Why a failed attempt may pass when retried, or None when it will not."""
    status = exc.http_status
    code = _error_field(exc, "code")
    if isinstance(exc, stripe.APIConnectionError) or status is None:
        return "timeout" if isinstance(exc.__cause__, httpx.TimeoutException) else "connection"
    if status == 429 or code == "rate_limit":
        return "lock_timeout" if code == "lock_timeout" else "rate_limit"
    if status == 409:
        # Reads only conflict on an object lock that the writer will release.
        return "lock_timeout" if code == "lock_timeout" else "conflict"
    if status >= 500:
        return "server_error"
    if 200 <= status < 300:
        # The SDK could not parse a successful answer: a truncated or garbled body.
        return "malformed"
    return None


def _final_client_error(status: int | None, path: str, message: str) -> NrrError:
    if status == 404:
        return StripeNotFound(f"Stripe has no {path}: {message}")
    if status is not None and 200 <= status < 300:
        return MalformedResponse(f"Stripe sent malformed JSON on {path}")
    return StripeRequestError(f"Stripe rejected GET {path} ({status}): {message}")


def _permission_error(resource: str, message: str) -> StripePermissionError:
    rak = _RAK_PATTERN.search(message)
    detail = f"Stripe asks for '{rak.group(0)}'" if rak else message
    return StripePermissionError(resource, permission_for(resource), detail)


def permission_for(resource: str) -> str:
    """The restricted-key permission reading ``resource`` needs, as the dashboard names it."""
    if resource in BY_NAME:
        return BY_NAME[resource].permission
    if resource in _EXTRA_PERMISSIONS:
        return _EXTRA_PERMISSIONS[resource]
    for parent in BY_NAME.values():  # child tables read with their parent's permission
        if any(child.table == resource for child in parent.children):
            return parent.permission
    return f"{resource.replace('_', ' ').capitalize()}: Read"


def redact(text: str, api_key: str = "") -> str:
    """``text`` without anything that looks like a Stripe key, masked or not."""
    if api_key:
        text = text.replace(api_key, "[redacted key]")
    return _KEY_PATTERN.sub("[redacted key]", text)


def _stripe_message(exc: stripe.StripeError) -> str:
    message = _error_field(exc, "message")
    if isinstance(message, str) and message:
        return message
    return f"HTTP {exc.http_status}" if exc.http_status else "no message"


def _error_field(exc: stripe.StripeError, name: str) -> Any:
    body = exc.json_body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"].get(name)
    return None


def _header(exc: stripe.StripeError, name: str) -> str | None:
    headers: Any = exc.headers
    # When the SDK cannot parse an error body it passes the response headers in the
    # json_body slot of APIError and leaves ``headers`` empty (stripe-python 16.1).
    if not headers and isinstance(exc.json_body, Mapping) and not isinstance(exc.json_body, dict):
        headers = exc.json_body
    if not headers:
        return None
    value = headers.get(name)
    if value is None:  # a plain dict is case-sensitive
        value = headers.get(name.lower())
    return str(value).strip().lower() if value is not None else None


def _retry_after(exc: stripe.StripeError) -> float | None:
    """``Retry-After`` in seconds; HTTP dates are not used by Stripe and are ignored."""
    value = _header(exc, "Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _trouble(exc: _Retryable) -> str:
    return str(exc.status) if exc.status is not None else exc.kind.replace("_", " ")


def _duration(seconds: float) -> str:
    if seconds >= 90:
        return f"{round(seconds / 60)} minutes"
    if seconds >= 60:
        return "1 minute"
    whole = max(1, round(seconds))
    return "1 second" if whole == 1 else f"{whole} seconds"


# -- query encoding -----------------------------------------------------------------


def _loads(text: str | bytes) -> Any:
    """Parse a body: orjson for speed, the standard library for what orjson refuses
    (integers beyond 64 bits); ValueError when it is not JSON at all."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def encode_query(params: Mapping[str, Any]) -> str:
    """Stripe's form encoding for a GET query string.

    ``{"created": {"gte": 1}, "expand": ["data.discounts"]}`` becomes
    ``created[gte]=1&expand[]=data.discounts``. Stripe accepts lists both as ``k[]``
    (the form its docs use) and as ``k[0]`` (what the SDK sends); we encode them
    ourselves rather than hand params to ``raw_request``, which would also swallow
    any param named like a request option (``headers``, ``api_key``...).
    """
    return urlencode(list(_pairs(params, "")), safe="[]")


def _pairs(value: Any, prefix: str) -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        out: list[tuple[str, str]] = []
        for key, sub in value.items():
            out += _pairs(sub, f"{prefix}[{key}]" if prefix else str(key))
        return out
    if isinstance(value, (list, tuple)):
        if any(isinstance(v, (Mapping, list, tuple)) for v in value):
            raise TypeError(f"cannot encode nested lists in {prefix!r} for a GET query")
        return [pair for v in value for pair in _pairs(v, prefix + "[]")]
    if value is None:
        return []
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, str(value))]
