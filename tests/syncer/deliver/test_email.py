"""The email transport against a real SMTP server (aiosmtpd) with real TLS (trustme)."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import trustme

from syncer.app.settings import Settings, load_settings
from syncer.deliver.email import (
    SmtpRejected,
    SmtpUnavailable,
    build_message,
    message_id_for,
    send_email,
)
from syncer.errors import GiveUp, RetryLater
from tests.syncer.deliver.fake_smtp import (
    HOST,
    PASSWORD,
    USER,
    authenticator,
    free_port,
    server_context,
)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
CSV = b"month,mrr\r\n2026-10,1234.56\r\n"
CID = "nrr-chart@example.com"


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()  # verification on, as in production
    ca.configure_trust(ctx)
    return ctx


def _settings(port: int, security: str, username: str | None = USER, password: str | None = PASSWORD) -> Settings:
    return load_settings(
        _env_file=None, smtp_host=HOST, smtp_port=port, smtp_security=security,
        smtp_username=username, smtp_password=password,
    )


def _message(to: str = "ceo@example.com") -> EmailMessage:
    return build_message(
        subject="NRR report — October 2026", sender="NRR <reports@example.com>", to=to,
        text="NRR 104.2%\n", html=f'<p>NRR <b>104.2%</b></p><img src="cid:{CID}">',
        chart_png=PNG, chart_cid=CID, csv_bytes=CSV, csv_name="nrr-2026-10.csv",
        message_id=message_id_for("acct_1", "2026-10", to, 1, "example.com"),
        date=datetime(2026, 11, 4, 9, 0, tzinfo=UTC),
    )


def _check_received(raw: bytes) -> None:
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "NRR report — October 2026"
    assert msg["Message-ID"] == message_id_for("acct_1", "2026-10", "ceo@example.com", 1, "example.com")
    assert msg["To"] == "ceo@example.com"
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, related = alternative.iter_parts()
    assert plain.get_content_type() == "text/plain"  # first: the fallback
    assert plain.get_content().replace("\r\n", "\n") == "NRR 104.2%\n"
    assert related.get_content_type() == "multipart/related"
    html, png = related.iter_parts()
    assert html.get_content_type() == "text/html"
    assert f"cid:{CID}" in html.get_content()
    assert png.get_content_type() == "image/png"
    assert png["Content-ID"] == f"<{CID}>"
    assert png.get_content_disposition() == "inline"
    assert png.get_content() == PNG
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == "nrr-2026-10.csv"
    assert attachment.get_payload(decode=True) == CSV


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_with_login_delivers_every_part(
    serve: Any, ca: trustme.CA, client_context: ssl.SSLContext, mechanism: str
) -> None:
    other = "LOGIN" if mechanism == "PLAIN" else "PLAIN"
    inbox, port = serve(
        tls_context=server_context(ca, HOST), require_starttls=True, authenticator=authenticator,
        auth_require_tls=True, auth_exclude_mechanism=[other],
    )
    send_email(_settings(port, "starttls"), _message(), ssl_context=client_context)
    [(mail_from, rcpts, raw)] = inbox.messages
    assert (mail_from, rcpts) == ("reports@example.com", ["ceo@example.com"])
    _check_received(raw)


def test_cafile_is_accepted_instead_of_a_context(serve: Any, ca: trustme.CA, tmp_path: Any) -> None:
    inbox, port = serve(tls_context=server_context(ca, HOST), require_starttls=True)
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    send_email(_settings(port, "starttls", None, None), _message(), cafile=str(cafile))
    assert len(inbox.messages) == 1


def test_plain_server_without_tls(serve: Any) -> None:
    inbox, port = serve()
    send_email(_settings(port, "none", None, None), _message())
    _check_received(inbox.messages[0][2])


def test_implicit_tls(serve: Any, ca: trustme.CA, client_context: ssl.SSLContext) -> None:
    # aiosmtpd 1.4 counts only STARTTLS as TLS for auth_require_tls; the whole
    # connection is TLS here, so the login still never travels in clear.
    inbox, port = serve(
        ssl_context=server_context(ca, HOST), authenticator=authenticator, auth_require_tls=False,
    )
    send_email(_settings(port, "ssl"), _message(), ssl_context=client_context)
    _check_received(inbox.messages[0][2])


def test_wrong_password_is_a_one_line_give_up_without_the_password(
    serve: Any, ca: trustme.CA, client_context: ssl.SSLContext
) -> None:
    inbox, port = serve(
        tls_context=server_context(ca, HOST), require_starttls=True, authenticator=authenticator,
        auth_require_tls=True,
    )
    with pytest.raises(GiveUp) as caught:
        send_email(_settings(port, "starttls", password="wrong-Pa55word-xyz"), _message(), ssl_context=client_context)
    text = str(caught.value)
    assert isinstance(caught.value, SmtpRejected)
    assert "refused the login for SMTP_USERNAME reports@example.com" in text
    assert "check SMTP_USERNAME and SMTP_PASSWORD" in text
    assert "wrong-Pa55word" not in text and "\n" not in text
    assert inbox.messages == []


def test_stopped_server_is_retry_later() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(RetryLater) as caught:
        send_email(_settings(port, "none", None, None), _message(), timeout=5)
    assert isinstance(caught.value, SmtpUnavailable)
    assert str(caught.value).startswith(f"cannot reach SMTP_HOST {HOST}:{port}: ")


def test_certificate_for_another_host_is_give_up(serve: Any, ca: trustme.CA, client_context: ssl.SSLContext) -> None:
    inbox, port = serve(tls_context=server_context(ca, "mail.other.example"), require_starttls=True)
    with pytest.raises(GiveUp) as caught:
        send_email(_settings(port, "starttls", None, None), _message(), ssl_context=client_context)
    assert f"TLS certificate of SMTP_HOST {HOST}:{port} was rejected" in str(caught.value)
    assert inbox.messages == []


def test_untrusted_certificate_is_give_up_with_the_default_context(serve: Any, ca: trustme.CA) -> None:
    _inbox, port = serve(ssl_context=server_context(ca, HOST))
    with pytest.raises(GiveUp, match=f"SMTP_HOST {HOST}:{port}"):
        send_email(_settings(port, "ssl", None, None), _message())  # trustme's CA is not trusted


def test_starttls_never_falls_back_to_plain_text(serve: Any) -> None:
    inbox, port = serve()  # no STARTTLS offered
    with pytest.raises(GiveUp, match="does not offer STARTTLS"):
        send_email(_settings(port, "starttls"), _message())
    assert inbox.messages == []


def test_login_over_plain_text_refused_by_server_is_give_up(serve: Any) -> None:
    _inbox, port = serve(authenticator=authenticator, auth_require_tls=True)  # no AUTH without TLS
    with pytest.raises(GiveUp, match="does not offer AUTH"):
        send_email(_settings(port, "none"), _message())


def test_missing_host_is_a_config_error() -> None:
    with pytest.raises(GiveUp, match="SMTP_HOST is not set"):
        send_email(load_settings(_env_file=None), _message())


def test_message_id_is_deterministic_per_send() -> None:
    a = message_id_for("acct_1", "2026-10", "ceo@example.com", 1, "example.com")
    assert a == message_id_for("acct_1", "2026-10", "CEO@example.com ", 1, "example.com")
    assert a.startswith("<nrr.2026-10.") and a.endswith(".g1@example.com>") and "ceo" not in a
    others = {
        message_id_for("acct_1", "2026-10", "ceo@example.com", 2, "example.com"),
        message_id_for("acct_2", "2026-10", "ceo@example.com", 1, "example.com"),
        message_id_for("acct_1", "2026-11", "ceo@example.com", 1, "example.com"),
        message_id_for("acct_1", "2026-10", "cfo@example.com", 1, "example.com"),
    }
    assert a not in others and len(others) == 4


def test_message_without_chart_or_csv() -> None:
    msg = build_message(
        subject="s", sender="a@example.com", to=["b@example.com", "c@example.com"], text="t", html="<p>t</p>",
        chart_png=None, chart_cid=CID, csv_bytes=None, csv_name="x.csv", message_id="<x@example.com>",
    )
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["To"] == "b@example.com, c@example.com"


def test_unresolvable_host_is_retry_later(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # no network in tests: fail DNS for real
    config = load_settings(_env_file=None, smtp_host="smtp.nowhere.invalid", smtp_security="none")
    with pytest.raises(RetryLater, match=r"cannot reach SMTP_HOST smtp.nowhere.invalid:587: name not resolved"):
        send_email(config, _message())
