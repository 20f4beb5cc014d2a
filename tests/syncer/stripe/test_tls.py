"""Certificates are verified for Stripe and Slack, with the system's trust store.

A loopback HTTPS server presents a certificate from a throwaway CA. Not trusted: the
call fails at once with one line that names the certificate. Trusted through
SSL_CERT_FILE (what an operator behind a TLS-inspecting proxy would set): the very same
server works, so the failure really was verification and not something else.
SMTP is covered by tests/syncer/deliver/test_email.py (a certificate for the wrong host).
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe
import trustme

from syncer.app.settings import load_settings
from syncer.deliver.slack import SlackUnavailable, send_slack_web
from syncer.errors import NrrError
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import generate_account
from syncer.stripe.client import StripeApi, operator_trust
from tests.e2e.harness import KEY, NOW

HOST = "127.0.0.1"
TOKEN = "xoxb-1111111111-2222222222-tlstesttokenvalue"


@dataclass
class TlsProxy:
    """HTTPS on loopback in front of a plain-HTTP handler."""

    url: str
    ca_file: Path


def _serve_tls(handler: type[BaseHTTPRequestHandler], tmp_path: Path) -> Iterator[TlsProxy]:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(ctx)
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = ThreadingHTTPServer((HOST, 0), handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield TlsProxy(f"https://{HOST}:{server.server_address[1]}", ca_file)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stripe_tls(tmp_path: Path) -> Iterator[TlsProxy]:
    """The fake Stripe, reached through HTTPS: each request is relayed to it over loopback."""
    import urllib.request

    account = generate_account(customers=3, seed=2, now=NOW)
    with FakeStripe(account, api_key=KEY) as fake:
        fake.start()
        upstream = fake.base_url

        class Relay(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                req = urllib.request.Request(upstream + self.path, headers=dict(self.headers.items()))
                try:
                    with urllib.request.urlopen(req, timeout=10) as resp:
                        status, headers, body = resp.status, resp.headers, resp.read()
                except urllib.error.HTTPError as exc:
                    status, headers, body = exc.code, exc.headers, exc.read()
                self.send_response(status)
                for name in ("Content-Type", "Request-Id", "Stripe-Version"):
                    if headers.get(name):
                        self.send_header(name, headers[name])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        yield from _serve_tls(Relay, tmp_path)


def _api(base: str) -> StripeApi:
    return StripeApi(KEY, base, retry_budget_seconds=30, sleep=lambda _s: None)


def test_stripe_untrusted_certificate_fails_at_once_with_one_line(
    stripe_tls: TlsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    api = _api(stripe_tls.url)
    with pytest.raises(NrrError) as err:
        api.fetch_list_page("/v1/customers", {"limit": 1}, resource="customers")
    message = str(err.value)
    assert "\n" not in message
    assert "certificate" in message.lower(), message
    assert KEY not in message
    assert api.stats().requests == 1, "a certificate that is not trusted is not retried"


def test_stripe_with_the_ca_trusted_works(stripe_tls: TlsProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    # Without SSL_CERT_FILE the stripe SDK verifies against its own CA bundle.
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setattr(stripe, "ca_bundle_path", str(stripe_tls.ca_file))
    page = _api(stripe_tls.url).fetch_list_page("/v1/customers", {"limit": 1}, resource="customers")
    assert len(page.data) == 1 and page.data[0]["object"] == "customer"


def test_stripe_honours_ssl_cert_file_like_smtp_and_slack(
    stripe_tls: TlsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An operator behind a TLS-inspecting proxy trusts its CA once, for every connection.
    monkeypatch.setenv("SSL_CERT_FILE", str(stripe_tls.ca_file))
    page = _api(stripe_tls.url).fetch_list_page("/v1/customers", {"limit": 1}, resource="customers")
    assert len(page.data) == 1 and page.data[0]["object"] == "customer"
    assert operator_trust({}) is None  # unset: the SDK's bundle, not the system store
    assert operator_trust({"SSL_CERT_DIR": "/etc/ssl/certs"}) is not None


class _SlackOk(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"ok": True, "channel": "C1", "ts": "1700000000.000100"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def slack_tls(tmp_path: Path) -> Iterator[TlsProxy]:
    yield from _serve_tls(_SlackOk, tmp_path)


def _slack_settings(base: str) -> Any:
    return load_settings(_env_file=None, slack_bot_token=TOKEN, slack_channel="#revenue",
                         slack_api_base=base + "/api/")


MESSAGE = {"text": "NRR", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "NRR"}}]}


def test_slack_untrusted_certificate_fails_with_one_line(
    slack_tls: TlsProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    sleeps: list[float] = []
    with pytest.raises(SlackUnavailable) as err:
        send_slack_web(_slack_settings(slack_tls.url), MESSAGE, None, None, sleep=sleeps.append)
    message = str(err.value)
    assert "\n" not in message
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate" in message.lower(), message
    assert TOKEN not in message


def test_slack_with_the_ca_trusted_works(slack_tls: TlsProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(slack_tls.ca_file))
    ts = send_slack_web(_slack_settings(slack_tls.url), MESSAGE, None, None, sleep=lambda _s: None).ts
    assert ts == "1700000000.000100"


def test_nrr_sync_against_an_untrusted_certificate_is_one_line(
    stripe_tls: TlsProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from syncer.app.cli import app

    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    for name, value in {"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": stripe_tls.url, "LOG_FORMAT": "json",
                        "DATABASE_URL": f"sqlite:///{tmp_path / 'nrr.db'}"}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["sync"])
    errors = [line for line in result.output.splitlines() if line.startswith("nrr: error:")]
    assert result.exit_code == 75, result.output
    assert len(errors) == 1 and "TLS certificate" in errors[0], result.output
    assert "Traceback" not in result.output and KEY not in result.output

    monkeypatch.setenv("SSL_CERT_FILE", str(stripe_tls.ca_file))  # the operator trusts the CA
    trusted = CliRunner().invoke(app, ["sync"])
    assert trusted.exit_code == 0, trusted.output
