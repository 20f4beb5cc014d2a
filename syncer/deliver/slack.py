"""The Slack channel: its settings, the frozen digest, the transport (a bot token's Web
API or an incoming webhook) and its doctor check.

With ``SLACK_BOT_TOKEN`` and ``SLACK_CHANNEL``: the Web API (message, chart, movers in the
thread). With ``SLACK_WEBHOOK_URL``: the same blocks without the chart. The snapshot
frozen in the ledger (``syncer.deliver.ledger.send_report``) is the rendered payload, so
a retry posts what the first try would.

Payloads come ready-made from ``reports.render.slack`` (``render_slack_blocks`` /
``render_slack_thread``); the transport below only carries them.

Chart placement (Web API): the PNG is uploaded first with ``files_upload_v2`` and no
channel (a private file, shared nowhere), then the message is posted with an ``image``
block that points at it by ``slack_file`` id (``with_chart_file``), then the top-movers
reply follows in its thread. Slack processes uploads asynchronously, so right after one
``chat.postMessage`` may refuse that block (``invalid_blocks``); for that message only,
this answer is retried ``IMAGE_ATTEMPTS`` times. If Slack still refuses, the message goes
out without the image and the chart is uploaded into its thread instead (with the
channel *id* from the post's answer: ``files.completeUploadExternal`` does not take a
``#name``), and a warning is logged. The webhook cannot upload files, so it sends the
blocks alone.

slack_sdk's own retry handlers sleep with ``time.sleep`` and cannot be bounded from
here, so they are turned off and this module retries: 429 (honouring ``Retry-After``),
5xx and network errors, at most ``MAX_ATTEMPTS`` times, through an injectable ``sleep``.
Failures become one ``SlackUnavailable`` (RetryLater) or ``SlackRejected`` (GiveUp)
line naming the setting to fix, never the token nor the webhook URL's path.

Never twice: Slack's chat.postMessage has no idempotency key, so a post is retried only
when it cannot have reached Slack (urllib raises ``URLError`` while connecting or
sending) or when Slack answered that it did not take it (429, 5xx). A connection that
times out, resets or closes *after* the request went out may have posted it: that is
``SlackUncertain``, never retried automatically (the ledger keeps it in its "may have
been sent" state, as for an SMTP connection lost after DATA). Once the message itself is
posted, a failed thread reply or chart upload is reported (``Posted.incomplete``) but
does not fail the delivery: retrying it would post the message again.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from pydantic import BaseModel, SecretStr, field_validator
from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError, SlackClientError

from syncer.app.checks import Check
from syncer.app.logging import get_logger, redact
from syncer.app.values import parse_http_url
from syncer.deliver.channel import Channel, SendUncertain, SnapshotView, raw_view
from syncer.errors import ConfigError, GiveUp, RetryLater

# The renderers (matplotlib among them) and the ledger (SQLAlchemy) are imported where they
# are used: this module loads with the settings, which compose its SlackSettings.
if TYPE_CHECKING:
    from reports.metrics import MonthReport
    from syncer.deliver.ledger import Claim

MAX_ATTEMPTS = 5
BASE_DELAY_SECONDS = 1.0
# A Retry-After longer than this is better served by the daemon's next tick than by blocking.
MAX_WAIT_SECONDS = 120.0
TIMEOUT_SECONDS = 30
CHART_FILENAME = "nrr-chart.png"
CHART_TITLE = "MRR movements and NRR, 13 months"
# Posts of the message with the chart image while Slack still processes the upload.
IMAGE_ATTEMPTS = 4
# A doctor answers in seconds: a Slack that hangs is reported, not waited out.
DOCTOR_TIMEOUT_SECONDS = 10
WEBHOOK_TARGET = "webhook"  # the ledger's target for SLACK_WEBHOOK_URL (its URL is a secret)

# Slack tokens: bot, user, legacy workspace, app-level (xapp-1-A.../...), refresh.
_TOKEN_SHAPE = re.compile(r"(xox[abposr]-|xapp-)[A-Za-z0-9-]+")
# Incoming-webhook and workflow URLs: the path *is* the credential.
_HOOK_SHAPE = re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>]+")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{8,}")

# Web API error codes that mean "Slack is unhappy right now", even in a 200 answer.
_TRANSIENT_CODES = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable",
     "request_timeout"}
)
# chat.postMessage answers while an uploaded file is not yet usable in an image block.
_IMAGE_NOT_READY_CODES = frozenset({"invalid_blocks", "invalid_blocks_format"})
_TOKEN_CODES = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive",
     "invalid_token", "no_permission", "ekm_access_denied"}
)

log = get_logger(__name__)
T = TypeVar("T")
Sleep = Callable[[float], None]


class SlackConfig(Protocol):
    """What ``send_slack_web`` needs of the settings (``syncer.app.settings.Settings`` fits)."""

    @property
    def slack_bot_token(self) -> SecretStr | None: ...
    @property
    def slack_channel(self) -> str | None: ...
    @property
    def slack_api_base(self) -> str: ...


class SlackUnavailable(RetryLater):
    """Slack kept answering 429/5xx or could not be reached, past our retry budget."""


class SlackRejected(GiveUp):
    """Slack refused us for a reason a person has to fix (token, scope, channel, webhook)."""


class SlackUncertain(SendUncertain):
    """The connection failed after the post was sent: it may be in the channel already."""


@dataclass(frozen=True)
class Posted:
    """The posted message's ``ts``; ``incomplete`` names what did not follow it."""

    ts: str
    incomplete: str | None = None


class _ImageNotReady(SlackRejected):
    """Slack refused the ``slack_file`` image block, most likely because the upload is
    still being processed; raised only for the message that carries the chart."""


class _Transient(Exception):
    """One failed attempt worth retrying; ``wait`` is Slack's Retry-After if it gave one."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


# --------------------------------------------------------------------------- settings


class SlackSettings(BaseModel):
    """SLACK_BOT_TOKEN, SLACK_CHANNEL, SLACK_WEBHOOK_URL and SLACK_API_BASE (see
    ``.env.example``), part of ``syncer.app.settings.Settings``."""

    slack_bot_token: SecretStr | None = None
    slack_channel: str | None = None
    slack_webhook_url: SecretStr | None = None
    slack_api_base: str = "https://slack.com/api/"

    @field_validator("slack_api_base")
    @classmethod
    def _slack_check_base(cls, value: str) -> str:
        # Trailing slash so urljoin(base, "chat.postMessage") keeps the /api/ path.
        return parse_http_url(value, trailing_slash=True)

    @field_validator("slack_webhook_url", mode="before")
    @classmethod
    def _slack_check_webhook(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str):
            parts = urlsplit(raw.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                # The URL is the credential: do not show it.
                raise ValueError("is not an http(s) URL; paste the incoming-webhook URL")
            return raw.strip()
        return value

    @field_validator("slack_bot_token", mode="before")
    @classmethod
    def _slack_check_bot_token(cls, value: Any) -> Any:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str):
            if not raw.strip().startswith("xox"):
                raise ValueError("does not look like a Slack bot token (xoxb-…)")
            return raw.strip()
        return value

    @field_validator("slack_channel")
    @classmethod
    def _slack_strip(cls, value: str | None) -> str | None:
        return value.strip() if value is not None else None


# --------------------------------------------------------------------------- the channel


def slack_target(settings: SlackSettings) -> str | None:
    """The ledger target: SLACK_CHANNEL with a bot token, "webhook" with a webhook, else None."""
    if settings.slack_bot_token is not None and settings.slack_channel:
        return str(settings.slack_channel)
    return WEBHOOK_TARGET if settings.slack_webhook_url is not None else None


def slack_targets(settings: SlackSettings) -> tuple[str, ...]:
    target = slack_target(settings)
    return () if target is None else (target,)


def require_slack_settings(settings: SlackSettings) -> None:
    if slack_target(settings) is None:
        raise ConfigError(
            "Slack delivery needs SLACK_BOT_TOKEN and SLACK_CHANNEL, or SLACK_WEBHOOK_URL; set them in .env"
        )


def render_snapshot(settings: SlackSettings, reports: Sequence[MonthReport]) -> str:
    """The frozen digest: the message, its thread reply and, for the Web API, the chart."""
    from reports.render.chart import render_chart_png
    from reports.render.slack import render_slack_blocks, render_slack_thread

    with_chart = slack_target(settings) != WEBHOOK_TARGET  # a webhook cannot upload it
    report, previous = reports[-1], (reports[-2] if len(reports) > 1 else None)
    doc = {
        "message": render_slack_blocks(report, previous),
        "thread": render_slack_thread(report),
        "chart_png": base64.b64encode(render_chart_png(reports, report.month)).decode() if with_chart else None,
    }
    return json.dumps(doc)


def view_snapshot(snapshot_json: str) -> SnapshotView:
    """The frozen post (a report, an alert, a digest) as the channel shows it: the
    message's blocks as text, then the thread reply's; the chart as a file."""
    try:
        parts = json.loads(snapshot_json)
    except ValueError:  # not one of ours: shown as it is
        return raw_view(snapshot_json)
    if not isinstance(parts, dict) or not isinstance(parts.get("message"), dict):
        return raw_view(snapshot_json)
    text = _blocks_text(parts["message"])
    if parts.get("thread"):
        text += "\n\nIn the thread:\n" + _blocks_text(parts["thread"])
    images = {"chart.png": base64.b64decode(parts["chart_png"])} if parts.get("chart_png") else {}
    return SnapshotView(text, None, images)


def _blocks_text(message: dict[str, Any]) -> str:
    lines: list[str] = []
    for block in message.get("blocks") or ():
        kind = block.get("type")
        if kind in ("header", "section") and block.get("text"):
            lines.append(block["text"].get("text", ""))
        if kind == "section":
            # A field is a label over its value in the channel: one line here.
            lines += [f.get("text", "").replace("\n", " ") for f in block.get("fields") or ()]
        if kind == "context":
            lines.append(" · ".join(e.get("text", "") for e in block.get("elements") or () if "text" in e))
    if not lines:
        lines.append(message.get("text", ""))
    # Slack's mrkdwn escapes these three; the page escapes again for HTML.
    return "\n".join(lines).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def send_claimed(
    settings: SlackSettings, claim: Claim, *, report_month: str, sleep: Sleep = time.sleep,
) -> str | None:
    """Post the frozen digest to the claimed target; returns what did not follow the message."""
    parts = json.loads(claim.snapshot_json)
    if claim.target != WEBHOOK_TARGET:
        chart = base64.b64decode(parts["chart_png"]) if parts.get("chart_png") else None
        return send_slack_web(settings, parts["message"], parts["thread"], chart, sleep=sleep).incomplete
    assert settings.slack_webhook_url is not None
    send_slack_webhook(settings.slack_webhook_url, parts["message"], sleep=sleep)
    return None


def render_slack_json(report: MonthReport, previous: MonthReport | None) -> str:
    """The Slack message and its thread reply, as ``chat.postMessage`` would receive them."""
    from reports.render.slack import render_slack_blocks, render_slack_thread

    payload = {"message": render_slack_blocks(report, previous), "thread": render_slack_thread(report)}
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"


def render_preview(reports: Sequence[MonthReport]) -> dict[str, bytes]:
    report, previous = reports[-1], (reports[-2] if len(reports) > 1 else None)
    return {"slack.json": render_slack_json(report, previous).encode()}


# --------------------------------------------------------------------------- Web API


def send_slack_web(
    config: SlackConfig, message: dict[str, Any], thread: dict[str, Any] | None,
    chart_png: bytes | None, *, sleep: Sleep = time.sleep,
) -> Posted:
    """Post ``message`` to SLACK_CHANNEL showing the chart, ``thread`` in its thread."""
    if config.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set; set it (xoxb-…) or use SLACK_WEBHOOK_URL")
    channel = config.slack_channel
    if not channel:
        raise ConfigError("SLACK_CHANNEL is not set; set it to the channel name or id to post to")
    client = WebClient(
        token=config.slack_bot_token.get_secret_value(), base_url=config.slack_api_base,
        timeout=TIMEOUT_SECONDS, retry_handlers=[],
    )
    fail = _web_failure(channel)

    missing: list[str] = []
    if chart_png is None:
        posted = _post(client, channel, message, sleep, fail)
    else:
        posted = _post_with_chart(client, channel, message, chart_png, sleep, fail, missing)
    ts, channel_id = str(posted["ts"]), str(posted.get("channel") or channel)
    if thread is not None:
        _after_post(missing, "the top-movers reply", lambda: _post(
            client, channel_id, thread, sleep, fail, thread_ts=ts, what="chat.postMessage (thread)"))
    return Posted(ts, "; ".join(missing) or None)


def _after_post(missing: list[str], what: str, send: Callable[[], object]) -> None:
    """Send a part that follows the posted message; a failure is noted, not raised."""
    try:
        send()
    except (SlackUnavailable, SlackRejected, SlackUncertain) as exc:
        log.warning("slack.part_not_posted", part=what, reason=str(exc))
        missing.append(f"{what} was not posted ({exc})")


def _post(
    client: WebClient, channel: str, payload: dict[str, Any], sleep: Sleep,
    classify: Callable[[str, Exception], Exception], *, thread_ts: str | None = None,
    what: str = "chat.postMessage",
) -> Any:
    return _with_retries(what, sleep, _unless_maybe_posted(what, classify), lambda: client.chat_postMessage(
        channel=channel, thread_ts=thread_ts, text=payload.get("text", ""),
        blocks=payload.get("blocks")))


def _maybe_posted(exc: Exception) -> bool:
    """True when the request may have reached Slack before the connection failed.

    urllib wraps every failure while connecting or sending the request in ``URLError``;
    what escapes unwrapped (a read timeout, a reset or a close while waiting for the
    answer, a truncated answer) happened after the request was out.
    """
    return not isinstance(exc, URLError) and isinstance(exc, (OSError, HTTPException))


def _unless_maybe_posted(
    what: str, classify: Callable[[str, Exception], Exception],
) -> Callable[[str, Exception], Exception]:
    def checked(name: str, exc: Exception) -> Exception:
        if _maybe_posted(exc):
            return SlackUncertain(f"the connection to Slack failed after {what} was sent ({_reason(exc)}); "
                                  "it may have been posted")
        return classify(name, exc)

    return checked


def _post_with_chart(
    client: WebClient, channel: str, message: dict[str, Any], chart_png: bytes, sleep: Sleep,
    fail: Callable[[str, Exception], Exception], missing: list[str],
) -> Any:
    """Upload the chart privately, then post the message showing it. If Slack keeps refusing
    the image block, post the message alone and upload the chart into its thread (a
    failure of that upload is added to ``missing``)."""
    from reports.render.slack import with_chart_file

    def upload(channel_id: str | None = None, thread_ts: str | None = None) -> Any:
        # Retrying the whole upload is safe: an unfinished upload is never shared.
        return _with_retries("files upload", sleep, fail, lambda: client.files_upload_v2(
            file=chart_png, filename=CHART_FILENAME, title=CHART_TITLE, channel=channel_id,
            thread_ts=thread_ts))

    file_id = _file_id(upload())
    refused = "the upload answered without a file id"
    if file_id is not None:
        shown = with_chart_file(message, file_id, title=CHART_TITLE)
        classify, delay = _image_failure(fail), BASE_DELAY_SECONDS
        for number in range(1, IMAGE_ATTEMPTS + 1):
            try:
                return _post(client, channel, shown, sleep, classify)
            except _ImageNotReady as exc:
                refused = str(exc)
            if number < IMAGE_ATTEMPTS:
                sleep(delay)
                delay *= 2
    log.warning("slack.chart_in_thread", reason=refused,
                attempts=IMAGE_ATTEMPTS if file_id is not None else 0)
    posted = _post(client, channel, message, sleep, fail)
    _after_post(missing, "the chart", lambda: upload(str(posted.get("channel") or channel), str(posted["ts"])))
    return posted


def _file_id(response: Any) -> str | None:
    """The id of the one file ``files_upload_v2`` uploaded (it sets ``file`` when one)."""
    data = getattr(response, "data", None)
    if not isinstance(data, dict):
        return None
    files = data.get("files")
    file = data.get("file") or (files[0] if isinstance(files, list) and files else None)
    file_id = file.get("id") if isinstance(file, dict) else None
    return file_id if isinstance(file_id, str) and file_id else None


def _image_failure(
    fail: Callable[[str, Exception], Exception],
) -> Callable[[str, Exception], Exception]:
    """``fail``, except that a refused image block becomes _ImageNotReady (worth a retry)."""

    def classify(what: str, exc: Exception) -> Exception:
        if isinstance(exc, SlackApiError):
            data = getattr(exc.response, "data", None)
            code = _code(data.get("error") if isinstance(data, dict) else None)
            if code in _IMAGE_NOT_READY_CODES or (
                ("file" in code or "image" in code) and ("not" in code or "invalid" in code)
            ):
                return _ImageNotReady(f"Slack refused the chart image block: {code}")
        return fail(what, exc)

    return classify


def _web_failure(channel: str) -> Callable[[str, Exception], Exception]:
    """Map one slack_sdk / urllib exception to _Transient or SlackRejected (not raised)."""

    def classify(what: str, exc: Exception) -> Exception:
        if isinstance(exc, SlackApiError):
            return _api_error(what, exc, channel)
        if isinstance(exc, HTTPError):  # the upload URL POST, made by urllib directly
            if exc.code == 429 or exc.code >= 500:
                return _Transient(f"HTTP {exc.code}", _retry_after(exc.headers))
            return SlackRejected(f"Slack refused the chart upload with HTTP {exc.code}; "
                                 "check the bot token has the files:write scope")
        if isinstance(exc, (URLError, OSError, HTTPException, SlackClientError)):
            return _Transient(_reason(exc))
        raise exc

    return classify


def _api_error(what: str, exc: SlackApiError, channel: str) -> Exception:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    body: dict[str, Any] = data if isinstance(data, dict) else {}
    code = _code(body.get("error"))
    if status == 429 or code in ("ratelimited", "rate_limited"):
        return _Transient("rate limited (429)", _retry_after(getattr(response, "headers", None)))
    if status >= 500 or code in _TRANSIENT_CODES:
        return _Transient(f"HTTP {status} {code}".strip())
    if code in _TOKEN_CODES:
        return SlackRejected(f"Slack says {code} for SLACK_BOT_TOKEN; paste a current bot token "
                             "(xoxb-…) from the Slack app's OAuth & Permissions page")
    if code == "missing_scope":
        needed = _code(body.get("needed"), allow=",:.") or "chat:write, files:write"
        return SlackRejected(f"Slack says missing_scope ({needed}) for SLACK_BOT_TOKEN; add the "
                             "scope to the Slack app, reinstall it and update the token")
    if code == "channel_not_found":
        return SlackRejected(f"Slack says channel_not_found for SLACK_CHANNEL {channel}; invite "
                             "the bot to the channel or fix the name")
    if code == "not_in_channel":
        return SlackRejected(f"Slack says not_in_channel for SLACK_CHANNEL {channel}; invite the "
                             "bot to the channel (/invite @your-app)")
    if code == "is_archived":
        return SlackRejected(f"Slack says SLACK_CHANNEL {channel} is archived; unarchive it or "
                             "pick another channel")
    return SlackRejected(f"Slack refused {what}: {code or f'HTTP {status}'}")


# --------------------------------------------------------------------------- webhook


def send_slack_webhook(
    url: str | SecretStr, message: dict[str, Any], *, sleep: Sleep = time.sleep
) -> None:
    """Post ``message`` (blocks and text; no chart: webhooks cannot upload) to the webhook."""
    raw = url.get_secret_value() if isinstance(url, SecretStr) else url
    host = urlsplit(raw).netloc.rsplit("@", 1)[-1] or "?"  # the path is the credential
    client = WebhookClient(raw, timeout=TIMEOUT_SECONDS, retry_handlers=[])

    def attempt() -> None:
        response = client.send(text=message.get("text", ""), blocks=message.get("blocks"))
        if response.status_code == 200:
            return
        code = _code(response.body) or f"HTTP {response.status_code}"
        if response.status_code == 429:
            raise _Transient("rate limited (429)", _retry_after(response.headers))
        if response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code} {code}")
        raise SlackRejected(_webhook_hint(response.status_code, code, host))

    def classify(_what: str, exc: Exception) -> Exception:
        if isinstance(exc, (URLError, OSError, HTTPException, SlackClientError)):
            return _Transient(_reason(exc))
        raise exc

    what = f"webhook on {host}"
    _with_retries(what, sleep, _unless_maybe_posted(what, classify), attempt)


def _webhook_hint(status: int, code: str, host: str) -> str:
    if code in ("channel_is_archived", "action_prohibited", "posting_to_general_channel_denied"):
        fix = "the webhook's channel no longer accepts posts; create a webhook for another channel"
    elif status in (400,) and code.startswith("invalid_"):
        fix = "the message was refused; this is a bug in stripe-nrr, please report it"
    else:
        fix = "create a new incoming webhook in the Slack app and paste its URL"
    return f"Slack says {code} (HTTP {status}) for SLACK_WEBHOOK_URL on {host}; {fix}"


# --------------------------------------------------------------------------- retries


def _with_retries(
    what: str, sleep: Sleep, classify: Callable[[str, Exception], Exception],
    attempt: Callable[[], T],
) -> T:
    """Run ``attempt`` until it succeeds, a permanent error, or MAX_ATTEMPTS transient ones."""
    delay = BASE_DELAY_SECONDS
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            return attempt()
        except (_Transient, SlackRejected) as exc:
            failure: Exception = exc
        except Exception as exc:  # noqa: BLE001 - classify re-raises what it does not know
            failure = classify(what, exc)
        if not isinstance(failure, _Transient):
            raise failure from None
        wait = max(failure.wait or 0.0, delay)
        if number == MAX_ATTEMPTS or wait > MAX_WAIT_SECONDS:
            raise SlackUnavailable(
                f"Slack {what} failed {number} time(s), last: {failure.reason}; will retry later"
            ) from None
        sleep(wait)
        delay *= 2
    raise AssertionError("unreachable")  # the loop returns or raises


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(value, list):  # WebhookResponse keeps header values as lists sometimes
        value = value[0] if value else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _code(value: object, allow: str = "") -> str:
    """A Slack error code, kept to identifier characters so no body text leaks through."""
    if not isinstance(value, str):
        return ""
    cleaned = re.sub(rf"[^a-z0-9_{re.escape(allow)}]", "", value.strip().lower())
    return cleaned[:80]


def _reason(exc: BaseException) -> str:
    reason = exc.reason if isinstance(exc, URLError) else exc
    text = str(reason) or type(exc).__name__
    return redact(" ".join(text.split()))[:200]


# --------------------------------------------------------------------------- doctor


def doctor_client(settings: SlackSettings) -> WebClient:
    assert settings.slack_bot_token is not None
    return WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_base,
                     timeout=DOCTOR_TIMEOUT_SECONDS)


def _doctor_failure(name: str, what: str, exc: Exception, settings: SlackSettings) -> Check:
    if isinstance(exc, SlackApiError):
        message = str(_api_error(what, exc, settings.slack_channel or ""))
        detail, _, fix = message.partition("; ")
        return Check(name, "fail", detail, fix or "check SLACK_BOT_TOKEN and SLACK_CHANNEL")
    reason = exc.reason if isinstance(exc, URLError) else exc
    return Check(name, "fail", f"cannot reach Slack at {settings.slack_api_base} ({_reason_text(reason)})",
                 "check SLACK_API_BASE and the network")


def _reason_text(reason: object) -> str:
    return redact(" ".join((str(reason) or type(reason).__name__).split()))[:200]


def check_slack(
    settings: SlackSettings, make_client: Callable[[SlackSettings], WebClient] = doctor_client,
) -> list[Check]:
    """``auth.test`` and ``conversations.info``: read only, nothing is posted."""
    if settings.slack_bot_token is None:
        if settings.slack_webhook_url is not None:
            return [Check("slack", "skip", "SLACK_WEBHOOK_URL is set: a webhook cannot be checked without posting")]
        return [Check("slack", "skip", "neither SLACK_BOT_TOKEN nor SLACK_WEBHOOK_URL is set: no Slack reports")]
    client = make_client(settings)
    try:
        auth = client.auth_test()
    except (SlackApiError, SlackClientError, URLError, OSError) as exc:
        return [_doctor_failure("slack auth", "auth.test", exc, settings),
                Check("slack channel", "skip", "needs a working SLACK_BOT_TOKEN")]
    who = f"bot {auth.get('user') or auth.get('user_id')} in workspace {auth.get('team') or auth.get('team_id')}"
    return [Check("slack auth", "pass", who), _check_channel(settings, client)]


def _check_channel(settings: SlackSettings, client: WebClient) -> Check:
    channel = settings.slack_channel
    if not channel:
        return Check("slack channel", "fail", "SLACK_CHANNEL is not set",
                     "set SLACK_CHANNEL to the channel's id (C…) or #name")
    if not _CHANNEL_ID.fullmatch(channel):
        # conversations.info takes an id; resolving a name means listing every channel.
        return Check("slack channel", "warn", f"{channel} is a name; only an id can be checked without posting",
                     "set SLACK_CHANNEL to the channel's id (C…, at the bottom of its details) to have it checked")
    try:
        # POST with a form body: Slack takes it for every read method, as it does GET.
        info = client.api_call("conversations.info", data={"channel": channel})
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        if _code(data.get("error")) == "missing_scope":
            return Check("slack channel", "warn", f"the token may not read {channel}'s details (missing_scope)",
                         "add channels:read (groups:read for a private channel) to check it, or ignore this")
        return _doctor_failure("slack channel", "conversations.info", exc, settings)
    except (SlackClientError, URLError, OSError) as exc:
        return _doctor_failure("slack channel", "conversations.info", exc, settings)
    found = info.get("channel") or {}
    label = f"#{found.get('name')} ({channel})" if found.get("name") else channel
    if found.get("is_archived"):
        return Check("slack channel", "fail", f"{label} is archived", "unarchive it or set another SLACK_CHANNEL")
    if found.get("is_member") is False:
        return Check("slack channel", "warn", f"{label} exists but the bot is not a member",
                     "invite the bot (/invite @your-app) unless it has chat:write.public")
    return Check("slack channel", "pass", f"{label}: the bot is a member")


SLACK = Channel(
    name="slack",
    settings=SlackSettings,
    needs="SLACK_BOT_TOKEN and SLACK_CHANNEL",
    targets=slack_targets,
    require=require_slack_settings,
    render=render_snapshot,
    send=send_claimed,
    check=check_slack,
    preview=render_preview,
    formats={"slack": render_slack_json},
    secret_settings=("slack_bot_token", "slack_webhook_url"),
    secret_shapes=(_TOKEN_SHAPE, _HOOK_SHAPE),
    view=view_snapshot,
)
