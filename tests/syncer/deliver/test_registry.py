"""The registry is the one list of delivery channels.

A channel added to it (here a carrier pigeon, never shipped) is offered by ``nrr report
--send`` and ``--format``, routed by the daemon, checked by ``nrr doctor``, written by
``nrr preview``, redacted in logs and sent through the ledger's one claim → send → mark
loop, with nothing else edited; and the modules that do those things name no channel.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from structlog.testing import capture_logs
from typer.testing import CliRunner

from reports.facts import Facts
from reports.fx import FxTable
from reports.metrics import MetricSettings, MonthReport, history
from reports.month import month_range
from syncer.app.checks import Check
from syncer.app.cli import app
from syncer.app.doctor import run_doctor
from syncer.app.logging import redact
from syncer.app.preview import write_preview
from syncer.app.settings import _SECRET_FIELDS, Settings, load_settings
from syncer.daemon.run import Daemon
from syncer.db.deliveries import FAILED, SENDING, SENT
from syncer.db.engine import create_db_engine
from syncer.db.store import Store
from syncer.deliver import registry
from syncer.deliver.channel import Channel, SendUncertain
from syncer.deliver.email import EMAIL
from syncer.deliver.ledger import Claim, delivery_status, send_report
from syncer.deliver.slack import SLACK
from syncer.errors import RetryLater
from tests.e2e.harness import NOW

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "acct_pigeon"
runner = CliRunner()


class PigeonSettings(BaseModel):
    """A channel without settings of its own."""


class Loft:
    """Where the pigeon channel sends: what it was given, and what it should do next."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []
        self.targets: tuple[str, ...] = ("loft-a", "loft-b")
        self.fail: dict[str, Exception] = {}
        self.no_reply = "loft-a"

    def send(self, _settings: Any, claim: Claim, *, report_month: str, wings: int = 2) -> str | None:
        if claim.target in self.fail:
            raise self.fail[claim.target]
        self.sent.append((claim.target, json.loads(claim.snapshot_json)["month"], wings))
        return "no reply from the loft" if claim.target == self.no_reply else None


def pigeon(loft: Loft) -> Channel:
    return Channel(
        name="pigeon",
        settings=PigeonSettings,
        needs="PIGEON_LOFT",
        targets=lambda _settings: loft.targets,
        require=lambda _settings: None,
        render=lambda _settings, reports: json.dumps({"month": reports[-1].month}),
        send=loft.send,
        check=lambda _settings, **options: [Check("pigeon", "pass", f"loft ready{options.get('note', '')}")],
        preview=lambda reports: {"pigeon.txt": f"coo {reports[-1].month}\n".encode()},
        formats={"coo": lambda report, _previous: f"coo {report.month}\n"},
        secret_shapes=(re.compile(r"(pgn_)[a-z0-9]+"),),
    )


@pytest.fixture
def loft() -> Loft:
    return Loft()


@pytest.fixture
def with_pigeon(monkeypatch: pytest.MonkeyPatch, loft: Loft) -> Iterator[Channel]:
    channel = pigeon(loft)
    monkeypatch.setattr(registry, "CHANNELS", (*registry.CHANNELS, channel))
    yield channel


@pytest.fixture(scope="module")
def reports() -> list[MonthReport]:
    """Two months of an account with no customers: enough to render every format."""
    facts = Facts((), (), (), (), (), "usd", "Acme Analytics", ())
    return history(facts, month_range("2026-10", 2), MetricSettings(), FxTable("usd"), data_as_of=NOW)


def _settings(**overrides: Any) -> Settings:
    return load_settings(_env_file=None, **overrides)


# ------------------------------------------------------------------ the shipped list


def test_the_registry_lists_email_then_slack() -> None:
    assert registry.CHANNELS == (EMAIL, SLACK)
    assert registry.channel_names() == ("email", "slack")
    assert registry.channel_named("slack") is SLACK
    with pytest.raises(KeyError):
        registry.channel_named("pigeon")


def test_settings_are_composed_of_each_channels_settings() -> None:
    owners: dict[str, str] = {}
    for channel in registry.CHANNELS:
        for name in channel.settings.model_fields:
            assert name not in owners, f"{name} is declared by {owners[name]} and {channel.name}"
            owners[name] = channel.name
            assert Settings.model_fields[name].annotation == channel.settings.model_fields[name].annotation
        # Every validator the channel declares is the one Settings runs (a clash of names
        # between channels would silently replace one).
        for kind in ("field_validators", "model_validators"):
            declared = getattr(channel.settings.__pydantic_decorators__, kind)
            composed = getattr(Settings.__pydantic_decorators__, kind)
            for name, validator in declared.items():
                assert _function(composed[name].func) is _function(validator.func), (channel.name, name)
        assert set(channel.secret_settings) <= _SECRET_FIELDS
    assert set(owners) == {
        "smtp_host", "smtp_port", "smtp_username", "smtp_password", "smtp_security", "report_email_from",
        "report_email_to", "report_email_to_by_account", "slack_bot_token", "slack_channel", "slack_webhook_url",
        "slack_api_base",
    }
    # The variables stay where they were: the channels' between the report's and the daemon's.
    fields = list(Settings.model_fields)
    assert fields.index("usage_in_mrr") + 1 == fields.index("smtp_host")
    assert fields.index("slack_api_base") + 1 == fields.index("sync_interval_minutes")


def _function(method: Any) -> Any:
    return getattr(method, "__func__", method)  # a classmethod is bound to each class


# Where the channels are enumerated: none of these may name one.
COMPOSERS = ["syncer/app/cli.py", "syncer/app/doctor.py", "syncer/app/logging.py", "syncer/app/preview.py",
             "syncer/app/settings.py", "syncer/daemon/run.py", "syncer/deliver/ledger.py",
             "syncer/deliver/channel.py"]
CHANNEL_WORD = re.compile(r"smtp|slack|e-?mail", re.IGNORECASE)


def _names_and_strings(tree: ast.AST) -> Iterator[str]:
    """Identifiers, imported modules and string literals, docstrings and comments left out."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            yield node.arg
        elif isinstance(node, ast.alias):
            yield node.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.value


@pytest.mark.parametrize("path", COMPOSERS)
def test_the_modules_that_enumerate_channels_name_none(path: str) -> None:
    named = [word for word in _names_and_strings(ast.parse((ROOT / path).read_text()))
             if CHANNEL_WORD.search(word)]
    assert named == [], path


# ------------------------------------------------------------------ a channel added to it


def test_report_offers_every_channel_and_format_of_the_registry(with_pigeon: Channel) -> None:
    send = runner.invoke(app, ["report", "--send", "owl"])
    assert send.exit_code == 78
    assert "--send owl is not known; use email, slack, pigeon" in send.output
    fmt = runner.invoke(app, ["report", "--format", "owl"])
    assert fmt.exit_code == 78
    assert "use text, json, csv, html, slack, coo" in fmt.output


def test_the_daemon_routes_every_set_up_channel_of_the_registry(
    with_pigeon: Channel, loft: Loft, tmp_path: Path
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'nrr.db'}")  # the daemon's lock sits beside it
    store = Store(engine)
    try:
        emailing = _settings(smtp_host="mail.example.com", report_email_to="cfo@example.com")
        routes = Daemon(emailing, store, clock=lambda: float(NOW)).channels()
        assert [(r.name, r.targets) for r in routes] == [("email", ("cfo@example.com",)),
                                                         ("pigeon", ("loft-a", "loft-b"))]
        loft.targets = ()  # not set up: left out, and named in the warning
        with capture_logs() as logs:
            assert Daemon(_settings(), store, clock=lambda: float(NOW)).deliver_due() == []
        warning = next(entry for entry in logs if entry["event"] == "report.no_channel")
        assert warning["fix"] == ("set SMTP_HOST and REPORT_EMAIL_TO, or SLACK_BOT_TOKEN and SLACK_CHANNEL, "
                                  "or PIGEON_LOFT")
    finally:
        engine.dispose()


def test_doctor_runs_each_channels_check_in_registry_order(with_pigeon: Channel, tmp_path: Path) -> None:
    checks = run_doctor(lambda: _settings(database_url=f"sqlite:///{tmp_path / 'absent.db'}"), now=NOW,
                        channel_options={"pigeon": {"note": ", seeds counted"}})
    names = [c.name for c in checks]
    assert names[names.index("database") + 1:names.index("schedule")] == ["smtp", "slack", "pigeon"]
    assert next(c for c in checks if c.name == "pigeon").detail == "loft ready, seeds counted"


def test_preview_writes_each_channels_files(with_pigeon: Channel, reports: list[MonthReport], tmp_path: Path) -> None:
    written = write_preview(reports, tmp_path / "pv")
    assert [p.name for p in written] == ["report.html", "chart.png", "slack.json", "pigeon.txt", "movements.csv"]
    assert (tmp_path / "pv" / "pigeon.txt").read_text() == "coo 2026-10\n"


def test_logs_redact_each_channels_secret_shapes(monkeypatch: pytest.MonkeyPatch, loft: Loft) -> None:
    line = "token pgn_s3cr3t and xoxb-1234-5678-AbCdEfGhIjKl"
    assert redact(line) == "token pgn_s3cr3t and xoxb-…redacted"
    monkeypatch.setattr(registry, "CHANNELS", (*registry.CHANNELS, pigeon(loft)))
    assert redact(line) == "token pgn_…redacted and xoxb-…redacted"


# ------------------------------------------------------------------ the one ledger loop


def _row(store: Store, target: str, month: str = "2026-10") -> tuple[str, int, int]:
    row = delivery_status(store, account=ACCOUNT, month=month, channel="pigeon", target=target)
    assert row is not None
    return row.state, row.generation, row.attempts


def test_any_channel_is_sent_once_per_target_through_the_ledger(
    store: Store, loft: Loft, reports: list[MonthReport]
) -> None:
    channel = pigeon(loft)
    settings = _settings()

    def send(**kw: Any) -> list[tuple[str, str, str]]:
        outcomes = send_report(channel, settings, store, ACCOUNT, reports, now=NOW, **kw)
        return [(o.target, o.status, o.detail) for o in outcomes]

    assert send(dry_run=True) == [("loft-a", "dry-run", "rendered, not sent"),
                                  ("loft-b", "dry-run", "rendered, not sent")]
    assert loft.sent == []
    assert send(wings=1) == [("loft-a", "sent", "no reply from the loft"), ("loft-b", "sent", "")]
    assert loft.sent == [("loft-a", "2026-10", 1), ("loft-b", "2026-10", 1)]
    again = send()
    assert [status for _, status, _ in again] == ["skipped", "skipped"]
    assert all("already sent" in detail for _, _, detail in again)
    assert send(force=True) == [("loft-a", "sent", "forced; no reply from the loft"), ("loft-b", "sent", "forced")]
    assert _row(store, "loft-a") == (SENT, 2, 1)
    # A preliminary edition is its own delivery.
    assert [status for _, status, _ in send(edition="preliminary")] == ["sent", "sent"]
    assert _row(store, "loft-b", "2026-10/preliminary") == (SENT, 1, 1)


def test_a_failed_send_is_recorded_and_a_maybe_sent_one_is_left_to_a_person(
    store: Store, loft: Loft, reports: list[MonthReport]
) -> None:
    channel = pigeon(loft)
    loft.fail = {"loft-a": RetryLater("the loft is closed"), "loft-b": SendUncertain("the pigeon flew off")}
    outcomes = send_report(channel, _settings(), store, ACCOUNT, reports, now=NOW)
    assert [(o.target, o.status) for o in outcomes] == [("loft-a", "failed"), ("loft-b", "failed")]
    assert outcomes[0].detail == "the loft is closed"
    assert outcomes[1].detail.startswith("the pigeon flew off; not retried automatically")
    assert "nrr report --month 2026-10 --send pigeon --force" in outcomes[1].detail
    assert _row(store, "loft-a") == (FAILED, 1, 1)
    assert _row(store, "loft-b") == (SENDING, 1, 1)
    assert loft.sent == []


# ------------------------------------------------------------------ the snapshot as sent


@pytest.mark.parametrize("channel", [EMAIL, SLACK], ids=lambda c: c.name)
def test_each_channel_shows_its_frozen_snapshot_as_its_reader_saw_it(channel: Channel,
                                                                     reports: list[MonthReport]) -> None:
    settings = _settings(slack_bot_token="xoxb-1-2-abc", slack_channel="#finance")
    view = registry.channel_view(channel.name, channel.render(settings, reports))
    assert "October 2026" in view.text and "Acme Analytics" in view.text
    assert set(view.images) == {"chart.png"} and view.images["chart.png"].startswith(b"\x89PNG")
    if channel is EMAIL:
        assert view.html is not None and "cid:" not in view.html and 'src="chart.png"' in view.html
        assert view.text.startswith("Subject: ")
    else:
        assert view.html is None and "In the thread:" in view.text
        assert "&amp;" not in view.text and "&lt;" not in view.text  # Slack's escapes undone


def test_a_snapshot_that_is_not_a_report_shows_as_its_json() -> None:
    since = registry.channel_view("slack", '{"since": 1790000000}')
    assert since.text == '{\n  "since": 1790000000\n}' and since.html is None and not since.images
    assert registry.channel_view("carrier-pigeon", "not json").text == "not json"
    assert registry.channel_view("email", "not json").text == "not json"
    assert registry.channel_view("slack", "[1").text == "[1"
