"""The history of one subscription, rebuilt from what Stripe keeps (METRICS.md §1.9-11).

Precedence of evidence (a later time wins; at the same instant the better source wins):
  0. cycle invoice lines (proration=false): the items, prices and quantities billed for
     ``[period.start, period.end)``; an item missing from a cycle invoice ended at its start;
  1. proration lines (and pending proration invoice items): a mid-period change, dated at
     their ``period.start`` (the new state from the positive line, a removal when only a
     credit exists); proration amounts themselves are never MRR;
  2. subscription events (their ``data.object`` is the whole subscription at that time);
  3. the subscription's current state: it holds at ``now``. When it differs from every
     other evidence, the change is dated when the sync saw it (rule 9: the time the
     stored copy last changed, ``_changed_at``, unless other evidence is later; else
     ``now``): the first period that will bill it starts later, and nothing is computed
     in the future. The date stays put as time passes: facts derived again later, with
     no new data, are the same.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from reports.month import add_months_to_instant
from syncer.normalize.model import (
    Index,
    LineView,
    line_price_id,
    line_quantity,
    sub_items,
    transition,
)
from syncer.normalize.rules import (
    Obj,
    as_int,
    as_str,
    coupon_of,
    data_list,
    first,
    get,
    is_metered,
    ref,
)
from syncer.stripe.shapes import current_period_end, customer_of, item_price, subscription_detail

CYCLE, PRORATION, EVENT, CURRENT = 0, 1, 2, 3
ELIGIBLE = ("active", "past_due")
DAY = 86400


@dataclass(frozen=True)
class ItemState:
    price_id: str | None
    quantity: int | Fraction  # a fraction only from a line's ``quantity_decimal``


@dataclass
class Timeline:
    """Piecewise-constant values keyed by (time, rank): the latest point at or before t."""

    points: list[tuple[int, int, Any]] = field(default_factory=list)
    _keys: list[tuple[int, int]] = field(default_factory=list)

    def add(self, t: int, rank: int, value: Any) -> None:
        self.points.append((t, rank, value))

    def freeze(self) -> None:
        self.points.sort(key=lambda p: (p[0], p[1]))
        self._keys = [(p[0], p[1]) for p in self.points]

    def at(self, t: int) -> Any:
        i = bisect_right(self._keys, (t, 99)) - 1
        return self.points[i][2] if i >= 0 else None

    def latest(self) -> tuple[int, int, Any] | None:
        return self.points[-1] if self.points else None

    def times(self) -> list[int]:
        return [p[0] for p in self.points]


# ---- invoice lines -----------------------------------------------------------------------------



@dataclass
class SubHistory:
    """Everything rebuilt about one subscription."""

    sub: Obj
    start: int
    items: dict[str, Timeline]  # item id -> ItemState | None (absent)
    embedded: dict[str, Obj]  # price id -> price embedded in items (ad-hoc prices)
    cycle_starts: list[int]  # starts of the periods billed by cycle invoices
    snapshots: list[Obj]  # the subscription as its events showed it, oldest first


def _licensed(ix: Index, line: Obj, view: LineView, embedded: Mapping[str, Obj]) -> bool:
    price_id = view.price_id
    price = ix.price(price_id, embedded.get(price_id or "") or line.get("price"))
    return price is None or not is_metered(price)


def _item_state(item: Obj) -> ItemState:
    price = item_price(item)
    return ItemState(ref(price), as_int(item.get("quantity")) or 0)


def _embedded_prices(sub: Obj, snapshots: list[Obj]) -> dict[str, Obj]:
    out: dict[str, Obj] = {}
    for snap in (*snapshots, sub):
        for item in sub_items(snap):
            price = item_price(item)
            if isinstance(price, Mapping) and isinstance(price.get("id"), str):
                out[price["id"]] = price
    return out


def _cycle_observations(ix: Index, sub_id: str, embedded: Mapping[str, Obj],
                        items: dict[str, Timeline], flexible: bool) -> list[int]:
    """Rank-0 points from cycle lines; returns the billed period starts."""
    # Billed items by period start, over all invoices: in flexible billing mode items
    # whose periods diverge are billed on separate invoices starting at the same instant.
    billed: dict[int, set[str]] = defaultdict(set)
    paid_until: dict[str, list[tuple[int, int]]] = defaultdict(list)  # item -> (start, end)
    for inv in ix.invoices_by_sub.get(sub_id, ()):
        present: set[str] = set()
        period_start = None
        for ln in data_list(inv.get("lines")):
            view = ix.line(ln)
            item, start = view.item, view.start
            if not view.cycle or item is None or start is None:
                continue
            if _licensed(ix, ln, view, embedded):
                period_start = start if period_start is None else min(period_start, start)
                present.add(item)
                paid_until[item].append((start, view.end if view.end is not None else start))
            items[item].add(start, CYCLE, ItemState(view.price_id, line_quantity(ln)))
        if period_start is not None:
            billed[period_start] |= present
    # An item billed before and missing from a later cycle invoice ended at its start.
    # In flexible billing mode only once its own period is over: a yearly item missing
    # from the monthly renewals of a mixed-interval subscription still counts (§1.12).
    # (In classic mode every item shares one period, and a new billing anchor can cut a
    # period short: there the first invoice without the item decides.)
    starts = sorted(billed)
    for item, periods in paid_until.items():
        periods.sort()
        own = {s for s, _ in periods}
        i, paid_to = 0, None
        for start in starts:
            while i < len(periods) and periods[i][0] < start:
                paid_to = periods[i][1] if paid_to is None else max(paid_to, periods[i][1])
                i += 1
            if paid_to is None or start in own or (flexible and paid_to > start):
                continue
            items[item].add(start, CYCLE, None)
    return sorted(billed)


def _proration_observations(ix: Index, sub_id: str, items: dict[str, Timeline]) -> None:
    """Rank-1 points: the state after each mid-period change (lines and pending items)."""
    groups: dict[tuple[str, int], list[tuple[int, ItemState]]] = defaultdict(list)
    seen_ii: set[str] = set()
    for inv in ix.invoices_by_sub.get(sub_id, ()):
        for ln in data_list(inv.get("lines")):
            view = ix.line(ln)
            if view.kind != "subscription" or not view.proration:
                continue
            item, start = view.item, view.start
            ii_id = ref(view.details.get("invoice_item"))
            if ii_id is not None:
                seen_ii.add(ii_id)
            if item is None or start is None:
                continue
            state = ItemState(view.price_id, line_quantity(ln))
            groups[(item, start)].append((as_int(ln.get("amount")) or 0, state))
    for ii in ix.pending_by_sub.get(sub_id, ()):  # pending prorations, not invoiced yet
        item = ref(subscription_detail(ii, "subscription_item"))
        start = as_int(get(ii, "period", "start"))
        if ii.get("id") in seen_ii or item is None or start is None:
            continue
        state = ItemState(line_price_id(ii), line_quantity(ii))
        groups[(item, start)].append((as_int(ii.get("amount")) or 0, state))
    for (item, start), parts in groups.items():
        charges = [state for amount, state in parts if amount >= 0]
        # Only a credit: the item was removed. Else the charge gives the new state.
        items[item].add(start, PRORATION, charges[-1] if charges else None)


def _event_observations(events: list[Obj], items: dict[str, Timeline]) -> None:
    for event in events:
        t = as_int(event.get("created")) or 0
        snap = get(event, "data", "object")
        present = {str(i.get("id")): _item_state(i) for i in sub_items(snap) if i.get("id")}
        for item in set(items) | set(present):
            items[item].add(t, EVENT, present.get(item))


def observed_at(obj: Obj | None, now: int, after: int) -> int:
    """When the sync saw ``obj`` as it is (``_changed_at``), if that is after ``after``
    (the latest other evidence) and not after ``now``; else ``now``."""
    seen = as_int(obj.get("_changed_at")) if obj is not None else None
    return seen if seen is not None and after <= seen <= now else now


def _latest(timeline: Timeline, now: int) -> int:
    return max((p[0] for p in timeline.points if p[0] <= now), default=0)


def _current_observations(sub: Obj, start: int, now: int, ended: bool,
                          items: dict[str, Timeline]) -> None:
    current = {str(i.get("id")): i for i in sub_items(sub) if i.get("id")}
    for item_id, item in current.items():
        state = _item_state(item)
        timeline = items[item_id]
        if not timeline.points:
            created = as_int(item.get("created"))
            timeline.add(max(start, created if created is not None else start), CURRENT, state)
            continue
        timeline.freeze()
        if not ended and timeline.at(now) != state:
            timeline.add(observed_at(sub, now, _latest(timeline, now)), CURRENT, state)
    if ended:
        return
    for item_id, timeline in items.items():
        if item_id not in current:
            timeline.freeze()
            if timeline.at(now) is not None:
                timeline.add(observed_at(sub, now, _latest(timeline, now)), CURRENT, None)


def _backdate_to_creation(sub: Obj, snapshots: list[Obj], start: int,
                          items: dict[str, Timeline]) -> None:
    """An item first seen in an event or the current state (no invoice shows it) existed
    since its ``created``: events only tell its state from when they were kept."""
    created: dict[str, int] = {}
    for snap in (*snapshots, sub):
        for it in sub_items(snap):
            t = as_int(it.get("created"))
            if isinstance(it.get("id"), str) and t is not None:
                created.setdefault(it["id"], t)
    for item_id, timeline in items.items():
        if not timeline.points or item_id not in created:
            continue
        t0, rank, state = min(timeline.points, key=lambda p: (p[0], p[1]))
        since = max(start, created[item_id])
        if rank >= EVENT and state is not None and since < t0:
            timeline.add(since, rank, state)


def sub_history(ix: Index, sub: Obj) -> SubHistory:
    sub_id = str(sub.get("id"))
    events = ix.events_by_sub.get(sub_id, [])
    start = as_int(first(sub.get("start_date"), sub.get("created"))) or 0
    snapshots = [snap for e in events if isinstance(snap := get(e, "data", "object"), Mapping)]
    embedded = _embedded_prices(sub, snapshots)
    items: dict[str, Timeline] = defaultdict(Timeline)
    flexible = get(sub, "billing_mode", "type") == "flexible"
    cycle_starts = _cycle_observations(ix, sub_id, embedded, items, flexible)
    _proration_observations(ix, sub_id, items)
    _event_observations(events, items)
    ended = as_int(sub.get("ended_at")) is not None
    _current_observations(sub, start, ix.now, ended, items)
    _backdate_to_creation(sub, snapshots, start, items)
    for timeline in items.values():
        timeline.points = [p for p in timeline.points if p[0] <= ix.now]
        timeline.freeze()
    return SubHistory(sub, start, dict(items), embedded, cycle_starts, snapshots)


def item_trials(hist: SubHistory) -> dict[str, list[tuple[int, int | None]]]:
    """Each item's own trials (``current_trial``, §1.12) seen in the subscription's
    current state and its event snapshots: the item counts 0 inside them."""
    out: dict[str, set[tuple[int, int | None]]] = defaultdict(set)
    for snap in (*hist.snapshots, hist.sub):
        for item in sub_items(snap):
            trial = item.get("current_trial")
            start = as_int(get(trial, "start_date"))
            if isinstance(item.get("id"), str) and start is not None:
                out[item["id"]].add((start, as_int(get(trial, "end_date"))))
    return {item: sorted(trials) for item, trials in out.items()}


# ---- status ---------------------------------------------------------------------------------


def _first_invoice(ix: Index, sub_id: str) -> Obj | None:
    """The invoice that created the subscription (a later one says nothing of its start)."""
    invoices = ix.invoices_by_sub.get(sub_id, ())
    create = [i for i in invoices if i.get("billing_reason") == "subscription_create"]
    return create[0] if create else None


def _initially_incomplete(ix: Index, sub: Obj, start: int) -> tuple[bool, int | None]:
    """(incomplete at start, time it became active): a charge_automatically subscription
    whose first invoice was not paid at once (a failed charge, or never paid)."""
    if sub.get("collection_method") == "send_invoice":
        return False, None
    inv = _first_invoice(ix, str(sub.get("id")))
    if inv is None or (as_int(inv.get("amount_due")) or 0) == 0:
        return False, None
    failed = [c for c in ix.invoice_charges(inv) if c.get("status") == "failed"]
    paid_at = transition(inv, "paid_at")
    if inv.get("status") == "paid" and not failed:
        return False, None
    return True, paid_at


def _unpaid_since(ix: Index, sub: Obj) -> int | None:
    """When a subscription that is ``unpaid`` now got there, lacking an event: the last
    failed charge of its oldest unpaid invoice (Stripe moves it after the final retry)."""
    for inv in ix.invoices_by_sub.get(str(sub.get("id")), ()):
        if inv.get("status") in ("open", "uncollectible"):
            failed = [as_int(c.get("created")) for c in ix.invoice_charges(inv)
                      if c.get("status") == "failed"]
            times = [t for t in failed if t is not None]
            if times:
                return max(times)
            return transition(inv, "finalized_at")
    return None


def _resumed_after_trial(sub: Obj, hist: SubHistory, trial_end: int) -> int | None:
    """When a subscription paused at the end of its trial resumed: the start of the first
    period billed after the trial, when that came later. Stripe pauses a trial that ends
    without a payment method (``trial_settings.end_behavior.missing_payment_method =
    pause``, §1.12) and bills nothing until it is resumed, with a new period."""
    if get(sub, "trial_settings", "end_behavior", "missing_payment_method") != "pause":
        return None
    later = [s for s in hist.cycle_starts if s >= trial_end]
    return later[0] if later and later[0] > trial_end else None


def status_timeline(ix: Index, hist: SubHistory) -> Timeline:
    """The subscription's status over time (trial, incomplete, events, current, end)."""
    sub, start = hist.sub, hist.start
    sub_id = str(sub.get("id"))
    tl = Timeline()
    trial_end = as_int(sub.get("trial_end"))
    if trial_end is not None and trial_end > start:
        tl.add(start, CYCLE, "trialing")
        resumed = _resumed_after_trial(sub, hist, trial_end)
        tl.add(trial_end, CYCLE, "active" if resumed is None else "paused")
        if resumed is not None:
            tl.add(resumed, CYCLE, "active")
    else:
        incomplete, active_at = _initially_incomplete(ix, sub, start)
        tl.add(start, CYCLE, "incomplete" if incomplete else "active")
        if incomplete and active_at is not None:
            tl.add(active_at, CYCLE, "active")
    # Statuses an event shows the subscription moving into (the others it was already in).
    entered: set[str] = set()
    for event in ix.events_by_sub.get(sub_id, ()):
        status = as_str(get(event, "data", "object", "status"))
        if status is not None:
            tl.add(as_int(event.get("created")) or 0, EVENT, status)
            previous = get(event, "data", "previous_attributes")
            if isinstance(previous, Mapping) and "status" in previous:
                entered.add(status)
    status = as_str(sub.get("status"))
    ended_at = as_int(sub.get("ended_at"))
    if status in ("unpaid", "paused", "incomplete") and status not in entered:
        since = {"unpaid": _unpaid_since(ix, sub), "paused": trial_end}.get(status)
        tl.add(since if since is not None else start, PRORATION, status)
    if ended_at is not None:
        final = status if status in ("canceled", "incomplete_expired") else "canceled"
        tl.add(ended_at, CURRENT, final)
    elif status is not None:
        tl.freeze()
        if tl.at(ix.now) != status:
            tl.add(observed_at(sub, ix.now, _latest(tl, ix.now)), CURRENT, status)
    tl.points = [p for p in tl.points if p[0] <= ix.now]
    tl.freeze()
    return tl


# ---- pause_collection --------------------------------------------------------------------------


def _paused_billed(inv: Obj) -> bool:
    """A cycle invoice billed while collection was paused: never attempted, then voided,
    marked uncollectible, or kept as a draft (the three ``pause_collection`` behaviours)."""
    if inv.get("billing_reason") != "subscription_cycle" or inv.get("attempted") is True:
        return False
    status = inv.get("status")
    if status == "draft":
        return inv.get("auto_advance") is False
    return status in ("void", "uncollectible")


def _event_pause_windows(events: list[Obj]) -> list[tuple[int | None, int | None, int | None]]:
    """(paused at, resumed at, period end when paused) from events; None = unknown."""
    windows: list[tuple[int | None, int | None, int | None]] = []
    opened: tuple[int | None, int | None] | None = None
    for i, event in enumerate(events):
        t = as_int(event.get("created")) or 0
        snap = get(event, "data", "object")
        paused = bool(get(snap, "pause_collection"))
        if i == 0:
            previous = get(event, "data", "previous_attributes")
            was = (bool(previous.get("pause_collection"))
                   if isinstance(previous, Mapping) and "pause_collection" in previous
                   else paused)
            if was and paused:
                opened = (None, current_period_end(snap))
            elif was and not paused:
                windows.append((None, t, None))
        if paused and opened is None:
            opened = (t, current_period_end(snap))
        elif not paused and opened is not None:
            windows.append((opened[0], t, opened[1]))
            opened = None
    if opened is not None:  # still paused at the last event: resumed later or never
        windows.append((opened[0], None, opened[1]))
    return windows


def pause_intervals(ix: Index, hist: SubHistory) -> list[tuple[int, int | None]]:
    """Intervals of zero MRR for paused collection: from the start of the first period
    billed while paused until the resume (§1.11)."""
    sub = hist.sub
    sub_id = str(sub.get("id"))
    events = ix.events_by_sub.get(sub_id, [])
    ended = as_int(sub.get("ended_at")) is not None
    # A draft still to be finalized says nothing yet of how its period is billed.
    cycle = [(s, inv) for inv in ix.invoices_by_sub.get(sub_id, ())
             if (s := _cycle_start(ix, inv)) is not None
             and (inv.get("status") != "draft" or _paused_billed(inv))]
    cycle.sort(key=lambda c: c[0])
    out: list[tuple[int, int | None]] = []
    resumes = [r for _, r, _ in _event_pause_windows(events) if r is not None]
    # Runs of cycle invoices billed while paused.
    i = 0
    while i < len(cycle):
        if not _paused_billed(cycle[i][1]):
            i += 1
            continue
        s1 = cycle[i][0]
        while i < len(cycle) and _paused_billed(cycle[i][1]):
            i += 1
        end: int | None = cycle[i][0] if i < len(cycle) else None
        later = [r for r in resumes if r > s1 and (end is None or r < end)]
        if later:
            end = later[0]
        elif end is None and not (sub.get("pause_collection") and not ended):
            # Resumed at an unknown time since the last paused period: when the sync saw it.
            end = observed_at(sub, ix.now, s1)
        out.append((s1, end))
    # Pauses seen in events whose first paused period is not invoiced as such (yet).
    starts = [s for s, _ in cycle]
    for paused_at, resumed_at, period_end in _event_pause_windows(events):
        if paused_at is None:
            continue
        boundary = next((s for s in starts if s >= paused_at), period_end)
        if boundary is None or boundary > ix.now:
            continue
        if resumed_at is not None and boundary >= resumed_at:
            continue
        if any(a <= boundary and (b is None or boundary < b) for a, b in out):
            continue
        out.append((boundary, resumed_at))
    return sorted(out, key=lambda iv: iv[0])


def _cycle_start(ix: Index, inv: Obj) -> int | None:
    if inv.get("billing_reason") not in ("subscription_cycle", "subscription_create"):
        return None
    starts = [view.start for ln in data_list(inv.get("lines")) if (view := ix.line(ln)).cycle]
    known = [s for s in starts if s is not None]
    # Usage lines bill the previous period: the licensed lines start latest.
    return max(known) if known else as_int(inv.get("period_end"))


# ---- discounts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscountWindow:
    id: str
    coupon: Obj
    start: int
    end: int | None
    item: str | None  # a subscription item's own discount, else the whole subscription
    customer: bool = False  # the customer's discount: only where the subscription has none


def _discount_ids(snap: Any) -> set[str]:
    """Discounts a subscription or invoice names at any level: its own list (or legacy
    single discount), its items' lists and its lines' lists (§1.6)."""
    ids = {d for x in (get(snap, "discounts") or []) if (d := ref(x)) is not None}
    legacy = ref(get(snap, "discount"))
    if legacy is not None:
        ids.add(legacy)
    for child in (*sub_items(snap), *data_list(get(snap, "lines"))):
        discounts = child.get("discounts")
        if isinstance(discounts, list):
            ids.update(d for x in discounts if (d := ref(x)) is not None)
    return ids


def _once_end(ix: Index, hist: SubHistory, discount_id: str, start: int) -> int | None:
    """End of the first period a ``once`` discount applied to: the period of the first
    invoice that lists it, else the billing period that contains its start."""
    for inv in ix.invoices_by_sub.get(str(hist.sub.get("id")), ()):
        if discount_id in _discount_ids(inv) and (as_int(inv.get("created")) or 0) >= start - DAY:
            ends = [view.end for ln in data_list(inv.get("lines")) if (view := ix.line(ln)).cycle]
            known = [e for e in ends if e is not None]
            if known:
                return max(known)
    later = [s for s in hist.cycle_starts if s > start]
    if later:
        return later[0]
    return current_period_end(hist.sub)


def _dropped_from_invoices(ix: Index, hist: SubHistory, discount_id: str, start: int) -> int | None:
    """The start of the first cycle invoice after ``start`` that does not list the discount."""
    for inv in ix.invoices_by_sub.get(str(hist.sub.get("id")), ()):
        s = _cycle_start(ix, inv)
        if s is not None and s > start and discount_id not in _discount_ids(inv):
            return s
    return None


def _removed_at(ix: Index, hist: SubHistory, discount_id: str, start: int) -> int:
    """When a discount no longer in the subscription's list was removed: the first event
    without it, else the first cycle invoice without it, else when the sync saw it gone."""
    for event in ix.events_by_sub.get(str(hist.sub.get("id")), ()):
        t = as_int(event.get("created")) or 0
        if t > start and discount_id not in _discount_ids(get(event, "data", "object")):
            return t
    dropped = _dropped_from_invoices(ix, hist, discount_id, start)
    return observed_at(hist.sub, ix.now, start) if dropped is None else dropped


def repeating_end(d: Obj, coupon: Obj, start: int) -> int:
    """When a discount of a ``repeating`` coupon ends: its ``end``, else its start plus the
    coupon's months."""
    return as_int(d.get("end")) or add_months_to_instant(start, as_int(coupon.get("duration_in_months")) or 0)


def _window(ix: Index, hist: SubHistory, d_id: str, d: Obj) -> DiscountWindow | None:
    """A discount's window by its coupon's duration (removals are the caller's)."""
    coupon = coupon_of(d, ix.coupons)
    start = as_int(d.get("start"))
    if coupon is None or start is None:
        return None
    duration = coupon.get("duration")
    end: int | None = None
    if duration == "repeating":
        end = repeating_end(d, coupon, start)
    elif duration == "once":
        end = _once_end(ix, hist, d_id, start)
    return DiscountWindow(d_id, coupon, start, end, ref(d.get("subscription_item")))


def _own_discount_windows(ix: Index, hist: SubHistory) -> list[DiscountWindow]:
    """The subscription's and its items' discounts."""
    sub = hist.sub
    sub_id = str(sub.get("id"))
    current = _discount_ids(sub)
    ended = as_int(sub.get("ended_at")) is not None
    candidates: dict[str, Obj] = {}
    embedded = [sub.get("discount"), *(sub.get("discounts") or [])]
    for sub_item in sub_items(sub):
        embedded.extend(sub_item.get("discounts") or [])
    for value in embedded:
        if isinstance(value, Mapping) and isinstance(value.get("id"), str):
            candidates[value["id"]] = value
    for d_id in (*ix.discounts_by_sub.get(sub_id, ()), *current):
        if d_id in ix.raw.discounts:
            candidates[d_id] = ix.raw.discounts[d_id]
    out: list[DiscountWindow] = []
    for d_id, d in candidates.items():
        w = _window(ix, hist, d_id, d)
        if w is None:
            continue
        if d_id not in current and not ended and (w.end is None or w.end > ix.now):
            removed = _removed_at(ix, hist, d_id, w.start)
            w = replace(w, end=removed if w.end is None else min(w.end, removed))
        out.append(w)
    return out


def _customer_discount_windows(ix: Index, hist: SubHistory) -> list[DiscountWindow]:
    """The customer's discounts (``customer.discount``): the subscription's own history
    says nothing of them; one that is no longer the customer's has ended."""
    customer_id = customer_of(hist.sub)
    if customer_id is None:
        return []
    customer = ix.customers.get(customer_id, {})
    current = ref(customer.get("discount"))
    candidates = {d_id: ix.raw.discounts[d_id]
                  for d_id in ix.discounts_by_customer.get(customer_id, ())
                  if d_id in ix.raw.discounts}
    if isinstance(customer.get("discount"), Mapping) and current is not None:
        candidates.setdefault(current, customer["discount"])
    out: list[DiscountWindow] = []
    for d_id, d in candidates.items():
        w = _window(ix, hist, d_id, d)
        if w is None:
            continue
        if d_id != current and (w.end is None or w.end > ix.now):
            removed = _customer_discount_removed_at(ix, hist, d_id, d, w.start)
            w = replace(w, end=removed if w.end is None else min(w.end, removed))
        out.append(replace(w, item=None, customer=True))
    return out


def _customer_discount_removed_at(ix: Index, hist: SubHistory, d_id: str, d: Obj,
                                  start: int) -> int:
    """When a discount stopped being the customer's: the sync marks it deleted at the
    ``customer.discount.deleted`` event's time (``_deleted_at``) when it saw one; else
    the first cycle invoice that no longer lists it; else (none billed since) when the
    sync saw the customer without it."""
    deleted_at = as_int(d.get("_deleted_at"))
    if deleted_at is not None and deleted_at >= start:
        return deleted_at
    dropped = _dropped_from_invoices(ix, hist, d_id, start)
    if dropped is not None:
        return dropped
    return observed_at(ix.customers.get(customer_of(hist.sub) or ""), ix.now, start)


def discount_windows(ix: Index, hist: SubHistory) -> list[DiscountWindow]:
    """Every discount that may apply to the subscription, at the three levels of §1.6:
    its items' own, its own, and its customer's (which apply only while it has none)."""
    out = _own_discount_windows(ix, hist) + _customer_discount_windows(ix, hist)
    return sorted(out, key=lambda w: (w.start, w.id))
