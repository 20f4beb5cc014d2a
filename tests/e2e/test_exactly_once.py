"""Exactly-once delivery end to end: a real SMTP server (STARTTLS), a real database.

Two ways a report could go out twice: a crash between "the server accepted the mail"
and "the ledger says sent", followed by a retry; and two ``nrr report --send`` processes
racing for the same month. Both run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError
from typer.testing import CliRunner

from syncer.app.accounts import platform_account
from syncer.app.cli import app
from syncer.app.reporting import normalize_account
from syncer.db.deliveries import SENDING, SENT, Delivery
from syncer.db.engine import database_error
from syncer.db.store import Store
from syncer.deliver.ledger import STALE_AFTER_SECONDS, Claim, delivery_status
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.e2e.harness import KEY, NOW, settings_for, sync
from tests.e2e.mail import RECIPIENTS, SENDER, SMTP_DELAY, Smtp
from tests.syncer.deliver.fake_slack import TOKEN, FakeSlack, Request
from tests.syncer.deliver.fake_smtp import HOST

MONTH = "2026-10"  # NOW is in November 2026
SEND_AT = NOW + 3600  # the clock of the first delivery run

runner = CliRunner()


@dataclass
class Synced:
    database_url: str
    store: Store
    account: str


@pytest.fixture
def synced(store: Store, database_url: str) -> Synced:
    """A database on either backend holding a synced, normalized generated account."""
    generated = generate_account(customers=12, seed=21, now=NOW)
    with FakeStripe(generated, api_key=KEY) as fake:
        fake.start()
        settings = settings_for(fake, database_url)
        assert sync(settings, store, clock=NOW).result.ok
    normalize_account(settings, store, now=NOW)
    return Synced(database_url, store, platform_account(store).account)


def _email_env(smtp: Smtp, database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url, "LOG_FORMAT": "json",
        "SMTP_HOST": HOST, "SMTP_PORT": str(smtp.port), "SMTP_SECURITY": "starttls",
        "SSL_CERT_FILE": str(smtp.ca_file),
        "REPORT_EMAIL_FROM": SENDER, "REPORT_EMAIL_TO": ",".join(RECIPIENTS),
    }


def _row(synced: Synced, target: str, channel: str = "email") -> Delivery:
    row = delivery_status(synced.store, account=synced.account, month=MONTH, channel=channel, target=target)
    assert row is not None
    return row


def _text_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


# ------------------------------------------------------------- crash between send and record


@pytest.mark.usefixtures("cli_logging_undone")
def test_crash_after_send_is_never_resent_automatically(
    synced: Synced, smtp: Smtp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name, value in {**_email_env(smtp, synced.database_url), "REPORT_EMAIL_TO": RECIPIENTS[0]}.items():
        monkeypatch.setenv(name, value)
    clock = [SEND_AT]
    monkeypatch.setattr("syncer.app.cli.time", SimpleNamespace(time=lambda: float(clock[0]), monotonic=time.monotonic))

    # The database goes away right after the server accepted the mail: the first record fails
    # exactly as Store.transaction reports it, later ones go through.
    from syncer.deliver import ledger

    real_mark_sent = ledger.mark_sent
    failures: list[Claim] = []

    def mark_sent_once_broken(store: Store, claim: Claim, *, now: int) -> bool:
        if not failures:
            failures.append(claim)
            lost = OperationalError("UPDATE deliveries", None, ConnectionError("server closed the connection"))
            raise database_error(store.engine, lost)
        return real_mark_sent(store, claim, now=now)

    monkeypatch.setattr(ledger, "mark_sent", mark_sent_once_broken)
    send = ["report", "--month", MONTH, "--send", "email"]
    target = RECIPIENTS[0]

    crashed = runner.invoke(app, send)
    assert crashed.exit_code == 75, crashed.output  # RetryLater: the database was unavailable
    assert "cannot use the database" in crashed.output
    assert smtp.inbox.recipients() == [target]  # the mail did leave
    row = _row(synced, target)
    assert (row.state, row.attempts, row.generation) == (SENDING, 1, 1)

    # A retry in the same run (same clock): the row looks like a live sender's, so skip.
    retried = runner.invoke(app, send)
    assert retried.exit_code == 0, retried.output
    assert f"email {target}: skipped" in retried.stdout
    assert len(smtp.inbox.messages) == 1
    row = _row(synced, target)
    assert (row.state, row.attempts, row.updated_at) == (SENDING, 1, SEND_AT)
    forced_early = runner.invoke(app, [*send, "--force"])  # --force does not take a live row either
    assert forced_early.exit_code == 0 and f"email {target}: skipped" in forced_early.stdout
    assert len(smtp.inbox.messages) == 1

    # Past the stale window, without --force: ask a person, in one line; send nothing.
    clock[0] = SEND_AT + STALE_AFTER_SECONDS
    uncertain = runner.invoke(app, send)
    assert uncertain.exit_code == 2, uncertain.output  # GiveUp
    errors = [line for line in uncertain.output.splitlines() if line.startswith("nrr: error:")]
    assert len(errors) == 1 and "may have been sent" in errors[0] and "--force" in errors[0]
    assert len(smtp.inbox.messages) == 1
    assert _row(synced, target).state == SENDING

    # With --force: one more copy, recognisably the same message (same Message-ID, same body).
    forced = runner.invoke(app, [*send, "--force"])
    assert forced.exit_code == 0, forced.output
    assert f"email {target}: sent (forced)" in forced.stdout
    first, second = smtp.inbox.parsed()
    assert smtp.inbox.recipients() == [target, target]
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].endswith(".g1@example.com>")
    assert _text_part(first) == _text_part(second)
    row = _row(synced, target)
    assert (row.state, row.generation, row.attempts, row.forced, row.sent_at) == (
        SENT, 1, 2, True, SEND_AT + STALE_AFTER_SECONDS
    )
    assert len(failures) == 1

    # And once recorded as sent, a plain run skips again.
    after = runner.invoke(app, send)
    assert after.exit_code == 0 and f"email {target}: skipped" in after.stdout
    assert len(smtp.inbox.messages) == 2


# ------------------------------------------------------------- racing sender processes


def _start_nrr(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncer.app.cli", *args], env={**os.environ, **env}, cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _race(args: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    """Start two ``nrr`` processes together, wait for both; their stdouts (both must exit 0)."""
    procs = [_start_nrr(args, env, cwd) for _ in range(2)]
    outputs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}"
        outputs.append(out)
    return outputs


def _statuses(outputs: list[str], channel: str, target: str) -> list[str]:
    prefix = f"{channel} {target}: "
    return sorted(
        line.removeprefix(prefix).split(" ")[0]
        for out in outputs for line in out.splitlines() if line.startswith(prefix)
    )


def test_two_sender_processes_send_each_email_once(synced: Synced, smtp: Smtp, tmp_path: Path) -> None:
    outputs = _race(["report", "--month", MONTH, "--send", "email"], _email_env(smtp, synced.database_url), tmp_path)

    # Whichever process wins which recipient: one message each, one "sent" and one "skipped".
    assert smtp.inbox.recipients() == sorted(RECIPIENTS)
    for target in RECIPIENTS:
        assert _statuses(outputs, "email", target) == ["sent", "skipped"], outputs
        row = _row(synced, target)
        assert (row.state, row.attempts, row.generation) == (SENT, 1, 1)
    assert len({m["Message-ID"] for m in smtp.inbox.parsed()}) == len(RECIPIENTS)


def test_two_sender_processes_post_to_slack_once(
    synced: Synced, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = slack.default

    def slow(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.path == "/api/chat.postMessage":
            time.sleep(SMTP_DELAY)  # hold the post so a racing sender would overlap it
        return answer(request)

    monkeypatch.setattr(slack, "default", slow)
    env = {
        "DATABASE_URL": synced.database_url, "LOG_FORMAT": "json",
        "SLACK_BOT_TOKEN": TOKEN, "SLACK_CHANNEL": "#revenue", "SLACK_API_BASE": slack.base,
    }
    outputs = _race(["report", "--month", MONTH, "--send", "slack"], env, tmp_path)

    assert _statuses(outputs, "slack", "#revenue") == ["sent", "skipped"], outputs
    posts = slack.calls("/api/chat.postMessage")
    main = [p for p in posts if "thread_ts" not in p.params]
    assert len(main) == 1 and len(posts) == 2  # one message, one reply in its thread
    assert len(slack.calls("/api/files.completeUploadExternal")) == 1
    row = _row(synced, "#revenue", channel="slack")
    assert (row.state, row.attempts) == (SENT, 1)
