"""The dashboard (``nrr serve``) on a loopback port, for the bench's ``web`` step and for
``make screenshots``: served by uvicorn in a thread of this process, as ``nrr serve``
serves it, and logged in with a throwaway password.

``time_pages`` times each page of the sitemap (``syncer.web.sitemap``) over real HTTP:
its first request, then the median of ``repeats`` more, after the server's warm-up (the
reports it computes in the background after each sync, timed apart) and with a report
delivered, so that the deliveries' pages have one to show.
"""

from __future__ import annotations

import http.client
import secrets
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from pydantic import SecretStr

from reports.metrics import MonthReport
from syncer.app.settings import Settings
from syncer.db.store import Store

# Requests of each page after its first one; their median is its warm time.
REPEATS = 5


def with_throwaway_password(settings: Settings) -> tuple[Settings, str]:
    """``settings`` whose dashboard login is a fresh random password, and that password."""
    from syncer.web.security import hash_password

    password = secrets.token_urlsafe(18)
    return settings.model_copy(update={"web_password_hash": SecretStr(hash_password(password))}), password


@dataclass(frozen=True)
class Served:
    base: str  # the dashboard's URL
    warm_up_ms: float  # its warm-up: what ``nrr serve`` computes after each sync before anyone asks
    last_month_reports: Callable[[], list[MonthReport]]  # the dashboard's, as the email of that month has them


@contextmanager
def serving(settings: Settings, store: Store, *, now: int) -> Iterator[Served]:
    """The dashboard of ``store`` at ``now``, warmed up as ``nrr serve`` warms it, on a
    free loopback port."""
    import uvicorn

    from syncer.web.app import build_app

    app = build_app(settings, store, clock=lambda: float(now))
    started = time.perf_counter()
    app.state.warm()
    warm_up_ms = (time.perf_counter() - started) * 1000
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                           access_log=False, server_header=False))
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", warm_up_ms, app.state.last_month_reports)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str  # without its parameters
    body: bytes


class DashboardClient:
    """The dashboard over loopback HTTP through the standard library's ``http.client``,
    keeping the session cookie. Not httpx: its transport imports trio where that is
    installed (the dev dependencies), which forks ldconfig, and a child forked from the
    process holding the dashboard's reports counts as large as it in the step's memory."""

    def __init__(self, base: str, timeout: float = 300) -> None:
        url = urlsplit(base)
        self._connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=timeout)
        self._cookie = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Answer:
        headers = {"Cookie": self._cookie} if self._cookie else {}
        body = urlencode(form).encode() if form is not None else None
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self._connection.request(method, path, body=body, headers=headers)
        response = self._connection.getresponse()
        content = response.read()
        if cookie := response.getheader("Set-Cookie"):
            self._cookie = cookie.partition(";")[0]
        return Answer(response.status, (response.getheader("Content-Type") or "").partition(";")[0].strip(), content)

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def close(self) -> None:
        self._connection.close()


def log_in(client: DashboardClient, password: str) -> None:
    answer = client.request("POST", "/login", {"password": password})
    if answer.status != 303:
        raise RuntimeError(f"the dashboard refused the login ({answer.status})")


def _get(client: DashboardClient, name: str, path: str) -> tuple[float, int]:
    """Milliseconds to GET ``path`` with its whole body, and the body's bytes."""
    started = time.perf_counter()
    answer = client.get(path)
    body = answer.body
    took = (time.perf_counter() - started) * 1000
    if answer.status != 200:
        raise RuntimeError(f"dashboard page {name} ({path}) answered {answer.status}")
    return took, len(body)


def time_pages(settings: Settings, store: Store, *, now: int, repeats: int = REPEATS) -> dict[str, Any]:
    """Each sitemap page's first request (``cold_ms``: after the login, before any other
    request of that page) and the median of ``repeats`` more (``warm_ms``), the pages
    taken in turn so that no page is asked twice in a row."""
    from syncer.web.sitemap import sample_paths

    settings, password = with_throwaway_password(settings)
    cold: dict[str, float] = {}
    sizes: dict[str, int] = {}
    with serving(settings, store, now=now) as served, closing(DashboardClient(served.base)) as client:
        # From the reports the dashboard keeps: the bench process holds what `nrr serve` holds.
        reports = served.last_month_reports()
        record_a_delivery(settings, store, now=now, reports=reports)
        samples = sample_paths(store, settings, now=now, reports=reports)
        warm: dict[str, list[float]] = {name: [] for name, _ in samples}
        log_in(client, password)
        for name, path in samples:
            cold[name], sizes[name] = _get(client, name, path)
        for _ in range(repeats):
            for name, path in samples:
                warm[name].append(_get(client, name, path)[0])
    # "order": the sitemap's, which bench/results.json (its keys sorted) does not keep.
    pages = {name: {"order": order, "path": path, "cold_ms": round(cold[name], 1),
                    "warm_ms": round(statistics.median(warm[name]), 1), "bytes": sizes[name]}
             for order, (name, path) in enumerate(samples, 1)}
    return {"pages": pages, "requests": len(samples) * (1 + repeats), "repeats": repeats,
            "warm_up_ms": round(served.warm_up_ms, 1)}


def record_a_delivery(settings: Settings, store: Store, *, now: int,
                      reports: Sequence[MonthReport] | None = None) -> None:
    """The last complete month's report (``reports``: it and the months before it, if
    already computed) as each channel freezes it, marked sent (to a placeholder target,
    sending nothing), as the daemon leaves the ledger after a send."""
    from reports.month import last_complete_month
    from syncer.app.reporting import report_months
    from syncer.deliver.ledger import claim, mark_sent
    from syncer.deliver.registry import CHANNELS

    if reports is None:
        reports = report_months(settings, store, last_complete_month(now, settings.report_timezone), now=now,
                                count=13, full=True)
    reports = list(reports[-13:])  # the email's trend
    for channel in CHANNELS:
        got = claim(store, account="platform", month=reports[-1].month, channel=channel.name,
                    target="bench@example.com", snapshot_json=channel.render(settings, reports), now=now)
        if got is not None:
            mark_sent(store, got, now=now)
