"""``nrr doctor`` against real parts: the fake Stripe, SQLite, aiosmtpd with TLS, a loopback Slack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trustme
from alembic import command
from typer.testing import CliRunner

from syncer.app.cli import app
from syncer.app.doctor import check_last_sync, check_schedule
from syncer.app.settings import load_settings
from syncer.db.engine import create_db_engine
from syncer.db.migrate import _config, head_revision
from syncer.db.store import RunStats, Store
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from syncer.stripe.resources import RESOURCES
from tests.e2e.harness import NOW, use_stripe
from tests.syncer.deliver.fake_slack import TOKEN, FakeSlack
from tests.syncer.deliver.fake_smtp import (
    HOST,
    PASSWORD,
    USER,
    authenticator,
    free_port,
    server_context,
)

runner = CliRunner()
RESTRICTED_KEY = "rk_test_51SandboxRestricted000000000000"
REVOKED_KEY = "sk_test_51RevokedKey00000000000000000"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env; the default database lands here
    monkeypatch.setenv("LOG_FORMAT", "json")
    # aiosmtpd logs "connection lost" at info from its thread after CliRunner closed the stream.
    monkeypatch.setenv("LOG_LEVEL", "warning")
    return tmp_path


@pytest.fixture
def account() -> Account:
    return generate_account(customers=8, seed=3, now=NOW)




def synced(monkeypatch: pytest.MonkeyPatch, server: FakeStripe) -> None:
    """A database at head with one successful sync, as after a first `nrr sync`."""
    use_stripe(monkeypatch, server)
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 0, result.output


def doctor(*args: str) -> tuple[int, dict[str, str]]:
    """Exit code and the output lines by check name (``PASS  stripe key  …`` → line)."""
    result = runner.invoke(app, ["doctor", *args])
    lines: dict[str, str] = {}
    for line in result.stdout.splitlines():
        status, _, rest = line.partition(" ")
        assert status in ("PASS", "FAIL", "WARN", "SKIP"), result.output
        name = rest.strip()[:16].strip()
        assert name not in lines, result.output
        lines[name] = line
    return result.exit_code, lines


def fails(lines: dict[str, str]) -> dict[str, str]:
    return {name: line for name, line in lines.items() if line.startswith("FAIL")}


# --------------------------------------------------------------------------- Stripe


def test_good_key_every_check_passes_and_exit_is_zero(
    env: Path, fake: FakeStripe, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced(monkeypatch, fake)
    before = len(fake.log)
    code, lines = doctor()
    assert code == 0, lines
    acct = account.account["id"]
    assert lines["stripe key"].startswith("PASS")
    assert f"secret key, test mode, account {acct}" in lines["stripe key"]
    total = len(RESOURCES) + 1  # and events
    # and test clocks, in test mode, where the server has them
    assert any(f"{n} of {n} lists readable" in lines["stripe access"] for n in (total, total + 1))
    assert lines["database"].startswith("PASS") and f"migrations current ({head_revision()})" in lines["database"]
    assert lines["last sync"].startswith("PASS")
    assert lines["schedule"].startswith("PASS") and "next report" in lines["schedule"]
    assert lines["smtp"].startswith("SKIP") and lines["slack"].startswith("SKIP")
    assert not fails(lines)
    # Read only: the account, then one GET with limit=1 per list, and in test mode the
    # test clocks (a fake without them answers 404: not counted as a list there).
    asked = fake.log.records()[before:]
    assert {r.method for r in asked} == {"GET"}
    assert asked[0].path == "/v1/account"
    assert all("limit=1" in r.query for r in asked[1:]) and len(asked) == total + 2
    assert asked[-1].path == "/v1/test_helpers/test_clocks"


def test_bad_key_is_one_fail_line_naming_the_variable(
    env: Path, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced(monkeypatch, fake)
    use_stripe(monkeypatch, fake, REVOKED_KEY)
    result = runner.invoke(app, ["doctor"])
    code, lines = doctor()
    assert code == 1
    assert list(fails(lines)) == ["stripe key"]
    assert "STRIPE_API_KEY" in lines["stripe key"] and "401" in lines["stripe key"]
    assert "— fix: check STRIPE_API_KEY" in lines["stripe key"]
    assert lines["stripe access"].startswith("SKIP")
    assert "RevokedKey" not in result.output


def test_restricted_key_lacking_a_permission_names_resource_and_permission(
    env: Path, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeStripe(account, api_key=RESTRICTED_KEY, restricted_denied={"prices"}) as server:
        server.start()
        use_stripe(monkeypatch, server, RESTRICTED_KEY)
        code, lines = doctor()
    assert code == 1
    assert "restricted key, test mode" in lines["stripe key"] and lines["stripe key"].startswith("PASS")
    line = lines["stripe prices"]
    assert line.startswith("FAIL")
    assert "may not read prices" in line and "grant the restricted key 'Prices: Read' permission" in line
    total = len(RESOURCES) + 1
    # and test clocks, in test mode, where the server has them
    assert any(f"{n - 1} of {n} lists readable" in lines["stripe access"] for n in (total, total + 1))
    assert "stripe customers" not in lines  # the readable ones share one line
    assert "Restricted000" not in "\n".join(lines.values())


def test_restricted_key_without_account_access_is_a_warning(
    env: Path, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeStripe(account, api_key=RESTRICTED_KEY, restricted_denied={"account"}) as server:
        server.start()
        use_stripe(monkeypatch, server, RESTRICTED_KEY)
        _code, lines = doctor()
    assert lines["stripe key"].startswith("WARN") and "'Account: Read'" in lines["stripe key"]
    assert lines["stripe access"].startswith("PASS")


def test_missing_key_fails_with_where_to_put_it(env: Path) -> None:
    code, lines = doctor()
    assert code == 1
    assert lines["stripe key"].startswith("FAIL") and "STRIPE_API_KEY is not set" in lines["stripe key"]


# --------------------------------------------------------------------------- settings and database


def test_bad_setting_is_one_fail_line_and_nothing_else(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORT_TIMEZONE", "Mars/Olympus")
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-Secret-Pw")
    code, lines = doctor()
    assert code == 1
    assert list(lines) == ["settings"]
    assert "REPORT_TIMEZONE" in lines["settings"] and "unknown time zone" in lines["settings"]


def test_database_behind_migrations_fails_with_the_upgrade_command(
    env: Path, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced(monkeypatch, fake)
    engine = create_db_engine(f"sqlite:///{env / 'stripe-nrr.db'}")
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.stamp(cfg, "0002")  # what a database looks like before the newest release
    engine.dispose()
    code, lines = doctor()
    assert code == 1
    assert lines["database"].startswith("FAIL")
    assert f"at revision 0002; this nrr needs {head_revision()}" in lines["database"]
    assert lines["database"].endswith("— fix: run `nrr db upgrade`")
    assert lines["last sync"].startswith("SKIP")
    # Checked, not applied: the database is still behind.
    _code, again = doctor()
    assert "at revision 0002" in again["database"]


def test_missing_sqlite_file_is_not_created(env: Path) -> None:
    code, lines = doctor()
    assert code == 1
    assert "does not exist yet" in lines["database"] and "`nrr db upgrade`" in lines["database"]
    assert not (env / "stripe-nrr.db").exists()


def test_unreachable_database_hides_its_password(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://nrr:s3cretpw@127.0.0.1:9/nrr")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAIL  database"))
    assert "cannot use the database" in line and "s3cretpw" not in result.output


def test_no_successful_sync_fails_with_the_sync_command(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    code, lines = doctor()
    assert code == 1
    assert "no successful sync yet" in lines["last sync"] and "run `nrr sync`" in lines["last sync"]


def test_stale_last_sync_fails_and_a_fresh_one_passes(store: Store) -> None:
    settings = load_settings(_env_file=None, sync_interval_minutes=15)
    run = store.begin_run("sync", ["customers"], NOW - 3600, 1)
    store.finish_run(run, status="success", now=NOW - 3000, stats=RunStats(counts={}))
    stale = check_last_sync(settings, store, NOW)
    assert stale.status == "fail" and "(50 min ago)" in stale.detail and "3 × SYNC_INTERVAL_MINUTES" in stale.detail
    assert "`nrr run`" in stale.fix
    fresh = check_last_sync(settings, store, NOW - 3000 + 600)
    assert fresh.status == "pass" and "(10 min ago)" in fresh.detail


def test_schedule_names_the_time_zone_and_the_next_report_and_sync_times() -> None:
    settings = load_settings(_env_file=None, report_timezone="Europe/Paris", report_schedule="3 09:00",
                             sync_interval_minutes=15)
    # NOW is Wednesday 2026-11-18: November is reported on December's 3rd business day.
    check = check_schedule(settings, NOW - 5 * 60, NOW)
    assert check.status == "pass"
    assert "REPORT_TIMEZONE Europe/Paris" in check.detail
    assert "next report (2026-11) 2026-12-03 09:00 CET" in check.detail
    assert "next sync due 2026-11-18" in check.detail and "(in 10 min)" in check.detail


def test_json_format(env: Path, fake: FakeStripe, monkeypatch: pytest.MonkeyPatch) -> None:
    synced(monkeypatch, fake)
    result = runner.invoke(app, ["doctor", "--format", "json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert {c["name"] for c in data["checks"]} >= {"settings", "stripe key", "database", "schedule", "last sync"}
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in data["checks"])


# --------------------------------------------------------------------------- SMTP


def test_smtp_starttls_and_login_pass_and_nothing_is_sent(
    env: Path, serve: Any, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, port = serve(
        tls_context=server_context(ca, HOST), require_starttls=True, authenticator=authenticator,
        auth_require_tls=True,
    )
    cafile = env / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    monkeypatch.setenv("SSL_CERT_FILE", str(cafile))  # production's default context trusts the test CA
    for name, value in {"SMTP_HOST": HOST, "SMTP_PORT": str(port), "SMTP_USERNAME": USER,
                        "SMTP_PASSWORD": PASSWORD, "REPORT_EMAIL_FROM": USER,
                        "REPORT_EMAIL_TO": "ceo@example.com"}.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["doctor"])
    _code, lines = doctor()
    line = lines["smtp"]
    assert line.startswith("PASS"), line
    assert f"connected to {HOST}:{port}" in line and "STARTTLS negotiated (TLSv1." in line
    assert f"logged in as {USER}" in line and "nothing sent" in line
    assert inbox.messages == []
    assert PASSWORD not in result.output


def test_wrong_smtp_password_fails_without_showing_it(
    env: Path, serve: Any, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    _inbox, port = serve(
        tls_context=server_context(ca, HOST), require_starttls=True, authenticator=authenticator,
        auth_require_tls=True,
    )
    cafile = env / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    monkeypatch.setenv("SSL_CERT_FILE", str(cafile))
    for name, value in {"SMTP_HOST": HOST, "SMTP_PORT": str(port), "SMTP_USERNAME": USER,
                        "SMTP_PASSWORD": "wrong-Pa55word-xyz"}.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["doctor"])
    line = next(x for x in result.stdout.splitlines() if x.startswith("FAIL  smtp"))
    assert "refused the login" in line and "check SMTP_USERNAME and SMTP_PASSWORD" in line
    assert "wrong-Pa55word" not in result.output


def test_stopped_smtp_server_fails_with_the_fix(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv("SMTP_HOST", HOST)
    monkeypatch.setenv("SMTP_PORT", str(port))
    code, lines = doctor()
    assert code == 1
    line = lines["smtp"]
    assert line.startswith(f"FAIL  smtp             cannot connect to {HOST}:{port} (connection refused)")
    assert "— fix: check SMTP_HOST and SMTP_PORT" in line


def test_untrusted_smtp_certificate_fails(env: Path, serve: Any, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch) -> None:
    _inbox, port = serve(tls_context=server_context(ca, HOST), require_starttls=True)
    monkeypatch.setenv("SMTP_HOST", HOST)
    monkeypatch.setenv("SMTP_PORT", str(port))
    _code, lines = doctor()  # the test CA is not trusted here
    assert lines["smtp"].startswith("FAIL") and "certificate" in lines["smtp"]


# --------------------------------------------------------------------------- Slack


def use_slack(monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlack, channel: str) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_CHANNEL", channel)
    monkeypatch.setenv("SLACK_API_BASE", fake_slack.base)


def test_slack_auth_and_channel_pass(env: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    use_slack(monkeypatch, slack, "C0123456789")
    slack.queue("/api/auth.test", 200, {"ok": True, "user": "nrr-bot", "team": "Acme", "user_id": "U1"})
    slack.queue("/api/conversations.info", 200,
                {"ok": True, "channel": {"id": "C0123456789", "name": "revenue", "is_member": True}})
    result = runner.invoke(app, ["doctor"])
    lines = result.stdout.splitlines()
    auth = next(x for x in lines if "slack auth" in x)
    channel = next(x for x in lines if "slack channel" in x)
    assert auth.startswith("PASS") and "bot nrr-bot in workspace Acme" in auth
    assert channel.startswith("PASS") and "#revenue (C0123456789)" in channel
    assert slack.calls("/api/conversations.info")[0].params == {"channel": "C0123456789"}
    assert not slack.calls("/api/chat.postMessage")  # nothing posted
    assert TOKEN not in result.output


def test_slack_revoked_token_fails_naming_the_variable(
    env: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_slack(monkeypatch, slack, "C0123456789")
    slack.queue("/api/auth.test", 200, {"ok": False, "error": "token_revoked"})
    result = runner.invoke(app, ["doctor"])
    auth = next(x for x in result.stdout.splitlines() if "slack auth" in x)
    assert auth.startswith("FAIL") and "token_revoked for SLACK_BOT_TOKEN" in auth and "— fix: paste" in auth
    assert any(x.startswith("SKIP  slack channel") for x in result.stdout.splitlines())
    assert TOKEN not in result.output


def test_slack_channel_not_member_warns_and_name_warns(
    env: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_slack(monkeypatch, slack, "C0123456789")
    slack.queue("/api/auth.test", 200, {"ok": True, "user": "nrr-bot", "team": "Acme"})
    slack.queue("/api/conversations.info", 200,
                {"ok": True, "channel": {"id": "C0123456789", "name": "revenue", "is_member": False}})
    _code, lines = doctor()
    assert lines["slack channel"].startswith("WARN") and "/invite" in lines["slack channel"]

    use_slack(monkeypatch, slack, "#revenue")
    slack.queue("/api/auth.test", 200, {"ok": True, "user": "nrr-bot", "team": "Acme"})
    _code, lines = doctor()
    assert lines["slack channel"].startswith("WARN") and "channel's id" in lines["slack channel"]
    assert len(slack.calls("/api/conversations.info")) == 1  # a name is not looked up


def test_slack_channel_not_found_fails(env: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> None:
    use_slack(monkeypatch, slack, "C0123456789")
    slack.queue("/api/auth.test", 200, {"ok": True, "user": "nrr-bot", "team": "Acme"})
    slack.queue("/api/conversations.info", 200, {"ok": False, "error": "channel_not_found"})
    code, lines = doctor()
    assert code == 1
    assert lines["slack channel"].startswith("FAIL") and "channel_not_found for SLACK_CHANNEL" in lines["slack channel"]


def test_slack_webhook_is_skipped_without_posting(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = "https://hooks.slack.com/services/T000/B000/verysecrethookpath"
    monkeypatch.setenv("SLACK_WEBHOOK_URL", hook)
    result = runner.invoke(app, ["doctor"])
    line = next(x for x in result.stdout.splitlines() if x.startswith("SKIP  slack"))
    assert "webhook cannot be checked without posting" in line
    assert "verysecrethookpath" not in result.output


def test_a_restricted_key_without_test_clocks_is_a_warning_naming_what_is_not_synced(
    env: Path, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeStripe(account, api_key=RESTRICTED_KEY, restricted_denied={"test_clocks"}) as server:
        server.start()
        use_stripe(monkeypatch, server, RESTRICTED_KEY)
        code, lines = doctor()
        served = any(r.path == "/v1/test_helpers/test_clocks" and r.status == 403 for r in server.log.records())
    assert served  # the key was refused the test clocks' listing
    line = next(v for v in lines.values() if "stripe test_clocks" in v)
    assert line.startswith("WARN"), line
    assert "customers and subscriptions on test clocks will not be synced" in line
    assert "grant the restricted key 'Test clocks: Read' permission" in line
    # The sync still runs: no Stripe check fails (this test has no database).
    assert not [v for k, v in lines.items() if k.startswith("stripe") and v.startswith("FAIL")]
    assert code == 1 and lines["database"].startswith("FAIL")
