"""Liveness of the daemon: ``GET /healthz`` and a dead-man's-switch ping.

Healthy means "data is fresh, or we are working on it". Three cases answer 200:

- the last successful sync finished within 3 intervals;
- a sync is running right now (a first backfill of a large account can take hours, and
  a liveness probe that kills it would restart it from its last checkpoint forever);
- the daemon started less than 3 intervals ago (it has not had its chance yet). This
  covers "no sync has succeeded yet" and also a restart on an old database: otherwise
  a probe would kill a freshly restarted daemon before its first sync began.

Anything else is 503 "stale". A replica that does not lead reads the same database, so
it reports the leader's syncs: the cluster is healthy when *someone* keeps data fresh.
"""

from __future__ import annotations

import errno
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from syncer.app.logging import get_logger, redact
from syncer.app.status import iso
from syncer.db.store import Store
from syncer.errors import ConfigError, NrrError

log = get_logger(__name__)

STALE_AFTER_INTERVALS = 3
HEALTH_PATHS = frozenset({"/", "/healthz"})

Status = Callable[[], tuple[int, dict[str, Any]]]


def health_status(
    store: Store,
    *,
    now: int,
    interval_seconds: int,
    started_at: int,
    sync_running: bool,
    leader: bool,
    next_runs: Mapping[str, int | None],
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for the health endpoint; see the module docstring."""
    grace = STALE_AFTER_INTERVALS * interval_seconds
    last = store.last_successful_run()
    last_sync: int | None = last["finished_at"] if last else None
    cursors = store.cursors()
    fresh = last_sync is not None and now - last_sync <= grace
    starting = now - started_at < grace
    ok = fresh or sync_running or starting
    body: dict[str, Any] = {
        "status": "ok" if ok else "stale",
        "last_sync": iso(last_sync),
        "last_sync_age_seconds": now - last_sync if last_sync is not None else None,
        # The account whose events lag most is what limits how fresh the data is.
        "cursor_age_seconds": max(now - c.cursor for c in cursors) if cursors else None,
        "sync_running": sync_running,
        "leader": leader,
        "next_runs": {name: iso(ts) for name, ts in sorted(next_runs.items())},
        "started_at": iso(started_at),
    }
    return (200 if ok else 503), body


class HealthServer:
    """The health endpoint served from a daemon thread; ``close()`` stops it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        # A short poll interval only makes close() quick; requests are served immediately.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="nrr-health", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Never share the port with another process (SO_REUSEPORT would let a second daemon
    # bind the same port silently, and probes would hit either one).
    allow_reuse_port = False


def serve_health(port: int, status: Status, host: str = "0.0.0.0") -> HealthServer:
    """Answer ``GET /healthz`` (and ``GET /``) with ``status()``; port 0 picks a free port."""
    try:
        server = _Server((host, port), _handler_for(status))
    except OSError as exc:
        raise listen_error("HEALTH_PORT", port, host, exc) from None
    return HealthServer(server)


def listen_error(setting: str, port: int, host: str, exc: OSError) -> ConfigError:
    """The one line for a port that cannot be listened on (the health server's and the
    dashboard's alike): what to change, not a traceback."""
    if exc.errno == errno.EADDRINUSE:
        return ConfigError(f"{setting} {port} is in use; pick another port")
    return ConfigError(f"{setting} {port}: cannot listen on {host} ({exc.strerror or type(exc).__name__}); "
                       "pick another port or host")


def _handler_for(status: Status) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "stripe-nrr"
        sys_version = ""

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in HEALTH_PATHS:
                self._answer(404, {"status": "not found", "error": "use GET /healthz"})
                return
            self._answer(*probe(status))

        def _answer(self, code: int, body: Mapping[str, Any]) -> None:
            data = health_json(body)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            # A probe every few seconds would drown the daemon's own log.
            pass

    return Handler


def probe(status: Status) -> tuple[int, dict[str, Any]]:
    """``status()``, or 503 with a one-line reason if it fails: a probe gets an answer,
    never a traceback (the health server and the dashboard's ``/healthz`` both answer this)."""
    try:
        return status()
    except Exception as exc:  # noqa: BLE001
        reason = _one_line(exc)
        log.warning("health.status_failed", error=reason)
        return 503, {"status": "error", "error": reason}


def health_json(body: Mapping[str, Any]) -> bytes:
    """The body as both endpoints write it (sorted keys: stable for people diffing probes)."""
    return json.dumps(body, sort_keys=True).encode()


def _one_line(exc: BaseException) -> str:
    # Our errors are one line without secrets by contract; anyone else's message might
    # carry SQL parameters or a URL, so only its type is shown (the log has the rest).
    if isinstance(exc, NrrError):
        return redact(str(exc))
    return f"internal error ({type(exc).__name__}); see the daemon's log"


def send_healthcheck_ping(
    url: str,
    *,
    fail: bool = False,
    timeout: float = 10,
    transport: httpx.BaseTransport | None = None,
    retry_delays: Sequence[float] = (1.0, 3.0),
) -> bool:
    """Ping a dead-man's switch (healthchecks.io style): ``url``, or ``url/fail``.

    Returns whether the ping got a 2xx; never raises: a monitoring hiccup must not fail
    the sync it reports on. The URL's path is its credential, so logs show the host only.
    """
    try:
        target = httpx.URL(url.rstrip("/") + "/fail" if fail else url)
        host = target.host
    except (httpx.InvalidURL, TypeError, ValueError):
        log.warning("healthcheck.ping_failed", reason="the ping URL is not a valid URL")
        return False
    if target.scheme not in ("http", "https") or not host:
        log.warning("healthcheck.ping_failed", host=host or None, reason="the ping URL is not an http(s) URL")
        return False
    reason = ""
    with httpx.Client(timeout=timeout, transport=transport, headers={"User-Agent": "stripe-nrr"}) as client:
        for attempt in range(len(retry_delays) + 1):
            if attempt:
                time.sleep(retry_delays[attempt - 1])
            try:
                response = client.get(target)
            except httpx.HTTPError as exc:
                # str(exc) may repeat the URL; its type says enough (timeout, refused, ...).
                reason = type(exc).__name__
                continue
            if response.is_success:
                return True
            reason = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # a wrong or deleted check: asking again gets the same answer
    log.warning("healthcheck.ping_failed", host=host, reason=reason, fail=fail)
    return False
