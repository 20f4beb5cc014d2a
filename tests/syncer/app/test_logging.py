"""Logging: JSON and console output, stdlib routing, and secrets never reaching the stream."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from syncer.app import logging as nrr_logging
from syncer.app.logging import configure_logging, get_logger, redact, register_secret
from syncer.errors import ConfigError


class Capture:
    """The log stream of one test, with helpers to read it back."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@pytest.fixture
def capture() -> Iterator[Capture]:
    cap = Capture()
    configure_logging("json", "debug", stream=cap.stream)
    yield cap
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, nrr_logging._OurHandler)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(False)
    structlog.reset_defaults()
    nrr_logging._clear_registered_secrets()


# (secret as it might appear, the part that must vanish, what is left in its place)
SHAPES = [
    ("sk_live_51HxYzAbCdEfGhIjKlMnOpQrSt", "51HxYzAbCdEfGhIjKlMnOpQrSt", "sk_live_…redacted"),
    ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc", "sk_test_…redacted"),
    ("rk_live_51HxYzAbCdEfGhIjKlMnOpQrSt", "51HxYzAbCdEfGhIjKlMnOpQrSt", "rk_live_…redacted"),
    ("rk_test_51HxYzAbCdEfGhIjKlMnOpQrSt", "51HxYzAbCdEfGhIjKlMnOpQrSt", "rk_test_…redacted"),
    ("whsec_a1B2c3D4e5F6g7H8i9J0", "a1B2c3D4e5F6g7H8i9J0", "whsec_…redacted"),
    ("xoxb-1234567890-0987654321-AbCdEfGhIjKl", "AbCdEfGhIjKl", "xoxb-…redacted"),
    ("xoxp-1234-5678-90ab-cdefcdefcdef", "cdefcdefcdef", "xoxp-…redacted"),
    ("xoxa-2-abcdefghijklmnop", "abcdefghijklmnop", "xoxa-…redacted"),
    ("xapp-1-A0123-4567-deadbeefdeadbeef", "deadbeefdeadbeef", "xapp-…redacted"),
    (
        "https://hooks.slack.com/services/T0001/B0002/XXXXsecretXXXX",
        "XXXXsecretXXXX",
        "https://hooks.slack.com/services/…redacted",
    ),
    (
        "postgresql+psycopg://nrr:s3cr3t-pw@db.internal:5432/nrr",
        "s3cr3t-pw",
        "postgresql+psycopg://nrr:***@db.internal:5432/nrr",
    ),
    ("smtp://mailer:p@ss/w0rd@mail.example.com", "ss/w0rd", "smtp://mailer:***@mail.example.com"),
    ("redis://:onlypassword@cache:6379/0", "onlypassword", "redis://:***@cache:6379/0"),
]


# ------------------------------------------------------------------ redact (pure)


@pytest.mark.parametrize(("secret", "gone", "left"), SHAPES)
def test_redact_each_shape(secret: str, gone: str, left: str) -> None:
    out = redact(f"calling with {secret} now")
    assert gone not in out
    assert out == f"calling with {left} now"
    assert redact(out) == out  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "pk_live_51HxYzAbCdEfGhIjKlMnOpQrSt is public",
        "https://api.stripe.com/v1/invoices?limit=100",
        "https://example.com:8443/path",
        "cus_NffrFeUfNV2Hib in_1MtHbELkdIwHu7ixl4OzzPMv",
        "mailto:ann@example.com",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def test_registered_secret_is_redacted_including_json_escaped_form() -> None:
    try:
        register_secret('pa"ss\\word')
        register_secret("abc")  # too short to register: would redact too much
        assert redact('pw=pa"ss\\word') == "pw=…redacted"
        assert redact(json.dumps({"pw": 'pa"ss\\word'})) == '{"pw": "…redacted"}'
        assert redact("abc abc") == "abc abc"
    finally:
        nrr_logging._clear_registered_secrets()


@hyp_settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), st.sampled_from([s for s, _, _ in SHAPES]))
def test_fuzz_redact_removes_secret_wherever_it_sits(before: str, after: str, secret: str) -> None:
    out = redact(before + " " + secret + " " + after)
    assert secret not in out
    assert redact(out) == out


# ------------------------------------------------------------------ JSON output


def test_json_lines_have_iso_utc_timestamp_level_and_logger(capture: Capture) -> None:
    get_logger("syncer.sync").info("synced", resource="invoices", count=3)
    (record,) = capture.records()
    assert record["event"] == "synced"
    assert record["level"] == "info"
    assert record["logger"] == "syncer.sync"
    assert (record["resource"], record["count"]) == ("invoices", 3)
    assert record["timestamp"].endswith("Z") and record["timestamp"][10] == "T"


@pytest.mark.parametrize(("secret", "gone", "left"), SHAPES)
def test_secrets_redacted_in_json_output(
    capture: Capture, secret: str, gone: str, left: str
) -> None:
    get_logger("t").warning(
        f"request failed for {secret}",
        key=secret,
        nested={"headers": {"Authorization": f"Bearer {secret}"}, "list": [secret, (secret,)]},
    )
    assert gone not in capture.text
    (record,) = capture.records()
    assert record["event"] == f"request failed for {left}"
    assert record["key"] == left
    assert record["nested"]["headers"]["Authorization"] == f"Bearer {left}"
    assert record["nested"]["list"] == [left, [left]]


def test_secret_in_exception_traceback_is_redacted(capture: Capture) -> None:
    key = "sk_live_51HxYzAbCdEfGhIjKlMnOpQrSt"

    def call_stripe(api_key: str) -> None:
        raise RuntimeError(f"Invalid API Key provided: {api_key}")

    try:
        call_stripe(key)
    except RuntimeError:
        get_logger("t").exception("sync failed")
    assert "51HxYzAbCdEf" not in capture.text
    (record,) = capture.records()
    assert "Traceback (most recent call last)" in record["exception"]
    assert "RuntimeError: Invalid API Key provided: sk_live_…redacted" in record["exception"]


def test_exception_object_as_value_is_redacted(capture: Capture) -> None:
    err = ValueError("token xoxb-1234-5678-AbCdEfGhIjKl rejected")
    get_logger("t").error("slack failed", error=err)
    assert "AbCdEfGhIjKl" not in capture.text
    assert capture.records()[0]["error"] == "ValueError: token xoxb-…redacted rejected"


def test_object_whose_repr_leaks_is_redacted(capture: Capture) -> None:
    class Client:
        def __repr__(self) -> str:
            return "Client(api_key='sk_test_4eC39HqLyjWDarjtT1zdp7dc')"

    get_logger("t").info("client ready", client=Client())
    assert "4eC39Hq" not in capture.text
    assert capture.records()[0]["client"] == "Client(api_key='sk_test_…redacted')"


def test_stdlib_logging_goes_through_the_same_pipeline(capture: Capture) -> None:
    lib = logging.getLogger("somelibrary.http")
    lib.warning("retrying %s with %s", "https://hooks.slack.com/services/T1/B2/ZZZsecretZZZ", 3)
    try:
        raise ConnectionError("postgresql://u:dbpass123@db/nrr refused")
    except ConnectionError:
        lib.exception("connect failed")
    assert "ZZZsecretZZZ" not in capture.text and "dbpass123" not in capture.text
    first, second = capture.records()
    assert first["logger"] == "somelibrary.http" and first["level"] == "warning"
    assert first["event"] == "retrying https://hooks.slack.com/services/…redacted with 3"
    assert first["timestamp"].endswith("Z")
    assert "ConnectionError: postgresql://u:***@db/nrr refused" in second["exception"]


def test_registered_secret_redacted_in_output(capture: Capture) -> None:
    register_secret("correct horse battery")
    get_logger("t").info("smtp login", password="correct horse battery")
    logging.getLogger("smtplib").warning("auth with correct horse battery failed")
    assert "horse" not in capture.text
    assert [r.get("password", r["event"]) for r in capture.records()] == [
        "…redacted",
        "auth with …redacted failed",
    ]


def test_settings_load_registers_smtp_password(
    capture: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from syncer.app.settings import load_settings

    monkeypatch.chdir(tmp_path)
    load_settings(smtp_password="Tr0ub4dor&3x")
    get_logger("t").info("login", detail="used Tr0ub4dor&3x")
    assert "Tr0ub4dor" not in capture.text


def test_library_warnings_are_logged(capture: Capture) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(True)
        warnings.warn("deprecated call with sk_test_4eC39HqLyjWDarjtT1zdp7dc", UserWarning, stacklevel=1)
    assert "4eC39Hq" not in capture.text
    (record,) = capture.records()
    assert record["logger"] == "py.warnings"
    assert "UserWarning: deprecated call with sk_test_…redacted" in record["event"]


def test_level_filters(capture: Capture) -> None:
    configure_logging("json", "warning", stream=capture.stream)
    get_logger("t").info("hidden")
    logging.getLogger("lib").info("hidden too")
    get_logger("t").warning("shown")
    assert [r["event"] for r in capture.records()] == ["shown"]


def test_reconfiguring_does_not_duplicate_lines(capture: Capture) -> None:
    configure_logging("json", "info", stream=capture.stream)
    configure_logging("json", "info", stream=capture.stream)
    get_logger("t").info("once")
    assert [r["event"] for r in capture.records()] == ["once"]


# ------------------------------------------------------------------ console and auto


def test_console_format_is_readable_and_redacted(capture: Capture) -> None:
    configure_logging("console", "info", stream=capture.stream)
    try:
        raise RuntimeError("bad key rk_live_51HxYzAbCdEfGhIjKlMnOpQrSt")
    except RuntimeError:
        get_logger("t").exception("sync failed", token="xoxb-1-2-AbCdEfGhIjKl")
    text = capture.text
    assert "sync failed" in text and "Traceback" in text
    assert "51HxYzAbCdEf" not in text and "AbCdEfGhIjKl" not in text
    assert "rk_live_…redacted" in text
    assert "\x1b[" not in text  # no colours when the stream is not a terminal
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_auto_is_json_when_not_a_tty(capture: Capture) -> None:
    configure_logging("auto", "info", stream=capture.stream)
    get_logger("t").info("hello")
    assert capture.records()[0]["event"] == "hello"


def test_auto_is_console_on_a_tty(capture: Capture) -> None:
    class FakeTTY(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = FakeTTY()
    configure_logging("auto", "info", stream=tty)
    get_logger("t").info("hello", n=1)
    line = tty.getvalue()
    assert "hello" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


@pytest.mark.parametrize(
    ("fmt", "level", "var"), [("xml", "info", "LOG_FORMAT"), ("json", "loud", "LOG_LEVEL")]
)
def test_bad_format_or_level_is_a_config_error(fmt: str, level: str, var: str) -> None:
    with pytest.raises(ConfigError, match=f"^{var}: "):
        configure_logging(fmt, level, stream=io.StringIO())
