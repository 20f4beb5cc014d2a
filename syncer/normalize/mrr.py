"""MRR spans of subscription items (METRICS.md §1) and the churns they imply (§3).

A subscription's history (``history``) gives, at any instant, its items, status, pause,
past-due state and discounts. The instants where any of them changes split its life
into segments; each item's MRR is evaluated once per segment and equal neighbours merge
into one span.

Amount-off discounts (``amount_off`` per invoice) are normalised with the subscription's
interval (that of its first licensed item) and spread over its items in proportion to
their MRR after percent discounts, in whole minor units (largest remainder), so that
the items' sum is exactly max(0, Σ items − discount) and no item goes below 0. Several
percent discounts add up (capped at 100%).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from reports.churn import EndState
from reports.facts import Cause, ChurnEvent, MrrSpan, PaymentFailure
from reports.month import add_months_to_instant
from reports.options import ChurnRecognition, DiscountMode, UsageInMrr
from syncer.normalize.churn import churn_event, status_churn
from syncer.normalize.history import (
    ELIGIBLE,
    DiscountWindow,
    ItemState,
    SubHistory,
    Timeline,
    current_period_end,
    discount_windows,
    item_trials,
    pause_intervals,
    status_timeline,
    sub_history,
)
from syncer.normalize.model import Index, NormalizeSettings, transition
from syncer.normalize.rules import (
    Obj,
    as_int,
    as_str,
    data_list,
    interval_of,
    is_metered,
    monthly_factor,
    round_half_even,
    sum_amounts,
)
from syncer.stripe.shapes import customer_of

DAY = 86400
Interval = tuple[int, int | None]


@dataclass(frozen=True)
class Context:
    """Why an item's MRR is what it is at one instant (to name the cause of a change)."""

    trial: bool
    status_ok: bool
    paused: bool
    past_due: bool
    discounts: frozenset[str]

    @property
    def eligible(self) -> bool:
        return self.status_ok and not self.trial and not self.paused and not self.past_due


@dataclass(frozen=True)
class Value:
    state: ItemState
    mrr: int
    contract: int
    ctx: Context


def _inside(intervals: Sequence[Interval], t: int) -> bool:
    return any(a <= t and (b is None or t < b) for a, b in intervals)


def grace_ends(failure: PaymentFailure, grace_days: int) -> int:
    """When a failed invoice still unpaid starts to count as churned MRR (§1.2)."""
    return failure.first_failed_at + grace_days * DAY


def past_due_intervals(failures: Sequence[PaymentFailure], grace_days: int,
                       now: int) -> list[tuple[int, int | None, bool]]:
    """(from, until, recovered by payment) of zero MRR by the grace rule (§1.2): each
    failed invoice unpaid longer than the grace, from first failure + grace until it is
    paid, voided or written off. The oldest unpaid invoice decides, so the union is it."""
    out: list[tuple[int, int | None, bool]] = []
    for f in failures:
        threshold = grace_ends(f, grace_days)
        resolved = f.recovered_at if f.recovered_at is not None else f.closed_at
        if threshold <= now and (resolved is None or resolved > threshold):
            out.append((threshold, resolved, f.recovered_at is not None))
    return sorted(out, key=lambda iv: iv[0])


def end_time(sub: Obj, settings: NormalizeSettings, now: int) -> int | None:
    """When the subscription's MRR ends: ``ended_at``; ``canceled_at`` under request_time."""
    ended_at = as_int(sub.get("ended_at"))
    end = ended_at if ended_at is not None and ended_at <= now else None
    if settings.churn_recognition == ChurnRecognition.REQUEST_TIME:
        canceled_at = as_int(sub.get("canceled_at"))
        pending = sub.get("cancel_at_period_end") is True or sub.get("cancel_at") is not None
        if canceled_at is not None and canceled_at <= now and (end is not None or pending):
            end = canceled_at if end is None else min(end, canceled_at)
    return end


# ---- evaluation ----------------------------------------------------------------------------------


@dataclass
class _Sub:
    """One subscription's evaluation inputs."""

    ix: Index
    hist: SubHistory
    settings: NormalizeSettings
    status: Timeline
    pauses: list[Interval]
    past_due: list[tuple[int, int | None, bool]]
    discounts: list[DiscountWindow]
    usage: dict[str, list[tuple[int, int, int]]]  # item -> (finalized, net, gross)
    item_trials: dict[str, list[Interval]]  # item -> its own trials (``current_trial``)

    @property
    def trial_end(self) -> int | None:
        return as_int(self.hist.sub.get("trial_end"))

    def context(self, t: int) -> Context:
        trial_end = self.trial_end
        in_force = [w for w in self.discounts if w.start <= t and (w.end is None or t < w.end)]
        # §1.6: the customer's discount applies only while the subscription has none.
        own = [w for w in in_force if not w.customer]
        active = frozenset(w.id for w in (own or in_force))
        return Context(
            trial=trial_end is not None and t < trial_end,
            status_ok=self.status.at(t) in ELIGIBLE,
            paused=_inside(self.pauses, t),
            past_due=_inside([(a, b) for a, b, _ in self.past_due], t),
            discounts=active,
        )

    def price(self, state: ItemState) -> Obj | None:
        embedded = self.hist.embedded.get(state.price_id or "")
        return self.ix.price(state.price_id, embedded)

    def contract(self, item: str, state: ItemState, t: int) -> Fraction | None:
        price = self.price(state)
        if price is None:
            return None
        if is_metered(price):
            if self.settings.usage_in_mrr != UsageInMrr.TRAILING_3M_AVERAGE:
                return None
            since = add_months_to_instant(t, -3)
            gross = sum(g for f, _, g in self.usage.get(item, ()) if since < f <= t)
            return Fraction(gross, 3)
        return self.ix.item_contract(price, state.quantity)

    def usage_net(self, item: str, t: int) -> Fraction:
        since = add_months_to_instant(t, -3)
        return Fraction(sum(n for f, n, _ in self.usage.get(item, ()) if since < f <= t), 3)

    def evaluate(self, t: int) -> dict[str, Value]:
        ctx = self.context(t)
        states = {item: s for item, tl in self.hist.items.items()
                  if isinstance(s := tl.at(t), ItemState)}
        contracts: dict[str, Fraction] = {}
        for item, state in states.items():
            amount = self.contract(item, state, t)
            if amount is not None:
                contracts[item] = amount
        # An item in its own trial contributes 0 and takes no share of an amount off (§1.12).
        trialing = {item for item in contracts if _inside(self.item_trials.get(item, ()), t)}
        windows = [w for w in self.discounts if w.id in ctx.discounts]
        paying = {i: a for i, a in contracts.items() if i not in trialing}
        after = self._after_discounts(t, states, paying, windows)
        out: dict[str, Value] = {}
        for item, amount in contracts.items():
            if item in trialing:
                out[item] = Value(states[item], 0, 0, replace(ctx, trial=True))
            elif ctx.eligible:
                out[item] = Value(states[item], after[item], round_half_even(amount), ctx)
            else:
                out[item] = Value(states[item], 0, 0, ctx)
        return out

    def _after_discounts(self, t: int, states: dict[str, ItemState],
                         contracts: dict[str, Fraction],
                         windows: list[DiscountWindow]) -> dict[str, int]:
        """Item MRR after the discounts in force. As Stripe applies them (§1.6): each
        item's own discounts first, then the subscription's (or customer's) on what is
        left; at each level, percents (added up, capped at 100%), then amounts off."""
        values: dict[str, int] = {}
        exact: dict[str, Fraction] = {}
        for item, amount in contracts.items():
            price = self.price(states[item]) or {}
            if is_metered(price):  # usage lines already carry their discounts
                values[item] = round_half_even(self.usage_net(item, t))
            else:
                exact[item] = amount
        item_level = [w for w in windows if w.item is not None]
        whole = [w for w in windows if w.item is None]
        if item_level:
            for item, amount in exact.items():
                own = [w for w in item_level if w.item == item]
                if own:
                    exact[item] = self._percents_off(amount, own)
            self._amounts_off(states, exact, item_level)
        for item, amount in exact.items():
            values[item] = round_half_even(self._percents_off(amount, whole))
        self._amounts_off(states, values, whole)
        return values

    @staticmethod
    def _percents_off(amount: Fraction, windows: list[DiscountWindow]) -> Fraction:
        pct = sum((_percent(w.coupon) for w in windows), _ZERO)
        # Most items have no percent off: no exact arithmetic for them (at every
        # item and instant it cost several percent of normalization).
        if pct:
            return amount * max(_ZERO, 1 - min(pct, _HUNDRED) / 100)
        return amount

    def _amounts_off(self, states: dict[str, ItemState], values: dict[str, Any],
                     windows: list[DiscountWindow]) -> None:
        """Subtract each window's amount off, monthly-normalised, from its items."""
        currency = as_str(self.hist.sub.get("currency"))
        for w in windows:
            off = as_int(w.coupon.get("amount_off"))
            coupon_currency = as_str(w.coupon.get("currency"))
            if not off or (coupon_currency and currency and coupon_currency != currency):
                continue
            targets = [i for i in values if w.item in (None, i) and values[i] > 0]
            factor = self._interval_factor(states, targets)
            _spread(values, targets, round_half_even(off * factor))

    def _interval_factor(self, states: dict[str, ItemState], targets: list[str]) -> Fraction:
        for item in targets:
            price = self.price(states[item])
            interval = interval_of(price) if price is not None else None
            if interval is not None:
                return monthly_factor(*interval)
        return Fraction(1)


_ZERO, _HUNDRED = Fraction(0), Fraction(100)


def _percent(coupon: Obj) -> Fraction:
    value = coupon.get("percent_off")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Fraction(str(value))
    return Fraction(0)


def _spread(values: dict[str, int], targets: list[str], amount: int) -> None:
    """Subtract ``amount`` from ``targets`` in proportion to their values (never below 0)."""
    total = sum(values[i] for i in targets)
    if total <= 0 or amount <= 0:
        return
    amount = min(amount, total)
    shares = {i: amount * values[i] // total for i in targets}
    rest = amount - sum(shares.values())
    # Largest remainders first; ties by id so the result is deterministic.
    order = sorted(targets, key=lambda i: (-(amount * values[i] % total), i))
    for i in order[:rest]:
        shares[i] += 1
    for i in targets:
        values[i] -= shares[i]


def _usage_lines(ix: Index, sub_id: str) -> dict[str, list[tuple[int, int, int]]]:
    """Metered usage billed per item: (finalization, after discounts, before), for the
    ``trailing_3m_average`` setting."""
    out: dict[str, list[tuple[int, int, int]]] = {}
    for inv in ix.invoices_by_sub.get(sub_id, ()):
        finalized = transition(inv, "finalized_at")
        if inv.get("status") not in ("open", "paid", "uncollectible") or finalized is None:
            continue
        for ln in data_list(inv.get("lines")):
            view = ix.line(ln)
            item = view.item
            if item is None or not view.cycle:
                continue
            price = ix.price(view.price_id, ln.get("price"))
            if price is None or not is_metered(price):
                continue
            gross = as_int(ln.get("amount")) or 0
            net = gross - sum_amounts(ln.get("discount_amounts"))
            out.setdefault(item, []).append((finalized, net, gross))
    return out


# ---- spans and causes ----------------------------------------------------------------------------


def _cause(before: Value | None, after: Value) -> Cause:
    """The first difference that explains a new span, most specific first."""
    if before is None:
        return Cause.NEW_ITEM
    a, b = before.ctx, after.ctx
    if a.trial and not b.trial:
        return Cause.TRIAL_END
    if a.paused != b.paused:
        return Cause.PAUSE if b.paused else Cause.RESUME
    if a.past_due != b.past_due:
        return Cause.PAST_DUE if b.past_due else Cause.RECOVERED
    if a.status_ok != b.status_ok or a.trial != b.trial:
        return Cause.STATUS
    if before.state.price_id != after.state.price_id:
        return Cause.PRICE_CHANGE
    if before.state.quantity != after.state.quantity:
        return Cause.QUANTITY
    if b.discounts - a.discounts:
        return Cause.DISCOUNT_START
    if a.discounts - b.discounts:
        return Cause.DISCOUNT_END
    # Another item changed its share of an amount-off discount, or usage moved.
    return Cause.DISCOUNT_START if after.mrr < before.mrr else Cause.DISCOUNT_END


def _breakpoints(s: _Sub, start: int, end: int | None, now: int) -> list[int]:
    times: set[int] = {start}
    for tl in (*s.hist.items.values(), s.status):
        times.update(tl.times())
    if s.trial_end is not None:
        times.add(s.trial_end)
    for a, b in s.pauses:
        times.update(x for x in (a, b) if x is not None)
    for a, b2, _ in s.past_due:
        times.update(x for x in (a, b2) if x is not None)
    for w in s.discounts:
        times.update(x for x in (w.start, w.end) if x is not None)
    for trials in s.item_trials.values():
        for a, b in trials:
            times.update(x for x in (a, b) if x is not None)
    for lines in s.usage.values():
        for f, _, _ in lines:
            times.update((f, add_months_to_instant(f, 3)))
    limit = now if end is None else min(now, end - 1)
    return sorted(t for t in times if start <= t <= limit)


def _spans(s: _Sub, end: int | None, now: int) -> list[MrrSpan]:
    sub = s.hist.sub
    customer, sub_id = customer_of(sub) or "", str(sub.get("id"))
    currency = as_str(sub.get("currency"))
    open_spans: dict[str, tuple[int, Value, Cause]] = {}
    last: dict[str, Value] = {}
    out: list[MrrSpan] = []

    def close(item: str, at: int | None) -> None:
        start, value, cause = open_spans.pop(item)
        price = s.price(value.state) or {}
        out.append(MrrSpan(customer, sub_id, item, value.state.price_id,
                           currency or as_str(price.get("currency")) or s.ix.raw.default_currency,
                           start, at, value.mrr, value.contract, cause))

    for t in _breakpoints(s, s.hist.start, end, now):
        values = s.evaluate(t)
        for item in [i for i in open_spans if i not in values]:
            close(item, t)
            last.pop(item, None)
        for item, value in values.items():
            current = open_spans.get(item)
            if current is not None:
                kept = current[1]
                if (kept.state.price_id, kept.mrr, kept.contract) == (
                        value.state.price_id, value.mrr, value.contract):
                    last[item] = value
                    continue
                close(item, t)
            open_spans[item] = (t, value, _cause(last.get(item), value))
            last[item] = value
    for item in list(open_spans):
        close(item, end)
    return out


# ---- per subscription -------------------------------------------------------------------------


def _end_state(s: _Sub, failures: Sequence[PaymentFailure], at: int) -> EndState:
    before = at - 1
    status = s.status.at(before)
    owed = False
    for f in failures:  # a failed invoice still unpaid when the subscription ended
        resolved = f.recovered_at if f.recovered_at is not None else f.closed_at
        owed = owed or (f.first_failed_at < at and (resolved is None or resolved >= at))
    return EndState(
        past_due_rule=_inside([(a, b) for a, b, _ in s.past_due], before),
        unpaid=status == "unpaid",
        past_due=status == "past_due" or owed,
    )


def _status_churns(s: _Sub, end: int | None, now: int) -> list[ChurnEvent]:
    """Churns decided by payment state: the grace rule (§1.2) and turning ``unpaid``."""
    sub = s.hist.sub
    out: list[ChurnEvent] = []
    for threshold, _, _ in s.past_due:
        ctx = s.context(threshold)
        if threshold <= now and (end is None or threshold < end) and ctx.status_ok \
                and not ctx.trial and not ctx.paused:
            out.append(status_churn(sub, threshold, "past_due"))
    previous: str | None = None
    for t, _, status in s.status.points:
        if status == "unpaid" and previous in ELIGIBLE and (end is None or t < end) \
                and not s.context(t).past_due:
            out.append(status_churn(sub, t, "unpaid"))
        previous = status
    return out


def subscription_facts(ix: Index, sub: Obj, settings: NormalizeSettings,
                       failures: Sequence[PaymentFailure]) -> tuple[list[MrrSpan], list[ChurnEvent]]:
    """The spans of one subscription's items and its churns."""
    hist = sub_history(ix, sub)
    discounts = discount_windows(ix, hist)
    if settings.discount_mode == DiscountMode.NONE:
        discounts = []
    elif settings.discount_mode == DiscountMode.FOREVER_ONLY:
        discounts = [w for w in discounts if w.coupon.get("duration") == "forever"]
    sub_id = str(sub.get("id"))
    s = _Sub(
        ix=ix,
        hist=hist,
        settings=settings,
        status=status_timeline(ix, hist),
        pauses=pause_intervals(ix, hist),
        past_due=past_due_intervals(failures, settings.past_due_grace_days, ix.now),
        discounts=discounts,
        usage=_usage_lines(ix, sub_id)
        if settings.usage_in_mrr == UsageInMrr.TRAILING_3M_AVERAGE else {},
        item_trials=item_trials(hist),
    )
    end = end_time(sub, settings, ix.now)
    spans = _spans(s, end, ix.now)
    churns = _status_churns(s, end, ix.now)
    if end is not None and sub.get("status") != "incomplete_expired":
        churns.append(churn_event(ix, sub, end, _end_state(s, failures, end)))
    elif end is None and (scheduled := scheduled_end(sub, ix.now)) is not None:
        # Cancellation requested, not yet effective: "pending churn" (§1.10). The event is
        # dated when it will take effect and classified as things stand now; its spans
        # stay open, and once it ends the next normalization dates it for real.
        churns.append(churn_event(ix, sub, scheduled, _end_state(s, failures, ix.now)))
    return spans, churns


def scheduled_end(sub: Obj, now: int) -> int | None:
    """When a requested cancellation will take effect, if one is pending at ``now``."""
    canceled_at = as_int(sub.get("canceled_at"))
    if canceled_at is None or canceled_at > now or sub.get("ended_at") is not None:
        return None
    if as_int(sub.get("cancel_at")) is not None:
        at = as_int(sub.get("cancel_at"))
    elif sub.get("cancel_at_period_end") is True:
        at = current_period_end(sub)
    else:
        return None
    return at if at is not None and at > now else None
