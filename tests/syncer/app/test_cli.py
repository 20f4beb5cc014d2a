"""The ``nrr`` command as a user meets it: exit codes and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from syncer.app.cli import app
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from tests.e2e.harness import KEY, NOW

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env; the default database lands here
    monkeypatch.setenv("LOG_FORMAT", "json")
    return tmp_path


@pytest.fixture
def fake() -> Iterator[tuple[FakeStripe, Account]]:
    account = generate_account(customers=15, seed=3, now=NOW)
    with FakeStripe(account, api_key=KEY) as server:
        server.start()
        yield server, account


def one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("nrr: error:")]
    assert len(lines) == 1, output
    return lines[0]


def test_publishable_key_is_refused_with_a_one_line_reason(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "pk_live_51Abcdefghijklmnopqrstuvwxyz")
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 78
    line = one_line_error(result.output)
    assert "publishable key" in line and "pk_live_51Abcdefghijklmnop" not in result.output


def test_missing_key_says_where_to_put_it(env: Path) -> None:
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 78
    assert "STRIPE_API_KEY is not set" in one_line_error(result.output)


def test_bad_database_url(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://root@localhost/x")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 78
    assert "DATABASE_URL" in one_line_error(result.output)


def test_database_down_is_a_retry_later_error(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nrr:s3cretpw@127.0.0.1:9/nrr")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 75
    line = one_line_error(result.output)
    assert "cannot use the database" in line and "s3cretpw" not in result.output


def test_unknown_resource_lists_the_known_ones(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    result = runner.invoke(app, ["sync", "--resource", "nonsense"])
    assert result.exit_code == 78
    assert "invoices" in one_line_error(result.output)


def test_db_upgrade_and_empty_status(env: Path) -> None:
    first = runner.invoke(app, ["db", "upgrade"])
    assert first.exit_code == 0 and "upgraded to revision" in first.output
    again = runner.invoke(app, ["db", "upgrade"])
    assert "already at revision" in again.output
    status = runner.invoke(app, ["status", "--format", "json"])
    assert status.exit_code == 0
    data = json.loads(status.stdout)
    assert data["resources"]["invoices"]["count"] == 0 and data["runs"] == []
    assert (env / "stripe-nrr.db").stat().st_mode & 0o777 == 0o600


def test_sync_then_status_counts_match(env: Path, fake: tuple[FakeStripe, Account], monkeypatch: pytest.MonkeyPatch) -> None:
    server, account = fake
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    monkeypatch.setenv("STRIPE_API_BASE", server.base_url)
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 0, result.output
    data = json.loads(runner.invoke(app, ["status", "--format", "json"]).stdout)
    for name in ("customers", "subscriptions", "invoices", "charges", "invoice_payments"):
        assert data["resources"][name]["count"] == len(account.objects(name)), name
        assert data["resources"][name]["listed"] is True, (name, data["resources"][name])
    assert data["runs"][0]["status"] == "success"
    assert data["last_success"] is not None
    (facts,) = data["facts"]  # the sync brought the facts up to date: all of them, the first time
    assert facts["kind"] == "full" and facts["customers_updated"] == facts["customers"] == len(account.objects("customers"))
    assert facts["data_as_of"] == data["last_success"] and facts["last_full"] is not None
    text = runner.invoke(app, ["status"])
    assert text.exit_code == 0 and "invoices" in text.stdout
    assert f"0 of {facts['customers']:,} customers re-derived" not in text.stdout
    assert f"{facts['customers']:,} of {facts['customers']:,} customers re-derived" in text.stdout


def test_normalize_brings_facts_up_to_date_and_full_rebuilds_them(
    env: Path, fake: tuple[FakeStripe, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, account = fake
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    monkeypatch.setenv("STRIPE_API_BASE", server.base_url)
    assert runner.invoke(app, ["sync"]).exit_code == 0
    assert runner.invoke(app, ["normalize"]).exit_code == 0
    (facts,) = json.loads(runner.invoke(app, ["status", "--format", "json"]).stdout)["facts"]
    assert facts["kind"] == "incremental" and facts["customers_updated"] == 0  # nothing changed since the sync
    assert runner.invoke(app, ["normalize", "--full"]).exit_code == 0
    (facts,) = json.loads(runner.invoke(app, ["status", "--format", "json"]).stdout)["facts"]
    assert facts["kind"] == "full" and facts["customers_updated"] == len(account.objects("customers"))


def test_sync_with_a_revoked_key_exits_non_zero_and_records_the_failure(
    env: Path, fake: tuple[FakeStripe, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = fake
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_51RevokedKey00000000000000000")
    monkeypatch.setenv("STRIPE_API_BASE", server.base_url)
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "401" in one_line_error(result.output)
    assert "RevokedKey" not in result.output
    data = json.loads(runner.invoke(app, ["status", "--format", "json"]).stdout)
    assert data["runs"][0]["status"] == "failed"


def test_demo_syncs_normalizes_and_reports_without_credentials(env: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(env / "out"), "--customers", "12"])
    assert result.exit_code == 0, result.output
    assert "MRR report for" in result.stdout and "NRR" in result.stdout
    db = env / "out" / "demo.db"
    assert db.stat().st_mode & 0o777 == 0o600
    for name in ("report.html", "chart.png", "slack.json", "movements.csv", "cohorts.png", "cohorts.csv",
                 "segments.csv"):
        assert (env / "out" / name).stat().st_mode & 0o777 == 0o600
    assert (env / "out").stat().st_mode & 0o777 == 0o700


def test_report_after_sync_prints_the_interface_json(synced: Path) -> None:
    result = runner.invoke(app, ["report", "--month", "2026-10", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"month", "currency", "timezone", "status", "data_as_of", "mrr", "arr", "customers",
                        "retention", "revenue", "collections", "top_movers", "settings", "segments"}
    assert doc["month"] == "2026-10" and doc["status"] == "final"
    m = doc["mrr"]
    assert round(m["start"] + m["new"] + m["reactivation"] + m["expansion"] - m["contraction"] - m["churn"]
                 + m["fx_impact"], 2) == m["end"]
    csv_out = runner.invoke(app, ["report", "--month", "2026-10", "--format", "csv"])
    assert csv_out.stdout.splitlines()[0] == "customer,name,movement,from,to,delta,churn_kind,reason"
    text = runner.invoke(app, ["report", "--month", "2026-10"])
    assert "NRR" in text.stdout and "MRR roll-forward" in text.stdout
    # Movers carry the plan names of the synced products.
    movers = [t for m in ("2026-06", "2026-07", "2026-08", "2026-09", "2026-10")
              for t in json.loads(runner.invoke(app, ["report", "--month", m, "--format", "json"]).stdout)["top_movers"]]
    assert movers and all(t["plan"] for t in movers), movers
    html = runner.invoke(app, ["report", "--month", "2026-10", "--format", "html"])
    assert html.exit_code == 0 and html.stdout.startswith("<!DOCTYPE html>") and "cid:" not in html.stdout
    assert "<style" not in html.stdout  # inlined
    slack = json.loads(runner.invoke(app, ["report", "--month", "2026-10", "--format", "slack"]).stdout)
    assert slack["message"]["blocks"][0]["type"] == "header" and slack["thread"]["blocks"]


@pytest.fixture
def synced(env: Path, fake: tuple[FakeStripe, Account], monkeypatch: pytest.MonkeyPatch) -> Path:
    """``env`` with the fake account's key set and synced once."""
    server, _ = fake
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    monkeypatch.setenv("STRIPE_API_BASE", server.base_url)
    assert runner.invoke(app, ["sync"]).exit_code == 0
    return env


def test_report_cohorts_add_up_to_the_months_mrr_in_every_format(synced: Path) -> None:
    result = runner.invoke(app, ["report", "--month", "2025-10", "--cohorts", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["month"] == "2025-10" and doc["months"][-1] == "2025-10" and 1 < len(doc["months"]) <= 12
    assert [c["cohort"] for c in doc["cohorts"]] == doc["months"]
    assert sum(c["customers"] for c in doc["cohorts"]) > 0 and doc["earlier"]["customers"] >= 0
    for k, month in enumerate(doc["months"]):
        column = doc["earlier"]["mrr"][k] + sum(c["mrr"][k - i] for i, c in enumerate(doc["cohorts"][: k + 1]))
        assert round(column, 2) == doc["total"]["mrr"][k], month
    for c in doc["cohorts"]:
        assert c["net_mrr_retention"][0] in (100.0, None) and len(c["mrr"]) == len(c["months"])
    month = json.loads(runner.invoke(app, ["report", "--month", "2025-10", "--format", "json"]).stdout)
    assert doc["total"]["mrr"][-1] == month["mrr"]["end"]
    assert doc["total"]["paying_customers"][-1] == month["customers"]["end"]
    rows = runner.invoke(app, ["report", "--month", "2025-10", "--cohorts", "--format", "csv"]).stdout.splitlines()
    assert rows[0] == "cohort,customers,month,months_since,mrr,paying_customers,net_mrr_retention,logo_retention"
    assert len(rows) == 1 + sum(len(c["months"]) for c in doc["cohorts"]) + len(doc["months"])
    text = runner.invoke(app, ["report", "--month", "2025-10", "--cohorts"]).stdout
    assert "Signup cohorts to October 2025" in text and "reactivation is a gain" in text
    wrong = runner.invoke(app, ["report", "--cohorts", "--format", "html"])
    assert wrong.exit_code == 78 and "use text, json, csv" in one_line_error(wrong.output)
    sending = runner.invoke(app, ["report", "--cohorts", "--send", "email"])
    assert sending.exit_code == 78 and "leave out --send" in one_line_error(sending.output)


def test_report_segments_add_up_to_the_month_in_every_format(synced: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGMENT_BY", "plan,interval,currency,country,arr_band,metadata.tier")
    month = json.loads(runner.invoke(app, ["report", "--month", "2026-10", "--format", "json"]).stdout)
    result = runner.invoke(app, ["report", "--month", "2026-10", "--segments", "--format", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["segments"] == month["segments"]
    assert [d["dimension"] for d in doc["segments"]] == ["plan", "interval", "currency", "country", "arr_band",
                                                        "metadata.tier"]
    for d in doc["segments"]:
        for bucket in ("start", "new", "expansion", "contraction", "churn", "end"):
            assert round(sum(s["mrr"][bucket] for s in d["segments"]), 2) == month["mrr"][bucket], (d, bucket)
        assert sum(s["customers"]["start"] for s in d["segments"]) == month["customers"]["start"]
    by = {d["dimension"]: {s["segment"] for s in d["segments"]} for d in doc["segments"]}
    # The sandbox bills in several currencies and intervals, from the US and Germany.
    assert {"US", "DE"} <= by["country"] and len(by["currency"]) > 1 and {"month", "year"} <= by["interval"]
    assert len(by["plan"]) > 1 and by["metadata.tier"] == {"enterprise", "self-serve", "(none)"}
    rows = runner.invoke(app, ["report", "--month", "2026-10", "--segments", "--format", "csv"]).stdout.splitlines()
    assert rows[0].startswith("dimension,segment,mrr_start,new,")
    assert len(rows) == 1 + sum(len(d["segments"]) for d in doc["segments"])
    text = runner.invoke(app, ["report", "--month", "2026-10", "--segments"]).stdout
    assert "Segments of October 2026" in text and "By plan" in text and "By metadata.tier" in text
    wrong = runner.invoke(app, ["report", "--segments", "--format", "html"])
    assert wrong.exit_code == 78 and "use text, json, csv" in one_line_error(wrong.output)
    both = runner.invoke(app, ["report", "--segments", "--cohorts"])
    assert both.exit_code == 78 and "give one of them" in one_line_error(both.output)
    monkeypatch.setenv("SEGMENT_BY", "plan,tier")
    bad = runner.invoke(app, ["report", "--segments"])
    assert bad.exit_code == 78 and "SEGMENT_BY: 'tier' is not a dimension" in one_line_error(bad.output)


def test_report_quarter_chains_its_months(synced: Path) -> None:
    result = runner.invoke(app, ["report", "--quarter", "2026-Q3", "--format", "json"])
    assert result.exit_code == 0, result.output
    q = json.loads(result.stdout)
    assert (q["quarter"], q["months"], q["status"]) == ("2026-Q3", ["2026-07", "2026-08", "2026-09"], "final")
    months = [json.loads(runner.invoke(app, ["report", "--month", m, "--format", "json"]).stdout) for m in q["months"]]
    assert q["mrr"]["start"] == months[0]["mrr"]["start"] and q["mrr"]["end"] == months[-1]["mrr"]["end"]
    for flow in ("new", "reactivation", "expansion", "contraction", "churn", "fx_impact"):
        assert q["mrr"][flow] == round(sum(m["mrr"][flow] for m in months), 2), flow
    assert q["retention"]["nrr_yoy"] == months[-1]["retention"]["nrr_12m"]
    assert q["customers"] == {"start": months[0]["customers"]["start"], "end": months[-1]["customers"]["end"]}
    text = runner.invoke(app, ["report", "--quarter", "2026-q3"]).stdout
    assert "2026-Q3 (July 2026 to September 2026), FINAL" in text and "Year over year" in text
    bad = runner.invoke(app, ["report", "--quarter", "2026-Q7"])
    assert bad.exit_code == 2 and "--quarter must look like 2026-Q3" in one_line_error(bad.output)
    both = runner.invoke(app, ["report", "--quarter", "2026-Q3", "--month", "2026-09"])
    assert both.exit_code == 78 and "--month" in one_line_error(both.output)
    assert runner.invoke(app, ["report", "--quarter", "2026-Q3", "--format", "html"]).exit_code == 78
    header, row = runner.invoke(app, ["report", "--quarter", "2026-Q3", "--format", "csv"]).stdout.splitlines()
    record = dict(zip(header.split(","), row.split(","), strict=True))
    assert float(record["mrr_end"]) == q["mrr"]["end"] and float(record["nrr"]) == q["retention"]["nrr"]
    # The month closing the quarter carries it in its email (and its Slack message).
    out = synced / "pv-q3"
    assert runner.invoke(app, ["preview", "--month", "2026-09", "--out", str(out)]).exit_code == 0
    page = (out / "report.html").read_text()
    assert "Quarter 2026-Q3 (July to September 2026)" in page and f"{q['retention']['nrr']:.1f}%" in page
    slack = (out / "slack.json").read_text()
    assert "*Quarter 2026-Q3 (July to September 2026)*: NRR" in slack


def test_report_errors_are_one_line(env: Path) -> None:
    bad = runner.invoke(app, ["report", "--month", "2026-13"])
    assert bad.exit_code == 2 and "--month must look like" in one_line_error(bad.output)
    empty = runner.invoke(app, ["report"])
    assert empty.exit_code == 2 and "run `nrr sync` first" in one_line_error(empty.output)
    fmt = runner.invoke(app, ["report", "--format", "pdf"])
    assert fmt.exit_code == 78 and "--format" in one_line_error(fmt.output)


def test_preview_writes_every_file_owner_only(synced: Path) -> None:
    env = synced
    result = runner.invoke(app, ["preview", "--month", "2026-10", "--out", str(env / "pv")])
    assert result.exit_code == 0, result.output
    names = {"report.html", "chart.png", "slack.json", "movements.csv", "cohorts.png", "cohorts.csv", "segments.csv"}
    assert {p.name for p in (env / "pv").iterdir()} == names
    for name in names:
        assert (env / "pv" / name).stat().st_mode & 0o777 == 0o600
    assert (env / "pv" / "chart.png").read_bytes().startswith(b"\x89PNG")
    assert (env / "pv" / "cohorts.png").read_bytes().startswith(b"\x89PNG")
    page = (env / "pv" / "report.html").read_text()
    assert 'src="chart.png"' in page and 'src="cohorts.png"' in page  # opens from disk with its charts
    assert "Signup cohorts" in page and "reactivation is a gain" in page
    assert "Segments (USD)" in page and "Billing interval" in page  # SEGMENT_BY's default dimensions
    assert "Quarter 20" not in page  # October closes no quarter
    segments = (env / "pv" / "segments.csv").read_text().splitlines()
    assert segments[0].startswith("dimension,segment,mrr_start") and {r.split(",")[0] for r in segments[1:]} == {
        "plan", "interval", "currency", "country", "arr_band"}
    rows = (env / "pv" / "cohorts.csv").read_text().splitlines()
    assert rows[0].startswith("cohort,customers,month,months_since,mrr") and len(rows) > 12
    slack = json.loads((env / "pv" / "slack.json").read_text())
    assert slack["message"]["blocks"] and slack["thread"]["text"]


def test_a_month_that_has_not_begun_is_refused_naming_the_latest(
    env: Path, fake: tuple[FakeStripe, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = fake
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    monkeypatch.setenv("STRIPE_API_BASE", server.base_url)
    assert runner.invoke(app, ["sync"]).exit_code == 0
    for command in (["report"], ["report", "--format", "json"], ["preview", "--out", str(env / "pv")]):
        ran = runner.invoke(app, [*command, "--month", "9998-12"])
        line = one_line_error(ran.output)
        assert ran.exit_code == 2, ran.output
        assert "--month 9998-12 has not begun; the latest month is 20" in line and "(in progress)" in line
    assert not (env / "pv").exists() or not any((env / "pv").iterdir())


@pytest.mark.parametrize(("where", "needle"), [
    ("a file", "is a file, not a folder"),
    ("/proc/forbidden", "the folder cannot be made"),
])
def test_preview_into_a_folder_that_cannot_be_written_is_one_line(env: Path, where: str, needle: str) -> None:
    out = env / "a-file" if where == "a file" else Path(where)
    if where == "a file":
        out.write_text("x")
    ran = runner.invoke(app, ["preview", "--out", str(out)])
    assert ran.exit_code == 2, ran.output
    assert needle in one_line_error(ran.output) and str(out) in one_line_error(ran.output)
    assert ran.exception is None or isinstance(ran.exception, SystemExit)


def test_demo_into_a_file_is_one_line_before_anything_is_generated(env: Path) -> None:
    (env / "a-file").write_text("x")
    ran = runner.invoke(app, ["demo", "--out", str(env / "a-file"), "--customers", "1"])
    assert ran.exit_code == 2, ran.output
    assert "is a file, not a folder" in one_line_error(ran.output)
    assert "Generating" not in ran.output
