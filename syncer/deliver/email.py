"""The monthly report by email: building the MIME message and sending it over SMTP.

Certificates are always verified (``ssl.create_default_context()``); tests pass their
own ``SSLContext`` or CA file instead of turning verification off. Every smtplib / ssl /
socket failure becomes one ``RetryLater`` or ``GiveUp`` line naming the setting to fix,
never the password.

One failure is neither: the connection lost after the message went out (the server's
354 to DATA) and before the server's final answer. The server may have accepted the
mail, so retrying it could send it twice; it raises ``SmtpUncertain`` (a GiveUp) and the
caller leaves the delivery unsettled for a person to check. A failure after the server
accepted the mail (a QUIT gone wrong) is no failure at all.
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl
from datetime import datetime
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from typing import Literal, Protocol

from pydantic import SecretStr

from syncer.app.logging import redact
from syncer.errors import ConfigError, GiveUp, RetryLater

DEFAULT_TIMEOUT_SECONDS = 30.0


class SmtpConfig(Protocol):
    """What ``send_email`` needs of the settings (``syncer.app.settings.Settings`` fits)."""

    @property
    def smtp_host(self) -> str | None: ...
    @property
    def smtp_port(self) -> int: ...
    @property
    def smtp_username(self) -> str | None: ...
    @property
    def smtp_password(self) -> SecretStr | None: ...
    @property
    def smtp_security(self) -> Literal["starttls", "ssl", "none"]: ...


class SmtpUnavailable(RetryLater):
    """The SMTP server could not be reached or answered with a temporary (4xx) error."""


class SmtpRejected(GiveUp):
    """The SMTP server refused us for a reason a person has to fix (login, TLS, address)."""


class SmtpUncertain(GiveUp):
    """The connection failed after the message was handed over (the server's 354 to DATA)
    and before the server's final answer: it may have been accepted, so it must not be
    retried automatically (a person checks, then re-sends on purpose)."""


# --------------------------------------------------------------------------- message


def message_id_for(account: str, month: str, recipient: str, generation: int, domain: str) -> str:
    """A Message-ID fixed by what is sent, so a retry of the same send reuses it.

    The recipient is hashed: Message-IDs travel in headers and logs.
    """
    digest = hashlib.sha256(f"{account}\x00{month}\x00{recipient.strip().lower()}".encode()).hexdigest()[:20]
    return f"<nrr.{month}.{digest}.g{generation}@{domain}>"


def build_message(
    *, subject: str, sender: str, to: str | list[str] | tuple[str, ...], text: str, html: str | None,
    chart_png: bytes | None, chart_cid: str, csv_bytes: bytes | None, csv_name: str, message_id: str,
    date: datetime | None = None,
) -> EmailMessage:
    """``multipart/mixed`` [ ``multipart/alternative`` [ text/plain,
    ``multipart/related`` [ text/html, image/png inline ] ], text/csv attachment ].

    Plain text comes first so clients that cannot show HTML show it; the chart is
    referenced from the HTML as ``cid:<chart_cid>``.
    """
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    msg["Message-ID"] = message_id
    if date is not None:  # the caller owns the clock
        msg["Date"] = format_datetime(date)
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
        if chart_png is not None:
            html_part = msg.get_body(preferencelist=("html",))
            assert isinstance(html_part, MIMEPart)
            html_part.add_related(
                chart_png, maintype="image", subtype="png", cid=f"<{chart_cid.strip('<>')}>",
                disposition="inline", filename=f"{chart_cid.strip('<>').split('@')[0]}.png",
            )
    if csv_bytes is not None:
        msg.add_attachment(csv_bytes, maintype="text", subtype="csv", filename=csv_name)
    return msg


# --------------------------------------------------------------------------- transport


def send_email(
    config: SmtpConfig, message: EmailMessage, *, ssl_context: ssl.SSLContext | None = None,
    cafile: str | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Send ``message`` through the configured server; one-line error on any failure."""
    host, port, security = config.smtp_host, config.smtp_port, config.smtp_security
    if not host:
        raise ConfigError("SMTP_HOST is not set; set SMTP_HOST (and SMTP_PORT) to send the report by email")
    where = f"{host}:{port}"
    context = ssl_context or ssl.create_default_context(cafile=cafile)
    client: _Smtp | None = None
    try:
        try:
            with _connect(host, port, security, context, timeout) as client:
                _secure_and_login(client, config, security, context, where)
                client.send_message(message)
        except (smtplib.SMTPException, OSError):
            # Once the message is handed over, a retry is only safe if the server said no.
            if client is not None and client.accepted:
                return  # only QUIT failed: the mail is the server's, re-sending would duplicate it
            if client is not None and client.handed_over and not client.answered:
                raise SmtpUncertain(
                    f"the connection to SMTP_HOST {where} was lost after the message was sent and "
                    "before the server answered: it may have been delivered; check whether it arrived"
                ) from None
            raise
    except (SmtpRejected, SmtpUnavailable, SmtpUncertain):
        raise
    except ssl.SSLCertVerificationError as exc:
        raise SmtpRejected(
            f"the TLS certificate of SMTP_HOST {where} was rejected: {_reason(exc.verify_message or exc)}; "
            "check SMTP_HOST is the name on the server's certificate"
        ) from None
    except ssl.SSLError as exc:
        raise SmtpRejected(
            f"TLS with SMTP_HOST {where} failed: {_reason(exc)}; check SMTP_SECURITY "
            "(ssl for implicit TLS, usually port 465; starttls, usually port 587)"
        ) from None
    except smtplib.SMTPAuthenticationError:
        raise _login_refused(config, where) from None
    except smtplib.SMTPRecipientsRefused as exc:
        refused = ", ".join(sorted(exc.recipients))
        raise SmtpRejected(f"SMTP server {where} refused the recipient(s) {refused}; check REPORT_EMAIL_TO") from None
    except smtplib.SMTPSenderRefused as exc:
        raise _response_error(exc.smtp_code, f"SMTP server {where} refused the sender {exc.sender}: "
                              f"{_reason(exc.smtp_error)}; check REPORT_EMAIL_FROM") from None
    except smtplib.SMTPResponseException as exc:
        raise _response_error(exc.smtp_code, f"SMTP server {where} answered {exc.smtp_code} "
                              f"{_reason(exc.smtp_error)}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise SmtpRejected(f"SMTP server {where} does not support what we need: {_reason(exc)}; "
                           "check SMTP_SECURITY and SMTP_USERNAME") from None
    except (smtplib.SMTPServerDisconnected, OSError) as exc:  # refused, DNS, timeouts, resets
        raise SmtpUnavailable(f"cannot reach SMTP_HOST {where}: {_reason(exc)}") from None
    except smtplib.SMTPException as exc:
        raise SmtpUnavailable(f"SMTP with {where} failed: {_reason(exc)}") from None


class _Smtp(smtplib.SMTP):
    """``smtplib.SMTP`` that remembers how far the message got, which decides whether a
    failure may be retried: before the server's 354 to DATA nothing can have been
    accepted; between it and the final answer the mail's fate is unknown."""

    handed_over = False  # the server said 354: the message itself went on the wire
    answered = False  # the server gave its final answer to the message
    accepted = False  # ... and that answer was 2xx: the mail is the server's now

    def getreply(self) -> tuple[int, bytes]:
        final = self.handed_over and not self.answered
        code, text = super().getreply()  # raises SMTPServerDisconnected on a dropped connection
        if final:
            self.answered, self.accepted = True, 200 <= code < 300
        elif code == 354:
            self.handed_over = True
        return code, text


class _SmtpSsl(smtplib.SMTP_SSL, _Smtp):
    """Implicit TLS with the same bookkeeping."""


def _connect(host: str, port: int, security: str, context: ssl.SSLContext, timeout: float) -> _Smtp:
    if security == "ssl":
        return _SmtpSsl(host, port, timeout=timeout, context=context)
    return _Smtp(host, port, timeout=timeout)


def _secure_and_login(
    client: smtplib.SMTP, config: SmtpConfig, security: str, context: ssl.SSLContext, where: str
) -> None:
    client.ehlo()
    if security == "starttls":
        if not client.has_extn("starttls"):
            # Never fall back to plain text: the login and the revenue figures would leak.
            raise SmtpRejected(
                f"SMTP server {where} does not offer STARTTLS; set SMTP_SECURITY=ssl "
                "if it uses implicit TLS, or none only for a trusted local relay"
            )
        client.starttls(context=context)
        client.ehlo()
    if config.smtp_username:
        password = config.smtp_password.get_secret_value() if config.smtp_password else ""
        if not client.has_extn("auth"):
            raise SmtpRejected(
                f"SMTP server {where} does not offer AUTH (login) for SMTP_USERNAME {config.smtp_username}; "
                "check SMTP_SECURITY (many servers allow login only over TLS) or unset SMTP_USERNAME"
            )
        client.login(config.smtp_username, password)


def _login_refused(config: SmtpConfig, where: str) -> SmtpRejected:
    return SmtpRejected(
        f"SMTP server {where} refused the login for SMTP_USERNAME {config.smtp_username}; "
        "check SMTP_USERNAME and SMTP_PASSWORD"
    )


def _response_error(code: int, message: str) -> GiveUp | RetryLater:
    # 4xx is "try again later" in SMTP; 5xx is permanent.
    return SmtpUnavailable(message) if 400 <= code < 500 else SmtpRejected(message)


def _reason(exc: object) -> str:
    if isinstance(exc, bytes):
        text = exc.decode("utf-8", "replace")
    elif isinstance(exc, socket.gaierror):
        text = f"name not resolved ({exc.strerror or exc})"
    elif isinstance(exc, BaseException):
        text = str(exc) or type(exc).__name__
    else:
        text = str(exc)
    return redact(" ".join(text.split()))[:300]
