"""One representative URL of each page of the dashboard, picked from the data: what
``make bench`` times, what ``make screenshots`` photographs, and what a test checks
against the routes of ``build_app`` (a page without a sample here fails that test).

Each new page adds its sample to ``sample_paths``: a (name, path) pair, the name a
short identifier (it keys the page's figures in bench/results.json and names its
screenshot), the path one that answers 200 on a synced account.
"""

from __future__ import annotations

from collections.abc import Sequence

from reports.metrics import MonthReport, Movement
from reports.month import last_complete_month
from syncer.app.reporting import report_months
from syncer.app.settings import Settings
from syncer.db.deliveries import delivery_by_id, recent_deliveries
from syncer.db.store import Store
from syncer.deliver.registry import channel_view

# How far back the customer sample looks for an expansion (see sample_paths).
LOOK_BACK_MONTHS = 12
DELIVERIES_LOOKED_AT = 50  # the latest rows, for one with an HTML version (alerts have none)


def sample_paths(store: Store, settings: Settings, *, now: int,
                 reports: Sequence[MonthReport] | None = None) -> list[tuple[str, str]]:
    """(name, path) of one page of each kind, at ``now``: the overview, its chart, the
    latest complete month, its "+ Expansion" (as a page and as a CSV) and the customer
    with the largest expansion that month (a small account's month may have none: then
    that of the latest month of the year to it with one, else its largest movement; no
    customer page when the year has no movement at all), the month's segments and
    cohorts, the deliveries and the sync, and the latest e-mail sent, when there is one.
    ``reports``: the months to that one, if already computed (the dashboard's own)."""
    month = last_complete_month(now, settings.report_timezone)
    if reports is None:
        reports = report_months(settings, store, month, now=now, count=LOOK_BACK_MONTHS)
    reports = reports[-LOOK_BACK_MONTHS:]
    samples = [
        ("overview", "/"),
        ("chart", "/chart.png"),
        ("trend", "/trend.svg"),
        ("month", f"/month/{month}"),
        ("expansion", f"/month/{month}/expansion"),
        ("expansion_csv", f"/month/{month}/expansion?format=csv"),
    ]
    if (customer := telling_customer(reports)) is not None:
        samples.append(("customer", f"/customer/{customer}"))
    samples += [
        ("segments", f"/month/{month}/segments"),
        ("segments_csv", f"/month/{month}/segments?format=csv"),
        ("cohorts", "/cohorts"),
        ("month_cohorts", f"/month/{month}/cohorts"),
        ("deliveries", "/deliveries"),
        ("sync", "/sync"),
    ]
    samples += delivery_samples(store)
    # New pages add their sample here.
    return samples


def delivery_samples(store: Store) -> list[tuple[str, str]]:
    """The latest report delivered with an HTML version and an image (an e-mail): its
    page, its HTML as sent and its chart; none when nothing was sent yet."""
    with store.reading() as conn:
        recent, _ = recent_deliveries(conn, DELIVERIES_LOOKED_AT)
        sent = [d for d in (delivery_by_id(conn, r.id) for r in recent if r.id is not None) if d is not None]
    for d in sent:
        view = channel_view(d.channel, d.snapshot)
        if view.html is not None and view.images:
            image = sorted(view.images)[0]
            return [("delivery", f"/deliveries/{d.id}"), ("delivery_html", f"/deliveries/{d.id}/sent.html"),
                    ("delivery_image", f"/deliveries/{d.id}/{image}")]
    return []


def telling_customer(reports: Sequence[MonthReport]) -> str | None:
    """The customer behind the largest expansion of the latest of ``reports`` (oldest
    first) with one, else behind their largest movement."""
    def size(mv: Movement) -> int:
        return abs(mv.delta)

    for report in reversed(reports):
        if expansions := [mv for mv in report.movements if mv.movement == "expansion"]:
            return max(expansions, key=size).customer
    chosen = max((mv for r in reports for mv in r.movements), key=size, default=None)
    return chosen.customer if chosen is not None else None
