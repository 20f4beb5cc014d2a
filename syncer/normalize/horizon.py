"""Until when a customer's facts stay true without new data (pure).

``normalize(raw, settings, now=t)`` depends on ``t`` as well as on the objects: a span in
force has no end, a trial or a billing period ends at a time still to come, a grace
period runs out, a scheduled cancellation takes effect, a state that no evidence dates
and whose object has no time the sync saw it is dated now. An incremental normalization
re-derives only the customers whose objects changed, so it must also re-derive those
whose facts would differ at the later instant it normalizes at. Their horizon is the
first instant after ``now`` at which the rules could decide otherwise given the same
objects:

- every time still to come that their objects hold (a period or trial end, ``cancel_at``,
  ``pause_collection.resumes_at``, a discount's ``end``, a next payment attempt; see
  ``_owned_objects`` for which objects are read how deep): the rules compare instants
  of the objects with ``now``, never anything else;
- the times the rules compute from them: the end of a ``repeating`` discount without
  ``end``, the end of the grace period of an invoice still unpaid;
- just after ``now`` when a fact holds ``now`` itself and a state of the customer has no
  time the sync saw it (``_changed_at``; a state no evidence dates is then dated
  ``now``); the time still to come a fact holds (a scheduled churn).

What an object of no customer (or a fact of none) bounds, it bounds for every customer
of the batch (key ``""``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reports.facts import Facts
from syncer.normalize.history import repeating_end
from syncer.normalize.model import NormalizeSettings, Obj, RawAccount
from syncer.normalize.mrr import grace_ends
from syncer.normalize.rules import as_int, coupon_of
from syncer.stripe.shapes import customer_of

# An invoice's own times that can lie ahead (its lines' are their periods).
_INVOICE_TIMES = ("created", "period_start", "period_end", "due_date", "next_payment_attempt",
                  "effective_at", "automatically_finalizes_at", "webhooks_delivered_at")
# The batch-wide key: objects of no customer (and facts of none) bound every customer.
EVERYONE = ""
# Integers above this are no instants (amounts in minor units of some currencies are).
_LAST_INSTANT = 2**37  # year 6325


def horizons(raw: RawAccount, facts: Facts, settings: NormalizeSettings, now: int) -> dict[str, int]:
    """Each customer of the batch's objects (``EVERYONE``: the objects of no customer) ->
    the first instant after ``now`` at which its facts could change without new data;
    customers without one are absent. What bounds ``EVERYONE`` bounds every customer."""
    out: dict[str, int] = {}
    seen: set[str] = set()

    def bound(customer: str | None, at: int | None) -> None:
        if at is not None and at > now:
            key = customer or EVERYONE
            if at < out.get(key, _LAST_INSTANT + 1):
                out[key] = at

    for obj, customer in _owned_objects(raw):
        if customer:
            seen.add(customer)
        bound(customer, _first_after(obj, now))
    coupons = {c["id"]: c for c in raw.coupons if isinstance(c.get("id"), str)}
    subscribers = {s.get("id"): customer_of(s) for s in raw.subscriptions}
    # Every batch holds every discount: only those of the batch's customers count here.
    for d in raw.discounts.values():
        owner = customer_of(d) or subscribers.get(d.get("subscription"))
        if owner not in seen:
            continue
        coupon = coupon_of(d, coupons) if d.get("end") is None else None
        start = as_int(d.get("start"))
        if coupon is not None and coupon.get("duration") == "repeating" and start is not None:
            bound(owner, repeating_end(d, coupon, start))
        bound(owner, _first_after(d, now))
    # A fact at ``now`` itself moves with ``now`` only where a state had no time the sync
    # saw it (``_changed_at``): elsewhere it is that time, or a time of the objects.
    unsure = {customer_of(o) if o.get("object") != "customer" else o.get("id")
              for o in (*raw.subscriptions, *raw.customers) if not _seen_by(o, now)}
    unsure |= {None, EVERYONE}
    for customer, instant in _fact_instants(facts, settings):
        if instant > now:
            bound(customer, instant)
        elif instant == now and (customer or EVERYONE) in unsure:
            bound(customer, now + 1)
    everyone = out.get(EVERYONE)
    if everyone is not None:
        for customer in seen:
            out[customer] = min(out.get(customer, everyone), everyone)
    return out


def _seen_by(obj: Obj, now: int) -> bool:
    seen = obj.get("_changed_at")
    return type(seen) is int and seen <= now


def _owned_objects(raw: RawAccount) -> Iterator[tuple[Any, str | None]]:
    """What of the batch's objects can hold a time still to come, with the customer each
    names. Whole: customers, subscriptions (their items), invoice items, credit notes.
    Of an invoice, its times (``_INVOICE_TIMES``, status transitions, its lines' period
    ends); of an event, its object's own fields and its items'. Charges, refunds and
    invoice payments record what happened: no rule reads a time of theirs to come."""
    for group in (raw.customers, raw.subscriptions, raw.invoice_items, raw.credit_notes):
        for obj in group:
            yield obj, obj.get("id") if obj.get("object") == "customer" else customer_of(obj)
    for inv in raw.invoices:
        # Invoices are most of an account's objects: their times are read by name.
        times = [inv.get(name) for name in _INVOICE_TIMES]
        transitions = inv.get("status_transitions")
        if isinstance(transitions, dict):
            times.extend(transitions.values())
        lines = inv.get("lines")
        for line in lines.get("data") or () if isinstance(lines, dict) else ():
            period = line.get("period") if isinstance(line, dict) else None
            if isinstance(period, dict):
                times.append(period.get("end"))
        yield times, customer_of(inv)
    for event in raw.events:
        data = event.get("data")
        snapshot = data.get("object") if isinstance(data, dict) else None
        if isinstance(snapshot, dict):
            customer = customer_of(snapshot)
            yield _shallow(snapshot), customer
            items = snapshot.get("items")
            for item in items.get("data") or () if isinstance(items, dict) else ():
                if isinstance(item, dict):
                    yield _shallow(item), customer


def _shallow(obj: Obj) -> list[Any]:
    """An object's own values, and those of the plain records it nests (a period, a
    status transition), without the lists and objects it embeds."""
    out: list[Any] = []
    for value in obj.values():
        if type(value) is dict and value.get("object") is None:
            out.extend(v for v in value.values() if type(v) is not list)
        elif type(value) is not list and type(value) is not dict:
            out.append(value)
    return out


def _fact_instants(facts: Facts, settings: NormalizeSettings) -> Iterator[tuple[str | None, int]]:
    for s in facts.spans:
        yield from ((s.customer, t) for t in (s.start, s.end) if t is not None)
    for c in facts.churns:
        yield from ((c.customer, t) for t in (c.at, c.requested_at) if t is not None)
    for f in facts.failures:
        yield from ((f.customer, t) for t in (f.first_failed_at, f.recovered_at, f.closed_at) if t is not None)
        if f.recovered_at is None and f.closed_at is None:
            yield f.customer, grace_ends(f, settings.past_due_grace_days)
    for r in facts.revenue:
        yield r.customer, r.at


def _first_after(obj: Any, now: int) -> int | None:
    """The smallest integer in ``obj`` (at any depth) after ``now`` that can be an instant.
    One loop over a stack, types compared exactly (a bool is no instant): it reads every
    value of every object of the batch, so it is written for speed."""
    best = _LAST_INSTANT + 1
    stack = [obj]
    pop, extend = stack.pop, stack.extend
    while stack:
        value = pop()
        kind = type(value)
        if kind is dict:
            extend(value.values())
        elif kind is list:
            extend(value)
        elif kind is int and now < value < best:
            best = value
    return best if best <= _LAST_INSTANT else None
