"""Use cases between the database and the pure core: normalize, and compute a month.

The only place that turns stored rows into ``reports`` inputs (facts, FX table,
settings) and back; the CLI and the daemon call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from reports.consolidate import AccountFacts, consolidate
from reports.errors import BadMonth, ReportError
from reports.facts import CustomerFacts, Plan, RevenueLine
from reports.fx import FxTable, minor_digits
from reports.metrics import (
    BatchTally,
    CohortTable,
    CohortTally,
    MetricSettings,
    MonthReport,
    compute_months,
    signup_cohorts,
)
from reports.metrics.quarter import quarter_report
from reports.metrics.report import QuarterReport
from reports.metrics.retention import PeriodRetention
from reports.metrics.segments import COUNTRY, SegmentSpec, metadata_keys, segment_spec
from reports.month import (
    Month,
    last_complete_month,
    month_bounds,
    month_range,
    parse_month,
    parse_quarter,
    quarter_of,
)
from reports.schedule import Due, report_status
from syncer.app.accounts import (
    AccountRef,
    NoData,
    Scope,
    platform_account,
    scope_of,
)
from syncer.app.calendar import holidays_for
from syncer.app.normalizing import NormalizeOutcome, Target, fingerprint, normalize_target
from syncer.app.settings import Settings
from syncer.db.facts_store import (
    REPORT_BATCH_CUSTOMERS,
    Labels,
    customer_keys,
    first_mrr_instant,
    iter_customer_facts,
    iter_revenue_lines,
    last_normalization,
    load_plans,
)
from syncer.db.raw_loader import stream_rows
from syncer.db.store import Store, table
from syncer.errors import ConfigError, GiveUp, NrrError
from syncer.normalize.model import NormalizeSettings

# Signup cohorts shown by ``nrr report --cohorts``: a year of them.
COHORT_MONTHS = 12


def as_nrr_error(exc: ReportError) -> NrrError:
    err = ConfigError(str(exc)) if exc.exit_code == 78 else GiveUp(str(exc))
    err.exit_code = exc.exit_code
    return err


def checked_month(text: str) -> str:
    """``YYYY-MM`` or a one-line error saying what a month looks like."""
    try:
        return parse_month(text)
    except ReportError as exc:
        raise as_nrr_error(exc) from None


def normalize_settings(settings: Settings) -> NormalizeSettings:
    return NormalizeSettings(
        discount_mode=settings.discount_mode,
        past_due_grace_days=settings.past_due_grace_days,
        usage_in_mrr=settings.usage_in_mrr,
        churn_recognition=settings.churn_recognition,
    )


def data_as_of(store: Store) -> int | None:
    last = store.last_successful_run()
    return int(last["finished_at"]) if last else None


def normalize_account(settings: Settings, store: Store, *, now: int, full: bool = False,
                      ref: AccountRef | None = None) -> NormalizeOutcome:
    """Bring the facts of one account (the platform's by default) up to date with its
    synced rows: incrementally, or all of them with ``full`` (``syncer.app.normalizing``)."""
    ref = ref or platform_account(store)
    with store.reading() as conn:
        currency = ref.default_currency or _guess_currency(conn, ref)
    return normalize_target(store, Target(ref.account, ref.livemode, currency, ref.name),
                            normalize_settings(settings), as_of=data_as_of(store) or now, now=now, full=full)


def facts_current(settings: Settings, store: Store, ref: AccountRef) -> bool:
    """Whether the stored facts reflect the last successful sync under these settings."""
    normalized = last_normalization(store, ref.account, ref.livemode)
    if normalized is None or normalized["data_as_of"] < (data_as_of(store) or 0):
        return False
    with store.reading() as conn:
        currency = ref.default_currency or _guess_currency(conn, ref)
    return bool(normalized["fingerprint"] == fingerprint(normalize_settings(settings), currency))


def _guess_currency(conn: Connection, ref: AccountRef) -> str:
    """The first subscription's currency (by id), else usd."""
    subs = table("subscriptions")
    found = conn.execute(
        select(subs.c.currency).where(subs.c.account == ref.account, subs.c.livemode == ref.livemode,
                                      subs.c.currency.is_not(None)).order_by(subs.c.id).limit(1)
    ).scalar()
    return str(found) if found else "usd"


def fx_table(settings: Settings, store: Store, refs: Sequence[AccountRef], currency: str) -> FxTable:
    """Explicit ``FX_RATES`` first, else the exchange rates of the accounts' own charges."""
    ch = table("charges")
    with store.reading() as conn:
        observed = [
            (cur, at, Decimal(str(rate)))
            for ref in refs
            for cur, at, rate in stream_rows(
                conn, select(ch.c.currency, ch.c.created, ch.c.exchange_rate).where(
                    ch.c.account == ref.account, ch.c.livemode == ref.livemode,
                    ch.c.exchange_rate.is_not(None), ch.c.bt_currency == currency,
                    ch.c.currency.is_not(None), ch.c.created.is_not(None),
                    # A rate into the report currency itself is never read (it is 1): on
                    # a one-currency account this skips every charge.
                    func.lower(ch.c.currency) != currency.lower(),
                )
            )
        ]
    return FxTable(currency, dict(settings.fx_rates), observed)


def report_currency(settings: Settings, ref: AccountRef) -> str:
    """``REPORT_CURRENCY``, else the account's default currency, else usd."""
    return (settings.report_currency or ref.default_currency or "usd").lower()


def report_calendar(settings: Settings, year: int) -> tuple[Due, frozenset[date]]:
    """REPORT_SCHEDULE and the REPORT_HOLIDAYS_COUNTRY holidays around ``year``."""
    schedule = settings.report_schedule
    return Due(schedule.business_day, schedule.at), holidays_for(settings.report_holidays_country,
                                                                   range(year - 1, year + 3))


def report_month(settings: Settings, store: Store, month: str | None, *, now: int,
                 segments: bool = False, account: str | None = None) -> MonthReport:
    """The month's report from the normalized facts (normalizing first if never done)."""
    return report_months(settings, store, month, now=now, count=1, segments=segments, account=account)[-1]


@dataclass(frozen=True)
class _Asked:
    """What a report of a month reads: the accounts, the metric settings, the month (a
    past or current one), the exchange rates and the data's instant."""

    scope: Scope
    metrics: MetricSettings
    month: str
    fx: FxTable
    as_of: int
    match_key: str

    @property
    def account_name(self) -> str | None:
        name = self.scope.first.name
        return f"{name or 'Every account'} (all {len(self.scope.accounts)} accounts)" if self.scope.consolidated \
            else name


def _asked(settings: Settings, store: Store, month: str | None, *, now: int, account: str | None = None) -> _Asked:
    """The month asked (default: the last complete one) of the accounts asked (default:
    ``REPORT_ACCOUNT``), checked, with facts brought up to date with the last successful
    sync."""
    scope = scope_of(settings, store, account)
    ref = scope.first
    as_of = data_as_of(store)
    if as_of is None:
        # Rows from failed syncs may be partial (a resource never listed): numbers from
        # them would look real and be wrong.
        raise NoData("no sync has completed successfully yet; run `nrr sync` and fix what it reports")
    currency = report_currency(settings, ref)
    metric_settings = MetricSettings(
        discount_mode=settings.discount_mode, churn_recognition=settings.churn_recognition,
        past_due_grace_days=settings.past_due_grace_days, usage_in_mrr=settings.usage_in_mrr,
        currency=currency, timezone=settings.report_timezone,
    )
    wanted = parse_month(month) if month else last_complete_month(now, settings.report_timezone)
    current = Month.containing(now, settings.report_timezone)
    if Month.parse(wanted) > current:
        # A month not begun has no data of its own: its "report" would be today's MRR
        # carried forward and labelled with a month that has not happened.
        raise BadMonth(f"--month {wanted} has not begun; the latest month is {current} (in progress)")
    for each in scope.accounts:
        if not facts_current(settings, store, each):
            # Facts never older than the last successful sync, nor derived under other
            # settings: bringing them up to date costs what changed since.
            normalize_account(settings, store, now=now, ref=each)
    return _Asked(scope, metric_settings, wanted, fx_table(settings, store, scope.accounts, currency), as_of,
                  settings.account_match_key)


def _customer_facts(conn: Connection, asked: _Asked, labels: Labels | None = None) -> Iterable[CustomerFacts]:
    """The facts of the accounts asked a batch of customers at a time: one account's as
    stored, several consolidated (customers matched by ``ACCOUNT_MATCH_KEY``)."""
    if not asked.scope.consolidated:
        ref = asked.scope.first
        return iter_customer_facts(conn, ref.account, ref.livemode, labels=labels)
    # Consolidating holds every account's facts at once (a matched customer may sit
    # anywhere in each account's order), where one account's report holds one batch.
    return consolidate([AccountFacts(ref.account, iter_customer_facts(conn, ref.account, ref.livemode, labels=labels),
                                     customer_keys(conn, ref.account, ref.livemode, asked.match_key))
                        for ref in asked.scope.accounts], REPORT_BATCH_CUSTOMERS)


def _revenue_lines(conn: Connection, asked: _Asked, bounds: Sequence[tuple[int, int]]) -> Iterator[RevenueLine]:
    for ref in asked.scope.accounts:
        yield from iter_revenue_lines(conn, ref.account, ref.livemode, bounds, asked.fx.currency)


def _plans(conn: Connection, asked: _Asked) -> list[Plan]:
    return [p for ref in asked.scope.accounts for p in load_plans(conn, ref.account, ref.livemode)]


def _months_with_data(conn: Connection, asked: _Asked, count: int) -> list[str]:
    """The ``count`` months ending with the month asked, without those before the
    account's first MRR (the month asked is kept, or it is an error)."""
    tz = asked.metrics.timezone
    firsts = [f for ref in asked.scope.accounts if (f := first_mrr_instant(conn, ref.account, ref.livemode)) is not None]
    first = min(firsts, default=None)
    if first is None:
        raise NoData("no subscription has ever had MRR in the synced data; nothing to report")
    if month_bounds(asked.month, tz)[1] <= first:
        raise NoData(f"no data for {asked.month}: the first MRR in this account starts later")
    return [m for m in month_range(asked.month, count) if m == asked.month or month_bounds(m, tz)[1] > first]


def report_months(
    settings: Settings, store: Store, month: str | None, *, now: int, count: int, full: bool = False,
    segments: bool = False, account: str | None = None,
) -> list[MonthReport]:
    """The ``count`` months ending with ``month`` (a trend), oldest first, of ``account``
    (``platform``, ``all`` or an account id; default ``REPORT_ACCOUNT``); months before the
    first MRR are left out, the asked month never. With ``segments`` the last report holds
    its segments (``SEGMENT_BY``); with ``full``, everything the email shows: its
    segments, the signup cohorts of the year to it and, for the last month of a quarter,
    the quarter."""
    try:
        return _month_reports(settings, store, _asked(settings, store, month, now=now, account=account), count,
                              full=full, segments=segments or full)
    except ReportError as exc:
        raise as_nrr_error(exc) from None


def segmenting(settings: Settings, currency: str) -> tuple[SegmentSpec, Labels]:
    """SEGMENT_BY and SEGMENT_ARR_BANDS as the core takes them, and what the facts must
    then hold beside the spans."""
    spec = segment_spec(settings.segment_by, settings.segment_arr_bands, minor_digits(currency))
    of_customers, of_subscriptions = metadata_keys(spec.dimensions)
    return spec, Labels(COUNTRY in spec.dimensions, of_customers, of_subscriptions)


def _month_reports(settings: Settings, store: Store, asked: _Asked, count: int, *, full: bool = False,
                   segments: bool = False, tallies: Sequence[BatchTally] = ()) -> list[MonthReport]:
    """``report_months`` of the month asked; ``tallies`` are given the same batches of facts."""
    wanted = asked.month
    due, holidays = report_calendar(settings, int(wanted[:4]))
    status = report_status(wanted, asked.as_of, due, settings.report_timezone, holidays)
    with store.snapshot() as conn:
        months = _months_with_data(conn, asked, count)
        # Only the asked month can still be preliminary; earlier ones are history.
        statuses = [(m, status if m == wanted else "final") for m in months]
        bounds = [month_bounds(m, settings.report_timezone) for m in months]
        signups = CohortTally(_months_with_data(conn, asked, COHORT_MONTHS), asked.fx,
                              settings.report_timezone) if full else None
        closed = _quarter_closed(asked, months) if full else None
        quarter = PeriodRetention(month_bounds(closed[1][0], settings.report_timezone)[0] - 1,
                                  month_bounds(wanted, settings.report_timezone)[1] - 1, asked.fx) if closed else None
        spec, labels = segmenting(settings, asked.fx.currency) if segments else (None, None)
        # The facts come a batch of customers at a time and the revenue lines streamed:
        # a report holds one batch of facts, never the whole account's.
        reports = compute_months(
            _customer_facts(conn, asked, labels), statuses, asked.metrics, asked.fx,
            revenue=_revenue_lines(conn, asked, bounds), plans=_plans(conn, asked), account_name=asked.account_name,
            data_as_of=asked.as_of,
            tallies=[*tallies, *(t for t in (signups, quarter) if t is not None)], segments=spec,
        )
    if asked.scope.name != platform_account(store).account:
        reports = [replace(r, scope=asked.scope.name) for r in reports]
    if signups is not None:
        reports[-1] = replace(reports[-1], cohorts=signups.table())
    if closed is not None and quarter is not None:
        name, in_quarter = closed
        reports[-1] = replace(reports[-1], quarter=quarter_report(name, reports[-len(in_quarter):], quarter.total))
    return reports


def _quarter_closed(asked: _Asked, months: Sequence[str]) -> tuple[str, list[str]] | None:
    """The quarter the month asked closes, with its months that have data (all of them in
    the trend ``months``), or None."""
    name, in_quarter = quarter_of(asked.month)
    if asked.month != in_quarter[-1]:
        return None
    with_data = [m for m in in_quarter if m in months]
    if with_data != months[-len(with_data):]:
        return None  # a trend shorter than the quarter: nothing here asks for one
    return name, with_data


def report_quarter(settings: Settings, store: Store, quarter: str, *, now: int,
                   account: str | None = None) -> QuarterReport:
    """The quarter ``YYYY-Qn``: its months' roll-forward added up, the retention of the
    customers who had MRR at its start, and the year-over-year figures at its end. A
    quarter under way is reported to its current month (preliminary)."""
    try:
        name, months = parse_quarter(quarter)
        current = str(Month.containing(now, settings.report_timezone))
        begun = [m for m in months if m <= current]
        if not begun:
            raise BadMonth(f"--quarter {name} has not begun; the latest month is {current} (in progress)")
        asked = _asked(settings, store, begun[-1], now=now, account=account)
        tz = settings.report_timezone
        period = PeriodRetention(month_bounds(months[0], tz)[0] - 1, month_bounds(begun[-1], tz)[1] - 1, asked.fx)
        reports = _month_reports(settings, store, asked, len(begun), tallies=[period])
        return quarter_report(name, reports, period.total)
    except ReportError as exc:
        raise as_nrr_error(exc) from None


def report_cohorts(settings: Settings, store: Store, month: str | None, *, now: int,
                   count: int = COHORT_MONTHS, account: str | None = None) -> CohortTable:
    """The signup cohorts of the ``count`` months ending with ``month`` (those before the
    account's first MRR left out), followed to its end."""
    try:
        asked = _asked(settings, store, month, now=now, account=account)
        with store.snapshot() as conn:
            months = _months_with_data(conn, asked, count)
            return signup_cohorts(_customer_facts(conn, asked), months,
                                  asked.fx, asked.metrics.timezone)
    except ReportError as exc:
        raise as_nrr_error(exc) from None
