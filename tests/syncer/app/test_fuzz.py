"""Fuzzing the parsers of settings and of Stripe objects (issue 7), with hypothesis.

The key, FX_RATES and REPORT_SCHEDULE parsers have their own fuzz tests in
test_settings.py; here: the database URL, every setting through ``load_settings``, the
projection of any JSON a Stripe answer could hold, and the normalizer and the monthly
roll-forward on a generated account with random damage.

Contracts: a bad setting is a ``ValueError``/``ConfigError`` of one line, never another
exception and never the secret; an object is projected to rows of the declared column
types or refused with ``MalformedResponse``; the normalizer never crashes and every
month it yields still reconciles to the cent.
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from reports.errors import MissingRate
from reports.fx import FxTable
from reports.metrics import MetricSettings, compute_month
from reports.month import month_range
from syncer.app import logging as nrr_logging
from syncer.app.settings import _SECRET_FIELDS, Settings, load_settings, parse_database_url
from syncer.db.objects import CHANGE_COLUMNS, OBJECT_TABLES
from syncer.errors import ConfigError, MalformedResponse
from syncer.normalize import NormalizeSettings, RawAccount, normalize
from syncer.sandbox.generator import JSON, Account, generate_account
from syncer.stripe.resources import EVENTS, RESOURCES
from syncer.sync.projection import RowContext, project

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
CTX = RowContext(account="acct_fuzz", livemode=False, api_version="2026-10-28.endive", synced_at=1_700_000_000)
NOW = 1795000000  # 2026-11-18

# ---- 1. settings ------------------------------------------------------------------------

_url_like = st.one_of(
    st.text(),
    st.builds(
        lambda scheme, user, host, rest: f"{scheme}://{user}{host}{rest}",
        st.sampled_from(["sqlite", "sqlite+pysqlite", "postgres", "postgresql", "postgresql+psycopg",
                         "mysql", "", "http", "postgresql+asyncpg"]),
        st.sampled_from(["", "u@", "u:p@ss@", ":@", "u:%zz@"]),
        st.text(alphabet="abc.:[]%/0123456789", max_size=12),
        st.text(max_size=12),
    ),
)


@hyp_settings(max_examples=300, deadline=None)
@given(_url_like)
def test_fuzz_database_url_parser(text: str) -> None:
    try:
        url = parse_database_url(text)
    except ValueError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith(("not a database URL", "unsupported database driver", "a PostgreSQL URL"))
    else:
        assert url.startswith(("sqlite", "postgresql+psycopg"))
        assert parse_database_url(url) == url  # normalising twice changes nothing


@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_fuzz_every_setting_is_parsed_or_refused_in_one_line(field: str, data: st.DataObject) -> None:
    text = data.draw(st.one_of(st.text(max_size=30), st.from_regex(r"[ -~]{0,24}", fullmatch=True)), label=field)
    try:
        load_settings(_env_file=None, **{field: text})
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message
        assert field.upper() in message, message  # names the variable to fix
        secret = text.strip()
        if field in _SECRET_FIELDS and len(secret) >= 10:
            assert secret not in message
    finally:
        nrr_logging._clear_registered_secrets()


# ---- 2. projection ----------------------------------------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([2**63, -(2**63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)

# Field names the projection reads, so random objects hit its code paths rather than
# only unknown keys.
_FIELDS = sorted({
    "customer", "price", "plan", "product", "items", "lines", "discounts", "discount", "status", "recurring",
    "currency", "amount", "unit_amount", "quantity", "parent", "subscription", "invoice", "charge",
    "balance_transaction", "created", "deleted", "data", "object", "coupon", "source", "period", "pricing",
    "status_transitions", "total_taxes", "tax_amounts", "payment", "payment_intent", "promotion", "type",
    "subscription_details", "subscription_item_details", "invoice_item_details", "has_more", "ended_at",
    "canceled_at", "cancellation_details", "pause_collection", "trial_end", "tiers", "billing_reason",
})


def _objects() -> st.SearchStrategy[dict[str, Any]]:
    keys = st.one_of(st.sampled_from(_FIELDS), st.text(max_size=8))
    return st.builds(
        lambda fields, object_id: {**fields, "id": object_id},
        st.dictionaries(keys, _json, max_size=10),
        st.text(min_size=1, max_size=10),
    )


def _column_types(table: str) -> dict[str, type]:
    """The columns a projected row fills (the store numbers ``changed`` itself)."""
    return {c.name: c.type.python_type for c in OBJECT_TABLES[table].__table__.columns  # type: ignore[attr-defined]
            if c.name not in CHANGE_COLUMNS}


def _assert_typed(rows: dict[str, list[dict[str, Any]]]) -> None:
    for table, batch in rows.items():
        types = _column_types(table)
        for row in batch:
            assert set(row) == set(types), table
            for column, value in row.items():
                if value is None:
                    continue
                wanted = types[column]
                assert isinstance(value, wanted), (table, column, value)
                if wanted is int:
                    assert not isinstance(value, bool), (table, column, value)
                    assert isinstance(value, int) and -(2**63) <= value < 2**63, (table, column, value)  # BIGINT
            json.loads(row["raw"])  # raw is always valid JSON text


_RESOURCE_NAMES = [r.name for r in (*RESOURCES, EVENTS)]


def _project_or_refuse(resource: str, obj: dict[str, Any]) -> None:
    try:
        rows = project(resource, obj, CTX)
    except MalformedResponse as exc:
        assert "\n" not in str(exc)
        return
    _assert_typed(rows)
    assert rows[resource][0]["id"] == obj["id"]


@hyp_settings(max_examples=30, deadline=None)
@given(_objects())
@pytest.mark.parametrize("resource", _RESOURCE_NAMES)
def test_fuzz_projection_of_random_objects(resource: str, obj: dict[str, Any]) -> None:
    _project_or_refuse(resource, obj)


_FIXTURE_OF = {
    "customers": "customer", "products": "product", "prices": "price", "coupons": "coupon",
    "promotion_codes": "promotion_code", "subscriptions": "subscription", "invoices": "invoice",
    "invoice_items": "invoiceitem", "invoice_payments": "invoice_payment", "charges": "charge",
    "refunds": "refund", "credit_notes": "credit_note", "disputes": "dispute", "events": "event",
}
_LEGACY = {"subscriptions": "subscription_legacy", "invoices": "invoice_legacy", "charges": "charge_legacy",
           "events": "event_legacy", "customers": "deleted_customer"}


@cache
def _fixture(name: str) -> str:
    return (FIXTURES / f"{name}.json").read_text(encoding="utf-8")


def _paths(value: Any, prefix: tuple[Any, ...] = (), depth: int = 4) -> list[tuple[Any, ...]]:
    """Every path into ``value`` (dict keys and list indexes) up to ``depth`` steps."""
    if depth == 0:
        return []
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    out = []
    for key, sub in items:
        out.append((*prefix, key))
        out += _paths(sub, (*prefix, key), depth - 1)
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any, *, drop: bool = False) -> Any:
    """A copy of ``value`` with the thing at ``path`` replaced (or dropped)."""
    if isinstance(value, dict):
        out: Any = dict(value)
    elif isinstance(value, list):
        out = list(value)
    else:
        return value
    key = path[0]
    if len(path) == 1:
        if drop:
            del out[key]
        else:
            out[key] = new
    else:
        out[key] = _replace(out[key], path[1:], new, drop=drop)
    return out


_FIXTURE_CASES = [
    pytest.param(name, fixture, id=fixture)
    for table in (_FIXTURE_OF, _LEGACY) for name, fixture in table.items()
]


@hyp_settings(max_examples=25, deadline=None)
@given(st.data())
@pytest.mark.parametrize(("resource", "name"), _FIXTURE_CASES)
def test_fuzz_projection_of_damaged_real_objects(resource: str, name: str, data: st.DataObject) -> None:
    obj: Any = json.loads(_fixture(name))
    paths = [p for p in _paths(obj) if p != ("id",)]
    for _ in range(data.draw(st.integers(1, 4), label="damages")):
        path = data.draw(st.sampled_from(paths), label="path")
        try:
            obj = _replace(obj, path, data.draw(_json, label="value"),
                           drop=data.draw(st.booleans(), label="drop"))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier damage removed or retyped this path
    _project_or_refuse(resource, obj)


# ---- 3. normalizer and roll-forward -------------------------------------------------------

_DAMAGED = ("customers", "prices", "coupons", "subscriptions", "invoices", "invoice_items",
            "invoice_payments", "charges", "refunds", "credit_notes")
_ODD_VALUES = st.one_of(
    _json,
    st.sampled_from(["paused_new_kind", "something_new", "fortnight", "", "cus_DoesNotExist",
                     "price_DoesNotExist", "xyz", -1, 0, 2**40]),
)


@cache
def _account() -> Account:
    return generate_account(customers=12, seed=9, now=NOW)


def _raw(acct: Account, objects: dict[str, list[JSON]]) -> RawAccount:
    return RawAccount(
        customers=objects["customers"], prices=objects["prices"], products=acct.products,
        coupons=objects["coupons"], subscriptions=objects["subscriptions"], invoices=objects["invoices"],
        invoice_items=objects["invoice_items"], invoice_payments=objects["invoice_payments"],
        charges=objects["charges"], refunds=objects["refunds"], credit_notes=objects["credit_notes"],
        discounts=acct.discounts,
        events=[e for e in acct.events if e["type"].startswith("customer.subscription.")],
        default_currency=acct.currency, account_name="Fuzz",
    )


@hyp_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_normalizer_on_a_damaged_account_never_crashes_and_reconciles(data: st.DataObject) -> None:
    acct = _account()
    # Lists are copied and damaged objects replaced: the generated ones are shared.
    objects = {name: list(acct.objects(name)) for name in _DAMAGED}
    for _ in range(data.draw(st.integers(1, 6), label="damages")):
        name = data.draw(st.sampled_from(_DAMAGED), label="resource")
        if not objects[name]:
            continue
        i = data.draw(st.integers(0, len(objects[name]) - 1), label="index")
        paths = [p for p in _paths(objects[name][i], depth=3) if p != ("id",)]
        path = data.draw(st.sampled_from(paths), label="path")
        objects[name][i] = _replace(objects[name][i], path, data.draw(_ODD_VALUES, label="value"),
                                    drop=data.draw(st.booleans(), label="drop"))
    facts = normalize(_raw(acct, objects), NormalizeSettings(), now=NOW)
    currencies = {s.currency for s in facts.spans} | {r.currency for r in facts.revenue}
    fx = FxTable(acct.currency, {c: Decimal(1) for c in currencies if isinstance(c, str) and c != acct.currency})
    for month in month_range("2026-10", 24):
        # A damaged currency nobody gave a rate for is a documented, one-line refusal
        # (MissingRate); a report that does not reconcile raises ReconciliationError.
        with contextlib.suppress(MissingRate):
            compute_month(facts, month, MetricSettings(currency=acct.currency), fx)


@pytest.mark.parametrize("text", ["sqlite:// ?", "sqlite:// ?mode=ro", "sqlite:///x.db ?a=1"])
def test_a_database_name_with_blanks_around_it_is_refused(text: str) -> None:
    # Found by test_fuzz_database_url_parser: "sqlite:// ?" named a host " ".
    with pytest.raises(ValueError, match="^not a database URL"):
        parse_database_url(text)
