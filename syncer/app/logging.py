"""Structured logging with secrets scrubbed before anything is written.

One pipeline for everything: structlog loggers and plain stdlib loggers (stripe, httpx,
apscheduler, alembic, ...) go through the same processors and the same renderer, so a
library warning gets a timestamp, a level and secret redaction like our own events.

Redaction happens twice on purpose: once on the event dict (so nested values, exception
text and tracebacks are scrubbed before rendering), and once on the rendered line (so a
secret hidden in the ``repr`` of some object the renderer stringifies cannot slip out).

What a secret looks like: Stripe's keys and URL passwords here, each delivery channel's
credentials where the channel is declared (``secret_shapes``, read from the registry).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import IO, Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from syncer.errors import ConfigError

__all__ = [
    "REDACTED",
    "configure_logging",
    "get_logger",
    "redact",
    "redact_secrets",
    "register_secret",
]

REDACTED = "…redacted"

# Stripe keys and webhook secrets: keep the prefix (which kind leaked is useful to
# know), drop the body. Publishable keys (pk_) are public by design and left alone.
# No word boundary in front: "key=x_sk_live_…" must not slip through; a false positive
# ("task_test_1") only costs a little readability.
_STRIPE_SECRET = re.compile(r"(sk_live_|sk_test_|rk_live_|rk_test_|whsec_)[A-Za-z0-9]+")
# scheme://user:PASSWORD@host. A raw password may itself contain '@' or '/', so the
# password runs to the *last* '@' of the URL. A URL that also has an '@' in its path then
# loses its host to the redaction too: over-redacting is the safe way to be wrong.
# The bounded repeats keep a long line of URL-ish text linear instead of quadratic.
_URL_PASSWORD = re.compile(
    r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s:/@\"'<>]{0,256}:)"
    r"(?P<pw>[^\s\"'<>]{1,256})(?=@)"
)

# Registered secrets shorter than this are ignored: redacting "ab" everywhere would make
# logs unreadable and protects nothing a guesser couldn't find anyway.
_MIN_REGISTERED_LEN = 4

_registered: tuple[str, ...] = ()
_registered_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Redact *value* wherever it appears in logs and in ``redact()`` from now on.

    Settings call this at load for passwords, tokens and keys. The JSON-escaped form is
    registered too so the value is caught after the JSON renderer escapes it.
    """
    global _registered
    if not value or len(value) < _MIN_REGISTERED_LEN:
        return
    variants = {value, json.dumps(value)[1:-1]}
    with _registered_lock:
        merged = set(_registered) | {v for v in variants if len(v) >= _MIN_REGISTERED_LEN}
        # Longest first so a secret containing another registered secret is replaced whole.
        _registered = tuple(sorted(merged, key=len, reverse=True))


def _clear_registered_secrets() -> None:
    """For tests only: forget every registered secret."""
    global _registered
    with _registered_lock:
        _registered = ()


def redact(text: str) -> str:
    """Return *text* with every secret-shaped substring and registered secret replaced."""
    for secret in _registered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _STRIPE_SECRET.sub(_keep_kind, text)
    for shape in _channel_secret_shapes():
        text = shape.sub(_keep_kind, text)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", text)
    return text


def _keep_kind(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


def _channel_secret_shapes() -> Iterator[re.Pattern[str]]:
    # Looked up on use, not imported at the top: the channel modules log through this one
    # (and a line logged while the registry itself is being imported finds no list yet).
    from syncer.deliver import registry

    for channel in getattr(registry, "CHANNELS", ()):
        yield from channel.secret_shapes


# Keys ProcessorFormatter uses for its own bookkeeping; they are removed before rendering.
_META_KEYS = frozenset({"_record", "_from_structlog"})


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if depth > 20:  # a self-referencing structure: stop walking, stringify safely
        return redact(repr(value))
    if isinstance(value, Mapping):
        return {k: _redact_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_redact_value(v, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, BaseException):
        # An exception passed as a value (not exc_info): its text is what gets rendered.
        return redact(f"{type(value).__name__}: {value}")
    # Any other object keeps its type unless its representation would leak something.
    try:
        shown = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break logging
        return f"<unrepresentable {type(value).__name__}>"
    scrubbed = redact(shown)
    return scrubbed if scrubbed != shown else value


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: scrub secrets from every value of the event dict.

    Runs after exception formatting, so ``exception`` (the traceback text) and ``stack``
    are plain strings by now and get scrubbed like any other value.
    """
    for key, value in list(event_dict.items()):
        if key in _META_KEYS:
            continue
        event_dict[key] = _redact_value(value)
    return event_dict


def _redact_rendered(_logger: WrappedLogger, _method: str, rendered: Any) -> Any:
    """Final pass on the rendered line: catches anything a renderer stringified itself."""
    return redact(rendered) if isinstance(rendered, str) else rendered


_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}

# Libraries that log every HTTP request at INFO; their lines are noise unless debugging.
_CHATTY_LIBRARIES = ("httpx", "httpcore", "stripe", "apscheduler.executors.default", "alembic")


class _OurHandler(logging.StreamHandler[IO[str]]):
    """Marks the handler we install so a second configure replaces it, not adds to it."""


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a real file
        return False


def configure_logging(
    fmt: str = "auto",
    level: str = "info",
    stream: IO[str] | None = None,
    *,
    capture_warnings: bool = True,
) -> None:
    """Route structlog and stdlib logging to *stream* (default stderr) as JSON or console.

    ``fmt``: ``auto`` (console on a TTY, JSON lines otherwise), ``json`` or ``console``.
    ``level``: debug, info, warning, error or critical. Calling it again reconfigures.
    """
    fmt_key = fmt.strip().lower()
    if fmt_key not in ("auto", "json", "console"):
        raise ConfigError(f"LOG_FORMAT: unknown format {fmt!r}; use auto, json or console")
    level_no = _LEVELS.get(level.strip().lower())
    if level_no is None:
        raise ConfigError(
            f"LOG_LEVEL: unknown level {level!r}; use debug, info, warning, error or critical"
        )
    out: IO[str] = stream if stream is not None else sys.stderr
    tty = _is_tty(out)
    console = fmt_key == "console" or (fmt_key == "auto" and tty)

    # Shared by structlog events and foreign (stdlib) records. Exceptions are turned into
    # text *before* redaction so tracebacks are scrubbed too.
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
        redact_secrets,
    ]
    renderer: Processor
    if console:
        renderer = structlog.dev.ConsoleRenderer(colors=tty)
    else:
        renderer = structlog.processors.JSONRenderer(default=str, ensure_ascii=False)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: tests and `nrr` subcommands may reconfigure after loggers exist.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            renderer,
            _redact_rendered,
        ],
    )
    handler = _OurHandler(out)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    # Replace only our own handler: pytest's caplog and embedding apps keep theirs.
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_no)
    for name in _CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(
            logging.DEBUG if level_no <= logging.DEBUG else max(level_no, logging.WARNING)
        )
    logging.captureWarnings(capture_warnings)


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger named *name* (use ``__name__``)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
