"""No secret in any output: a demo and a run of faults, every byte they write scanned.

Each scenario runs ``nrr`` as a real subprocess (so logging is configured exactly as in
production, with LOG_LEVEL=debug) against loopback fakes: the fake Stripe with faults and
a wrong key, an SMTP server that refuses the login, a Slack API that answers invalid_auth
and a webhook whose path is the credential. stdout, stderr (tracebacks included, if any)
and every file the run wrote are searched for the secrets themselves, for their base64
forms (SMTP AUTH sends those) and for anything key-shaped.

A redacted key keeps its prefix and loses its body (``sk_live_…redacted``, see
syncer.app.logging.REDACTED): the generic patterns need 8 key characters right after the
prefix, which the redaction marker never provides.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.syncer.deliver.fake_slack import FakeSlack

HOST = "127.0.0.1"
LIVE_KEY = "sk_live_51SecretKeyThatMustNeverAppear0000"
WRONG_KEY = "sk_live_51WrongKeyAlsoSecretDoNotShow0000"
SMTP_USER = "nrr-reports"
SMTP_PASSWORD = "hunter2-smtp-Secret!"
SLACK_TOKEN = "xoxb-1234567890-0987654321-SlackTokenMustNotLeak"
WEBHOOK_PATH = "/services/T0SECRET1/B0SECRET2/WebhookPathSecretXyz123"
DB_PASSWORD = "pg-Passw0rd-NeverShown"

GENERIC = [
    re.compile(r"sk_(live|test)_[A-Za-z0-9]{8,}"),
    re.compile(r"rk_(live|test)_[A-Za-z0-9]{8,}"),
    re.compile(r"whsec_[A-Za-z0-9]{8,}"),
    re.compile(r"xox[abp]-[A-Za-z0-9-]{8,}"),
]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


EXACT = [
    LIVE_KEY, LIVE_KEY.removeprefix("sk_live_"), WRONG_KEY, WRONG_KEY.removeprefix("sk_live_"),
    SMTP_PASSWORD, _b64(SMTP_PASSWORD), _b64(f"\0{SMTP_USER}\0{SMTP_PASSWORD}"),
    SLACK_TOKEN, SLACK_TOKEN.removeprefix("xoxb-"),
    WEBHOOK_PATH, "WebhookPathSecretXyz123", DB_PASSWORD,
]


@dataclass
class Captured:
    """Everything the scenarios printed or wrote, by where it came from."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, where: str, text: str) -> None:
        self.texts[where] = text

    def add_tree(self, root: Path, label: str) -> None:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            # Binary files (SQLite, PNG) too: a secret would sit in them as plain bytes.
            self.add(f"{label}:{path.relative_to(root)}", path.read_bytes().decode("latin-1"))

    def leaks(self) -> list[str]:
        found = []
        for where, text in self.texts.items():
            for secret in EXACT:
                if secret in text:
                    found.append(f"{where}: exact secret {secret[:6]}…")
            for pattern in GENERIC:
                for m in pattern.finditer(text):
                    found.append(f"{where}: key-shaped {m.group(0)[:12]}…")
        return found


def _env(**more: str) -> dict[str, str]:
    """The machine's environment minus any real settings, plus ``more``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("STRIPE_", "SMTP_", "SLACK_", "REPORT_", "DATABASE_URL", "FX_RATES", "LOG_"))}
    return {**env, "LOG_LEVEL": "debug", "PYTHONUNBUFFERED": "1", **more}


def run_nrr(captured: Captured, label: str, args: list[str], env: dict[str, str], cwd: Path,
            timeout: float = 240) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "syncer.app.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, check=False)
    captured.add(f"{label}:stdout", proc.stdout)
    captured.add(f"{label}:stderr", proc.stderr)
    return proc


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Refuse:
    """aiosmtpd handler that never gets a message: every login is refused."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "554 no"


def _refuse_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    return AuthResult(success=False, handled=False)


@dataclass
class RefusingSmtp:
    port: int
    ca_file: Path


@pytest.fixture
def refusing_smtp(tmp_path: Path) -> Iterator[RefusingSmtp]:
    """STARTTLS with a test CA, AUTH offered after TLS, every password refused."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(server_ctx)
    ca_file = tmp_path / "smtp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    port = _free_port()
    controller = Controller(Refuse(), hostname=HOST, port=port, tls_context=server_ctx,
                            require_starttls=True, authenticator=_refuse_login, auth_require_tls=True)
    controller.start()
    try:
        yield RefusingSmtp(port, ca_file)
    finally:
        controller.stop()


def _assert_clean(captured: Captured) -> None:
    assert captured.texts, "nothing was captured"
    leaks = captured.leaks()
    assert not leaks, "secrets leaked:\n" + "\n".join(leaks)


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_demo_writes_and_prints_no_key(tmp_path: Path, log_format: str) -> None:
    captured = Captured()
    out = tmp_path / "demo-output"
    proc = run_nrr(captured, f"demo-{log_format}", ["demo", "--out", str(out), "--customers", "25"],
                   _env(LOG_FORMAT=log_format), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    captured.add_tree(out, "demo-output")
    assert any(name.endswith("slack.json") for name in captured.texts)
    assert any(name.endswith(".csv") for name in captured.texts)
    _assert_clean(captured)


def test_faults_wrong_key_refused_logins_and_bad_tokens_leak_nothing(
    tmp_path: Path, refusing_smtp: RefusingSmtp, slack: FakeSlack,
) -> None:
    captured = Captured()
    data = tmp_path / "data"
    data.mkdir()
    db = f"sqlite:///{data / 'nrr.db'}"
    account = generate_account(customers=15, seed=7, now=int(time.time()) - 86400)
    with FakeStripe(account, api_key=LIVE_KEY, fail_rate=0.2, seed=3) as fake:
        fake.start()
        stripe = {"STRIPE_API_KEY": LIVE_KEY, "STRIPE_API_BASE": fake.base_url, "DATABASE_URL": db,
                  "STRIPE_MAX_RPS": "500", "STRIPE_RETRY_BUDGET_SECONDS": "60"}
        for fmt in ("json", "console"):
            proc = run_nrr(captured, f"sync-{fmt}", ["sync"], _env(LOG_FORMAT=fmt, **stripe), tmp_path)
            assert proc.returncode == 0, proc.stderr[-2000:]
        assert sum(fake.log.faults.values()) > 0, "no fault was injected"
        assert 401 not in fake.log.by_status

        wrong = {**stripe, "STRIPE_API_KEY": WRONG_KEY}
        proc = run_nrr(captured, "sync-wrong-key", ["sync"], _env(LOG_FORMAT="json", **wrong), tmp_path)
        assert proc.returncode != 0
        assert "nrr: error:" in proc.stderr and "Traceback" not in proc.stderr

        # A DATABASE_URL with a password nobody can use: the password must not be echoed.
        pg = {**stripe, "DATABASE_URL": f"postgresql+psycopg://nrr:{DB_PASSWORD}@{HOST}:{_free_port()}/nrr"}
        proc = run_nrr(captured, "status-bad-db", ["status"], _env(LOG_FORMAT="json", **pg), tmp_path)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr

        slack.queue("/api/files.getUploadURLExternal", 200, {"ok": False, "error": "invalid_auth"})
        slack.queue("/api/chat.postMessage", 200, {"ok": False, "error": "invalid_auth"})
        send = {
            **stripe,
            "SMTP_HOST": HOST, "SMTP_PORT": str(refusing_smtp.port), "SMTP_SECURITY": "starttls",
            "SMTP_USERNAME": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD,
            "SSL_CERT_FILE": str(refusing_smtp.ca_file),
            "REPORT_EMAIL_FROM": "NRR <nrr@example.com>", "REPORT_EMAIL_TO": "cfo@example.com",
            "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_CHANNEL": "#revenue", "SLACK_API_BASE": slack.base,
        }
        for fmt in ("json", "console"):
            proc = run_nrr(captured, f"report-send-{fmt}", ["report", "--send", "email,slack", "--force"],
                           _env(LOG_FORMAT=fmt, **send), tmp_path)
            assert proc.returncode != 0
            assert "email cfo@example.com: failed" in proc.stdout, proc.stdout + proc.stderr[-2000:]
            assert "slack #revenue: failed" in proc.stdout, proc.stdout + proc.stderr[-2000:]
            slack.queue("/api/files.getUploadURLExternal", 200, {"ok": False, "error": "invalid_auth"})
        assert slack.calls("/api/files.getUploadURLExternal"), "the Slack fake was never asked"
        assert all(SLACK_TOKEN in r.headers.get("authorization", "")
                   for r in slack.calls("/api/files.getUploadURLExternal")), "the token was really sent"

        hook = {**stripe, "SLACK_WEBHOOK_URL": f"http://{HOST}:{slack.port}{WEBHOOK_PATH}"}
        slack.queue(WEBHOOK_PATH, 403, "invalid_token", {"Content-Type": "text/plain"})
        proc = run_nrr(captured, "report-webhook", ["report", "--send", "slack", "--force"],
                       _env(LOG_FORMAT="json", **hook), tmp_path)
        assert proc.returncode != 0
        assert "slack webhook: failed" in proc.stdout, proc.stdout + proc.stderr[-2000:]
        assert slack.calls(WEBHOOK_PATH), "the webhook was never called"

        for fmt in ("json", "console"):
            run_nrr(captured, f"doctor-{fmt}", ["doctor"], _env(LOG_FORMAT=fmt, **send), tmp_path)
            run_nrr(captured, f"doctor-hook-{fmt}", ["doctor", "--format", "json"],
                    _env(LOG_FORMAT=fmt, **hook), tmp_path)
        run_nrr(captured, "doctor-wrong-key", ["doctor"], _env(LOG_FORMAT="json", **wrong), tmp_path)
        for fmt in ("text", "json"):
            proc = run_nrr(captured, f"status-{fmt}", ["status", "--format", fmt],
                           _env(LOG_FORMAT="json", **stripe), tmp_path)
            assert proc.returncode == 0, proc.stderr[-2000:]
        out = tmp_path / "preview"
        proc = run_nrr(captured, "preview", ["preview", "--out", str(out)], _env(**stripe), tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
        for fmt in ("text", "json", "csv", "html", "slack"):
            run_nrr(captured, f"report-{fmt}", ["report", "--format", fmt], _env(**stripe), tmp_path)

    # The refused sends were really attempted, with the secrets in hand.
    assert "refused the login" in captured.texts["report-send-json:stdout"]
    captured.add_tree(tmp_path, "files")
    assert any(name.endswith("nrr.db") for name in captured.texts)
    _assert_clean(captured)


def test_database_and_its_wal_sidecars_are_owner_only(tmp_path: Path) -> None:
    """SQLite gives -wal and -shm the database file's mode; even a umask of 000 must not open them up."""
    from sqlalchemy import text

    from syncer.db.engine import create_db_engine
    from syncer.db.migrate import upgrade_db

    db = tmp_path / "nrr.db"
    old = os.umask(0)
    try:
        engine = create_db_engine(f"sqlite:///{db}")
        upgrade_db(engine)
        with engine.connect() as conn:  # held open so the sidecars exist while we look
            conn.execute(text("SELECT count(*) FROM customers")).scalar_one()
            files = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
            modes = {p.name: p.stat().st_mode & 0o777 for p in files}
    finally:
        os.umask(old)
        engine.dispose()
    assert {"nrr.db", "nrr.db-wal", "nrr.db-shm"} <= set(modes), modes
    assert set(modes.values()) == {0o600}, modes
