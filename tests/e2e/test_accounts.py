"""Two Stripe accounts synced together (STRIPE_ACCOUNTS): each gets its own facts and
report, and ``--account all`` consolidates them with a customer found in both counted once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from syncer.app.cli import app
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from tests.e2e.harness import KEY, NOW

runner = CliRunner()
# The in-process CLI points logging at CliRunner's stderr: undone after each test.
pytestmark = pytest.mark.usefixtures("cli_logging_undone")
CONNECTED = "acct_1ConnectedNrr0001"
MONTH = "2026-10"


@pytest.fixture
def two_accounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The platform's account and a connected one, synced; their first customers (both
    paying since the accounts began) share an e-mail address. Returns that customer's
    id in the platform account."""
    platform = generate_account(customers=15, seed=3, now=NOW)
    other = generate_account(customers=10, seed=7, now=NOW)
    shared = platform.customers[0]
    other.customers[0]["email"] = shared["email"].upper()  # matched whatever the case
    with FakeStripe(platform, api_key=KEY, connected={CONNECTED: other}) as server:
        server.start()
        monkeypatch.chdir(tmp_path)
        for name, value in (("LOG_FORMAT", "json"), ("STRIPE_API_KEY", KEY), ("STRIPE_API_BASE", server.base_url),
                            ("STRIPE_ACCOUNTS", CONNECTED), ("FX_RATES", "eur=1.10")):
            monkeypatch.setenv(name, value)
        synced = runner.invoke(app, ["sync"])
        assert synced.exit_code == 0, synced.output
        yield str(shared["id"])


def _report(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(app, ["report", "--month", MONTH, "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_each_account_and_all_of_them_together(two_accounts: str) -> None:
    platform, connected, together = _report(), _report("--account", CONNECTED), _report("--account", "all")
    assert _report("--account", "platform") == platform
    # Both accounts hold MRR of their own.
    assert platform["mrr"]["start"] > 0 and connected["mrr"]["start"] > 0
    assert platform["mrr"] != connected["mrr"]
    # Matching only regroups customers: the MRR of all is the two accounts' added up …
    for end in ("start", "end"):
        assert together["mrr"][end] == round(platform["mrr"][end] + connected["mrr"][end], 2)
    m = together["mrr"]
    assert round(m["start"] + m["new"] + m["reactivation"] + m["expansion"] - m["contraction"] - m["churn"]
                 + m["fx_impact"], 2) == m["end"]
    # … and the customer paying in both is one customer.
    assert together["customers"]["start"] == platform["customers"]["start"] + connected["customers"]["start"] - 1
    assert together["customers"]["end"] == platform["customers"]["end"] + connected["customers"]["end"] - 1
    # The segments of all of them add up too.
    for dimension in together["segments"]:
        assert round(sum(s["mrr"]["end"] for s in dimension["segments"]), 2) == m["end"]


def test_without_matching_every_customer_counts_apart(two_accounts: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCOUNT_MATCH_KEY", "none")
    platform, connected, together = _report(), _report("--account", CONNECTED), _report("--account", "all")
    assert together["customers"]["start"] == platform["customers"]["start"] + connected["customers"]["start"]


def test_an_account_not_synced_is_one_line_naming_those_there_are(two_accounts: str) -> None:
    result = runner.invoke(app, ["report", "--account", "acct_1Unknown"])
    assert result.exit_code == 78
    (line,) = [x for x in result.output.splitlines() if x.startswith("nrr: error:")]
    assert "account 'acct_1Unknown' is not synced (add it to STRIPE_ACCOUNTS and sync)" in line
    assert f"use one of platform, all, {CONNECTED}" in line
