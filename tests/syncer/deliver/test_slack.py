"""Slack delivery against a real loopback HTTP server standing in for Slack.

The server implements what slack_sdk calls: ``chat.postMessage``,
``files.getUploadURLExternal``, the upload URL POST, ``files.completeUploadExternal``,
and an incoming-webhook URL. Answers can be scripted per path (429, 500, error codes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from syncer.deliver.slack import (
    CHART_FILENAME,
    CHART_TITLE,
    IMAGE_ATTEMPTS,
    MAX_ATTEMPTS,
    SlackRejected,
    SlackUnavailable,
    SlackUncertain,
    send_slack_web,
    send_slack_webhook,
)
from syncer.errors import GiveUp, RetryLater
from tests.fakes import Sleeps
from tests.syncer.deliver.fake_slack import DROP, HOOK_PATH, TOKEN, FakeSlack

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
MESSAGE = {"text": "Acme: NRR 104.2%", "blocks": [
    {"type": "header", "text": {"type": "plain_text", "text": "Acme: revenue retention"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "NRR *104.2%*"}},
]}
THREAD = {"text": "Top movers", "blocks": [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Top expansions*\n• cus_1"}},
]}


@dataclass
class Config:
    slack_api_base: str
    slack_channel: str | None = "#revenue"
    slack_bot_token: SecretStr | None = field(default_factory=lambda: SecretStr(TOKEN))


# --------------------------------------------------------------------------- Web API


def _image(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in blocks if b["type"] == "image"]


def test_posts_message_chart_and_thread(slack: FakeSlack) -> None:
    sleeps = Sleeps()
    ts = send_slack_web(Config(slack.base), MESSAGE, THREAD, PNG, sleep=sleeps).ts

    # the order: private chart upload, the message showing it, the thread reply
    assert [r.path for r in slack.requests] == [
        "/api/files.getUploadURLExternal", "/upload/F1", "/api/files.completeUploadExternal",
        "/api/chat.postMessage", "/api/chat.postMessage"]
    url = slack.calls("/api/files.getUploadURLExternal")[0].params
    assert url["filename"] == CHART_FILENAME and int(url["length"]) == len(PNG)
    assert slack.calls("/upload/F1")[0].body == PNG
    done = slack.calls("/api/files.completeUploadExternal")[0].params
    assert "channel_id" not in done and "channels" not in done and "thread_ts" not in done
    (completed,) = json.loads(done["files"])
    assert completed["title"] == CHART_TITLE

    posts = slack.calls("/api/chat.postMessage")
    first, reply = posts[0].params, posts[1].params
    assert first["channel"] == "#revenue" and first["text"] == MESSAGE["text"]
    assert "thread_ts" not in first
    (image,) = _image(first["blocks"])
    assert image["slack_file"] == {"id": completed["id"]} and "image_url" not in image
    assert image["title"] == {"type": "plain_text", "text": CHART_TITLE} and image["alt_text"]
    assert [b for b in first["blocks"] if b["type"] != "image"] == MESSAGE["blocks"]
    assert ts == "1700000000.000004"
    assert reply["thread_ts"] == ts and reply["channel"] == "C123"
    assert reply["blocks"] == THREAD["blocks"]
    assert posts[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert sleeps == []


@pytest.mark.parametrize("code", ["invalid_blocks", "invalid_blocks_format", "file_not_ready"])
def test_image_not_ready_is_retried_then_posted_with_the_image(slack: FakeSlack, code: str) -> None:
    for _ in range(2):
        slack.queue("/api/chat.postMessage", 200, {"ok": False, "error": code})
    sleeps = Sleeps()
    ts = send_slack_web(Config(slack.base), MESSAGE, THREAD, PNG, sleep=sleeps).ts

    posts = slack.calls("/api/chat.postMessage")
    assert len(posts) == 4  # refused twice, then the message, then the thread reply
    assert all(_image(p.params["blocks"]) for p in posts[:3])
    assert sleeps == [1.0, 2.0]
    assert posts[3].params["thread_ts"] == ts
    assert len(slack.calls("/api/files.completeUploadExternal")) == 1  # uploaded once


def test_image_never_ready_falls_back_to_the_chart_in_the_thread(slack: FakeSlack) -> None:
    for _ in range(IMAGE_ATTEMPTS):
        slack.queue("/api/chat.postMessage", 200, {"ok": False, "error": "invalid_blocks"})
    sleeps = Sleeps()
    with capture_logs() as logs:
        ts = send_slack_web(Config(slack.base), MESSAGE, THREAD, PNG, sleep=sleeps).ts

    upload = ["/api/files.getUploadURLExternal", "/upload/F1", "/api/files.completeUploadExternal"]
    assert [r.path for r in slack.requests] == (
        upload + ["/api/chat.postMessage"] * IMAGE_ATTEMPTS  # refused with the image
        + ["/api/chat.postMessage"] + upload  # the plain message, the chart into its thread
        + ["/api/chat.postMessage"])  # the movers
    assert len(sleeps) == IMAGE_ATTEMPTS - 1 and sleeps == sorted(sleeps)  # bounded backoff
    posts = slack.calls("/api/chat.postMessage")
    plain, reply = posts[-2].params, posts[-1].params
    assert plain["blocks"] == MESSAGE["blocks"] and plain["channel"] == "#revenue"
    assert ts == f"1700000000.{len(upload) + IMAGE_ATTEMPTS + 1:06d}"  # the plain message's ts
    private, in_thread = (c.params for c in slack.calls("/api/files.completeUploadExternal"))
    assert "channel_id" not in private
    assert in_thread["channel_id"] == "C123" and in_thread["thread_ts"] == ts
    assert reply["thread_ts"] == ts and reply["channel"] == "C123"
    (warning,) = [e for e in logs if e["event"] == "slack.chart_in_thread"]
    assert warning["log_level"] == "warning" and "invalid_blocks" in warning["reason"]
    assert TOKEN not in str(logs)


def test_image_not_ready_code_only_counts_for_the_image_message(slack: FakeSlack) -> None:
    # The thread reply carries no image: invalid_blocks there is a plain refusal, noted
    # (the message itself is posted, so the delivery stands).
    slack.queue("/api/chat.postMessage", 200, {"ok": True, "channel": "C123", "ts": "1.1"})
    slack.queue("/api/chat.postMessage", 200, {"ok": False, "error": "invalid_blocks"})
    sleeps = Sleeps()
    with capture_logs() as logs:
        posted = send_slack_web(Config(slack.base), MESSAGE, THREAD, PNG, sleep=sleeps)
    assert posted.ts == "1.1"
    assert posted.incomplete is not None and "top-movers reply was not posted" in posted.incomplete
    assert "invalid_blocks" in posted.incomplete
    assert sleeps == [] and len(slack.calls("/api/chat.postMessage")) == 2
    assert [e["part"] for e in logs if e["event"] == "slack.part_not_posted"] == ["the top-movers reply"]


def test_a_connection_lost_after_the_post_is_uncertain_and_not_retried(slack: FakeSlack) -> None:
    # chat.postMessage has no idempotency key: a retry could post the report twice.
    slack.queue("/api/chat.postMessage", DROP, "")
    sleeps = Sleeps()
    with pytest.raises(SlackUncertain) as info:
        send_slack_web(Config(slack.base), MESSAGE, THREAD, None, sleep=sleeps)
    assert isinstance(info.value, GiveUp) and "may have been posted" in str(info.value)
    assert len(slack.calls("/api/chat.postMessage")) == 1 and sleeps == []
    assert TOKEN not in str(info.value) and "\n" not in str(info.value)


def test_a_failed_thread_reply_never_reposts_the_message(slack: FakeSlack) -> None:
    slack.queue("/api/chat.postMessage", 200, {"ok": True, "channel": "C123", "ts": "1.1"})
    for _ in range(MAX_ATTEMPTS):
        slack.queue("/api/chat.postMessage", 503, "unavailable")
    posted = send_slack_web(Config(slack.base), MESSAGE, THREAD, None, sleep=Sleeps())
    posts = slack.calls("/api/chat.postMessage")
    assert len([p for p in posts if "thread_ts" not in p.params]) == 1  # the message, once
    assert len(posts) == 1 + MAX_ATTEMPTS  # the reply, retried within its bound
    assert posted.ts == "1.1" and posted.incomplete and "503" in posted.incomplete


def test_a_failed_chart_upload_into_the_thread_is_noted(slack: FakeSlack) -> None:
    for _ in range(IMAGE_ATTEMPTS):
        slack.queue("/api/chat.postMessage", 200, {"ok": False, "error": "invalid_blocks"})
    slack.queue("/api/chat.postMessage", 200, {"ok": True, "channel": "C123", "ts": "2.2"})
    slack.queue("/api/files.getUploadURLExternal", 200, {"ok": True, "file_id": "F1",
                "upload_url": f"http://127.0.0.1:{slack.port}/upload/F1"})
    slack.queue("/api/files.getUploadURLExternal", 200, {"ok": False, "error": "missing_scope"})
    posted = send_slack_web(Config(slack.base), MESSAGE, None, PNG, sleep=Sleeps())
    assert posted.ts == "2.2" and posted.incomplete and posted.incomplete.startswith("the chart was not posted")
    assert len([p for p in slack.calls("/api/chat.postMessage") if "blocks" in p.params]) == IMAGE_ATTEMPTS + 1


def test_webhook_connection_lost_after_the_post_is_uncertain(slack: FakeSlack) -> None:
    slack.queue(HOOK_PATH, DROP, "")
    with pytest.raises(SlackUncertain):
        send_slack_webhook(slack.hook, MESSAGE, sleep=Sleeps())
    assert len(slack.calls(HOOK_PATH)) == 1


def test_without_chart_or_thread_posts_only_the_message(slack: FakeSlack) -> None:
    send_slack_web(Config(slack.base), MESSAGE, None, None, sleep=Sleeps())
    assert [r.path for r in slack.requests] == ["/api/chat.postMessage"]


def test_429_honours_retry_after(slack: FakeSlack) -> None:
    slack.queue("/api/chat.postMessage", 429, {"ok": False, "error": "ratelimited"},
                {"Retry-After": "7"})
    sleeps = Sleeps()
    ts = send_slack_web(Config(slack.base), MESSAGE, None, None, sleep=sleeps).ts
    assert ts
    assert len(slack.calls("/api/chat.postMessage")) == 2
    assert len(sleeps) == 1 and sleeps[0] >= 7


@pytest.mark.parametrize("path", ["/api/chat.postMessage", "/api/files.completeUploadExternal",
                                  "/upload/F1"])
def test_500_then_success(slack: FakeSlack, path: str) -> None:
    slack.queue(path, 500, "oops")
    sleeps = Sleeps()
    send_slack_web(Config(slack.base), MESSAGE, THREAD, PNG, sleep=sleeps)
    assert len(sleeps) == 1 and sleeps[0] > 0
    assert len(slack.calls("/api/files.completeUploadExternal")) >= 1
    assert len(slack.calls("/api/chat.postMessage")) == 2 + (path == "/api/chat.postMessage")


def test_5xx_forever_is_retry_later_after_bounded_attempts(slack: FakeSlack) -> None:
    for _ in range(MAX_ATTEMPTS + 2):
        slack.queue("/api/chat.postMessage", 503, "unavailable")
    sleeps = Sleeps()
    with pytest.raises(SlackUnavailable) as info:
        send_slack_web(Config(slack.base), MESSAGE, None, None, sleep=sleeps)
    assert isinstance(info.value, RetryLater)
    assert len(slack.calls("/api/chat.postMessage")) == MAX_ATTEMPTS
    assert len(sleeps) == MAX_ATTEMPTS - 1
    assert sleeps == sorted(sleeps)  # backoff grows
    assert "\n" not in str(info.value)


def test_channel_not_found_gives_up_with_one_line(slack: FakeSlack) -> None:
    slack.queue("/api/chat.postMessage", 200, {"ok": False, "error": "channel_not_found"})
    with pytest.raises(SlackRejected) as info:
        send_slack_web(Config(slack.base, slack_channel="#x"), MESSAGE, THREAD, PNG, sleep=Sleeps())
    message = str(info.value)
    assert isinstance(info.value, GiveUp)
    assert "\n" not in message
    assert "channel_not_found" in message and "SLACK_CHANNEL #x" in message and "invite" in message
    assert len(slack.calls("/api/chat.postMessage")) == 1  # not retried
    # the chart went up first, privately: shared nowhere, so nothing leaks
    assert "channel_id" not in slack.calls("/api/files.completeUploadExternal")[0].params


@pytest.mark.parametrize("code", ["invalid_auth", "token_revoked", "account_inactive", "not_authed"])
def test_bad_token_gives_up_without_the_token(slack: FakeSlack, code: str) -> None:
    slack.queue("/api/chat.postMessage", 200, {"ok": False, "error": code})
    with pytest.raises(SlackRejected) as info:
        send_slack_web(Config(slack.base), MESSAGE, None, None, sleep=Sleeps())
    message = str(info.value)
    assert code in message and "SLACK_BOT_TOKEN" in message
    assert TOKEN not in message and TOKEN[10:] not in message and "\n" not in message


def test_missing_scope_on_upload_names_the_scope(slack: FakeSlack) -> None:
    slack.queue("/api/files.getUploadURLExternal", 200,
                {"ok": False, "error": "missing_scope", "needed": "files:write"})
    with pytest.raises(SlackRejected, match=r"missing_scope \(files:write\).*reinstall"):
        send_slack_web(Config(slack.base), MESSAGE, THREAD, PNG, sleep=Sleeps())


def test_not_in_channel_says_invite(slack: FakeSlack) -> None:
    slack.queue("/api/chat.postMessage", 200, {"ok": False, "error": "not_in_channel"})
    with pytest.raises(SlackRejected, match="invite the bot"):
        send_slack_web(Config(slack.base), MESSAGE, None, None, sleep=Sleeps())


def test_unreachable_api_is_retry_later() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    with pytest.raises(SlackUnavailable) as info:
        send_slack_web(Config(f"http://127.0.0.1:{port}/api/"), MESSAGE, None, None, sleep=sleeps)
    assert len(sleeps) == MAX_ATTEMPTS - 1
    assert TOKEN not in str(info.value) and "\n" not in str(info.value)


def test_missing_settings_are_config_errors(slack: FakeSlack) -> None:
    with pytest.raises(GiveUp, match="SLACK_BOT_TOKEN"):
        send_slack_web(Config(slack.base, slack_bot_token=None), MESSAGE, None, None)
    with pytest.raises(GiveUp, match="SLACK_CHANNEL"):
        send_slack_web(Config(slack.base, slack_channel=None), MESSAGE, None, None)
    assert slack.requests == []


# --------------------------------------------------------------------------- webhook


def test_webhook_posts_the_blocks(slack: FakeSlack) -> None:
    sleeps = Sleeps()
    send_slack_webhook(SecretStr(slack.hook), MESSAGE, sleep=sleeps)
    (call,) = slack.calls(HOOK_PATH)
    assert call.params["blocks"] == MESSAGE["blocks"] and call.params["text"] == MESSAGE["text"]
    assert sleeps == []


def test_webhook_429_then_success(slack: FakeSlack) -> None:
    slack.queue(HOOK_PATH, 429, "rate_limited", {"Retry-After": "3", "Content-Type": "text/plain"})
    sleeps = Sleeps()
    send_slack_webhook(slack.hook, MESSAGE, sleep=sleeps)
    assert len(slack.calls(HOOK_PATH)) == 2 and sleeps and sleeps[0] >= 3


@pytest.mark.parametrize(("status", "body"), [(404, "no_service"), (403, "invalid_token"),
                                              (410, "channel_is_archived")])
def test_webhook_permanent_errors_hide_the_url_path(slack: FakeSlack, status: int, body: str) -> None:
    slack.queue(HOOK_PATH, status, body, {"Content-Type": "text/plain"})
    with pytest.raises(SlackRejected) as info:
        send_slack_webhook(slack.hook, MESSAGE, sleep=Sleeps())
    message = str(info.value)
    assert body in message and "SLACK_WEBHOOK_URL" in message and "\n" not in message
    assert "secretsecret" not in message and "/services/" not in message
    assert len(slack.calls(HOOK_PATH)) == 1


def test_long_retry_after_defers_to_the_next_tick(slack: FakeSlack) -> None:
    slack.queue("/api/chat.postMessage", 429, {"ok": False, "error": "ratelimited"},
                {"Retry-After": "3600"})
    sleeps = Sleeps()
    with pytest.raises(SlackUnavailable, match="rate limited"):
        send_slack_web(Config(slack.base), MESSAGE, None, None, sleep=sleeps)
    assert sleeps == [] and len(slack.calls("/api/chat.postMessage")) == 1
