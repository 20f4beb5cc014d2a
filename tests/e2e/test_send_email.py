"""``nrr report --send email``: one email per recipient to a real SMTP server, once."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from syncer.app.cli import app
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.e2e.harness import KEY, NOW
from tests.syncer.deliver.fake_slack import FakeSlack

runner = CliRunner()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_send_email_once_then_skip_then_force(smtp: tuple[Inbox, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port = smtp
    monkeypatch.chdir(tmp_path)
    account = generate_account(customers=15, seed=3, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        for name, value in {
            "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": fake.base_url, "LOG_FORMAT": "json",
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none",
            "REPORT_EMAIL_FROM": "NRR <nrr@example.com>", "REPORT_EMAIL_TO": "cfo@example.com,ops@example.com",
        }.items():
            monkeypatch.setenv(name, value)
        assert runner.invoke(app, ["sync"]).exit_code == 0

    dry = runner.invoke(app, ["report", "--month", "2026-10", "--send", "email", "--dry-run"])
    assert dry.exit_code == 0 and inbox.messages == []

    first = runner.invoke(app, ["report", "--month", "2026-10", "--send", "email"])
    assert first.exit_code == 0, first.output
    assert sorted(r for rcpts, _ in inbox.messages for r in rcpts) == ["cfo@example.com", "ops@example.com"]
    msg = email.message_from_bytes(inbox.messages[0][1], policy=policy.default)
    assert "October 2026" in str(msg["Subject"]) and "NRR" in str(msg["Subject"])
    parts = [p.get_content_type() for p in msg.walk()]
    assert parts.index("text/plain") < parts.index("text/html")
    assert "image/png" in parts and "text/csv" in parts
    html = next(p for p in msg.walk() if p.get_content_type() == "text/html").get_content()
    pngs = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    # The 13-month trend and the signup-cohort heatmap, each shown where the HTML names it.
    assert [p.get_filename() for p in pngs] == ["nrr-chart.png", "nrr-cohorts.png"]
    for png in pngs:
        assert f"cid:{png['Content-ID'].strip('<>')}" in html and png.get_content().startswith(b"\x89PNG")
    assert "Signup cohorts" in html
    first_ids = {email.message_from_bytes(raw, policy=policy.default)["Message-ID"] for _, raw in inbox.messages}

    again = runner.invoke(app, ["report", "--month", "2026-10", "--send", "email"])
    assert again.exit_code == 0 and "skipped" in again.stdout
    assert len(inbox.messages) == 2

    forced = runner.invoke(app, ["report", "--month", "2026-10", "--send", "email", "--force"])
    assert forced.exit_code == 0 and "forced" in forced.stdout
    assert len(inbox.messages) == 4
    new_ids = {email.message_from_bytes(raw, policy=policy.default)["Message-ID"] for _, raw in inbox.messages[2:]}
    assert not new_ids & first_ids  # a deliberate resend is a new message


def test_send_without_smtp_settings_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    account = generate_account(customers=8, seed=4, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        monkeypatch.setenv("STRIPE_API_KEY", KEY)
        monkeypatch.setenv("STRIPE_API_BASE", fake.base_url)
        assert runner.invoke(app, ["sync"]).exit_code == 0
    result = runner.invoke(app, ["report", "--month", "2026-10", "--send", "email"])
    assert result.exit_code == 78
    assert "SMTP_HOST" in result.output and "REPORT_EMAIL_TO" in result.output
    bad = runner.invoke(app, ["report", "--send", "pigeon"])
    assert bad.exit_code == 78 and "pigeon" in bad.output


def test_send_slack_once_with_chart_and_thread(slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    account = generate_account(customers=12, seed=6, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        for name, value in {
            "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": fake.base_url, "LOG_FORMAT": "json",
            "SLACK_BOT_TOKEN": "xoxb-1111111111-2222222222-abcdefghijklmnopqrstuvwx",
            "SLACK_CHANNEL": "#revenue", "SLACK_API_BASE": slack.base,
        }.items():
            monkeypatch.setenv(name, value)
        assert runner.invoke(app, ["sync"]).exit_code == 0
    first = runner.invoke(app, ["report", "--month", "2026-10", "--send", "slack"])
    assert first.exit_code == 0, first.output
    assert "slack #revenue: sent" in first.stdout
    posts = slack.calls("/api/chat.postMessage")
    assert len(posts) == 2  # the message, then the movers in its thread
    assert "thread_ts" in posts[1].params
    assert len(slack.calls("/api/files.completeUploadExternal")) == 1  # the chart
    assert "xoxb-" not in first.output
    again = runner.invoke(app, ["report", "--month", "2026-10", "--send", "slack"])
    assert again.exit_code == 0 and "skipped" in again.stdout
    assert len(slack.calls("/api/chat.postMessage")) == 2
