"""The sitemap (``syncer.web.sitemap``) has a sample of every page the dashboard serves, so
a page added without one fails here, not silently in `make bench` and `make screenshots`;
and each sample opens (200) once logged in."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from bench.web import record_a_delivery
from reports.month import month_range
from syncer.app.reporting import report_month
from syncer.db.store import Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from syncer.web.app import build_app
from syncer.web.security import hash_password
from syncer.web.sitemap import sample_paths, telling_customer
from tests.e2e.harness import NOW, settings_for, sync

PASSWORD = "a throwaway sitemap password"
# Pages that are not pages of the data: signing in and out.
NOT_PAGES = frozenset({"/login", "/logout"})


@pytest.fixture(scope="module")
def account() -> Account:
    return generate_account(customers=15, seed=3, now=NOW)


@pytest.fixture
def synced(fake: FakeStripe, store: Store, database_url: str) -> tuple[Any, Store]:
    settings = settings_for(fake, database_url, web_password_hash=hash_password(PASSWORD))
    assert sync(settings, store, clock=NOW).result.ok
    return settings, store


def _page_routes(app: Any) -> list[Route]:
    """The GET routes of the app (a Mount, such as /static, is not a page)."""
    return [r for r in app.routes
            if isinstance(r, Route) and "GET" in (r.methods or ()) and r.path not in NOT_PAGES]


def test_every_page_of_the_dashboard_has_a_sample_and_each_sample_opens(synced: tuple[Any, Store]) -> None:
    settings, store = synced
    record_a_delivery(settings, store, now=NOW)  # the deliveries' pages need one to show
    app = build_app(settings, store, clock=lambda: NOW, session_secret="sitemap-test")
    samples = sample_paths(store, settings, now=NOW)
    names = [name for name, _ in samples]
    assert len(names) == len(set(names)), names
    paths = [path.partition("?")[0] for _, path in samples]
    routes = _page_routes(app)
    assert routes, "no page routes found: has build_app changed shape?"
    missing = [r.path for r in routes if not any(r.path_regex.match(p) for p in paths)]
    assert missing == [], f"pages without a sample in syncer/web/sitemap.py: {missing}"

    with TestClient(app, follow_redirects=False) as client:
        assert client.post("/login", data={"password": PASSWORD}).status_code == 303
        for name, path in samples:
            assert client.get(path).status_code == 200, (name, path)


def test_the_samples_are_of_the_latest_complete_month_and_its_largest_expansion(
        synced: tuple[Any, Store]) -> None:
    settings, store = synced
    samples = dict(sample_paths(store, settings, now=NOW))
    assert samples["month"] == "/month/2026-10"  # NOW is in November 2026
    assert samples["expansion"] == "/month/2026-10/expansion"
    # 15 customers: October has no expansion, so the customer is that of the latest month with one.
    expanded = [r for m in month_range("2026-10", 12) if (r := report_month(settings, store, m, now=NOW)).movements
                and any(mv.movement == "expansion" for mv in r.movements)]
    assert expanded, "the generated account should expand some month of the year"
    largest = max((mv for mv in expanded[-1].movements if mv.movement == "expansion"), key=lambda mv: mv.delta)
    assert samples["customer"] == f"/customer/{largest.customer}"


def test_the_customer_sample_prefers_the_latest_expansion_then_any_movement() -> None:
    def report(*movements: tuple[str, str, int]) -> Any:
        return SimpleNamespace(movements=[SimpleNamespace(customer=c, movement=k, delta=d) for c, k, d in movements])

    older = report(("cus_a", "expansion", 900), ("cus_b", "churn", -5000))
    latest = report(("cus_c", "expansion", 100), ("cus_d", "expansion", 300), ("cus_e", "new", 9000))
    assert telling_customer([older, latest]) == "cus_d"
    assert telling_customer([older, report(("cus_e", "new", 9000))]) == "cus_a"
    assert telling_customer([report(("cus_b", "churn", -5000), ("cus_e", "new", 900))]) == "cus_b"
    assert telling_customer([report(), report()]) is None
