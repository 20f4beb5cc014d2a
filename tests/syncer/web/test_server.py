"""The dashboard over real sockets: in ``nrr run`` (beside the scheduler, /healthz without
a login, stopped with the daemon), on a busy port, over TLS (uvicorn's own, a
``trustme`` CA) and behind a proxy whose ``X-Forwarded-Proto`` counts only from
``WEB_TRUSTED_PROXIES``: the session cookie is ``Secure`` exactly over TLS."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from syncer.app.settings import Settings, load_settings
from syncer.daemon.run import Daemon
from syncer.db.store import Store
from syncer.errors import ConfigError
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account, generate_account
from syncer.web.security import hash_password
from syncer.web.server import DashboardThread, listen
from tests.e2e.daemon_thread import Clock, run_in_thread, stop, wait_for
from tests.e2e.harness import NOW, settings_for

PASSWORD = "correct horse battery staple"
HASH = hash_password(PASSWORD)


@pytest.fixture(scope="module")
def account() -> Account:
    return generate_account(customers=8, seed=5, now=NOW)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_is_free(port: int) -> bool:
    try:
        listen("127.0.0.1", port).close()
    except ConfigError:
        return False
    return True


def _secure_cookie(answer: httpx.Response) -> bool:
    cookie = answer.headers["set-cookie"].lower()
    assert "nrr_session=" in cookie and "httponly" in cookie
    return "; secure" in cookie


def _login(client: httpx.Client, **headers: str) -> httpx.Response:
    answer = client.post("/login", data={"password": PASSWORD}, headers=headers)
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return answer


# ----------------------------------------------------------------------------- nrr run


def _daemon(settings: Settings, store: Store) -> Daemon:
    # A long interval: the first tick syncs at once, then the scheduler sleeps.
    return Daemon(settings, store, clock=Clock(NOW), interval_seconds=3600, leader_poll_seconds=0.1)


def test_nrr_run_serves_the_dashboard_with_healthz_open_and_frees_the_port_on_stop(
    fake: FakeStripe, store: Store, database_url: str
) -> None:
    # HEALTH_PORT equal to WEB_PORT: one server, the dashboard's, answers /healthz.
    settings = settings_for(fake, database_url, web_port=0, health_port=0, web_password_hash=HASH)
    daemon = _daemon(settings, store)
    thread = run_in_thread(daemon)
    try:
        wait_for(lambda: daemon.web_port is not None and store.last_successful_run() is not None,
                 what="the dashboard and a first sync")
        port = daemon.web_port
        assert port and daemon.health_port == port
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False, timeout=10) as client:
            health = client.get("/healthz")
            assert health.status_code == 200 and health.headers["content-type"] == "application/json"
            assert health.json()["status"] == "ok" and health.json()["leader"] is True
            assert "set-cookie" not in health.headers
            home = client.get("/")
            assert home.status_code == 303 and home.headers["location"] == "/login"
            assert not _secure_cookie(_login(client))  # plain HTTP: a Secure cookie would never come back
            page = client.get("/")
            assert page.status_code == 200 and "Month by month" in page.text
    finally:
        stop(daemon, thread)
    assert daemon.web_port is None and _port_is_free(port)


def test_nrr_run_keeps_its_own_health_port_beside_the_dashboard(
    fake: FakeStripe, store: Store, database_url: str
) -> None:
    web_port = _free_port()
    settings = settings_for(fake, database_url, web_port=web_port, health_port=0, web_password_hash=HASH)
    daemon = _daemon(settings, store)
    thread = run_in_thread(daemon)
    try:
        wait_for(lambda: daemon.web_port is not None and daemon.health_port is not None, what="both servers")
        assert daemon.web_port == web_port and daemon.health_port != web_port
        for port in (daemon.health_port, web_port):
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
    finally:
        stop(daemon, thread)
    assert _port_is_free(web_port)


def test_a_busy_port_or_no_login_stops_nrr_run_with_one_line(
    fake: FakeStripe, store: Store, database_url: str
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = settings_for(fake, database_url, web_port=port, web_password_hash=HASH)
        with pytest.raises(ConfigError, match=rf"^WEB_PORT {port} is in use; pick another port$"):
            _daemon(settings, store).run()
        # The dashboard started first must not outlive a busy HEALTH_PORT.
        web_port = _free_port()
        settings = settings_for(fake, database_url, web_port=web_port, health_port=port, web_password_hash=HASH)
        with pytest.raises(ConfigError, match=rf"^HEALTH_PORT {port} is in use"):
            _daemon(settings, store).run()
        assert _port_is_free(web_port)
    with pytest.raises(ConfigError, match="the dashboard needs a login"):
        _daemon(settings_for(fake, database_url, web_port=0), store).run()


# ----------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_files(ca: trustme.CA, folder: Path) -> dict[str, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {"web_tls_cert_file": folder / "cert.pem", "web_tls_key_file": folder / "key.pem"}
    cert.cert_chain_pems[0].write_to_path(str(files["web_tls_cert_file"]))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(files["web_tls_cert_file"]), append=True)
    cert.private_key_pem.write_to_path(str(files["web_tls_key_file"]))
    return files


def _web_settings(database_url: str, **more: Any) -> Settings:
    return load_settings(_env_file=None, database_url=database_url, web_port=0, web_password_hash=HASH, **more)


@contextmanager
def _serving(settings: Settings, store: Store) -> Iterator[DashboardThread]:
    """The dashboard alone, as ``nrr serve`` builds it, on a free port."""
    server = DashboardThread(settings, store, 0)
    try:
        yield server
    finally:
        server.close()


def test_over_tls_the_session_cookie_is_secure(store: Store, database_url: str, ca: trustme.CA,
                                               tmp_path: Path) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with _serving(_web_settings(database_url, **_tls_files(ca, tmp_path)), store) as server:
        with httpx.Client(base_url=f"https://127.0.0.1:{server.port}", verify=context, timeout=10,
                          follow_redirects=False) as client:
            assert client.get("/").headers["location"] == "/login"
            assert _secure_cookie(_login(client))
            # The cookie comes back over TLS: no login asked (no data synced, so no overview).
            assert client.get("/").status_code != 303
        with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port gets no page
            httpx.get(f"http://127.0.0.1:{server.port}/login", timeout=5)


def test_a_trusted_proxy_saying_https_makes_the_cookie_secure(store: Store, database_url: str) -> None:
    settings = _web_settings(database_url, web_trusted_proxies=("10.0.0.0/8", "127.0.0.0/8"))
    with (_serving(settings, store) as server,
          httpx.Client(base_url=f"http://127.0.0.1:{server.port}", follow_redirects=False, timeout=10) as client):
        assert _secure_cookie(_login(client, **{"X-Forwarded-Proto": "https"}))
        assert not _secure_cookie(_login(client, **{"X-Forwarded-Proto": "http"}))
        assert not _secure_cookie(_login(client))


def test_an_untrusted_address_saying_https_does_not(store: Store, database_url: str) -> None:
    settings = _web_settings(database_url, web_trusted_proxies=("10.0.0.0/8", "192.0.2.7"))
    with (_serving(settings, store) as server,
          httpx.Client(base_url=f"http://127.0.0.1:{server.port}", follow_redirects=False, timeout=10) as client):
        assert not _secure_cookie(_login(client, **{"X-Forwarded-Proto": "https"}))


def test_a_certificate_that_does_not_load_is_one_line(store: Store, database_url: str, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("not a certificate\n"), key.write_text("not a key\n")
    settings = _web_settings(database_url, web_tls_cert_file=cert, web_tls_key_file=key)
    with pytest.raises(ConfigError, match=r"^WEB_TLS_CERT_FILE, WEB_TLS_KEY_FILE: cannot load them \(.+\); give"):
        DashboardThread(settings, store, 0)
