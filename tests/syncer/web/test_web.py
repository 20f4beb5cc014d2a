"""The dashboard over HTTP: every page, every way in (and out), its headers, and that a
month's page shows the numbers ``nrr report --format json`` gives for that month."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import TimestampSigner
from pydantic import SecretStr
from starlette.testclient import TestClient
from typer.testing import CliRunner

from reports.month import month_range
from reports.render.jsonout import report_dict
from syncer.app.cli import app
from syncer.app.reporting import report_month
from syncer.db.store import Store
from syncer.web.app import build_app
from syncer.web.security import (
    MAX_FAILURES,
    SECURITY_HEADERS,
    SESSION_SECONDS,
    hash_password,
    password_matches,
)
from tests.e2e.harness import NOW
from tests.syncer.web.dashboard import HASH, PASSWORD, SECRET, Clock, cells, dollars, login

MONTH = "2026-10"


def test_every_page_needs_a_login_and_every_answer_its_headers(web: tuple[TestClient, Clock]) -> None:
    client, _ = web
    for path in ("/", f"/month/{MONTH}", f"/month/{MONTH}/expansion", "/customer/cus_x", "/chart.png"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value
    login = client.get("/login")
    assert login.status_code == 200 and 'name="password"' in login.text
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    assert "<script" not in login.text  # no inline script for the CSP to allow
    assert client.get("/static/app.css").status_code == 200


def test_a_wrong_password_is_refused_and_repeated_failures_wait(web: tuple[TestClient, Clock]) -> None:
    client, clock = web
    wrong = login(client, "guess")
    assert wrong.status_code == 401 and "Wrong password." in wrong.text and "set-cookie" not in wrong.headers
    for _ in range(MAX_FAILURES - 1):
        login(client, "guess")
    # Throttled now, even with the right password …
    blocked = login(client)
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    # … until the failures are a minute old.
    clock.at += 61
    assert login(client).status_code == 303


def test_the_password_opens_a_session_with_a_safe_cookie_and_logout_ends_it(web: tuple[TestClient, Clock]) -> None:
    client, _ = web
    ok = login(client)
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = client.get("/")
    assert page.status_code == 200 and "Month by month" in page.text
    assert HASH not in page.text and PASSWORD not in page.text
    client.post("/logout")
    assert client.get("/").status_code == 303


def test_an_expired_session_asks_for_the_password_again(web: tuple[TestClient, Clock],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = web
    login(client)
    assert client.get("/").status_code == 200
    later = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later(self) + SESSION_SECONDS + 1)
    assert client.get("/").status_code == 303


def test_a_proxy_header_counts_only_from_a_trusted_address(synced: tuple[Any, Store]) -> None:
    settings, store = synced
    behind = settings.model_copy(update={"web_password_hash": None, "web_auth_header": "X-Forwarded-User",
                                         "web_trusted_proxies": ("10.0.0.0/8",)})
    app = build_app(behind, store, clock=Clock(NOW), session_secret=SECRET)
    with TestClient(app, follow_redirects=False, client=("10.1.2.3", 5000)) as proxy:
        assert proxy.get("/", headers={"X-Forwarded-User": "ann"}).status_code == 200
        assert proxy.get("/").status_code == 303  # no user named
    with TestClient(app, follow_redirects=False, client=("192.0.2.7", 5000)) as stranger:
        assert stranger.get("/", headers={"X-Forwarded-User": "ann"}).status_code == 303


def test_a_month_shows_the_reports_numbers_and_opens_down_to_customers(web: tuple[TestClient, Clock],
                                                                       synced: tuple[Any, Store]) -> None:
    client, _ = web
    settings, store = synced
    login(client)
    # The latest month with expansions (the one whose "+ Expansion" has customers to open).
    month, expected = next((m, d) for m in reversed(month_range(MONTH, 12))
                           if (d := report_dict(report_month(settings, store, m, now=NOW)))["customers"]["expanded"])
    page = client.get(f"/month/{month}")
    assert page.status_code == 200
    amounts = {row[0]: dollars(row[1]) for row in cells(page.text, "rollforward")}
    m = expected["mrr"]
    assert (amounts["Start"], amounts["+ New"], amounts["+ Expansion"], amounts["− Churn"], amounts["End"]) == (
        m["start"], m["new"], m["expansion"], m["churn"], m["end"])
    assert f"{expected['retention']['nrr']:.1f}%" in page.text
    # "+ Expansion" opens its customers, each opens its history.
    assert f'href="/month/{month}/expansion"' in page.text
    drill = client.get(f"/month/{month}/expansion")
    rows = cells(drill.text, "customers")
    assert len(rows) == expected["customers"]["expanded"] > 0
    assert round(sum(dollars(r[3]) for r in rows), 2) == m["expansion"]
    customer = re.search(r'href="/customer/([^"]+)"', drill.text)
    assert customer
    history = client.get(f"/customer/{customer.group(1)}")
    assert history.status_code == 200 and cells(history.text, "spans")
    assert "dashboard.stripe.com/test/customers/" in history.text
    csv_rows = client.get(f"/month/{month}/expansion?format=csv").text.splitlines()
    assert csv_rows[0] == "customer,name,movement,from,to,delta,churn_kind,reason" and len(csv_rows) == len(rows) + 1


def test_the_overview_and_its_chart(web: tuple[TestClient, Clock]) -> None:
    client, _ = web
    login(client)
    page = client.get("/")
    assert page.status_code == 200 and 'src="/chart.png"' in page.text
    assert len(cells(page.text, "months")) >= 12
    chart = client.get("/chart.png")
    assert chart.status_code == 200 and chart.content.startswith(b"\x89PNG")


def test_what_is_not_there_is_a_page_saying_so(web: tuple[TestClient, Clock]) -> None:
    client, _ = web
    login(client)
    assert client.get("/month/2026-13").status_code == 404
    assert "has not begun" in client.get("/month/2027-05").text
    assert client.get(f"/month/{MONTH}/upgrades").status_code == 404
    assert client.get("/customer/cus_nobody").status_code == 404


def test_serve_refuses_to_start_off_or_without_alogin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    off = CliRunner().invoke(app, ["serve"])
    assert off.exit_code == 78 and "the dashboard is off: set WEB_PORT" in off.output
    monkeypatch.setenv("WEB_PORT", "8099")
    open_to_all = CliRunner().invoke(app, ["serve"])
    assert open_to_all.exit_code == 78 and "the dashboard needs a login: set WEB_PASSWORD_HASH" in open_to_all.output
    monkeypatch.setenv("WEB_PASSWORD_HASH", "not-a-hash")
    bad = CliRunner().invoke(app, ["serve"])
    assert bad.exit_code == 78 and "WEB_PASSWORD_HASH: is not an argon2 hash" in bad.output
    assert "not-a-hash" not in bad.output


def test_hash_password_prints_a_hash_that_opens_the_dashboard(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    short = CliRunner().invoke(app, ["web", "hash-password"], input="short\nshort\n")
    assert short.exit_code == 78 and "at least 12 characters" in short.output
    made = CliRunner().invoke(app, ["web", "hash-password"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made.exit_code == 0
    printed = made.stdout.strip().splitlines()[-1]
    assert printed.startswith("$argon2id$") and password_matches(PASSWORD, printed)
    assert not password_matches("another password", printed)


def test_behind_a_trusted_proxy_failed_logins_count_per_person_not_per_proxy(synced: tuple[Any, Store]) -> None:
    settings, store = synced
    behind = settings.model_copy(update={"web_trusted_proxies": ("10.0.0.0/8",)})
    app = build_app(behind, store, clock=Clock(NOW), session_secret=SECRET)
    with TestClient(app, follow_redirects=False, client=("10.1.2.3", 5000)) as proxy:
        for _ in range(MAX_FAILURES):
            proxy.post("/login", data={"password": "guess"}, headers={"X-Forwarded-For": "198.51.100.9"})
        guesser = proxy.post("/login", data={"password": PASSWORD}, headers={"X-Forwarded-For": "198.51.100.9"})
        assert guesser.status_code == 429
        # Someone else behind the same proxy logs in.
        other = proxy.post("/login", data={"password": PASSWORD}, headers={"X-Forwarded-For": "203.0.113.4"})
        assert other.status_code == 303
    # From an address that is not a proxy, the header is the client's to invent: ignored.
    with TestClient(app, follow_redirects=False, client=("192.0.2.7", 5000)) as stranger:
        for n in range(MAX_FAILURES):
            stranger.post("/login", data={"password": "guess"}, headers={"X-Forwarded-For": f"203.0.113.{n}"})
        assert stranger.post("/login", data={"password": PASSWORD}).status_code == 429


def test_a_session_holds_across_replicas_and_restarts_until_the_password_changes(
        synced: tuple[Any, Store]) -> None:
    settings, store = synced
    with TestClient(build_app(settings, store, clock=Clock(NOW)), follow_redirects=False) as first:
        assert login(first).status_code == 303
        cookie = first.cookies["nrr_session"]
    # Another replica, or the same one restarted: the same password, the same key.
    with TestClient(build_app(settings, store, clock=Clock(NOW)), follow_redirects=False) as other:
        other.cookies.set("nrr_session", cookie)
        assert other.get("/sync").status_code == 200
    changed = settings.model_copy(update={"web_password_hash": SecretStr(hash_password("another long password"))})
    with TestClient(build_app(changed, store, clock=Clock(NOW)), follow_redirects=False) as after:
        after.cookies.set("nrr_session", cookie)
        assert after.get("/sync").status_code == 303
