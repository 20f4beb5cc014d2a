"""StripeApi against a mocked httpx transport (respx): no network, no wall time."""

from __future__ import annotations

import gc
import json
import logging
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import stripe

from syncer.errors import (
    ConfigError,
    GiveUp,
    MalformedResponse,
    RetryLater,
    StripeAuthError,
    StripeNotFound,
    StripePermissionError,
    StripeRequestError,
    StripeUnavailable,
)
from syncer.stripe.client import Page, StripeApi, encode_query, permission_for, redact
from syncer.stripe.ratelimit import TokenBucket
from tests.fakes import FakeTime

BASE = "https://stripe.test"
KEY = "sk_test_51AbCdEfGhIjKlMnOpQrStUv1234"
RESTRICTED_KEY = "rk_test_51ZyXwVuTsRqPoNmLkJiHg9876"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"


# -- helpers ------------------------------------------------------------------------


def stripe_object(name: str, **overrides: Any) -> dict[str, Any]:
    """A repo fixture of the current API shape, or a minimal inline one."""
    path = FIXTURES / f"{name}.json"
    if path.exists():
        obj: dict[str, Any] = json.loads(path.read_text())
    else:
        inline: dict[str, dict[str, Any]] = {
            "invoice": {
                "id": "in_1",
                "object": "invoice",
                "customer": "cus_1",
                "currency": "usd",
                "total": 1000,
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": "sub_1", "metadata": None},
                },
                "created": 1234567890,
                "livemode": False,
            },
            "customer": {"id": "cus_1", "object": "customer", "balance": 0, "created": 1},
            "subscription": {
                "id": "sub_1",
                "object": "subscription",
                "status": "active",
                "items": {"object": "list", "data": [], "has_more": False},
            },
        }
        obj = inline[name]
    return {**obj, **overrides}


def list_body(data: list[dict[str, Any]], has_more: bool = False, url: str = "/v1/x") -> Any:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def stripe_error(
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    error: dict[str, Any] = {"message": message, "type": type_}
    if code:
        error["code"] = code
    return httpx.Response(status, json={"error": error}, headers=headers or {})

class RecordingBucket(TokenBucket):
    def __init__(self, ft: FakeTime) -> None:
        super().__init__(1000, clock=ft.clock, sleep=ft.sleep)
        self.penalties: list[float] = []

    def penalize(self, seconds: float) -> None:
        self.penalties.append(seconds)
        super().penalize(seconds)


@pytest.fixture
def ft() -> FakeTime:
    return FakeTime()


@pytest.fixture
def bucket(ft: FakeTime) -> RecordingBucket:
    return RecordingBucket(ft)


def make_api(ft: FakeTime, bucket: TokenBucket, **kwargs: Any) -> StripeApi:
    kwargs.setdefault("api_key", KEY)
    return StripeApi(api_base=BASE, limiter=bucket, sleep=ft.sleep, clock=ft.clock, **kwargs)


@pytest.fixture
def api(ft: FakeTime, bucket: RecordingBucket) -> Iterator[StripeApi]:
    with make_api(ft, bucket) as client:
        yield client


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


# -- what is sent ---------------------------------------------------------------------


def test_list_page_sends_pagination_params_and_parses_plain_json(
    api: StripeApi, mock: respx.MockRouter
) -> None:
    invoice = stripe_object("invoice")
    route = mock.get("/v1/invoices").mock(return_value=ok(list_body([invoice], has_more=True)))
    page = api.fetch_list_page(
        "/v1/invoices",
        {
            "limit": 100,
            "starting_after": "in_0",
            "created": {"gte": 1_700_000_000, "lt": 1_710_000_000},
            "expand": ["data.discounts", "data.customer"],
            "status": "all",
        },
        resource="invoices",
    )
    request = route.calls.last.request
    query = request.url.query.decode()
    assert "expand[]=data.discounts" in query and "expand[]=data.customer" in query
    assert request.url.params.get_list("expand[]") == ["data.discounts", "data.customer"]
    assert request.url.params["created[gte]"] == "1700000000"
    assert request.url.params["created[lt]"] == "1710000000"
    assert request.url.params["limit"] == "100"
    assert request.url.params["starting_after"] == "in_0"
    assert request.url.params["status"] == "all"

    assert isinstance(page, Page) and page.has_more is True
    assert page.data == [invoice]
    assert type(page.data[0]) is dict
    assert not any(isinstance(v, Decimal) for v in _walk(page.data))


def test_the_sdks_debug_log_still_shows_each_body_to_whoever_listens(
    api: StripeApi, mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    # A success body reaches the SDK (which formats it for its debug line whether or not
    # anyone reads it) only while its logger is at DEBUG; the page is the same either way.
    invoice = stripe_object("invoice", id="in_listened_to")
    mock.get("/v1/invoices").mock(return_value=ok(list_body([invoice])))
    with caplog.at_level(logging.DEBUG, logger="stripe"):
        page = api.fetch_list_page("/v1/invoices", {}, resource="invoices")
    assert page.data == [invoice] and type(page.data[0]) is dict
    assert "in_listened_to" in caplog.text


def test_a_page_is_freed_with_its_last_use_not_by_the_cycle_collector(
    api: StripeApi, mock: respx.MockRouter
) -> None:
    # httpx's response and its stream refer to each other; left so, every page body
    # would live until the next cycle collection (hundreds of megabytes in a backfill).
    mock.get("/v1/invoices").mock(return_value=ok(list_body([stripe_object("invoice")])))
    gc.collect()
    gc.disable()
    try:
        before = _responses_alive()
        api.fetch_list_page("/v1/invoices", {"limit": 100}, resource="invoices")
        mock.reset()  # respx's own record of the call
        after = _responses_alive()
    finally:
        gc.enable()
    assert after == before


def _responses_alive() -> set[int]:
    return {id(o) for o in gc.get_objects() if isinstance(o, httpx.Response)}


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def test_headers_pin_version_and_authenticate_on_every_request(
    api: StripeApi, mock: respx.MockRouter
) -> None:
    route = mock.get("/v1/customers").mock(
        side_effect=[stripe_error(503, "busy", type_="api_error"), ok(list_body([]))]
    )
    api.fetch_list_page("/v1/customers", {"limit": 10}, resource="customers")
    assert len(route.calls) == 2
    assert api.api_version == stripe.api_version
    for call in route.calls:
        assert call.request.headers["Stripe-Version"] == stripe.api_version
        assert call.request.headers["Authorization"] == f"Bearer {KEY}"
        assert "Stripe-Account" not in call.request.headers


def test_explicit_api_version_and_account_are_sent(
    ft: FakeTime, bucket: RecordingBucket, mock: respx.MockRouter
) -> None:
    route = mock.get("/v1/account").mock(
        return_value=ok({"id": "acct_9", "object": "account", "default_currency": "eur"})
    )
    with make_api(ft, bucket, api_version="2025-03-31.basil", account="acct_9") as api:
        account = api.fetch_account()
    assert account["default_currency"] == "eur"
    headers = route.calls.last.request.headers
    assert headers["Stripe-Version"] == "2025-03-31.basil"
    assert headers["Stripe-Account"] == "acct_9"
    assert api.api_version == "2025-03-31.basil"


def test_fetch_object_with_expand(api: StripeApi, mock: respx.MockRouter) -> None:
    sub = stripe_object("subscription", id="sub_42")
    route = mock.get("/v1/subscriptions/sub_42").mock(return_value=ok(sub))
    got = api.fetch_object(
        "/v1/subscriptions/sub_42", resource="subscriptions", params={"expand": ["discounts"]}
    )
    assert got == sub
    assert route.calls.last.request.url.params.get_list("expand[]") == ["discounts"]


@pytest.mark.parametrize(
    ("key", "livemode"),
    [("sk_live_abc", True), ("rk_live_abc", True), ("sk_test_abc", False), ("rk_test_abc", False)],
)
def test_livemode_follows_the_key_prefix(
    key: str, livemode: bool, ft: FakeTime, bucket: RecordingBucket
) -> None:
    with make_api(ft, bucket, api_key=key) as api:
        assert api.livemode is livemode


def test_empty_key_is_a_config_error(ft: FakeTime, bucket: RecordingBucket) -> None:
    with pytest.raises(ConfigError):
        make_api(ft, bucket, api_key="")


# -- retries ------------------------------------------------------------------------


def test_429_then_200_honours_retry_after_and_slows_everyone(
    api: StripeApi, mock: respx.MockRouter, ft: FakeTime, bucket: RecordingBucket
) -> None:
    mock.get("/v1/invoices").mock(
        side_effect=[
            stripe_error(429, "Too many requests", code="rate_limit", headers={"Retry-After": "7"}),
            ok(list_body([stripe_object("invoice")])),
        ]
    )
    page = api.fetch_list_page("/v1/invoices", {"limit": 100}, resource="invoices")
    assert len(page.data) == 1
    assert ft.sleeps and max(ft.sleeps) >= 7
    assert bucket.penalties and bucket.penalties[0] >= 7
    stats = api.stats()
    assert (stats.requests, stats.retries, stats.rate_limited) == (2, 1, 1)
    assert stats.by_kind == {"rate_limit": 1}


def test_429_lock_timeout_is_retried_without_holding_back_other_workers(
    api: StripeApi, mock: respx.MockRouter, bucket: RecordingBucket
) -> None:
    mock.get("/v1/invoices/in_1").mock(
        side_effect=[
            stripe_error(429, "locked", code="lock_timeout"),
            ok(stripe_object("invoice")),
        ]
    )
    assert api.fetch_object("/v1/invoices/in_1", resource="invoices")["object"] == "invoice"
    assert bucket.penalties == []
    assert api.stats().rate_limited == 1
    assert api.stats().by_kind == {"lock_timeout": 1}


def test_409_lock_timeout_is_retried(api: StripeApi, mock: respx.MockRouter) -> None:
    mock.get("/v1/invoices/in_1").mock(
        side_effect=[stripe_error(409, "locked", code="lock_timeout"), ok(stripe_object("invoice"))]
    )
    assert api.fetch_object("/v1/invoices/in_1", resource="invoices")["id"]
    assert api.stats().retries == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_then_200(status: int, api: StripeApi, mock: respx.MockRouter, ft: FakeTime) -> None:
    mock.get("/v1/customers").mock(
        side_effect=[
            stripe_error(status, "An unknown error occurred", type_="api_error"),
            ok(list_body([stripe_object("customer")])),
        ]
    )
    page = api.fetch_list_page("/v1/customers", {}, resource="customers")
    assert page.data[0]["object"] == "customer"
    assert len(ft.sleeps) == 1
    assert api.stats().by_kind == {"server_error": 1}


def test_5xx_with_an_html_body_is_retried_after_retry_after(
    api: StripeApi, mock: respx.MockRouter, ft: FakeTime
) -> None:
    mock.get("/v1/customers").mock(
        side_effect=[
            httpx.Response(502, text="<html>Bad Gateway</html>", headers={"Retry-After": "3"}),
            ok(list_body([])),
        ]
    )
    assert api.fetch_list_page("/v1/customers", {}, resource="customers").data == []
    assert api.stats().by_kind == {"server_error": 1}
    assert ft.sleeps and ft.sleeps[0] >= 3


def test_should_retry_false_on_500_is_not_retried(
    api: StripeApi, mock: respx.MockRouter, ft: FakeTime
) -> None:
    route = mock.get("/v1/customers").mock(
        return_value=stripe_error(
            500, "boom", type_="api_error", headers={"Stripe-Should-Retry": "false"}
        )
    )
    with pytest.raises(StripeUnavailable) as info:
        api.fetch_list_page("/v1/customers", {}, resource="customers")
    assert len(route.calls) == 1
    assert ft.sleeps == []
    assert "500" in str(info.value) and "/v1/customers" in str(info.value)


def test_should_retry_true_retries_even_a_400(api: StripeApi, mock: respx.MockRouter) -> None:
    mock.get("/v1/customers").mock(
        side_effect=[
            stripe_error(400, "try again", headers={"Stripe-Should-Retry": "true"}),
            ok(list_body([])),
        ]
    )
    assert api.fetch_list_page("/v1/customers", {}, resource="customers").has_more is False


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ConnectError("connection refused"), "connection"),
        (httpx.ReadTimeout("read timed out"), "timeout"),
    ],
)
def test_network_error_then_200(
    error: Exception, kind: str, api: StripeApi, mock: respx.MockRouter
) -> None:
    mock.get("/v1/prices").mock(side_effect=[error, ok(list_body([]))])
    assert api.fetch_list_page("/v1/prices", {}, resource="prices").data == []
    assert api.stats().by_kind == {kind: 1}
    assert api.stats().requests == 2


@pytest.mark.parametrize(
    "bad",
    [
        httpx.Response(200, text='{"object": "list", "data": [{"id": "in_1", "amo'),
        httpx.Response(200, text="<html>maintenance</html>"),
        httpx.Response(200, json={"object": "list", "data": []}),  # no has_more
        httpx.Response(200, json={"object": "list", "has_more": False}),  # no data
        httpx.Response(200, json=[1, 2, 3]),
    ],
    ids=["truncated", "html", "no-has_more", "no-data", "not-an-object"],
)
def test_malformed_body_then_200(
    bad: httpx.Response, api: StripeApi, mock: respx.MockRouter
) -> None:
    mock.get("/v1/invoices").mock(side_effect=[bad, ok(list_body([stripe_object("invoice")]))])
    page = api.fetch_list_page("/v1/invoices", {}, resource="invoices")
    assert page.data[0]["object"] == "invoice"
    assert api.stats().by_kind == {"malformed": 1}


def test_retry_budget_exhausted_is_stripe_unavailable(
    ft: FakeTime, bucket: RecordingBucket, mock: respx.MockRouter
) -> None:
    route = mock.get("/v1/invoices").mock(
        return_value=stripe_error(503, "unavailable", type_="api_error")
    )
    start = ft.now
    with (
        make_api(ft, bucket, retry_budget_seconds=300) as api,
        pytest.raises(StripeUnavailable) as info,
    ):
        api.fetch_list_page("/v1/invoices", {"limit": 100}, resource="invoices")
    message = str(info.value)
    assert isinstance(info.value, RetryLater)
    assert message.startswith("Stripe kept answering 503 for ")
    assert " minutes on /v1/invoices (" in message
    assert message.endswith("attempts); try again later")
    assert "limit" not in message  # the path, not the query
    assert len(route.calls) > 3
    assert ft.now - start < 300  # never slept past the budget
    assert api.stats().retries == len(route.calls) - 1


def test_malformed_past_the_budget_is_malformed_response(
    ft: FakeTime, bucket: RecordingBucket, mock: respx.MockRouter
) -> None:
    mock.get("/v1/invoices").mock(return_value=httpx.Response(200, text='{"data": ['))
    with (
        make_api(ft, bucket, retry_budget_seconds=60) as api,
        pytest.raises(MalformedResponse) as info,
    ):
        api.fetch_list_page("/v1/invoices", {}, resource="invoices")
    assert "/v1/invoices" in str(info.value)


def test_retry_after_beyond_the_budget_gives_up_at_once(
    ft: FakeTime, bucket: RecordingBucket, mock: respx.MockRouter
) -> None:
    route = mock.get("/v1/invoices").mock(
        return_value=stripe_error(
            429, "slow down", code="rate_limit", headers={"Retry-After": "900"}
        )
    )
    with (
        make_api(ft, bucket, retry_budget_seconds=300) as api,
        pytest.raises(StripeUnavailable) as info,
    ):
        api.fetch_list_page("/v1/invoices", {}, resource="invoices")
    assert len(route.calls) == 1 and ft.sleeps == []
    assert str(info.value) == (
        "Stripe answered 429 on /v1/invoices and asked to wait longer than the "
        "5 minutes retry budget; try again later"
    )


# -- errors that a person must fix ----------------------------------------------------


def _assert_no_key(text: str) -> None:
    for secret in (KEY, RESTRICTED_KEY, "sk_", "rk_", "****", "1234", "9876"):
        assert secret not in text


def test_401_is_auth_error_without_any_key_text(api: StripeApi, mock: respx.MockRouter) -> None:
    route = mock.get("/v1/customers").mock(
        return_value=stripe_error(401, "Invalid API Key provided: sk_test_****1234")
    )
    with pytest.raises(StripeAuthError) as info:
        api.fetch_list_page("/v1/customers", {}, resource="customers")
    assert isinstance(info.value, GiveUp)
    assert "401" in str(info.value) and "STRIPE_API_KEY" in str(info.value)
    _assert_no_key(str(info.value))
    _assert_no_key(repr(info.value))
    assert info.value.__cause__ is None  # the SDK error (with Stripe's text) is not chained
    assert len(route.calls) == 1


def test_403_is_permission_error_naming_resource_and_permission(
    ft: FakeTime, bucket: RecordingBucket, mock: respx.MockRouter
) -> None:
    mock.get("/v1/subscriptions").mock(
        return_value=stripe_error(
            403,
            f"The provided key '{RESTRICTED_KEY[:12]}***9876' does not have the required "
            "permissions for this endpoint on account 'acct_1'. Having the "
            "'rak_subscription_read' permission would allow this request to continue.",
        )
    )
    with (
        make_api(ft, bucket, api_key=RESTRICTED_KEY) as api,
        pytest.raises(StripePermissionError) as info,
    ):
        api.fetch_list_page("/v1/subscriptions", {"status": "all"}, resource="subscriptions")
    err = info.value
    assert err.resource == "subscriptions"
    assert err.permission == "Subscriptions: Read"
    assert "rak_subscription_read" in str(err)
    _assert_no_key(str(err))


def test_404_is_not_found(api: StripeApi, mock: respx.MockRouter) -> None:
    mock.get("/v1/invoices/in_gone").mock(
        return_value=stripe_error(404, "No such invoice: 'in_gone'", code="resource_missing")
    )
    with pytest.raises(StripeNotFound) as info:
        api.fetch_object("/v1/invoices/in_gone", resource="invoices")
    assert "in_gone" in str(info.value)


def test_400_is_request_error_with_stripes_message_redacted(
    api: StripeApi, mock: respx.MockRouter
) -> None:
    route = mock.get("/v1/invoices").mock(
        return_value=stripe_error(
            400, "Received unknown parameter: bogus (key sk_live_abcDEF123 was used)"
        )
    )
    with pytest.raises(StripeRequestError) as info:
        api.fetch_list_page("/v1/invoices", {"bogus": 1}, resource="invoices")
    message = str(info.value)
    assert "Received unknown parameter: bogus" in message and "400" in message
    assert "sk_live_abcDEF123" not in message
    assert len(route.calls) == 1


def test_redact_removes_keys_masked_or_not() -> None:
    assert redact("Invalid API Key provided: sk_test_****1234") == (
        "Invalid API Key provided: [redacted key]"
    )
    assert "rk_live_x9" not in redact("key rk_live_x9Y8 lacks rak_charge_read")
    assert "rak_charge_read" in redact("key rk_live_x9Y8 lacks rak_charge_read")
    assert redact("token=custom-secret", api_key="custom-secret") == "token=[redacted key]"


def test_permission_for_covers_resources_children_and_account() -> None:
    assert permission_for("invoices") == "Invoices: Read"
    assert permission_for("invoice_lines") == "Invoices: Read"
    assert permission_for("subscription_items") == "Subscriptions: Read"
    assert permission_for("events") == "Events: Read"
    assert permission_for("account") == "Account: Read"


# -- reads only -------------------------------------------------------------------------


def test_only_get_requests_are_ever_sent(api: StripeApi, mock: respx.MockRouter) -> None:
    mock.get("/v1/account").mock(return_value=ok({"id": "acct_1", "object": "account"}))
    mock.get("/v1/invoices/in_1").mock(return_value=ok(stripe_object("invoice")))
    mock.route().mock(return_value=ok(list_body([])))  # anything else, any method
    api.fetch_list_page("/v1/invoices", {"limit": 1}, resource="invoices")
    api.fetch_object("/v1/invoices/in_1", resource="invoices")
    api.fetch_account()
    # Even reaching past the public API, the transport refuses to write.
    for method in ("post", "delete"):
        with pytest.raises(RuntimeError, match="only reads"):
            api._client.raw_request(method, "/v1/customers", email="x@example.com")
    assert [call.request.method for call in mock.calls] == ["GET", "GET", "GET"]
    public = {name for name in dir(api) if not name.startswith("_")}
    assert public == {
        "account", "api_version", "close", "fetch_account", "fetch_list_page",
        "fetch_object", "livemode", "stats",
    }  # fmt: skip


# -- encoding ---------------------------------------------------------------------------


def test_encode_query() -> None:
    assert (
        encode_query(
            {
                "limit": 100,
                "created": {"gte": 1, "lt": 2},
                "expand": ["data.discounts"],
                "starting_after": None,
                "include_total": False,
            }
        )
        == "limit=100&created[gte]=1&created[lt]=2&expand[]=data.discounts&include_total=false"
    )
    assert encode_query({"email": "a+b@example.com"}) == "email=a%2Bb%40example.com"
    with pytest.raises(TypeError):
        encode_query({"expand": [["nested"]]})


# -- counters and threads ---------------------------------------------------------------


def test_counters_over_a_mixed_run(api: StripeApi, mock: respx.MockRouter) -> None:
    mock.get("/v1/customers").mock(
        side_effect=[
            stripe_error(429, "slow", code="rate_limit"),
            stripe_error(500, "boom", type_="api_error"),
            httpx.ConnectError("refused"),
            ok(list_body([])),
        ]
    )
    mock.get("/v1/customers/cus_x").mock(return_value=stripe_error(404, "No such customer"))
    api.fetch_list_page("/v1/customers", {}, resource="customers")
    with pytest.raises(StripeNotFound):
        api.fetch_object("/v1/customers/cus_x", resource="customers")
    stats = api.stats()
    assert stats.requests == 5
    assert stats.retries == 3
    assert stats.rate_limited == 1
    assert stats.by_kind == {"rate_limit": 1, "server_error": 1, "connection": 1, "http_404": 1}
    assert stats.as_dict()["by_kind"]["http_404"] == 1


def test_many_threads_share_one_api(api: StripeApi, mock: respx.MockRouter, ft: FakeTime) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params["starting_after"]
        if cursor.endswith("7"):  # some requests fail once, to exercise retries too
            seen = failed.setdefault(cursor, 0)
            failed[cursor] = seen + 1
            if seen == 0:
                return stripe_error(503, "busy", type_="api_error")
        return ok(list_body([stripe_object("customer", id=f"cus_after_{cursor}")]))

    failed: dict[str, int] = {}
    mock.get("/v1/customers").mock(side_effect=answer)
    results: dict[str, str] = {}
    errors: list[Exception] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            for i in range(10):
                cursor = f"cus_{n}_{i}"
                page = api.fetch_list_page(
                    "/v1/customers", {"starting_after": cursor}, resource="customers"
                )
                with lock:
                    results[cursor] = page.data[0]["id"]
        except Exception as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(results) == 160
    assert all(value == f"cus_after_{key}" for key, value in results.items())
    stats = api.stats()
    assert stats.requests == 160 + 16  # one 503 for each cursor ending in 7
    assert stats.retries == 16
    assert stats.by_kind == {"server_error": 16}


def test_connection_errors_past_the_budget_are_stripe_unavailable(
    ft: FakeTime, bucket: RecordingBucket, mock: respx.MockRouter
) -> None:
    mock.get("/v1/refunds").mock(side_effect=httpx.ConnectError("refused"))
    with (
        make_api(ft, bucket, retry_budget_seconds=120) as api,
        pytest.raises(StripeUnavailable) as info,
    ):
        api.fetch_list_page("/v1/refunds", {}, resource="refunds")
    assert str(info.value).startswith("Stripe could not be reached for ")
    assert "on /v1/refunds" in str(info.value)
