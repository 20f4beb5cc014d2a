"""Daemon health: freshness rules on a real store, the /healthz server, the ping."""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from syncer.daemon.health import health_status, send_healthcheck_ping, serve_health
from syncer.db.store import RunStats, Store
from syncer.errors import ConfigError, DatabaseUnavailable

HOUR = 3600
INTERVAL = HOUR  # stale after 3 hours
T0 = 1_700_000_000  # 2023-11-14T22:13:20Z


def _sync(store: Store, *, started: int, finished: int | None, status: str = "success") -> int:
    run_id = store.begin_run("sync", ["customers"], started, os.getpid())
    if finished is not None:
        store.finish_run(run_id, status=status, now=finished, stats=RunStats(counts={"customers": 1}))
    return run_id


def _health(store: Store, now: int, *, started_at: int = T0 - 100 * HOUR, running: bool = False) -> tuple[int, dict[str, Any]]:
    return health_status(
        store, now=now, interval_seconds=INTERVAL, started_at=started_at,
        sync_running=running, leader=True, next_runs={},
    )


# ---- the rules ----------------------------------------------------------------------


def test_fresh_success_is_healthy(store: Store) -> None:
    _sync(store, started=T0 - 60, finished=T0)
    code, body = _health(store, T0 + 3 * INTERVAL)  # exactly 3 intervals: still fresh
    assert code == 200
    assert body["status"] == "ok"
    assert body["last_sync_age_seconds"] == 3 * INTERVAL


def test_stale_success_is_unhealthy(store: Store) -> None:
    _sync(store, started=T0 - 60, finished=T0)
    code, body = _health(store, T0 + 3 * INTERVAL + 1)
    assert code == 503
    assert body["status"] == "stale"


def test_a_failed_run_does_not_count_as_fresh(store: Store) -> None:
    _sync(store, started=T0 - 60, finished=T0)
    _sync(store, started=T0 + 4 * INTERVAL, finished=T0 + 4 * INTERVAL + 5, status="failed")
    code, body = _health(store, T0 + 4 * INTERVAL + 10)
    assert code == 503
    assert body["last_sync"] == "2023-11-14T22:13:20Z"


def test_stale_but_syncing_is_healthy(store: Store) -> None:
    _sync(store, started=T0 - 60, finished=T0)
    _sync(store, started=T0 + 10 * INTERVAL, finished=None)
    code, body = _health(store, T0 + 20 * INTERVAL, running=True)
    assert code == 200
    assert body["status"] == "ok"
    assert body["sync_running"] is True


def test_no_success_yet_is_healthy_within_the_grace_after_start(store: Store) -> None:
    started = T0
    assert _health(store, started + 3 * INTERVAL - 1, started_at=started)[0] == 200
    code, body = _health(store, started + 3 * INTERVAL, started_at=started)
    assert code == 503
    assert body["last_sync"] is None and body["last_sync_age_seconds"] is None


def test_restart_on_an_old_database_gets_the_same_grace(store: Store) -> None:
    _sync(store, started=T0 - 60, finished=T0)
    restarted = T0 + 30 * 24 * HOUR
    assert _health(store, restarted + 60, started_at=restarted)[0] == 200
    assert _health(store, restarted + 3 * INTERVAL, started_at=restarted)[0] == 503


def test_body_fields(store: Store) -> None:
    _sync(store, started=T0 - 60, finished=T0)
    with store.transaction() as conn:
        store.set_event_cursor(conn, "acct_a", False, T0 - 50, T0)
        store.set_event_cursor(conn, "acct_b", False, T0 - 500, T0)
    code, body = health_status(
        store, now=T0 + 100, interval_seconds=INTERVAL, started_at=T0 - HOUR,
        sync_running=False, leader=False, next_runs={"sync": T0 + 3600, "report": None},
    )
    assert code == 200
    assert body == {
        "status": "ok",
        "last_sync": "2023-11-14T22:13:20Z",
        "last_sync_age_seconds": 100,
        "cursor_age_seconds": 600,  # the oldest account's cursor
        "sync_running": False,
        "leader": False,
        "next_runs": {"report": None, "sync": "2023-11-14T23:13:20Z"},
        "started_at": "2023-11-14T21:13:20Z",
    }
    json.dumps(body)  # serialisable as is


def test_no_cursor_yet_is_null(store: Store) -> None:
    assert _health(store, T0)[1]["cursor_age_seconds"] is None


# ---- the HTTP server ----------------------------------------------------------------


def _get(url: str) -> tuple[int, dict[str, Any], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), resp.headers["Content-Type"]
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers["Content-Type"]


class Answer:
    def __init__(self) -> None:
        self.value: tuple[int, dict[str, Any]] | Exception = (200, {"status": "ok"})

    def __call__(self) -> tuple[int, dict[str, Any]]:
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


@pytest.fixture
def served() -> Iterator[tuple[str, Answer]]:
    answer = Answer()
    server = serve_health(0, answer, host="127.0.0.1")
    assert server.port > 0
    yield f"http://127.0.0.1:{server.port}", answer
    server.close()


def test_server_answers_the_status_on_healthz_and_root(served: tuple[str, Answer]) -> None:
    base, answer = served
    assert _get(f"{base}/healthz") == (200, {"status": "ok"}, "application/json")
    assert _get(f"{base}/")[:2] == (200, {"status": "ok"})
    answer.value = (503, {"status": "stale", "last_sync": None})
    assert _get(f"{base}/healthz?probe=1")[:2] == (503, {"status": "stale", "last_sync": None})


def test_server_404s_other_paths(served: tuple[str, Answer]) -> None:
    base, _ = served
    code, body, _ = _get(f"{base}/metrics")
    assert code == 404
    assert body["status"] == "not found"


def test_server_turns_a_failing_status_into_a_503_without_traceback(served: tuple[str, Answer]) -> None:
    base, answer = served
    answer.value = DatabaseUnavailable("cannot use the database sqlite:///x.db: locked; is it running?")
    assert _get(f"{base}/healthz")[:2] == (
        503, {"status": "error", "error": "cannot use the database sqlite:///x.db: locked; is it running?"},
    )
    # Someone else's exception text might hold a secret: only its type is shown.
    answer.value = RuntimeError("postgresql://nrr:hunter2@db/x\nTraceback (most recent call last)")
    code, body, _ = _get(f"{base}/healthz")
    assert code == 503
    assert body == {"status": "error", "error": "internal error (RuntimeError); see the daemon's log"}


def test_server_stops_on_close() -> None:
    server = serve_health(0, Answer(), host="127.0.0.1")
    port = server.port
    assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    server.close()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)


def test_port_in_use_is_a_config_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"^HEALTH_PORT {port} is in use; pick another port$"):
            serve_health(port, Answer(), host="127.0.0.1")


# ---- the dead-man's-switch ping ------------------------------------------------------

SECRET_PATH = "/ping/3f1c-secret-uuid"


def test_ping_success_and_fail_suffix(ping_server: tuple[str, list[str]]) -> None:
    base, seen = ping_server
    assert send_healthcheck_ping(base + SECRET_PATH) is True
    assert send_healthcheck_ping(base + SECRET_PATH + "/", fail=True) is True
    assert seen == [SECRET_PATH, SECRET_PATH + "/fail"]


def test_ping_unreachable_returns_false_and_logs_the_host_only() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    with capture_logs() as logs:
        ok = send_healthcheck_ping(f"http://127.0.0.1:{port}{SECRET_PATH}", timeout=5, retry_delays=(0, 0))
    assert ok is False
    assert len(logs) == 1
    assert logs[0]["event"] == "healthcheck.ping_failed"
    assert logs[0]["host"] == "127.0.0.1"
    assert logs[0]["reason"] == "ConnectError"
    assert "secret-uuid" not in repr(logs)


def test_ping_retries_server_errors_but_not_a_missing_check() -> None:
    calls: list[str] = []
    codes = iter([503, 502, 200])

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(next(codes))

    assert send_healthcheck_ping("https://hc-ping.com/uuid", transport=httpx.MockTransport(flaky), retry_delays=(0, 0))
    assert len(calls) == 3

    calls.clear()
    missing = httpx.MockTransport(lambda r: (calls.append(r.url.path), httpx.Response(404))[1])
    with capture_logs() as logs:
        assert not send_healthcheck_ping("https://hc-ping.com/uuid", transport=missing, retry_delays=(0, 0))
    assert calls == ["/uuid"]
    assert logs[0]["reason"] == "HTTP 404" and logs[0]["host"] == "hc-ping.com"


def test_ping_with_a_malformed_url_returns_false() -> None:
    with capture_logs() as logs:
        assert send_healthcheck_ping("not a url") is False
        assert send_healthcheck_ping("ftp://example.com/x") is False
    assert [entry["event"] for entry in logs] == ["healthcheck.ping_failed"] * 2
