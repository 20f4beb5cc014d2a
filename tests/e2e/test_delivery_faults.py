"""Delivery faults end to end: the daemon against real loopback SMTP and Slack servers
that fail in the ways real ones do, on a real database.

SMTP down, a refused login, a connection dropped after DATA; Slack 429, 500 and
``invalid_auth``. Each is retried where it can succeed, recorded as failed with a
one-line reason where it cannot, never sent twice, and the daemon keeps running. Last,
two ``nrr run`` processes and a manual ``nrr report --send`` race on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr
from structlog.testing import capture_logs
from typer.testing import CliRunner

from syncer.app.accounts import platform_account
from syncer.app.cli import app
from syncer.app.reporting import normalize_account
from syncer.app.settings import Settings
from syncer.daemon.run import Daemon
from syncer.db.deliveries import FAILED, SENDING, SENT, Delivery, list_deliveries
from syncer.db.engine import create_db_engine
from syncer.db.migrate import upgrade_db
from syncer.db.store import Store
from syncer.deliver.ledger import STALE_AFTER_SECONDS, claim, retry_wait
from syncer.deliver.slack import MAX_ATTEMPTS
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.conftest import BACKENDS
from tests.e2e.daemon_thread import Clock, run_in_thread, stop, wait_for
from tests.e2e.harness import KEY, NOW, settings_for, sync
from tests.e2e.mail import RECIPIENTS, SENDER, SlowInbox, Smtp
from tests.fakes import Sleeps
from tests.syncer.deliver.fake_slack import DROP, TOKEN, FakeSlack, Request
from tests.syncer.deliver.fake_smtp import HOST, free_port

MONTH = "2026-10"  # due since 4 November; the daemon's clock says 18 November
SEND_AT = NOW + 3600
USERNAME = "nrr-mailer"
PASSWORD = "right-horse-battery-7731"
WRONG_PASSWORD = "wrong-horse-battery-1234"
BAD_TOKEN = "xoxb-1111111111-2222222222-revokedrevokedrevoked00"
CHANNEL = "#revenue"
MAIN_POST = "/api/chat.postMessage"

runner = CliRunner()


# ----------------------------------------------------------------------------- servers


@dataclass
class Tls:
    """A test CA: the server's context, and the client's trust of it."""

    server: ssl.SSLContext
    ca_file: Path

    def options(self) -> dict[str, Any]:
        return {"email": {"ssl_context": ssl.create_default_context(cafile=str(self.ca_file))}}


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(server)
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Tls(server, ca_file)


@contextmanager
def smtp_server(handler: Any, tls: Tls, port: int, **options: Any) -> Iterator[None]:
    """aiosmtpd on ``port``, STARTTLS required (AUTH is offered only after it)."""
    controller = Controller(handler, hostname=HOST, port=port, tls_context=tls.server, require_starttls=True,
                            **options)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


@dataclass
class DroppingInbox(SlowInbox):
    """Takes the message, then drops the connection instead of answering (while ``drop``)."""

    drop: bool = True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        if self.drop:
            server.transport.abort()  # no final reply: the client cannot know it was taken
        return "250 OK"


@dataclass
class GrumpyQuit(SlowInbox):
    """Accepts every message, then answers QUIT with an error."""

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        return "451 4.3.0 try again later"


@dataclass
class Logins:
    """An aiosmtpd authenticator that knows one user; remembers every attempt."""

    attempts: list[str] = field(default_factory=list)

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = (v.decode() if isinstance(v, bytes) else str(v)
                           for v in (auth_data.login, auth_data.password))
        self.attempts.append(login)
        # handled=False: aiosmtpd answers (235, or 535 "Authentication credentials invalid")
        return AuthResult(success=login == USERNAME and password == PASSWORD, handled=False)


# ----------------------------------------------------------------------------- helpers


def email_settings(fake: FakeStripe, database_url: str, port: int, **more: Any) -> Settings:
    return settings_for(
        fake, database_url, smtp_host=HOST, smtp_port=port, smtp_security="starttls",
        report_email_from=SENDER, report_email_to=",".join(RECIPIENTS), **more,
    )


def slack_settings(fake: FakeStripe, database_url: str, slack: FakeSlack, token: str = TOKEN) -> Settings:
    return settings_for(fake, database_url, slack_bot_token=token, slack_channel=CHANNEL,
                        slack_api_base=slack.base)


def rows(store: Store, channel: str = "email") -> list[Delivery]:
    with store.reading() as conn:
        return [d for d in list_deliveries(conn, month=MONTH) if d.channel == channel]


def states(store: Store, channel: str = "email") -> list[tuple[str, str, int, int]]:
    """(target, state, generation, attempts) per row."""
    return [(d.target, d.state, d.generation, d.attempts) for d in rows(store, channel)]


def one_line_reasons(store: Store, channel: str = "email") -> list[str]:
    reasons = [d.last_error or "" for d in rows(store, channel)]
    assert reasons and all(r and "\n" not in r for r in reasons), reasons
    return reasons


def deliveries_logged(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in logs if e["event"] == "report.delivery"]


def accepted_main_posts(slack: FakeSlack, answers: list[tuple[Request, int, bytes]]) -> int:
    """Top-level messages Slack answered ``ok`` to (thread replies and refusals excluded)."""
    return sum(
        1 for request, status, body in answers
        if request.path == MAIN_POST and "thread_ts" not in request.params
        and status == 200 and json.loads(body).get("ok") is True
    )


def record_answers(slack: FakeSlack, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Request, int, bytes]]:
    answers: list[tuple[Request, int, bytes]] = []
    answer = slack.answer

    def recorded(request: Request) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = answer(request)
        answers.append((request, status, body))
        return status, headers, body

    monkeypatch.setattr(slack, "answer", recorded)
    return answers


# ----------------------------------------------------------------------------- SMTP


def test_smtp_down_fails_the_delivery_not_the_daemon_then_sends_once(
    fake: FakeStripe, store: Store, database_url: str, tls: Tls
) -> None:
    port = free_port()  # nothing listens here yet
    clock = Clock(SEND_AT)
    daemon = Daemon(email_settings(fake, database_url, port), store, clock=clock, interval_seconds=1,
                    leader_poll_seconds=0.1, deliver_options=tls.options())
    thread = run_in_thread(daemon)
    inbox = SlowInbox()
    try:
        wait_for(lambda: [s for _, s, _, _ in states(store)] == [FAILED, FAILED], timeout=30,
                 what="a tick failing to reach SMTP")
        ticks = daemon.ticks
        wait_for(lambda: daemon.ticks >= ticks + 2, timeout=30, what="two more ticks")
        assert [d.attempts for d in rows(store)] == [1, 1]  # backing off, not retried every tick
        clock.now += retry_wait(1)
        wait_for(lambda: [d.attempts for d in rows(store)] == [2, 2], timeout=30, what="the retry after the backoff")
        assert thread.is_alive()
        assert "success" in {r["status"] for r in store.recent_runs(10)}  # the sync itself went fine
        for reason in one_line_reasons(store):
            assert f"SMTP_HOST {HOST}:{port}" in reason and "cannot reach" in reason, reason

        with smtp_server(inbox, tls, port):  # the server is back
            clock.now += retry_wait(2)
            wait_for(lambda: len(inbox.messages) == 2, timeout=30, what="the report once the server is back")
            ticks = daemon.ticks
            wait_for(lambda: daemon.ticks >= ticks + 2, timeout=30, what="two more ticks")
    finally:
        stop(daemon, thread)
    assert inbox.recipients() == sorted(RECIPIENTS)  # once each
    for target, state, generation, attempts in states(store):
        assert (state, generation) == (SENT, 1) and attempts >= 2, target
    assert all(d.last_error is None for d in rows(store))


def test_smtp_refusing_login_is_failed_with_the_setting_to_fix_then_sent_once_fixed(
    fake: FakeStripe, store: Store, database_url: str, tls: Tls
) -> None:
    inbox, logins = SlowInbox(), Logins()
    port = free_port()
    clock = Clock(SEND_AT)
    wrong = email_settings(fake, database_url, port, smtp_username=USERNAME, smtp_password=WRONG_PASSWORD)
    with smtp_server(inbox, tls, port, authenticator=logins):
        with capture_logs() as logs:
            Daemon(wrong, store, clock=clock, interval_seconds=60, deliver_options=tls.options()).tick("sync")
        assert inbox.messages == [] and logins.attempts and set(logins.attempts) == {USERNAME}
        assert [(s, g, a) for _, s, g, a in states(store)] == [(FAILED, 1, 1)] * 2
        for reason in one_line_reasons(store):
            assert "SMTP_USERNAME" in reason and "SMTP_PASSWORD" in reason and USERNAME in reason, reason
            assert WRONG_PASSWORD not in reason
        assert [e["status"] for e in deliveries_logged(logs)] == ["failed", "failed"]
        assert WRONG_PASSWORD not in str(logs)

        # The password is fixed (new settings, as after editing .env and restarting): sent once.
        clock.now += 60
        right = wrong.model_copy(update={"smtp_password": SecretStr(PASSWORD)})
        fixed = Daemon(right, store, clock=clock, interval_seconds=60, deliver_options=tls.options())
        fixed.tick("sync")
        fixed.tick("sync")
    assert inbox.recipients() == sorted(RECIPIENTS)
    assert [(s, g, a) for _, s, g, a in states(store)] == [(SENT, 1, 2)] * 2


@pytest.mark.usefixtures("cli_logging_undone")
def test_smtp_drop_after_data_is_never_resent_automatically_only_with_force(
    fake: FakeStripe, store: Store, database_url: str, tls: Tls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = DroppingInbox()
    port = free_port()
    clock = Clock(SEND_AT)
    settings = email_settings(fake, database_url, port)
    daemon = Daemon(settings, store, clock=clock, interval_seconds=60, deliver_options=tls.options())
    with smtp_server(inbox, tls, port):
        with capture_logs() as logs:
            daemon.tick("sync")
        # The server took both messages and hung up before saying so.
        assert inbox.recipients() == sorted(RECIPIENTS)
        assert [(s, g, a) for _, s, g, a in states(store)] == [(SENDING, 1, 1)] * 2  # "may have been sent"
        assert all(r.startswith("may have been sent: ") for r in one_line_reasons(store))
        for event in deliveries_logged(logs):
            assert event["status"] == "failed"
            assert "may have been delivered" in event["detail"] and "--force" in event["detail"]

        # The server behaves again; the next ticks must still not send: they may be duplicates.
        inbox.drop = False
        for later in (0, 60, STALE_AFTER_SECONDS - 1):
            clock.now = SEND_AT + later
            daemon.tick("sync")
        assert len(inbox.messages) == 2
        # Past the stale window the daemon asks a person (one line) and still sends nothing.
        clock.now = SEND_AT + STALE_AFTER_SECONDS
        with capture_logs() as logs:
            daemon.tick("sync")
        assert len(inbox.messages) == 2
        (failed,) = [e for e in logs if e["event"] == "report.failed"]
        assert "may have been sent" in failed["error"] and "--force" in failed["error"]
        assert [s for _, s, _, _ in states(store)] == [SENDING, SENDING]

        # A person checked: `nrr report --send email --force` sends them, deliberately.
        monkeypatch.chdir(tmp_path)
        for name, value in {
            "DATABASE_URL": database_url, "SMTP_HOST": HOST, "SMTP_PORT": str(port), "SMTP_SECURITY": "starttls",
            "SSL_CERT_FILE": str(tls.ca_file), "REPORT_EMAIL_FROM": SENDER, "REPORT_EMAIL_TO": ",".join(RECIPIENTS),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr("syncer.app.cli.time", SimpleNamespace(time=lambda: clock.now, monotonic=time.monotonic))
        forced = runner.invoke(app, ["report", "--month", MONTH, "--send", "email", "--force"])
        assert forced.exit_code == 0, forced.output
        for target in RECIPIENTS:
            assert f"email {target}: sent (forced)" in forced.stdout
        clock.now += 60
        daemon.tick("sync")  # and the daemon now sees them sent
    assert len(inbox.messages) == 4
    assert sorted(r for rcpts, _ in inbox.messages[2:] for r in rcpts) == sorted(RECIPIENTS)
    dropped, resent = inbox.parsed()[:2], inbox.parsed()[2:]
    # The same generation: the copy carries the first one's Message-ID, so it can be recognised.
    assert sorted(str(m["Message-ID"]) for m in dropped) == sorted(str(m["Message-ID"]) for m in resent)
    assert [(s, g, a) for _, s, g, a in states(store)] == [(SENT, 1, 2)] * 2
    assert all(d.forced for d in rows(store))


def test_an_error_after_the_server_accepted_the_mail_is_a_send_not_a_retry(
    fake: FakeStripe, store: Store, database_url: str, tls: Tls
) -> None:
    inbox = GrumpyQuit()
    port = free_port()
    clock = Clock(SEND_AT)
    daemon = Daemon(email_settings(fake, database_url, port), store, clock=clock, interval_seconds=60,
                    deliver_options=tls.options())
    with smtp_server(inbox, tls, port):
        daemon.tick("sync")
        clock.now += 60
        daemon.tick("sync")
    assert inbox.recipients() == sorted(RECIPIENTS)  # a failed QUIT must not make a second copy
    assert [(s, g, a) for _, s, g, a in states(store)] == [(SENT, 1, 1)] * 2


def test_a_recipient_awaiting_a_decision_does_not_hold_back_the_others(
    fake: FakeStripe, store: Store, database_url: str, tls: Tls
) -> None:
    port = free_port()  # down for the first tick: both recipients failed
    clock = Clock(SEND_AT)
    daemon = Daemon(email_settings(fake, database_url, port), store, clock=clock, interval_seconds=60,
                    deliver_options=tls.options())
    daemon.tick("sync")
    assert [s for _, s, _, _ in states(store)] == [FAILED, FAILED]
    # A sender claims the first recipient's retry and vanishes mid-send.
    first = RECIPIENTS[0]
    assert claim(store, account=platform_account(store).account, month=MONTH, channel="email", target=first,
                 snapshot_json="{}", now=SEND_AT + 60) is not None
    clock.now = SEND_AT + 60 + STALE_AFTER_SECONDS
    inbox = SlowInbox()
    with smtp_server(inbox, tls, port), capture_logs() as logs:
        daemon.tick("sync")
    assert inbox.recipients() == [RECIPIENTS[1]]  # retried although the first one waits for a person
    assert [(t, s) for t, s, _, _ in states(store)] == [(first, SENDING), (RECIPIENTS[1], SENT)]
    (failed,) = [e for e in logs if e["event"] == "report.failed"]
    assert first in failed["error"] and "may have been sent" in failed["error"]


# ----------------------------------------------------------------------------- Slack


def test_slack_429_honours_retry_after_and_posts_once(
    fake: FakeStripe, store: Store, database_url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = record_answers(slack, monkeypatch)
    slack.queue(MAIN_POST, 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    sleeps = Sleeps()
    clock = Clock(SEND_AT)
    daemon = Daemon(slack_settings(fake, database_url, slack), store, clock=clock, interval_seconds=60,
                    deliver_options={"slack": {"sleep": sleeps}})
    daemon.tick("sync")
    clock.now += 60
    daemon.tick("sync")
    assert sleeps == [7.0]  # Slack's Retry-After, through the injected sleep
    assert accepted_main_posts(slack, answers) == 1
    assert len([r for r in slack.calls(MAIN_POST) if "thread_ts" not in r.params]) == 2  # refused, then posted
    assert states(store, "slack") == [(CHANNEL, SENT, 1, 1)]


def test_slack_500_is_bounded_failed_then_posted_once_on_the_next_tick(
    fake: FakeStripe, store: Store, database_url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = record_answers(slack, monkeypatch)
    for _ in range(MAX_ATTEMPTS):  # more than one tick's worth would be answered by the next tick
        slack.queue(MAIN_POST, 500, {"ok": False, "error": "internal_error"})
    sleeps = Sleeps()
    clock = Clock(SEND_AT)
    daemon = Daemon(slack_settings(fake, database_url, slack), store, clock=clock, interval_seconds=60,
                    deliver_options={"slack": {"sleep": sleeps}})
    daemon.tick("sync")
    assert len(slack.calls(MAIN_POST)) == MAX_ATTEMPTS and accepted_main_posts(slack, answers) == 0
    assert len(sleeps) == MAX_ATTEMPTS - 1 and sleeps == sorted(sleeps)  # bounded backoff
    assert states(store, "slack") == [(CHANNEL, FAILED, 1, 1)]
    (reason,) = one_line_reasons(store, "slack")
    assert f"failed {MAX_ATTEMPTS} time(s)" in reason and "500" in reason and "retry later" in reason
    assert TOKEN not in reason

    clock.now += 60
    with capture_logs() as logs:
        daemon.tick("sync")  # within the backoff: not retried
    assert len(slack.calls(MAIN_POST)) == MAX_ATTEMPTS
    (skipped,) = deliveries_logged(logs)
    assert skipped["status"] == "skipped" and "next try in 4 min" in skipped["detail"]
    clock.now += retry_wait(1)
    daemon.tick("sync")
    clock.now += 60
    daemon.tick("sync")
    assert accepted_main_posts(slack, answers) == 1
    assert states(store, "slack") == [(CHANNEL, SENT, 1, 2)]


def test_slack_invalid_auth_fails_without_retrying_then_posts_once_with_a_good_token(
    fake: FakeStripe, store: Store, database_url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = record_answers(slack, monkeypatch)
    answer = slack.default

    def checks_the_token(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.headers.get("authorization") == f"Bearer {BAD_TOKEN}":
            return 200, {}, json.dumps({"ok": False, "error": "invalid_auth"}).encode()
        return answer(request)

    monkeypatch.setattr(slack, "default", checks_the_token)
    sleeps = Sleeps()
    clock = Clock(SEND_AT)
    revoked = slack_settings(fake, database_url, slack, token=BAD_TOKEN)
    with capture_logs() as logs:
        Daemon(revoked, store, clock=clock, interval_seconds=60,
               deliver_options={"slack": {"sleep": sleeps}}).tick("sync")
    assert len(slack.requests) == 1 and sleeps == []  # refused once: not retried within the tick
    assert states(store, "slack") == [(CHANNEL, FAILED, 1, 1)]
    (reason,) = one_line_reasons(store, "slack")
    assert "invalid_auth" in reason and "SLACK_BOT_TOKEN" in reason and BAD_TOKEN not in reason
    assert BAD_TOKEN not in str(logs)

    # A new token (new settings): posted once.
    clock.now += 60
    good = Daemon(slack_settings(fake, database_url, slack), store, clock=clock, interval_seconds=60,
                  deliver_options={"slack": {"sleep": sleeps}})
    good.tick("sync")
    clock.now += 60
    good.tick("sync")
    assert accepted_main_posts(slack, answers) == 1
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in slack.requests[1:] if r.path.startswith("/api/"))
    assert states(store, "slack") == [(CHANNEL, SENT, 1, 2)] and sleeps == []


def test_slack_connection_lost_after_the_post_is_never_reposted_automatically(
    fake: FakeStripe, store: Store, database_url: str, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = record_answers(slack, monkeypatch)
    slack.queue(MAIN_POST, DROP, "")  # Slack took the post; the answer never came back
    clock = Clock(SEND_AT)
    daemon = Daemon(slack_settings(fake, database_url, slack), store, clock=clock, interval_seconds=60,
                    deliver_options={"slack": {"sleep": Sleeps()}})
    with capture_logs() as logs:
        daemon.tick("sync")
    (event,) = deliveries_logged(logs)
    assert event["status"] == "failed" and "may have been posted" in event["detail"]
    assert "--send slack --force" in event["detail"] and TOKEN not in str(logs)
    assert states(store, "slack") == [(CHANNEL, SENDING, 1, 1)]  # "may have been sent"
    (reason,) = one_line_reasons(store, "slack")
    assert reason.startswith("may have been sent: the connection to Slack failed after chat.postMessage")
    for later in (60, STALE_AFTER_SECONDS - 1, STALE_AFTER_SECONDS, 6 * 3600):
        clock.now = SEND_AT + later
        daemon.tick("sync")
    assert len(slack.calls(MAIN_POST)) == 1 and accepted_main_posts(slack, answers) == 0
    assert states(store, "slack") == [(CHANNEL, SENDING, 1, 1)]


# ----------------------------------------------------------------------------- processes


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "syncer.app.cli", *args], env={**os.environ, **env}, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("database_url", [BACKENDS[1]], indirect=True)  # PostgreSQL only
def test_two_daemons_and_a_manual_send_deliver_every_report_once(
    database_url: str, smtp: Smtp, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = int(time.time())  # the processes keep real time: the month due today is the one sent
    generated = generate_account(customers=12, seed=21, now=now)
    answer = slack.default

    def slow(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.path == MAIN_POST:
            time.sleep(0.3)  # hold the post so racing senders overlap in it
        return answer(request)

    monkeypatch.setattr(slack, "default", slow)
    with FakeStripe(generated, api_key=KEY) as server:
        server.start()
        settings = settings_for(server, database_url)
        engine = create_db_engine(database_url)
        upgrade_db(engine)
        store = Store(engine)
        try:
            # Synced beforehand, so the manual sender has data the moment it starts.
            assert sync(settings, store, clock=now).result.ok
            normalize_account(settings, store, now=now)
            due = Daemon(settings, store).due_edition(now)
            if due is None:
                pytest.skip("no month's report is due today (before business day 3, 09:00 UTC)")
            month = due[0]
            successes = sum(r["status"] == "success" for r in store.recent_runs(50))
            env = {
                "DATABASE_URL": database_url, "LOG_FORMAT": "json", "STRIPE_API_KEY": KEY,
                "STRIPE_API_BASE": server.base_url, "STRIPE_MAX_RPS": "1000",
                "SMTP_HOST": HOST, "SMTP_PORT": str(smtp.port), "SMTP_SECURITY": "starttls",
                "SSL_CERT_FILE": str(smtp.ca_file), "REPORT_EMAIL_FROM": SENDER,
                "REPORT_EMAIL_TO": ",".join(RECIPIENTS),
                "SLACK_BOT_TOKEN": TOKEN, "SLACK_CHANNEL": CHANNEL, "SLACK_API_BASE": slack.base,
            }
            daemons = [_start(["run"], env, tmp_path) for _ in range(2)]
            manual = _start(["report", "--month", month, "--send", "email,slack"], env, tmp_path)
            try:
                out, err = manual.communicate(timeout=60)
                assert manual.returncode == 0, err[-2000:]
                statuses = [line.split(": ", 1)[1].split(" ")[0] for line in out.splitlines() if ": " in line]
                assert len(statuses) == len(RECIPIENTS) + 1 and set(statuses) <= {"sent", "skipped"}, out
                # The leader's tick: a sync after the start, then its deliveries (if any are left).
                wait_for(lambda: sum(r["status"] == "success" for r in store.recent_runs(50)) > successes,
                         timeout=30, what="a daemon's sync")
                wait_for(lambda: len(smtp.inbox.messages) >= 2 and len(slack.calls(MAIN_POST)) >= 2,
                         timeout=30, what="the report by email and on Slack")
                time.sleep(2)  # room for a duplicate to show up, were there one
                for proc in daemons:
                    proc.send_signal(signal.SIGTERM)
                for proc in daemons:
                    _, err = proc.communicate(timeout=20)
                    assert proc.returncode == 0, err[-2000:]
                    assert "Traceback" not in err and '"daemon.stopped"' in err
            finally:
                for proc in [*daemons, manual]:
                    if proc.poll() is None:
                        proc.kill()
            assert smtp.inbox.recipients() == sorted(RECIPIENTS)  # each recipient once
            assert {str(m["Subject"]) for m in smtp.inbox.parsed()} == {str(smtp.inbox.parsed()[0]["Subject"])}
            posts = slack.calls(MAIN_POST)
            assert len([p for p in posts if "thread_ts" not in p.params]) == 1 and len(posts) == 2
            with store.reading() as conn:
                ledger = [(d.channel, d.target, d.state, d.generation, d.attempts)
                          for d in list_deliveries(conn, month=month)]
            assert ledger == [("email", r, SENT, 1, 1) for r in sorted(RECIPIENTS)] + [("slack", CHANNEL, SENT, 1, 1)]
        finally:
            engine.dispose()

