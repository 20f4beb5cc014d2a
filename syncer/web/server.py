"""The dashboard's HTTP server, built once from the settings for ``nrr serve`` (in the
foreground) and ``nrr run`` (a thread beside the scheduler).

The socket is bound here, before uvicorn starts, so that a busy port is a one-line
``ConfigError`` in the caller (uvicorn would log it and ``sys.exit`` its thread), and so
that port 0 tells which port it picked. TLS is uvicorn's when ``WEB_TLS_CERT_FILE`` and
``WEB_TLS_KEY_FILE`` are set. uvicorn's ``proxy_headers`` stay off: a trusted proxy's
``X-Forwarded-Proto`` is read by ``syncer.web.sessions``, which leaves the client's
address alone for the SSO header check.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import TYPE_CHECKING

import uvicorn

from syncer.app.logging import get_logger
from syncer.app.settings import Settings
from syncer.daemon.health import Status, listen_error
from syncer.errors import ConfigError
from syncer.web.cache import WARM_EVERY_SECONDS

if TYPE_CHECKING:
    from syncer.db.store import Store

log = get_logger("nrr")
START_SECONDS = 10.0
# A request still running at shutdown gets this long; then the daemon stops regardless.
GRACEFUL_SECONDS = 5


def require_login(settings: Settings) -> None:
    """Every page needs a login: a password hash, or a trusted SSO proxy's header."""
    if settings.web_password_hash is None and not (settings.web_auth_header and settings.web_trusted_proxies):
        raise ConfigError("the dashboard needs a login: set WEB_PASSWORD_HASH (from `nrr web hash-password`) "
                          "or WEB_AUTH_HEADER with WEB_TRUSTED_PROXIES")


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (0 = any free port), or the port's one-line error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Like uvicorn: a restart may rebind at once despite connections in TIME_WAIT. Never
    # SO_REUSEPORT, which would let a second daemon share the port silently.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise listen_error("WEB_PORT", port, host, exc) from None
    return sock


def build_server(settings: Settings, store: Store, *, health: Status | None = None) -> uvicorn.Server:
    """The uvicorn server of the dashboard for ``settings`` (TLS included), not yet started."""
    from syncer.web.app import build_app

    require_login(settings)
    tls = settings.web_tls_cert_file, settings.web_tls_key_file
    config = uvicorn.Config(
        build_app(settings, store, health=health, warm_every=WARM_EVERY_SECONDS),
        host=settings.web_host,
        log_config=None,  # the daemon's own logging (syncer.app.logging) already holds the root
        access_log=False,
        server_header=False,
        proxy_headers=False,  # see the module docstring
        ssl_certfile=tls[0],
        ssl_keyfile=tls[1],
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    try:
        config.load()  # here, not in uvicorn's thread: a bad certificate is the caller's error
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror
        raise ConfigError(f"WEB_TLS_CERT_FILE, WEB_TLS_KEY_FILE: cannot load them ({reason or type(exc).__name__}); "
                          "give a PEM certificate and its unencrypted private key") from None
    return uvicorn.Server(config)


def serve(settings: Settings, store: Store, port: int) -> None:
    """``nrr serve``: the dashboard in the foreground until SIGINT or SIGTERM."""
    sock = listen(settings.web_host, port)
    # The port bound, not the one asked: with --port 0 it is the only way to learn it.
    log.info("web.serving", host=settings.web_host, port=sock.getsockname()[1],
             tls=settings.web_tls_cert_file is not None)
    try:
        build_server(settings, store).run(sockets=[sock])
    finally:
        sock.close()


class DashboardThread:
    """The dashboard served from a thread of ``nrr run``; ``close()`` stops it."""

    def __init__(self, settings: Settings, store: Store, port: int, *, health: Status | None = None) -> None:
        self._server = build_server(settings, store, health=health)
        self._socket = listen(settings.web_host, port)
        self.port: int = self._socket.getsockname()[1]  # the one picked, for port 0
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name="nrr-web", daemon=True)
        self._thread.start()
        self._wait_started()

    def _wait_started(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise ConfigError(f"the dashboard did not start on port {self.port}; see the log above")
            time.sleep(0.02)

    def close(self) -> None:
        # uvicorn's own way out: its loop sees the flag within a tick (0.1 s), closes the
        # listener and waits for running requests (GRACEFUL_SECONDS at most).
        self._server.should_exit = True
        self._thread.join(timeout=GRACEFUL_SECONDS + 5)
        self._socket.close()
