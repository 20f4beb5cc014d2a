"""``nrr serve``: the read-only dashboard over the same facts and the same report
computation as the email, so a page and the email of a month can never disagree.

Pages: the overview (24 months of MRR, NRR and GRR, the movements chart, the last sync),
a month (the report; each movement opens its customers, as a page or a CSV; its segments
and signup cohorts), a customer (its MRR history with each change's cause, its churn
events), the deliveries (each report, alert and digest sent, with the snapshot as sent)
and the sync (runs, cursors, counts). ``?account=`` shows a connected account's (or
``all``'s) report. Every page needs a login (``syncer.web.security``); no page changes
anything.

Pages are plain functions: Starlette runs them in its thread pool, so a report being
computed never holds up another request (nor, in ``nrr run``, the health probe).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from reports.alerts import ALERT_KEY_PREFIX, DIGEST_KEY_PREFIX
from reports.errors import ReportError
from reports.metrics import MonthReport, Movement
from reports.metrics.report import MOVEMENT_ORDER
from reports.month import last_complete_month, parse_month
from reports.render.chart import render_chart_png
from reports.render.cohorts import FOOTER as COHORTS_FOOTER
from reports.render.cohorts import render_cohorts_csv
from reports.render.csvout import render_csv
from reports.render.email_text import as_of, cash, company, pct1
from reports.render.segments import FOOTER as SEGMENTS_FOOTER
from reports.render.segments import dimension_title, render_segments_csv, segmented, signed_points
from reports.render.text import month_title, short_percent
from syncer.app.accounts import scope_of
from syncer.app.alerting import SINCE_KEY
from syncer.app.settings import Settings
from syncer.app.status import collect_status, row_counts
from syncer.app.values import is_report_account
from syncer.daemon.health import Status, health_json, probe
from syncer.db.deliveries import Delivery, delivery_by_id, recent_deliveries
from syncer.db.store import Store
from syncer.deliver.channel import SnapshotView
from syncer.deliver.registry import channel_view
from syncer.errors import ConfigError, NrrError
from syncer.web.cache import ReportCache, Warmer, data_state
from syncer.web.customer import customer_page, holders
from syncer.web.security import (
    SECURITY_HEADERS,
    SESSION_SECONDS,
    LoginThrottle,
    client_address,
    password_matches,
    session_key,
    trusted,
)
from syncer.web.sessions import TlsSessions
from syncer.web.trend import render_trend_svg

TREND_MONTHS = 24
CHART_MONTHS = 13  # as in the email
DELIVERIES_SHOWN = 200
SYNC_RUNS_SHOWN = 20
# The e-mail as sent carries inline styles (mail clients need them); it is shown on a page
# of its own with this policy: no script at all, images from the dashboard only.
SNAPSHOT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; sandbox"
_MOVEMENT_TITLES = {"new": "+ New", "reactivation": "+ Reactivation", "expansion": "+ Expansion",
                    "contraction": "− Contraction", "churn": "− Churn",
                    "same_month_start_and_cancel": "Started and cancelled in the month"}
# A probe has no login: /healthz (nrr run's health; 404 without it) says nothing secret.
_HEALTH = "/healthz"
_PUBLIC = ("/login", "/static/", _HEALTH)


def build_app(settings: Settings, store: Store, *, clock: Callable[[], float] = time.time,
              session_secret: str | None = None, health: Status | None = None,
              warm_every: float | None = None) -> Starlette:
    """The dashboard for ``settings`` and ``store``; ``session_secret`` signs the session
    cookie (by default a key derived from the password's hash: ``security.session_key``);
    ``health`` (``nrr run``'s status) answers ``GET /healthz`` on the same port; with
    ``warm_every``, the reports the overview and the last month show are computed while
    the server runs, every ``warm_every`` seconds (``syncer.web.cache.Warmer``)."""
    pages = _Pages(settings, store, clock)
    routes = [
        *([Route(_HEALTH, _health_endpoint(health), methods=["GET"])] if health else []),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/", pages.overview),
        Route("/chart.png", pages.chart),
        Route("/trend.svg", pages.trend),
        Route("/cohorts", pages.cohorts),
        Route("/deliveries", pages.deliveries),
        Route("/deliveries/{delivery:int}", pages.delivery),
        Route("/deliveries/{delivery:int}/sent.html", pages.delivery_html),
        Route("/deliveries/{delivery:int}/{image:str}", pages.delivery_image),
        Route("/sync", pages.sync),
        Route("/month/{month}", pages.month),
        Route("/month/{month}/segments", pages.segments),
        Route("/month/{month}/cohorts", pages.cohorts),
        Route("/month/{month}/{movement}", pages.movement),
        Route("/customer/{customer}", pages.customer),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    middleware = [
        Middleware(BaseHTTPMiddleware, dispatch=_security_headers),
        Middleware(TlsSessions, session_secret or session_key(_password_hash(settings)), max_age=SESSION_SECONDS,
                   same_site="strict", session_cookie="nrr_session", trusted_proxies=settings.web_trusted_proxies),
        Middleware(BaseHTTPMiddleware, dispatch=pages.require_login),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=_warming(pages, warm_every),
                    exception_handlers={ReportError: pages.failed, NrrError: pages.failed, NotFound: pages.failed})
    # `make bench` times the warm-up apart from the pages, and picks its samples (and the
    # report it records as sent) from the reports the dashboard keeps.
    app.state.warm = pages.warm
    app.state.last_month_reports = pages.last_month_reports
    return app


def _warming(pages: _Pages, every: float | None) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        warmer = Warmer(pages.warm, every) if every else None
        if warmer:
            warmer.start()
        try:
            yield
        finally:
            if warmer:
                warmer.stop()

    return lifespan


def _password_hash(settings: Settings) -> str | None:
    return settings.web_password_hash.get_secret_value() if settings.web_password_hash else None


def _health_endpoint(status: Status) -> Callable[[Request], Response]:
    # Not async: the status reads the database, which must not block the event loop.
    def healthz(request: Request) -> Response:
        code, body = probe(status)
        return Response(health_json(body), status_code=code, media_type="application/json")

    return healthz


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        # A page with a stricter policy of its own (the e-mail as sent) keeps it.
        response.headers.setdefault(name, value)
    return response


class NotFound(Exception):
    """What the address asks for is not there: a 404 with this one-line message."""


class _Pages:
    def __init__(self, settings: Settings, store: Store, clock: Callable[[], float]) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        self.throttle = LoginThrottle()
        self.cache = ReportCache()
        self.templates = Environment(loader=PackageLoader("syncer.web", "templates"),
                                     autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
        # Codes as words: a movement's reason, a span's cause (``price_change`` → "price change").
        self.templates.filters["words"] = lambda code: str(code).replace("_", " ")

    # ------------------------------------------------------------------ authentication

    async def require_login(self, request: Request,
                            call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if request.url.path.startswith(_PUBLIC) or self._user(request):
            return await call_next(request)
        return RedirectResponse("/login", status_code=303)

    def _user(self, request: Request) -> str | None:
        header = self.settings.web_auth_header
        if header and trusted(request.client.host if request.client else None, self.settings.web_trusted_proxies):
            return request.headers.get(header) or None
        user = request.session.get("user")
        return str(user) if user else None

    async def login_form(self, request: Request) -> Response:
        return self._page("login.html.j2", request, error=None)

    async def login(self, request: Request) -> Response:
        address = client_address(request.client.host if request.client else None,
                                 request.headers.get("x-forwarded-for"), self.settings.web_trusted_proxies)
        now = self.clock()
        if self.throttle.blocked(address, now):
            return self._page("login.html.j2", request, status=429,
                              error="Too many failed attempts from this address; wait a minute and try again.")
        form = await request.form()
        stored = _password_hash(self.settings)
        password = str(form.get("password") or "")
        # argon2 takes a tenth of a second of CPU by design: in the thread pool, not the event loop.
        if stored is None or not await run_in_threadpool(password_matches, password, stored):
            self.throttle.failed(address, now)
            return self._page("login.html.j2", request, status=401, error="Wrong password.")
        self.throttle.succeeded(address)
        request.session.clear()
        request.session["user"] = "admin"
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # ------------------------------------------------------------------ pages

    def overview(self, request: Request) -> Response:
        reports = self._trend(self._account(request))
        last = reports[-1]
        run = self.store.last_successful_run()
        return self._page("overview.html.j2", request, company=company(last), last=last, rows=[
            {"month": r.month, "title": month_title(r.month), "mrr": cash(r.mrr.end, r.currency),
             "arr": cash(r.arr.end, r.currency), "nrr": pct1(r.retention.nrr), "grr": pct1(r.retention.grr),
             "nrr_12m": pct1(r.retention.nrr_12m), "grr_12m": pct1(r.retention.grr_12m), "status": r.status}
            for r in reversed(reports)], last_sync=as_of(int(run["finished_at"])) if run else "never")

    def chart(self, request: Request) -> Response:
        return Response(self._chart(self._account(request)), media_type="image/png")

    def trend(self, request: Request) -> Response:
        account = self._account(request)
        reports = self._trend(account)
        svg = self.cache.get(self._key(account, "trend.svg", reports[-1].month), lambda: render_trend_svg(reports))
        return Response(svg, media_type="image/svg+xml")

    def month(self, request: Request) -> Response:
        report = self._month_figures(request)
        m, c = report.mrr, report.customers
        lines = [
            ("Start", cash(m.start, report.currency), c.start, None),
            ("+ New", cash(m.new, report.currency), c.new, "new"),
            ("+ Reactivation", cash(m.reactivation, report.currency), c.reactivated, "reactivation"),
            ("+ Expansion", cash(m.expansion, report.currency), c.expanded, "expansion"),
            ("− Contraction", cash(m.contraction, report.currency), c.contracted, "contraction"),
            ("− Churn", cash(m.churn, report.currency), c.churned, "churn"),
            ("± FX impact", cash(m.fx_impact, report.currency), "", None),
            ("End", cash(m.end, report.currency), c.end, None),
        ]
        return self._page("month.html.j2", request, report=report, title=month_title(report.month), lines=lines,
                          company=company(report), nrr=pct1(report.retention.nrr), grr=pct1(report.retention.grr),
                          logo=pct1(report.retention.logo_retention))

    def movement(self, request: Request) -> Response:
        report = self._month_figures(request)
        kind = request.path_params["movement"]
        if kind not in MOVEMENT_ORDER:
            return self._page("error.html.j2", request, status=404, message=f"No movement called {kind!r}.")
        movements = [mv for mv in report.movements if mv.movement == kind]
        if request.query_params.get("format") == "csv":
            return _csv(report, movements, f"{report.month}-{kind}.csv")
        rows = [{"customer": mv.customer, "name": mv.name or mv.customer, "from": cash(mv.from_mrr, report.currency),
                 "to": cash(mv.to_mrr, report.currency), "delta": cash(mv.delta, report.currency),
                 "why": " · ".join(x for x in (mv.churn_kind, mv.reason) if x)} for mv in movements]
        return self._page("movement.html.j2", request, report=report, title=month_title(report.month),
                          kind=kind, heading=_MOVEMENT_TITLES[kind], rows=rows,
                          total=cash(sum(mv.delta for mv in movements), report.currency))

    def customer(self, request: Request) -> Response:
        """A customer's history and documents in the account ``?account=`` names (default:
        the synced account holding the id), or in all of them consolidated (``all``)."""
        cid = request.path_params["customer"]
        with self.store.reading() as conn:
            try:
                found = holders(self.settings, self.store, conn, cid, request.query_params.get("account"))
            except ConfigError as exc:  # an account not synced: nothing there, not a failure
                return self._page("error.html.j2", request, status=404, message=str(exc))
            page = customer_page(conn, found)
        if page is None:
            return self._page("error.html.j2", request, status=404, message="No such customer in the synced data.")
        return self._page("customer.html.j2", request, **page)

    def segments(self, request: Request) -> Response:
        report = self._month_report(request)
        if request.query_params.get("format") == "csv":
            return _download(render_segments_csv(report), "text/csv", f"{report.month}-segments.csv")
        cur = report.currency
        dimensions = [{
            "title": dimension_title(d.dimension), "moved": d.moved,
            "rows": [{"value": s.value, "start": cash(s.mrr.start, cur), "new": cash(s.mrr.new + s.mrr.reactivation, cur),
                      "expansion": cash(s.mrr.expansion, cur), "contraction": cash(s.mrr.contraction, cur),
                      "churn": cash(s.mrr.churn, cur), "end": cash(s.mrr.end, cur), "customers": s.customers_start,
                      "customers_end": s.customers_end, "nrr": pct1(s.nrr), "grr": pct1(s.grr),
                      "points": signed_points(s.nrr_points)} for s in d.segments],
        } for d in segmented(report)]
        return self._page("segments.html.j2", request, report=report, title=month_title(report.month),
                          dimensions=dimensions, note=SEGMENTS_FOOTER)

    def cohorts(self, request: Request) -> Response:
        report = self._month_report(request)
        table = report.cohorts
        if table is None:
            return self._page("error.html.j2", request, status=404,
                              message=f"{report.month} has no signup cohorts (no month with MRR before it).")
        if request.query_params.get("format") == "csv":
            return _download(render_cohorts_csv(table), "text/csv", f"{report.month}-cohorts.csv")
        rows = [{"label": c.month or "earlier", "customers": c.customers, "new_mrr": cash(c.new_mrr, table.currency),
                 "cells": [(short_percent(v), _heat(v)) for v in c.net_retention]} for c in table.cohorts]
        return self._page("cohorts.html.j2", request, report=report, title=month_title(report.month),
                          months=range(len(table.months)), rows=rows, note=COHORTS_FOOTER)

    def deliveries(self, request: Request) -> Response:
        with self.store.reading() as conn:
            rows, total = recent_deliveries(conn, DELIVERIES_SHOWN)
        shown = [{"id": d.id, "account": d.account, "what": _what_was_sent(d.month), "channel": d.channel,
                  "target": d.target, "state": d.state, "attempts": d.attempts, "generation": d.generation,
                  "forced": d.forced, "when": as_of(d.sent_at or d.updated_at), "error": d.last_error}
                 for d in rows]
        return self._page("deliveries.html.j2", request, rows=shown, more=total - len(rows))

    def delivery(self, request: Request) -> Response:
        d, view = self._delivery(request)
        return self._page("delivery.html.j2", request, d=d, what=_what_was_sent(d.month), view=view,
                          sent=as_of(d.sent_at) if d.sent_at else None, updated=as_of(d.updated_at),
                          images=sorted(view.images))

    def delivery_html(self, request: Request) -> Response:
        """The HTML as sent, on its own page: inline styles, as mail clients need them, so
        it gets its own policy: no script of any kind, images from here only."""
        _, view = self._delivery(request)
        if view.html is None:
            return Response("This delivery has no HTML version.", status_code=404, media_type="text/plain")
        return HTMLResponse(view.html, headers={"Content-Security-Policy": SNAPSHOT_POLICY})

    def delivery_image(self, request: Request) -> Response:
        _, view = self._delivery(request)
        image = view.images.get(request.path_params["image"])
        if image is None:
            return Response("No such image in this delivery.", status_code=404, media_type="text/plain")
        return Response(image, media_type="image/png")

    def sync(self, request: Request) -> Response:
        now = int(self.clock())
        status = collect_status(self.store, now, runs=SYNC_RUNS_SHOWN, counts=self._row_counts())
        resources = [{"name": name, **entry} for name, entry in status["resources"].items()]
        cursors = [{**c, "age": _age(c["age_seconds"])} for c in status["event_cursors"]]
        runs = [{"started": r["started_at"], "finished": r["finished_at"], "kind": r["kind"], "status": r["status"],
                 "objects": sum((r["counts"] or {}).values()), "requests": r["requests"], "retries": r["retries"],
                 "rate_limited": r["rate_limited"], "errors": "; ".join(r["errors"] or ())} for r in status["runs"]]
        return self._page("sync.html.j2", request, state=status, resources=resources, cursors=cursors, runs=runs)

    def failed(self, request: Request, exc: Exception) -> Response:
        """A month that is not one, not begun, or without data: the one-line reason."""
        status = 404 if isinstance(exc, NotFound) or getattr(exc, "exit_code", 1) in (2, 75) else 500
        return self._page("error.html.j2", request, status=status, message=str(exc))

    # ------------------------------------------------------------------ helpers

    def warm(self) -> None:
        """Compute what the overview and the last month's pages show before anyone asks
        (after each sync, in ``nrr serve`` and ``nrr run``): nobody waits for a computation."""
        self._chart(None)
        self._reports(None, self._last_month(), 1, full=True)
        self._row_counts()

    def last_month_reports(self) -> list[MonthReport]:
        """The overview's months, the last complete one with everything the email shows
        (its segments, cohorts and quarter): the reports the email of that month sends."""
        trend = self._trend(None)
        return [*trend[:-1], self._reports(None, self._last_month(), 1, full=True)[-1]]

    def _row_counts(self) -> dict[str, tuple[int, int]]:
        """Rows per table, counted once per sync run (counting reads every table: seconds
        at size L); while a run is under way, as of the one before it."""
        finished = next((r for r in self.store.recent_runs(SYNC_RUNS_SHOWN) if r["finished_at"] is not None), None)
        key = ("row counts", finished["id"] if finished else None, finished["finished_at"] if finished else None)
        return self.cache.get(key, lambda: row_counts(self.store))

    def _reports(self, account: str | None, month: str, count: int, *, full: bool = False) -> list[MonthReport]:
        """``report_months`` as the report command computes them, once per state of the data."""
        from syncer.app.reporting import report_months

        now = int(self.clock())
        return self.cache.get(self._key(account, "reports", month, count, full),
                              lambda: report_months(self.settings, self.store, month, now=now, count=count,
                                                    full=full, account=account))

    def _key(self, account: str | None, *parts: object) -> tuple[object, ...]:
        """A cache key: ``parts``, the account asked and the state of the data."""
        from syncer.app.reporting import data_as_of

        return (*parts, account, data_state(data_as_of(self.store), self.clock()))

    def _last_month(self) -> str:
        return last_complete_month(int(self.clock()), self.settings.report_timezone)

    def _trend(self, account: str | None) -> list[MonthReport]:
        """The overview's months, to the last complete one."""
        return self._reports(account, self._last_month(), TREND_MONTHS)

    def _chart(self, account: str | None) -> bytes:
        """The email's movements chart of the overview's last 13 months."""
        reports = self._trend(account)[-CHART_MONTHS:]
        return self.cache.get(self._key(account, "chart.png", reports[-1].month),
                              lambda: render_chart_png(reports, reports[-1].month))

    def _month_figures(self, request: Request) -> MonthReport:
        """The month asked, for its roll-forward and movements: taken from a report already
        computed (the month with everything, or the overview's 24 months: the same
        computation, so the same figures), else computed alone."""
        account = self._account(request)
        month = parse_month(request.path_params["month"])
        full = self.cache.peek(self._key(account, "reports", month, 1, True))
        trend = self.cache.peek(self._key(account, "reports", self._last_month(), TREND_MONTHS, False))
        for reports in (full, trend):
            found = [r for r in reports if isinstance(r, MonthReport) and r.month == month] \
                if isinstance(reports, list) else []
            if found:
                return found[-1]
        return self._reports(account, month, 1)[-1]

    def _month_report(self, request: Request) -> MonthReport:
        """The month asked (``/cohorts``: the last complete one) with everything the email
        shows: its segments, signup cohorts and quarter (the same computation)."""
        asked = request.path_params.get("month")
        month = parse_month(asked) if asked else self._last_month()
        return self._reports(self._account(request), month, 1, full=True)[-1]

    def _delivery(self, request: Request) -> tuple[Delivery, SnapshotView]:
        with self.store.reading() as conn:
            d = delivery_by_id(conn, request.path_params["delivery"])
        if d is None:
            raise NotFound("no such delivery")
        return d, channel_view(d.channel, d.snapshot)

    def _account(self, request: Request) -> str | None:
        """``?account=``: ``platform``, ``all`` or a synced account id (default ``REPORT_ACCOUNT``)."""
        asked = request.query_params.get("account")
        if asked is None or getattr(request.state, "account_checked", False):
            return asked
        if not is_report_account(asked):
            raise NotFound(f"?account={asked[:40]!r} is not platform, all or an account id (acct_…)")
        try:
            scope_of(self.settings, self.store, asked)  # reads the synced accounts: once a request
        except ConfigError as exc:
            raise NotFound(str(exc)) from None
        request.state.account_checked = True
        return asked

    def _page(self, template: str, request: Request, *, status: int = 200, **context: Any) -> Response:
        account = self._account(request) if status == 200 else None  # an error page links nowhere by it
        html = self.templates.get_template(template).render(
            user=self._user(request), account=account, q=f"?account={account}" if account else "",
            qa=f"&account={account}" if account else "", **context)
        return HTMLResponse(html, status_code=status)




def _what_was_sent(key: str) -> str:
    """The ledger's key as words: ``2026-10`` → "October 2026", an alert, a digest (the
    keys of ``ledger.delivery_key`` and ``syncer.app.alerting``)."""
    if key.startswith(ALERT_KEY_PREFIX):
        return f"movement alert: {key.removeprefix(ALERT_KEY_PREFIX).split('/')[0]}"
    if key.startswith(DIGEST_KEY_PREFIX):
        return f"weekly digest {key.removeprefix(DIGEST_KEY_PREFIX)}"
    if key == SINCE_KEY:
        return "alerts enabled"
    month, _, edition = key.partition("/")
    try:
        return month_title(parse_month(month)) + (f" ({edition})" if edition else "")
    except ReportError:
        return key


# A cohort cell's shade, as the email's heatmap colours it: red below 100 %, neutral at
# 100 % (kept exactly), green above.
_HEAT = ((Decimal(70), "heat-0"), (Decimal(90), "heat-1"), (Decimal("99.95"), "heat-2"), (Decimal("100.05"), "heat-3"),
         (Decimal(110), "heat-4"))


def _heat(value: Decimal | None) -> str:
    if value is None:
        return ""
    return next((shade for bound, shade in _HEAT if value < bound), "heat-5")


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _download(text: str, media_type: str, filename: str) -> Response:
    return Response(text, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _csv(report: MonthReport, movements: list[Movement], filename: str) -> Response:
    """The movements as ``nrr report --format csv`` writes them."""
    return _download(render_csv(replace(report, movements=tuple(movements))), "text/csv", filename)
