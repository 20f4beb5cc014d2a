"""Movement alerts and the weekly digest: which MRR changes are worth a message.

Pure: the facts of some customers, the exchange rates, the instants and the rule come in;
nothing here does I/O or reads the clock.

A *movement* is one customer's MRR change at one instant ``t``: the sum of that
customer's span changes at ``t`` (an item added, a price or quantity changed, an item
ended), comparing the MRR in force just before (``t - 1``) with the MRR in force at
``t``, both converted at the rate of ``t`` (constant currency: an exchange rate alone
never moves anyone). Its kind follows from those two amounts (METRICS.md §2, applied at
an instant rather than over a month): from 0 it is new (the customer's first MRR ever)
or a reactivation, to 0 a churn, otherwise an expansion or a contraction. A churn, and
a contraction that a cancellation caused, says voluntary or involuntary and why: from
the customer's churn event at ``t``, or for a churn without one from the same rule the
report uses for a drop to zero (``reports.churn.classify_drop_to_zero``).

The same facts always give the same movements at the same instants, so a movement's
key (customer and instant) names it across re-derivations of the facts: the ledger
sends each key once.

An alert is a movement whose size is at least the rule's threshold: a share of the
account's MRR at the start of the movement's month (the base the report's top movers use)
and never less than a fixed amount.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction

from reports.churn import classify_drop_to_zero
from reports.facts import ChurnEvent
from reports.fx import FxTable
from reports.metrics.index import CustomerIndex
from reports.metrics.mrr import convert
from reports.metrics.report import CHURN, CONTRACTION, EXPANSION, NEW, REACTIVATION
from reports.month import Month, zone

KINDS = (NEW, REACTIVATION, EXPANSION, CONTRACTION, CHURN)
ALERT_KEY_PREFIX = "alert/"
DIGEST_KEY_PREFIX = "digest/"
# The digest lists this many of the week's largest movements.
DIGEST_LARGEST = 5
WEEK_SECONDS = 7 * 86400
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class AlertRule:
    """|delta| >= max(``min_share`` of the MRR at the start of the month, ``min_mrr``)."""

    min_share: Fraction  # 0.5 % is Fraction(1, 200)
    min_mrr: int  # minor units of the reporting currency

    def threshold(self, month_start_mrr: int) -> int:
        return max(math.ceil(month_start_mrr * self.min_share), self.min_mrr)


@dataclass(frozen=True)
class MrrMove:
    """One customer's MRR change at one instant, in minor units of the reporting currency."""

    customer: str
    name: str | None
    at: int
    kind: str  # new | reactivation | expansion | contraction | churn
    before: int
    after: int
    plan: str | None  # "Starter → Pro", or the plan now (before, for a churn)
    causes: tuple[str, ...]  # what changed the spans at ``at``: price_change, quantity, ...
    churn_kind: str | None = None  # voluntary | involuntary: churn, and contraction by a cancellation
    rule: str | None = None  # the §3 rule that decided the churn kind
    derived: bool = False  # the churn kind was inferred, not said by Stripe

    @property
    def delta(self) -> int:
        return self.after - self.before

    @property
    def key(self) -> str:
        """Its name in the deliveries ledger: the customer and the instant."""
        return f"{ALERT_KEY_PREFIX}{self.customer}/{self.at}"


def _instants(index: CustomerIndex, customer: str, since: int, until: int) -> list[int]:
    """Where the customer's spans begin or end inside ``[since, until]``."""
    found: set[int] = set()
    for s in index.spans.get(customer, ()):
        found.update(t for t in (s.start, s.end) if t is not None and since <= t <= until)
    return sorted(found)


def _churn_at(index: CustomerIndex, customer: str, at: int) -> ChurnEvent | None:
    """The customer's churn event effective at ``at``; of several, the one of a
    subscription whose span ended there (the last by subscription id for a tie)."""
    events = [e for e in index.churns.get(customer, ()) if e.at == at]
    ended = {s.subscription for s in index.spans.get(customer, ()) if s.end == at}
    events.sort(key=lambda e: (e.subscription in ended, e.subscription))
    return events[-1] if events else None


def _causes(index: CustomerIndex, customer: str, at: int) -> tuple[str, ...]:
    return tuple(index.causes_during(customer, at, at + 1))


def movement_at(index: CustomerIndex, fx: FxTable, customer: str, at: int) -> MrrMove | None:
    """The customer's movement at ``at``, None when its MRR did not change there."""
    before = convert(index.mrr(customer, at - 1), fx, at)
    after = convert(index.mrr(customer, at), fx, at)
    if before == after:
        return None
    name, plan, causes = index.names.get(customer), index.plan_change(customer, at - 1, at), _causes(index, customer, at)
    if before == 0:
        kind = NEW if index.first_positive.get(customer) == at else REACTIVATION
        return MrrMove(customer, name, at, kind, 0, after, plan, causes)
    if after > before:
        return MrrMove(customer, name, at, EXPANSION, before, after, plan, causes)
    event = _churn_at(index, customer, at)
    kind = CHURN if after == 0 else CONTRACTION
    if event is not None:
        return MrrMove(customer, name, at, kind, before, after, plan, causes, str(event.kind), event.rule,
                       event.derived)
    if kind == CONTRACTION:
        return MrrMove(customer, name, at, kind, before, after, plan, causes)
    # No churn event: the drop came from the spans themselves (past-due rule, pause,
    # 100 % discount, $0 plan), judged as the report judges it.
    verdict = classify_drop_to_zero(index.last_zero_cause(customer, at, at + 1))
    return MrrMove(customer, name, at, kind, before, after, plan, causes, str(verdict.kind), verdict.rule,
                   verdict.derived)


def customer_moves(index: CustomerIndex, fx: FxTable, since: int, until: int) -> list[MrrMove]:
    """Every movement of the index's customers at an instant in ``[since, until]``, in the
    order they happened (ties by customer id)."""
    moves = [m for cus in sorted(index.spans) for at in _instants(index, cus, since, until)
             if (m := movement_at(index, fx, cus, at)) is not None]
    return sorted(moves, key=lambda m: (m.at, m.customer))


def month_opening(at: int, tz: str) -> int:
    """The instant whose MRR is "the MRR at the start" of the month containing ``at``."""
    return Month.containing(at, tz).start(tz) - 1


def select_alerts(moves: Iterable[MrrMove], rule: AlertRule, opening_mrr: Mapping[int, int], tz: str) -> list[MrrMove]:
    """The movements at least as large as the threshold of their month, in order.

    ``opening_mrr``: the account's MRR at ``month_opening`` of each movement's month.
    """
    kept = [m for m in moves if abs(m.delta) >= rule.threshold(opening_mrr.get(month_opening(m.at, tz), 0))]
    return sorted(kept, key=lambda m: (m.at, m.customer))


# --------------------------------------------------------------------------- the weekly digest


@dataclass(frozen=True)
class WeeklyDue:
    """DIGEST_WEEKLY: every ``weekday`` (0 = Monday) at ``at`` local time."""

    weekday: int
    at: time

    def __str__(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.at:%H:%M}"


_FULL_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS = {**{d: i for i, d in enumerate(WEEKDAYS)}, **{d: i for i, d in enumerate(_FULL_WEEKDAYS)}}
_WEEKLY = re.compile(r"\s*([A-Za-z]+)\s+([0-9]{1,2}):([0-9]{2})\s*", re.ASCII)


def parse_weekly(text: str) -> WeeklyDue:
    """``"mon 09:00"`` (or ``monday 9:00``) → ``WeeklyDue(0, 09:00)``; a ``ValueError``
    saying what to write otherwise."""
    hint = "write a weekday and a 24-hour time such as 'mon 09:00', or 'off'"
    found = _WEEKLY.fullmatch(text)
    if not found:
        raise ValueError(f"{text.strip()[:40]!r} is not 'DAY HH:MM'; {hint}")
    day = _DAYS.get(found.group(1).lower())
    if day is None:
        raise ValueError(f"{found.group(1)[:20]!r} is not a weekday (mon, tue, … sun); {hint}")
    hour, minute = int(found.group(2)), int(found.group(3))
    if hour > 23 or minute > 59:
        raise ValueError(f"{hour:02d}:{minute:02d} is not a time of day; use 00:00 to 23:59")
    return WeeklyDue(day, time(hour, minute))


def _local_due(day: date, due: WeeklyDue, tz: str) -> int:
    # As for the monthly report: a time in a DST gap is read with the offset before it.
    return int(datetime.combine(day, due.at, tzinfo=zone(tz)).astimezone(UTC).timestamp())


def week_label(day: date) -> str:
    """``2026-W47``: the ISO week of the digest's day (its ledger key and its title)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class DigestWeek:
    """One digest: its label, the instant it is due and the week it covers (``[start, due)``)."""

    label: str
    start: int
    due: int

    @property
    def key(self) -> str:
        return f"{DIGEST_KEY_PREFIX}{self.label}"


def digest_week_of(day: date, due: WeeklyDue, tz: str) -> DigestWeek:
    """The digest sent on ``day`` (a ``due.weekday``): the seven days before its time."""
    return DigestWeek(week_label(day), _local_due(day - timedelta(days=7), due, tz), _local_due(day, due, tz))


def digest_due(now: int, due: WeeklyDue, tz: str) -> DigestWeek:
    """The latest digest due at or before ``now`` (only the latest: a daemon down for a
    month sends one digest, not four)."""
    today = datetime.fromtimestamp(now, UTC).astimezone(zone(tz)).date()
    day = today - timedelta(days=(today.weekday() - due.weekday) % 7)
    week = digest_week_of(day, due, tz)
    return week if week.due <= now else digest_week_of(day - timedelta(days=7), due, tz)


def next_digest_after(now: int, due: WeeklyDue, tz: str) -> int:
    """The first digest instant strictly after ``now`` (for the daemon's wake-up)."""
    latest = digest_due(now, due, tz)
    day = datetime.fromtimestamp(latest.due, UTC).astimezone(zone(tz)).date()
    for weeks in (1, 2):
        at = digest_week_of(day + timedelta(days=7 * weeks), due, tz).due
        if at > now:
            return at
    raise AssertionError("the next digest is within two weeks")  # pragma: no cover


@dataclass(frozen=True)
class KindTotal:
    kind: str
    count: int
    amount: int  # the sum of the deltas (negative for contraction and churn)


@dataclass(frozen=True)
class Digest:
    """What the weekly digest says: the week's movements (every one, not only those above
    the alert threshold) and the month-to-date NRR estimate."""

    week: DigestWeek
    company: str
    currency: str
    timezone: str
    totals: tuple[KindTotal, ...]  # in KINDS order, every kind
    largest: tuple[MrrMove, ...]  # the largest few by |delta|
    month: str  # the month of the NRR estimate
    nrr_month_to_date: Decimal | None

    @property
    def net(self) -> int:
        return sum(t.amount for t in self.totals)


def weekly_digest(week: DigestWeek, moves: Sequence[MrrMove], *, company: str, currency: str, timezone: str,
                  month: str, nrr_month_to_date: Decimal | None, largest: int = DIGEST_LARGEST) -> Digest:
    """The digest of ``week`` from the movements in it (those outside ``[start, due)`` are
    left out)."""
    inside = [m for m in moves if week.start <= m.at < week.due]
    totals = tuple(KindTotal(kind, sum(1 for m in inside if m.kind == kind),
                             sum(m.delta for m in inside if m.kind == kind)) for kind in KINDS)
    top = sorted(inside, key=lambda m: (-abs(m.delta), m.at, m.customer))[:largest]
    return Digest(week, company, currency, timezone, totals, tuple(top), month, nrr_month_to_date)
