"""The email channel: its settings, the frozen email, the SMTP transport and its doctor check.

A month's report goes to every ``REPORT_EMAIL_TO`` recipient through the ledger
(``syncer.deliver.ledger.send_report``). The snapshot frozen there is the rendered email
itself (subject, text, HTML, chart, CSV): a retry re-sends exactly what the first attempt
sent, whatever the data says now. ``--force`` renders afresh and sends again, on purpose,
recorded as such.

Certificates are always verified (``ssl.create_default_context()``); tests pass their
own ``SSLContext`` or CA file instead of turning verification off. Every smtplib / ssl /
socket failure becomes one ``RetryLater`` or ``GiveUp`` line naming the setting to fix,
never the password.

One failure is neither: the connection lost after the message went out (the server's
354 to DATA) and before the server's final answer. The server may have accepted the
mail, so retrying it could send it twice; it raises ``SmtpUncertain`` (a
``SendUncertain``) and the ledger leaves the delivery unsettled for a person to check. A
failure after the server accepted the mail (a QUIT gone wrong) is no failure at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import smtplib
import socket
import ssl
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from syncer.app.checks import Check
from syncer.app.logging import redact
from syncer.app.values import CommaList, is_report_account, show_input
from syncer.deliver.channel import Channel, SendUncertain, SnapshotView, raw_view
from syncer.errors import ConfigError, GiveUp, RetryLater

# The renderers (matplotlib among them) and the ledger (SQLAlchemy) are imported where they
# are used: this module loads with the settings, which compose its EmailSettings.
if TYPE_CHECKING:
    from reports.metrics import MonthReport
    from syncer.deliver.ledger import Claim

DEFAULT_TIMEOUT_SECONDS = 30.0
# A doctor answers in seconds: a server that hangs is reported, not waited out.
DOCTOR_TIMEOUT_SECONDS = 10.0
CHART_CID = "nrr-chart"
COHORTS_CID = "nrr-cohorts"


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


class SmtpUncertain(SendUncertain):
    """The connection failed after the message was handed over (the server's 354 to DATA)
    and before the server's final answer: it may have been accepted, so it must not be
    retried automatically (a person checks, then re-sends on purpose)."""


# --------------------------------------------------------------------------- settings


def _parse_address(text: str) -> str:
    name, addr = parseaddr(text)
    local, at, domain = addr.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in addr):
        raise ValueError(f"{show_input(text)} is not an email address")
    return formataddr((name, addr)) if name else addr


class EmailSettings(BaseModel):
    """SMTP_HOST, SMTP_PORT, SMTP_USERNAME, SMTP_PASSWORD, SMTP_SECURITY, REPORT_EMAIL_FROM
    and REPORT_EMAIL_TO (see ``.env.example``), part of ``syncer.app.settings.Settings``."""

    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    report_email_from: str | None = None
    report_email_to: CommaList = ()
    # ``acct_1=ann@x.com,acct_1=bob@y.com,all=cfo@x.com``: each account's own recipients.
    report_email_to_by_account: Annotated[tuple[tuple[str, str], ...], NoDecode] = ()

    @field_validator("smtp_security", mode="before")
    @classmethod
    def _email_lower_security(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("report_email_from")
    @classmethod
    def _email_check_from(cls, value: str | None) -> str | None:
        return None if value is None else _parse_address(value)

    @field_validator("report_email_to", mode="before")
    @classmethod
    def _email_check_to(cls, value: Any) -> Any:
        if isinstance(value, str):
            # getaddresses copes with "Ann <ann@x.com>, bob@y.com" and quoted commas.
            pairs = getaddresses([value])
            return tuple(
                _parse_address(formataddr(pair) if pair[0] else pair[1])
                for pair in pairs
                if pair != ("", "")
            )
        if isinstance(value, (tuple, list)):
            return tuple(_parse_address(str(v)) for v in value)
        return value

    @field_validator("report_email_to_by_account", mode="before")
    @classmethod
    def _email_check_by_account(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            account, eq, address = part.partition("=")
            account = account.strip()
            if not eq or not is_report_account(account):
                raise ValueError(f"{show_input(part)} is not ACCOUNT=ADDRESS (ACCOUNT: platform, all or acct_…)")
            pairs.append((account, _parse_address(address.strip())))
        return tuple(dict.fromkeys(pairs))

    @field_validator("smtp_host", "smtp_username")
    @classmethod
    def _email_strip(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None

    @model_validator(mode="after")
    def _email_implicit_tls_port(self) -> EmailSettings:
        # Implicit TLS lives on 465; keep 587 only if someone asked for it explicitly.
        if self.smtp_security == "ssl" and "smtp_port" not in self.model_fields_set:
            object.__setattr__(self, "smtp_port", 465)
        return self


# --------------------------------------------------------------------------- the channel


def email_targets(settings: EmailSettings) -> tuple[str, ...]:
    """The recipients, once there is a server to send through."""
    return tuple(settings.report_email_to) if settings.smtp_host else ()


def email_targets_by_account(settings: EmailSettings) -> dict[str, tuple[str, ...]]:
    """REPORT_EMAIL_TO_BY_ACCOUNT's recipients of each account's report, once there is a server."""
    out: dict[str, tuple[str, ...]] = {}
    for account, address in settings.report_email_to_by_account if settings.smtp_host else ():
        out[account] = (*out.get(account, ()), address)
    return out


def require_email_settings(settings: EmailSettings) -> None:
    missing = [name for name, value in (
        ("SMTP_HOST", settings.smtp_host), ("REPORT_EMAIL_FROM", settings.report_email_from),
        ("REPORT_EMAIL_TO", settings.report_email_to or settings.report_email_to_by_account),
    ) if not value]
    if missing:
        raise ConfigError(f"email delivery needs {', '.join(missing)}; set them in .env (see .env.example)")


def render_snapshot(_settings: object, reports: Sequence[MonthReport]) -> str:
    """The frozen email: every part, and the report's JSON for the record."""
    from reports.render import render_csv
    from reports.render.chart import render_chart_png
    from reports.render.email_text import render_email_text, render_subject
    from reports.render.html import render_email_html
    from reports.render.jsonout import render_json

    report, previous = reports[-1], (reports[-2] if len(reports) > 1 else None)
    return json.dumps({
        "report": json.loads(render_json(report)),
        "subject": render_subject(report),
        "text": render_email_text(report, previous),
        "html": render_email_html(report, previous, CHART_CID, cohorts_cid=COHORTS_CID),
        "chart_png": base64.b64encode(render_chart_png(reports, report.month)).decode(),
        "cohorts_png": base64.b64encode(_cohorts_png(report)).decode() if report.cohorts else None,
        "csv": render_csv(report),
    })


def view_snapshot(snapshot_json: str) -> SnapshotView:
    """The frozen email as its reader saw it: text, HTML with its images named as files."""
    try:
        parts = json.loads(snapshot_json)
    except ValueError:  # not one of ours: shown as it is
        return raw_view(snapshot_json)
    if not isinstance(parts, dict) or "text" not in parts:
        return raw_view(snapshot_json)
    images = {name: base64.b64decode(parts[key]) for name, key in (("chart.png", "chart_png"),
                                                                  ("cohorts.png", "cohorts_png")) if parts.get(key)}
    html = parts.get("html")
    if html:
        html = html.replace(f"cid:{CHART_CID}", "chart.png").replace(f"cid:{COHORTS_CID}", "cohorts.png")
    return SnapshotView(f"Subject: {parts.get('subject', '')}\n\n{parts['text']}", html, images)


def _cohorts_png(report: MonthReport) -> bytes:
    from reports.render.cohort_chart import render_cohort_heatmap_png

    assert report.cohorts is not None
    return render_cohort_heatmap_png(report.cohorts)


def send_claimed(
    settings: EmailSettings, claim: Claim, *, report_month: str, ssl_context: ssl.SSLContext | None = None,
) -> str | None:
    """Mail the frozen email to the claimed recipient (Message-ID fixed by the claim)."""
    parts = json.loads(claim.snapshot_json)
    sender = str(settings.report_email_from)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "stripe-nrr.local"
    message = build_message(
        subject=parts["subject"], sender=sender, to=claim.target, text=parts["text"], html=parts["html"],
        chart_png=base64.b64decode(parts["chart_png"]), chart_cid=CHART_CID,
        # A snapshot frozen before the heatmap existed has none.
        more_images=[(COHORTS_CID, base64.b64decode(parts["cohorts_png"]))] if parts.get("cohorts_png") else (),
        csv_bytes=parts["csv"].encode(), csv_name=f"nrr-movements-{report_month}.csv",
        message_id=message_id_for(claim.account, claim.month, claim.target, claim.generation, domain),
    )
    send_email(settings, message, ssl_context=ssl_context)
    return None


def render_preview(reports: Sequence[MonthReport]) -> dict[str, bytes]:
    """The email's page and its chart, as files."""
    from reports.render.chart import render_chart_png
    from reports.render.html import render_email_html

    report, previous = reports[-1], (reports[-2] if len(reports) > 1 else None)
    files = {
        # Opened from disk, the page shows the chart files beside it (the email uses cid:).
        "report.html": render_email_html(report, previous, None, chart_src="chart.png",
                                         cohorts_src="cohorts.png").encode(),
        "chart.png": render_chart_png(reports, report.month),
    }
    if report.cohorts is not None:
        files["cohorts.png"] = _cohorts_png(report)
    return files


def render_html(report: MonthReport, previous: MonthReport | None) -> str:
    """``--format html``: on stdout there is no chart file to point at (``nrr preview`` has it)."""
    from reports.render.html import render_email_html

    return render_email_html(report, previous, None)


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
    date: datetime | None = None, more_images: Sequence[tuple[str, bytes]] = (),
) -> EmailMessage:
    """``multipart/mixed`` [ ``multipart/alternative`` [ text/plain,
    ``multipart/related`` [ text/html, image/png inline ] ], text/csv attachment ].

    Plain text comes first so clients that cannot show HTML show it; the chart is
    referenced from the HTML as ``cid:<chart_cid>``, each of ``more_images`` (content ID,
    PNG) by its own.
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
        images = ([(chart_cid, chart_png)] if chart_png is not None else []) + list(more_images)
        html_part = msg.get_body(preferencelist=("html",))
        assert isinstance(html_part, MIMEPart)
        for cid, png in images:
            html_part.add_related(
                png, maintype="image", subtype="png", cid=f"<{cid.strip('<>')}>",
                disposition="inline", filename=f"{cid.strip('<>').split('@')[0]}.png",
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


# --------------------------------------------------------------------------- doctor


def check_smtp(settings: EmailSettings, *, context: ssl.SSLContext | None = None,
               timeout: float = DOCTOR_TIMEOUT_SECONDS) -> list[Check]:
    """Connect, negotiate TLS and log in as ``send_email`` does, then QUIT: nothing is sent."""
    host, port, security = settings.smtp_host, settings.smtp_port, settings.smtp_security
    if not host:
        return [Check("smtp", "skip", "SMTP_HOST is not set: no email reports")]
    where = f"{host}:{port}"
    ctx = context or ssl.create_default_context()
    try:
        with _connect(host, port, security, ctx, timeout) as client:
            _secure_and_login(client, settings, security, ctx, where)
            tls = client.sock.version() if isinstance(client.sock, ssl.SSLSocket) else None
    except (SmtpRejected, SmtpUnavailable) as exc:
        return [Check("smtp", "fail", str(exc), "check SMTP_SECURITY, SMTP_USERNAME and SMTP_PASSWORD")]
    except ssl.SSLCertVerificationError as exc:
        return [Check("smtp", "fail", f"the TLS certificate of {where} was rejected: "
                      f"{_reason(exc.verify_message or exc)}",
                      "check SMTP_HOST is the name on the server's certificate")]
    except ssl.SSLError as exc:
        return [Check("smtp", "fail", f"TLS with {where} failed: {_reason(exc)}",
                      "check SMTP_SECURITY (ssl for implicit TLS, usually port 465; starttls, usually 587)")]
    except smtplib.SMTPAuthenticationError:
        return [Check("smtp", "fail", str(_login_refused(settings, where)).split(";")[0],
                      "check SMTP_USERNAME and SMTP_PASSWORD")]
    except smtplib.SMTPResponseException as exc:
        return [Check("smtp", "fail", f"{where} answered {exc.smtp_code} {_reason(exc.smtp_error)}",
                      "check SMTP_SECURITY and SMTP_USERNAME")]
    except (smtplib.SMTPException, OSError) as exc:  # refused, DNS, timeouts, resets
        why = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else _reason(exc)
        return [Check("smtp", "fail", f"cannot connect to {where} ({why})",
                      "check SMTP_HOST and SMTP_PORT, and that the mail server is running and reachable")]
    return [_logged_in(settings, where, security, tls)]


def _logged_in(settings: EmailSettings, where: str, security: str, tls: str | None) -> Check:
    done = [f"connected to {where}"]
    if tls:
        done.append(f"{'STARTTLS' if security == 'starttls' else 'TLS'} negotiated ({tls})")
    else:
        done.append("no TLS (SMTP_SECURITY=none)")
    done.append(f"logged in as {settings.smtp_username}" if settings.smtp_username else "no login")
    detail = ", ".join(done) + "; nothing sent"
    if not settings.report_email_from or not settings.report_email_to:
        return Check("smtp", "warn", detail + "; but REPORT_EMAIL_FROM or REPORT_EMAIL_TO is not set",
                     "set REPORT_EMAIL_FROM and REPORT_EMAIL_TO")
    if not tls:
        return Check("smtp", "warn", detail, "use SMTP_SECURITY=starttls or ssl unless this is a trusted local relay")
    return Check("smtp", "pass", detail)


EMAIL = Channel(
    name="email",
    settings=EmailSettings,
    needs="SMTP_HOST and REPORT_EMAIL_TO",
    targets=email_targets,
    require=require_email_settings,
    render=render_snapshot,
    send=send_claimed,
    check=check_smtp,
    preview=render_preview,
    formats={"html": render_html},
    secret_settings=("smtp_password",),
    targets_by_account=email_targets_by_account,
    view=view_snapshot,
)
