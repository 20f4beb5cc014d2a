"""Bad input end to end (issue 7): the real ``nrr`` process, its exit code and its stderr.

Each bad setting, key or argument must end as ONE line ``nrr: error: …`` naming what to
fix, a documented exit code (78 a setting, 2 give up, 75 retry later), no traceback, no
secret, and nothing written half-way. The parsers themselves are unit-tested in
tests/syncer/app/test_settings.py and fuzzed in tests/syncer/app/test_fuzz.py; this is the table
through the real command, run as a subprocess so stdout and stderr are the real streams.

Stripe objects the product does not know (unknown enum values, new fields, ids of
customers or prices that do not exist, customers deleted after they churned) are stored
and synced, never fatal, and the reports still reconcile.

"Wrong-mode key": Stripe has no key that is valid but of the wrong mode for an account:
the key *is* the mode (``sk_live_`` reads live data, ``sk_test_`` test data) and rows are
keyed by (account, livemode, id). What can go wrong is (a) a key of the other mode that
this account does not know (answered 401, like a revoked key), (b) a database that
already holds the other mode's rows (they must never mix), and (c) a ``STRIPE_ACCOUNTS``
connected account the key cannot reach (e.g. connected in live mode only).
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncer.db.objects import OBJECT_TABLES
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import JSON, Account, generate_account
from tests.e2e.harness import KEY, NOW, use_stripe

LIVE_KEY = "sk_live_51SandboxE2eLiveKey00000000000000"
REVOKED_KEY = "sk_test_51RevokedKeyNobodyKnows000000000"
DB_PASSWORD = "s3cretDbPassw0rd"
LAST_MONTH = "2026-10"  # NOW is in November 2026

# Settings a test may set; cleared first so the developer's environment cannot leak in.
_OURS = ("STRIPE_", "DATABASE_URL", "REPORT_", "FX_RATES", "SMTP_", "SLACK_", "LOG_", "HEALTH")


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory (no .env) and an environment with none of our settings."""
    for name in list(os.environ):
        if name.startswith(_OURS):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("LOG_LEVEL", "warning")  # info lines would share stderr with the error
    monkeypatch.setenv("STRIPE_RETRY_BUDGET_SECONDS", "2")
    return tmp_path


def nrr(cwd: Path, *args: str) -> Ran:
    """``nrr ARGS`` as a user runs it: a new process with the (monkeypatched) environment."""
    proc = subprocess.run(
        [sys.executable, "-m", "syncer.app.cli", *args],
        check=False, cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=120,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(ran: Ran, code: int, *needles: str, secrets: tuple[str, ...] = ()) -> str:
    """Exit ``code``; stderr exactly one ``nrr: error:`` line naming ``needles``."""
    assert ran.code == code, ran.output
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran.stderr
    line = lines[0]
    assert line.startswith("nrr: error: "), line
    assert "Traceback" not in ran.output
    for needle in needles:
        assert needle in line, (needle, line)
    for secret in secrets:
        assert secret not in ran.output
    return line


def db_counts(path: Path) -> dict[str, int]:
    """Rows per object table, plus the sync runs by status and the normalizations."""
    with sqlite3.connect(path) as conn:
        out = {name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for name in OBJECT_TABLES}
        for status, n in conn.execute("SELECT status, count(*) FROM sync_runs GROUP BY status"):
            out[f"runs:{status}"] = n
        out["normalizations"] = conn.execute("SELECT count(*) FROM normalizations").fetchone()[0]
        out["deliveries"] = conn.execute("SELECT count(*) FROM deliveries").fetchone()[0]
    return out


@pytest.fixture(scope="module")
def account() -> Account:
    return generate_account(customers=10, seed=3, now=NOW)




def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens


# ---- settings: refused before anything is opened --------------------------------------

SETTING_CASES: list[tuple[str, dict[str, str], list[str], tuple[str, ...], tuple[str, ...]]] = [
    # (id, environment, command, phrases the line must hold, secrets it must not)
    ("publishable key", {"STRIPE_API_KEY": "pk_live_51PublishableAbcdefghijklmno"}, ["sync"],
     ("STRIPE_API_KEY", "publishable"), ("PublishableAbcdefghijklmno",)),
    ("malformed key", {"STRIPE_API_KEY": "sk_live_tooShort"}, ["sync"],
     ("STRIPE_API_KEY", "copy the whole key"), ("tooShort",)),
    ("webhook secret as key", {"STRIPE_API_KEY": "whsec_0123456789abcdefghijklmnop"}, ["sync"],
     ("STRIPE_API_KEY", "webhook signing secret"), ("0123456789abcdefghijklmnop",)),
    ("not a key at all", {"STRIPE_API_KEY": "hunter2hunter2hunter2"}, ["sync"],
     ("STRIPE_API_KEY", "sk_live_"), ("hunter2",)),
    ("database driver", {"DATABASE_URL": f"mysql://root:{DB_PASSWORD}@localhost/nrr"}, ["status"],
     ("DATABASE_URL", "unsupported database driver"), (DB_PASSWORD,)),
    ("database url garbage", {"DATABASE_URL": f"::{DB_PASSWORD}::"}, ["status"],
     ("DATABASE_URL", "not a database URL"), (DB_PASSWORD,)),
    ("postgres without host", {"DATABASE_URL": f"postgresql://nrr:{DB_PASSWORD}@/nrr"}, ["status"],
     ("DATABASE_URL", "needs a host"), (DB_PASSWORD,)),
    ("sqlite in a missing folder", {"DATABASE_URL": "sqlite:///no/such/folder/nrr.db"}, ["status"],
     ("DATABASE_URL", "does not exist"), ()),
    ("stripe api base", {"STRIPE_API_BASE": "ftp://api.stripe.com"}, ["sync"],
     ("STRIPE_API_BASE", "http(s)"), ()),
    ("time zone", {"REPORT_TIMEZONE": "Mars/Olympus_Mons"}, ["report"],
     ("REPORT_TIMEZONE", "Mars/Olympus_Mons", "IANA"), ()),
    ("time zone directory", {"REPORT_TIMEZONE": "Europe"}, ["report"], ("REPORT_TIMEZONE",), ()),
    ("currency", {"REPORT_CURRENCY": "dollars"}, ["report"], ("REPORT_CURRENCY", "3-letter"), ()),
    ("fx rates", {"FX_RATES": "eur:1.08"}, ["report"], ("FX_RATES", "eur=1.08,gbp=1.27"), ()),
    ("fx rate zero", {"FX_RATES": "eur=0"}, ["report"], ("FX_RATES", "greater than 0"), ()),
    ("fx rate of the reporting currency", {"REPORT_CURRENCY": "usd", "FX_RATES": "usd=1.1"}, ["report"],
     ("FX_RATES", "reporting currency"), ()),
    ("report schedule", {"REPORT_SCHEDULE": "monday 9am"}, ["run"], ("REPORT_SCHEDULE", "DAY HH:MM"), ()),
    ("report schedule day", {"REPORT_SCHEDULE": "31 09:00"}, ["run"], ("REPORT_SCHEDULE", "1 to 23"), ()),
    ("report schedule time", {"REPORT_SCHEDULE": "3 25:00"}, ["run"], ("REPORT_SCHEDULE", "time of day"), ()),
]


@pytest.mark.parametrize(("env_vars", "command", "needles", "secrets"),
                         [pytest.param(*c[1:], id=c[0]) for c in SETTING_CASES])
def test_a_bad_setting_is_one_line_exit_78_and_creates_nothing(
    env: Path, monkeypatch: pytest.MonkeyPatch, env_vars: dict[str, str], command: list[str],
    needles: tuple[str, ...], secrets: tuple[str, ...],
) -> None:
    for name, value in env_vars.items():
        monkeypatch.setenv(name, value)
    ran = nrr(env, *command)
    assert_one_line_error(ran, 78, *needles, secrets=secrets)
    assert ran.stdout == ""
    assert list(env.iterdir()) == []  # no database file, nothing else


def test_a_missing_key_stores_nothing_and_records_no_run(env: Path) -> None:
    ran = nrr(env, "sync")
    assert_one_line_error(ran, 78, "STRIPE_API_KEY is not set")
    # The database is opened (and migrated) before the key is asked for: it may exist,
    # but it holds no object and no run.
    db = env / "stripe-nrr.db"
    if db.exists():
        counts = db_counts(db)
        assert not any(counts.values()), counts


def test_bad_month_is_refused_before_anything_is_sent(
    env: Path, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_stripe(monkeypatch, fake)
    assert nrr(env, "sync").code == 0
    with socket.socket() as smtp:  # an SMTP server that only counts who knocks
        smtp.bind(("127.0.0.1", 0))
        smtp.listen(8)
        smtp.settimeout(0.2)
        monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("SMTP_PORT", str(smtp.getsockname()[1]))
        monkeypatch.setenv("SMTP_SECURITY", "none")
        monkeypatch.setenv("REPORT_EMAIL_FROM", "nrr@example.com")
        monkeypatch.setenv("REPORT_EMAIL_TO", "cfo@example.com")
        for month in ("2026-13", "26-10", "2026/10", "October", "2026-10-01", ""):
            ran = nrr(env, "report", "--send", "email", "--month", month)
            assert_one_line_error(ran, 2, "--month must look like")
            assert ran.stdout == ""
        with pytest.raises(TimeoutError):
            smtp.accept()
    assert db_counts(env / "stripe-nrr.db")["deliveries"] == 0


# ---- Stripe refuses the key, a permission or the connection ---------------------------


@pytest.mark.parametrize("key", [REVOKED_KEY, LIVE_KEY, "rk_test_51RevokedRestricted00000000000"],
                         ids=["revoked", "other mode", "revoked restricted"])
def test_a_key_stripe_does_not_know_is_exit_2_and_stores_nothing(
    env: Path, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    # The fake serves a test-mode account and knows one key: a live key of the same
    # account, like a revoked or another account's key, is answered 401.
    use_stripe(monkeypatch, fake, key)
    ran = nrr(env, "sync")
    assert_one_line_error(ran, 2, "401", "STRIPE_API_KEY", secrets=(key, key[8:]))
    counts = db_counts(env / "stripe-nrr.db")
    assert {k: v for k, v in counts.items() if v} == {"runs:failed": 1}
    assert fake.log.count(status=401) >= 1 and fake.log.count(status=200) == 0


def test_a_restricted_key_lacking_one_permission_names_it_and_normalizes_nothing(
    env: Path, fake: FakeStripe, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.restricted_denied = {"invoices"}
    use_stripe(monkeypatch, fake)
    ran = nrr(env, "sync")
    assert_one_line_error(ran, 2, "invoices", "'Invoices: Read'", secrets=(KEY,))
    counts = db_counts(env / "stripe-nrr.db")
    # What was readable is stored whole (the next run only fetches what is missing); no
    # invoice is, the run is failed, and no facts were built from the partial data.
    assert counts["invoices"] == 0 and counts["invoice_lines"] == 0
    assert counts["customers"] == len(account.customers)
    assert counts["runs:failed"] == 1 and "runs:success" not in counts
    assert counts["normalizations"] == 0


def test_no_report_from_a_database_that_never_synced_successfully(
    env: Path, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.restricted_denied = {"invoices"}
    use_stripe(monkeypatch, fake)
    assert nrr(env, "sync").code == 2
    report = nrr(env, "report", "--month", LAST_MONTH)
    assert_one_line_error(report, 2, "nrr sync")


def test_stripe_unreachable_is_retry_later_and_stores_nothing(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    monkeypatch.setenv("STRIPE_API_BASE", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("STRIPE_RETRY_BUDGET_SECONDS", "1")
    monkeypatch.setenv("LOG_LEVEL", "error")  # each retry is a warning line
    ran = nrr(env, "sync")
    assert_one_line_error(ran, 75, "could not be reached", "try again later", secrets=(KEY,))
    counts = db_counts(env / "stripe-nrr.db")
    assert {k: v for k, v in counts.items() if v} == {"runs:failed": 1}


def test_the_database_down_is_retry_later_without_the_password(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql+psycopg://nrr:{DB_PASSWORD}@127.0.0.1:{_closed_port()}/nrr")
    ran = nrr(env, "report")
    assert_one_line_error(ran, 75, "database", secrets=(DB_PASSWORD,))
    assert list(env.iterdir()) == []


def test_a_connected_account_the_key_cannot_reach_is_one_line_naming_stripe_accounts(
    env: Path, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_stripe(monkeypatch, fake)
    monkeypatch.setenv("STRIPE_ACCOUNTS", "acct_1LiveOnlyConnected")
    ran = nrr(env, "sync")
    line = assert_one_line_error(ran, 2, "STRIPE_ACCOUNTS", "acct_1LiveOnlyConnected", secrets=(KEY,))
    assert "permission" not in line


def test_test_and_live_rows_never_mix(env: Path, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same database synced with a test key, then a live key: two separate data sets."""
    live = generate_account(customers=6, seed=11, now=NOW, livemode=True)
    with FakeStripe(account, api_key=KEY) as test_fake:
        test_fake.start()
        use_stripe(monkeypatch, test_fake)
        assert nrr(env, "sync").code == 0
    with FakeStripe(live, api_key=LIVE_KEY) as live_fake:
        live_fake.start()
        use_stripe(monkeypatch, live_fake, LIVE_KEY)
        ran = nrr(env, "sync")
        assert ran.code == 0, ran.output
    with sqlite3.connect(env / "stripe-nrr.db") as conn:
        by_mode = dict(conn.execute("SELECT livemode, count(*) FROM customers GROUP BY livemode").fetchall())
        live_ids = {r[0] for r in conn.execute("SELECT id FROM customers WHERE livemode")}
        cursors = conn.execute("SELECT count(*) FROM event_cursors").fetchone()[0]
    assert by_mode == {0: len(account.customers), 1: len(live.customers)}
    assert live_ids == {c["id"] for c in live.customers}
    assert cursors == 2
    status = json.loads(nrr(env, "status", "--format", "json").stdout)
    assert {c["livemode"] for c in status["event_cursors"]} == {True, False}


# ---- Stripe objects the product does not know ----------------------------------------

NEW_FIELDS: JSON = {
    "brand_new_field": {"nested": {"deep": [1, "two", None, {"x": 1.5, "y": [True, False]}]}},
    "brand_new_list": [[], {}, "é", 2**40],
}


def _with(obj: JSON, path: tuple[str, ...], value: Any) -> JSON:
    """A copy of ``obj`` with ``obj[path…] = value``: generated objects share nested
    dicts, so an edit copies every dict on the path and never touches the original."""
    out = dict(obj)
    out[path[0]] = value if len(path) == 1 else _with(obj[path[0]], path[1:], value)
    return out


def _churned(account: Account) -> JSON:
    """A canceled subscription of a customer with no other subscription, ended last month or before."""
    subs_of: dict[str, int] = {}
    for sub in account.subscriptions:
        subs_of[sub["customer"]] = subs_of.get(sub["customer"], 0) + 1
    return next(s for s in account.subscriptions
                if s["status"] == "canceled" and subs_of[s["customer"]] == 1 and s["ended_at"] < NOW - 40 * 86400)


def _report(env: Path, month: str) -> dict[str, Any]:
    ran = nrr(env, "report", "--month", month, "--format", "json")
    assert ran.code == 0, ran.output
    doc: dict[str, Any] = json.loads(ran.stdout)
    m = doc["mrr"]
    assert round(m["start"] + m["new"] + m["reactivation"] + m["expansion"] - m["contraction"] - m["churn"]
                 + m["fx_impact"], 2) == m["end"], (month, m)
    return doc


def _month_of(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m")


def _raw(env: Path, table: str, object_id: str) -> tuple[JSON, int | None]:
    with sqlite3.connect(env / "stripe-nrr.db") as conn:
        raw, deleted_at = conn.execute(f"SELECT raw, deleted_at FROM {table} WHERE id = ?", (object_id,)).fetchone()
    return json.loads(raw), deleted_at


def test_unknown_enum_values_new_fields_and_dangling_ids_are_stored_and_reported(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = generate_account(customers=14, seed=5, now=NOW)
    subs = [s for s in account.subscriptions if s["status"] == "active"]
    odd_status = {**_with(subs[0], ("status",), "paused_new_kind"), **NEW_FIELDS}
    dangling_customer = _with(subs[1], ("customer",), "cus_DoesNotExist000001")
    item = subs[2]["items"]["data"][0]
    odd_price = {**item["price"], "id": "price_DoesNotExist0001",
                 "recurring": {**item["price"]["recurring"], "interval": "fortnight"}}
    odd_items = [_with(item, ("price",), odd_price), *subs[2]["items"]["data"][1:]]
    dangling_price = _with(subs[2], ("items", "data"), odd_items)
    for sub in (odd_status, dangling_customer, dangling_price):
        account.put("subscriptions", sub)
    odd_invoices = [{**_with(inv, ("billing_reason",), "something_new"), **NEW_FIELDS} for inv in account.invoices[:4]]
    for inv in odd_invoices:
        account.put("invoices", inv)
    recurring = next(p for p in account.prices if p.get("recurring"))
    account.put("prices", _with(recurring, ("recurring", "interval"), "fortnight"))
    account.put("invoice_items", _with(account.invoice_items[0], ("customer",), "cus_DoesNotExist000002"))
    account.put("charges", {**account.charges[0], "status": "teleported", **NEW_FIELDS})

    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        use_stripe(monkeypatch, fake)
        ran = nrr(env, "sync")
        assert ran.code == 0, ran.output
        assert "Traceback" not in ran.output

    # The raw JSON keeps what we do not understand, verbatim.
    assert _raw(env, "subscriptions", odd_status["id"])[0] == json.loads(json.dumps(
        fake.render_listed("subscriptions", odd_status)))
    stored_invoice, _ = _raw(env, "invoices", odd_invoices[0]["id"])
    assert stored_invoice["billing_reason"] == "something_new"
    assert stored_invoice["brand_new_field"] == NEW_FIELDS["brand_new_field"]
    assert stored_invoice["brand_new_list"] == NEW_FIELDS["brand_new_list"]
    assert _raw(env, "charges", account.charges[0]["id"])[0]["status"] == "teleported"
    assert _raw(env, "subscriptions", dangling_customer["id"])[0]["customer"] == "cus_DoesNotExist000001"

    with sqlite3.connect(env / "stripe-nrr.db") as conn:
        mrr_now = dict(conn.execute(
            "SELECT subscription, sum(mrr) FROM mrr_spans WHERE end IS NULL GROUP BY subscription").fetchall())
        reasons = {r[0] for r in conn.execute("SELECT billing_reason FROM invoices")}
        status = conn.execute("SELECT status FROM subscriptions WHERE id = ?", (odd_status["id"],)).fetchone()[0]
    assert status == "paused_new_kind" and "something_new" in reasons
    # Conservative: a status we do not know earns no MRR now; a price with an interval
    # we cannot convert to months adds none either.
    assert not mrr_now.get(odd_status["id"])
    assert mrr_now.get(dangling_price["id"], 0) <= sum(mrr_now.values())
    for month in ("2025-06", "2026-03", LAST_MONTH):
        _report(env, month)


@pytest.mark.parametrize("when", ["between syncs", "before the first sync"])
def test_a_customer_deleted_after_it_churned_keeps_its_churn(
    env: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    account = generate_account(customers=14, seed=5, now=NOW)
    sub = _churned(account)
    customer, month = sub["customer"], _month_of(sub["ended_at"])
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        use_stripe(monkeypatch, fake)
        if when == "between syncs":
            assert nrr(env, "sync").code == 0
            before = _report(env, month)
            assert any(m["customer"] == customer for m in _churn_rows(env, month)), month
        # Deleted now: after the first sync's events cursor, which the real clock set.
        monkeypatch.setenv("EVENTS_LAG_SECONDS", "0")
        fake.delete_customer(customer, int(time.time()))
        ran = nrr(env, "sync")
        assert ran.code == 0, ran.output
    after = _report(env, month)
    assert customer in {m["customer"] for m in _churn_rows(env, month)}
    if when == "between syncs":
        assert after["mrr"] == before["mrr"] and after["customers"] == before["customers"]
        raw, deleted_at = _raw(env, "customers", customer)
        assert deleted_at is not None and raw["id"] == customer  # the row is kept, marked deleted
    with sqlite3.connect(env / "stripe-nrr.db") as conn:
        kept = conn.execute("SELECT count(*) FROM subscriptions WHERE id = ? AND deleted_at IS NULL",
                            (sub["id"],)).fetchone()[0]
    assert kept == 1


def _churn_rows(env: Path, month: str) -> list[dict[str, str]]:
    import csv

    ran = nrr(env, "report", "--month", month, "--format", "csv")
    assert ran.code == 0, ran.output
    return [r for r in csv.DictReader(ran.stdout.splitlines()) if r["movement"] == "churn"]
