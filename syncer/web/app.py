"""``nrr serve``: the read-only dashboard over the same facts and the same report
computation as the email, so a page and the email of a month can never disagree.

Pages: the overview (24 months of MRR, NRR and GRR, the movements chart, the last sync),
a month (the report; each movement opens its customers, as a page or a CSV) and a
customer (its MRR history with each change's cause, its churn events). Every page needs
a login (``syncer.web.security``); no page changes anything.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from reports.errors import ReportError
from reports.metrics import MonthReport, Movement
from reports.metrics.report import MOVEMENT_ORDER
from reports.month import parse_month
from reports.render.chart import render_chart_png
from reports.render.csvout import render_csv
from reports.render.email_text import as_of, cash, company, pct1
from reports.render.text import month_title
from syncer.app.accounts import platform_account
from syncer.app.settings import Settings
from syncer.daemon.health import Status, health_json, probe
from syncer.db.facts_store import customer_facts, load_plans
from syncer.db.store import Store
from syncer.errors import NrrError
from syncer.web.security import (
    SECURITY_HEADERS,
    SESSION_SECONDS,
    LoginThrottle,
    password_matches,
    trusted,
)
from syncer.web.sessions import TlsSessions

TREND_MONTHS = 24
_MOVEMENT_TITLES = {"new": "+ New", "reactivation": "+ Reactivation", "expansion": "+ Expansion",
                    "contraction": "− Contraction", "churn": "− Churn",
                    "same_month_start_and_cancel": "Started and cancelled in the month"}
# A probe has no login: /healthz (nrr run's health; 404 without it) says nothing secret.
_HEALTH = "/healthz"
_PUBLIC = ("/login", "/static/", _HEALTH)


def build_app(settings: Settings, store: Store, *, clock: Callable[[], float] = time.time,
              session_secret: str | None = None, health: Status | None = None) -> Starlette:
    """The dashboard for ``settings`` and ``store``; ``session_secret`` signs the session
    cookie (a fresh one per process by default: a restart asks for the password again);
    ``health`` (``nrr run``'s status) answers ``GET /healthz`` on the same port."""
    pages = _Pages(settings, store, clock)
    routes = [
        *([Route(_HEALTH, _health_endpoint(health), methods=["GET"])] if health else []),
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/", pages.overview),
        Route("/chart.png", pages.chart),
        Route("/month/{month}", pages.month),
        Route("/month/{month}/{movement}", pages.movement),
        Route("/customer/{customer}", pages.customer),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    middleware = [
        Middleware(BaseHTTPMiddleware, dispatch=_security_headers),
        Middleware(TlsSessions, session_secret or secrets.token_urlsafe(32), max_age=SESSION_SECONDS,
                   same_site="strict", session_cookie="nrr_session", trusted_proxies=settings.web_trusted_proxies),
        Middleware(BaseHTTPMiddleware, dispatch=pages.require_login),
    ]
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={ReportError: pages.failed, NrrError: pages.failed})


def _health_endpoint(status: Status) -> Callable[[Request], Response]:
    # Not async: the status reads the database, which must not block the event loop.
    def healthz(request: Request) -> Response:
        code, body = probe(status)
        return Response(health_json(body), status_code=code, media_type="application/json")

    return healthz


async def _security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    return response


class _Pages:
    def __init__(self, settings: Settings, store: Store, clock: Callable[[], float]) -> None:
        self.settings, self.store, self.clock = settings, store, clock
        self.throttle = LoginThrottle()
        self.templates = Environment(loader=PackageLoader("syncer.web", "templates"),
                                     autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)

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
        address = request.client.host if request.client else "?"
        now = self.clock()
        if self.throttle.blocked(address, now):
            return self._page("login.html.j2", request, status=429,
                              error="Too many failed attempts from this address; wait a minute and try again.")
        form = await request.form()
        stored = self.settings.web_password_hash
        password = str(form.get("password") or "")
        if stored is None or not password_matches(password, stored.get_secret_value()):
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

    async def overview(self, request: Request) -> Response:
        reports = self._reports(None, TREND_MONTHS)
        last = reports[-1]
        run = self.store.last_successful_run()
        return self._page("overview.html.j2", request, company=company(last), last=last, rows=[
            {"month": r.month, "title": month_title(r.month), "mrr": cash(r.mrr.end, r.currency),
             "arr": cash(r.arr.end, r.currency), "nrr": pct1(r.retention.nrr), "grr": pct1(r.retention.grr),
             "nrr_12m": pct1(r.retention.nrr_12m), "grr_12m": pct1(r.retention.grr_12m), "status": r.status}
            for r in reversed(reports)], last_sync=as_of(int(run["finished_at"])) if run else "never")

    async def chart(self, request: Request) -> Response:
        reports = self._reports(None, 13)
        png = render_chart_png(reports, reports[-1].month)
        return Response(png, media_type="image/png")

    async def month(self, request: Request) -> Response:
        report = self._month_report(request)
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

    async def movement(self, request: Request) -> Response:
        report = self._month_report(request)
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

    async def customer(self, request: Request) -> Response:
        cid = request.path_params["customer"]
        ref = platform_account(self.store)
        with self.store.reading() as conn:
            facts = customer_facts(conn, ref.account, ref.livemode, [cid])
            plans = {p.price: p.name for p in load_plans(conn, ref.account, ref.livemode)}
        if not facts.customers and not facts.spans:
            return self._page("error.html.j2", request, status=404, message="No such customer in the synced data.")
        name = facts.customers[0].label if facts.customers else None
        spans = [{"start": as_of(s.start), "end": as_of(s.end) if s.end else "now", "item": s.item,
                  "price": plans.get(s.price, s.price) if s.price else "", "mrr": cash(s.mrr, s.currency), "cause": str(s.cause),
                  "subscription": s.subscription} for s in sorted(facts.spans, key=lambda s: (s.start, s.item))]
        churns = [{"at": as_of(e.at), "kind": str(e.kind), "rule": e.rule, "subscription": e.subscription}
                  for e in sorted(facts.churns, key=lambda e: e.at)]
        stripe = "https://dashboard.stripe.com" + ("" if ref.livemode else "/test")
        return self._page("customer.html.j2", request, customer=cid, name=name or cid, spans=spans, churns=churns,
                          stripe_url=f"{stripe}/customers/{cid}")

    async def failed(self, request: Request, exc: Exception) -> Response:
        """A month that is not one, not begun, or without data: the one-line reason."""
        status = 404 if getattr(exc, "exit_code", 1) in (2, 75) else 500
        return self._page("error.html.j2", request, status=status, message=str(exc))

    # ------------------------------------------------------------------ helpers

    def _reports(self, month: str | None, count: int) -> list[MonthReport]:
        from syncer.app.reporting import report_months

        return report_months(self.settings, self.store, month, now=int(self.clock()), count=count)

    def _month_report(self, request: Request) -> MonthReport:
        month = parse_month(request.path_params["month"])
        return self._reports(month, 1)[-1]

    def _page(self, template: str, request: Request, *, status: int = 200, **context: Any) -> Response:
        html = self.templates.get_template(template).render(user=self._user(request), **context)
        return HTMLResponse(html, status_code=status)


def _csv(report: MonthReport, movements: list[Movement], filename: str) -> Response:
    """The movements as ``nrr report --format csv`` writes them."""
    return Response(render_csv(replace(report, movements=tuple(movements))), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
