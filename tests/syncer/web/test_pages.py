"""The dashboard's analysis and operations pages: a month's segments and signup cohorts
(the numbers of ``nrr report --segments``/``--cohorts``), the deliveries with each
snapshot as it was sent, the sync's runs, cursors and counts, another account's report,
and reports computed once per state of the data."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.testclient import TestClient

from reports.render.cohorts import cohorts_dict
from reports.render.jsonout import report_dict
from reports.render.segments import render_segments_csv
from syncer.app import reporting
from syncer.app.reporting import report_months
from syncer.db.store import Store, table
from syncer.deliver.email import EMAIL
from syncer.deliver.ledger import claim, mark_failed, send_report
from syncer.deliver.slack import SLACK
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from syncer.web.app import SNAPSHOT_POLICY, build_app
from tests.e2e.harness import KEY, NOW, sync
from tests.syncer.deliver.fake_slack import TOKEN, FakeSlack
from tests.syncer.web.dashboard import Clock, cells, dollars, login

MONTH = "2026-10"


@pytest.fixture(scope="module")
def account() -> Account:
    """Larger than the dashboard tests' usual account: customers sign up in the year."""
    return generate_account(customers=30, seed=3, now=NOW)


def _full(settings: Any, store: Store, month: str = MONTH) -> Any:
    return report_months(settings, store, month, now=NOW, count=1, full=True)[-1]


def test_every_new_page_needs_a_login(web: tuple[TestClient, Clock]) -> None:
    client, _ = web
    for path in ("/cohorts", "/sync", "/deliveries", "/deliveries/1", "/deliveries/1/sent.html",
                 "/deliveries/1/chart.png", f"/month/{MONTH}/segments", f"/month/{MONTH}/cohorts",
                 ):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", path


def test_segments_show_each_dimension_as_the_report_computes_it(web: tuple[TestClient, Clock],
                                                                 synced: tuple[Any, Store]) -> None:
    client, _ = web
    settings, store = synced
    login(client)
    expected = report_dict(_full(settings, store))["segments"]
    page = client.get(f"/month/{MONTH}/segments")
    assert page.status_code == 200
    assert [d["dimension"] for d in expected] and all(f"By {t}" in page.text for t in ("Plan", "Billing interval"))
    plan = next(d for d in expected if d["dimension"] == "plan")
    tables = page.text.split("<h2>")
    rows = cells_of(next(t for t in tables if t.startswith("By Plan")))
    assert [r[0] for r in rows] == [s["segment"] for s in plan["segments"]]
    for row, segment in zip(rows, plan["segments"], strict=True):
        assert int(row[1]) == segment["customers"]["start"]
        assert (dollars(row[2]), dollars(row[7])) == (segment["mrr"]["start"], segment["mrr"]["end"])
    # Each dimension adds up to the month: the page's plan rows sum to the month's MRR.
    month = report_dict(_full(settings, store))["mrr"]
    assert round(sum(dollars(r[7]) for r in rows), 2) == month["end"]
    download = client.get(f"/month/{MONTH}/segments?format=csv")
    assert download.headers["content-type"].startswith("text/csv")
    assert download.text == render_segments_csv(_full(settings, store))


def cells_of(section: str) -> list[list[str]]:
    table = section[section.index("<table"):section.index("</table>") + 8].replace('class="grid segments"',
                                                                                   'class="grid" id="t"')
    return cells(table, "t")


def test_cohorts_show_the_triangle_of_the_report(web: tuple[TestClient, Clock], synced: tuple[Any, Store]) -> None:
    client, _ = web
    settings, store = synced
    login(client)
    table = _full(settings, store).cohorts
    assert table is not None
    expected = cohorts_dict(table)
    page = client.get(f"/month/{MONTH}/cohorts")
    assert page.status_code == 200
    rows = cells(page.text, "cohorts")
    assert [r[0] for r in rows] == [c["cohort"] for c in expected["cohorts"]]
    for row, cohort in zip(rows, expected["cohorts"], strict=True):
        assert int(row[1]) == cohort["customers"] and dollars(row[2]) == cohort["new_mrr"]
        retention = cohort["net_mrr_retention"]
        shown = [None if v == "–" else float(v.rstrip("%")) for v in row[3:3 + len(retention)]]
        assert [v is None for v in shown] == [v is None for v in retention]
        assert all(abs(a - b) <= 0.5 for a, b in zip(shown, retention, strict=True) if a is not None and b is not None)
    # Each cohort's first month is the whole of it: shaded as kept.
    signed_up = [c for c in expected["cohorts"] if c["customers"]]
    assert signed_up, "the test account signs no one up in the year"
    assert page.text.count('class="num heat-3">100.0%') >= len(signed_up)
    # /cohorts is the last complete month's.
    assert client.get("/cohorts").status_code == 200
    csv_rows = list(csv.reader(io.StringIO(client.get(f"/month/{MONTH}/cohorts?format=csv").text)))
    assert csv_rows[0][0] == "cohort" and len(csv_rows) > 1


def test_deliveries_list_what_was_sent_and_open_the_snapshot_as_sent(
    web: tuple[TestClient, Clock], synced: tuple[Any, Store], slack: FakeSlack,
) -> None:
    client, _ = web
    settings, store = synced
    reports = report_months(settings, store, MONTH, now=NOW, count=13, full=True)
    # A Slack report really posted (to the loopback Slack) …
    posting = settings.model_copy(update={"slack_bot_token": SecretStr(TOKEN), "slack_channel": "#finance",
                                          "slack_api_base": slack.base})
    outcomes = send_report(SLACK, posting, store, "platform", reports, now=NOW)
    assert [o.status for o in outcomes] == ["sent"]
    # … and an email that failed, frozen as the channel renders it.
    got = claim(store, account="platform", month=MONTH, channel=EMAIL.name, target="cfo@example.com",
                snapshot_json=EMAIL.render(settings, reports), now=NOW)
    assert got is not None
    mark_failed(store, got, "SMTP 550: mailbox unavailable", now=NOW + 5)
    login(client)
    listing = client.get("/deliveries")
    rows = cells(listing.text, "deliveries")
    assert {(r[1], r[3], r[4], r[5]) for r in rows} == {
        ("October 2026", "slack", "#finance", "sent"), ("October 2026", "email", "cfo@example.com", "failed")}
    assert any("SMTP 550" in r[7] for r in rows)
    # The email as sent: its text, its HTML on a page of its own, its images.
    email = client.get(f"/deliveries/{got.id}")
    snapshot = json.loads(EMAIL.render(settings, reports))
    assert email.status_code == 200 and "SMTP 550: mailbox unavailable" in email.text
    assert snapshot["subject"] in email.text
    html = client.get(f"/deliveries/{got.id}/sent.html")
    assert html.status_code == 200 and html.headers["content-security-policy"] == SNAPSHOT_POLICY
    assert "cid:" not in html.text and 'src="chart.png"' in html.text
    chart = client.get(f"/deliveries/{got.id}/chart.png")
    assert chart.content.startswith(b"\x89PNG")
    # The Slack post as sent: its blocks as text, the thread reply after them.
    slack_page = client.get(f"/deliveries/{_id_of(listing.text, 'slack')}")
    assert "revenue retention, October 2026" in slack_page.text and "In the thread:" in slack_page.text
    assert client.get(f"/deliveries/{_id_of(listing.text, 'slack')}/sent.html").status_code == 404
    assert client.get("/deliveries/999").status_code == 404
    assert client.get(f"/deliveries/{got.id}/nothing.png").status_code == 404
    for page in (listing, email, slack_page):
        assert TOKEN not in page.text and KEY not in page.text


def _id_of(listing: str, channel: str) -> int:
    for row in re.findall(r"<tr>(.*?)</tr>", listing, re.S):
        if f"<td>{channel}</td>" in row:
            found = re.search(r'href="/deliveries/(\d+)"', row)
            assert found
            return int(found.group(1))
    raise AssertionError(channel)


def test_the_sync_page_shows_runs_cursors_and_counts(web: tuple[TestClient, Clock], synced: tuple[Any, Store]) -> None:
    client, clock = web
    _, store = synced
    login(client)
    clock.at = NOW + 7200
    page = client.get("/sync")
    assert page.status_code == 200
    runs = cells(page.text, "runs")
    assert runs and runs[0][3] == "success" and int(runs[0][4]) > 0
    cursors = cells(page.text, "cursors")
    assert cursors and cursors[0][3].endswith("h")
    counts = {r[0]: int(r[1]) for r in cells(page.text, "resources")}
    with store.reading() as conn:
        assert counts["customers"] == _live_rows(conn, "customers") > 0
        assert counts["invoices"] == _live_rows(conn, "invoices")


def _live_rows(conn: Any, name: str) -> int:
    """Rows not deleted, counted here rather than by the page's own reader."""
    t = table(name)
    return int(conn.execute(select(func.count()).select_from(t).where(t.c.deleted_at.is_(None))).scalar_one())


def test_another_account_is_asked_with_account_and_a_bad_one_is_a_404(web: tuple[TestClient, Clock]) -> None:
    client, _ = web
    login(client)
    platform = client.get(f"/month/{MONTH}?account=platform")
    assert platform.status_code == 200
    assert f'href="/month/{MONTH}/expansion?account=platform"' in platform.text
    assert client.get(f"/month/{MONTH}?account=acct_nobody").status_code == 404
    assert "not platform, all or an account id" in client.get(f"/month/{MONTH}?account=x").text


def test_reports_are_computed_once_per_state_of_the_data(web: tuple[TestClient, Clock], synced: tuple[Any, Store],
                                                         fake: FakeStripe, monkeypatch: Any) -> None:
    client, clock = web
    settings, store = synced
    login(client)
    computed: list[str | None] = []
    real = reporting.report_months

    def counting(*args: Any, **kw: Any) -> Any:
        computed.append(args[2])
        return real(*args, **kw)

    monkeypatch.setattr(reporting, "report_months", counting)
    for path in ("/", "/chart.png", f"/month/{MONTH}", f"/month/{MONTH}/expansion"):
        assert client.get(path).status_code == 200
    assert computed == [MONTH]  # the overview's 24 months serve its chart and each month's roll-forward
    for path in (f"/month/{MONTH}/segments", f"/month/{MONTH}/cohorts", f"/month/{MONTH}/segments"):
        assert client.get(path).status_code == 200
    assert computed == [MONTH, MONTH]  # the month with everything the email shows, once
    assert client.get("/month/2025-03").status_code == 200  # in the 24 months: no computation
    assert len(computed) == 2
    clock.at += 3600  # the hour turns: a month may have turned final
    client.get(f"/month/{MONTH}")
    assert len(computed) == 3  # the month alone: nothing kept is of this hour
    assert sync(settings, store, clock=clock.at).result.ok  # newer data
    client.get(f"/month/{MONTH}")
    assert len(computed) == 4
    assert computed[2:] == [MONTH, MONTH]


def test_a_served_dashboard_computes_the_overview_and_last_month_before_anyone_asks(
    synced: tuple[Any, Store], monkeypatch: Any,
) -> None:
    settings, store = synced
    computed: list[tuple[str | None, int]] = []
    real = reporting.report_months

    def counting(*args: Any, **kw: Any) -> Any:
        computed.append((args[2], kw["count"]))
        return real(*args, **kw)

    monkeypatch.setattr(reporting, "report_months", counting)
    clock = Clock(NOW)
    app = build_app(settings, store, clock=clock, session_secret="s", warm_every=0.05)
    with TestClient(app, follow_redirects=False) as client:
        deadline = time.monotonic() + 60
        while len(computed) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # several more warm-ups: each finds the reports current
        assert computed == [(MONTH, 24), (MONTH, 1)]
        login(client)
        assert client.get("/").status_code == 200 and client.get(f"/month/{MONTH}").status_code == 200
        assert len(computed) == 2  # both pages served from the warm-up
