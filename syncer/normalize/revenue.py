"""Billed revenue (METRICS.md §4): invoice lines, standalone charges, refunds, credit notes.

- Invoices: finalized and not void (open, paid, uncollectible), at
  ``status_transitions.finalized_at``. Each line counts ``amount`` minus its
  ``discount_amounts``; ``amount`` excludes exclusive taxes, and inclusive taxes
  (``taxes[].tax_behavior = inclusive``, legacy ``tax_amounts[].inclusive``) are
  subtracted. Proration credits are negative lines: billed revenue nets them.
- recurring: subscription item lines (prorations included), and proration invoice items
  of a subscription; usage: lines of metered prices; one_time: everything else (invoice
  items, one-time prices, setup fees).
- Charges: succeeded charges linked to no invoice (no invoice payment links their
  payment intent or the charge, no legacy ``invoice``), one_time, captured amount.
- Refunds: succeeded or pending ones, at creation, their amount.
- Credit notes: issued (not void), at ``effective_at`` (else creation), amount excluding
  tax: ``total_excluding_tax``, else ``amount`` minus its taxes.
"""

from __future__ import annotations

from reports.facts import RevenueKind, RevenueLine
from syncer.normalize.model import Index, transition
from syncer.normalize.rules import (
    Obj,
    as_int,
    as_str,
    data_list,
    first,
    get,
    is_metered,
    ref,
    sum_amounts,
)
from syncer.stripe.shapes import customer_of, line_detail

BILLED = ("open", "paid", "uncollectible")


def _inclusive_tax(line: Obj) -> int:
    taxes = line.get("taxes")
    if isinstance(taxes, list):
        return sum(as_int(get(t, "amount")) or 0 for t in taxes
                   if get(t, "tax_behavior") == "inclusive")
    legacy = line.get("tax_amounts")
    if isinstance(legacy, list):
        return sum(as_int(get(t, "amount")) or 0 for t in legacy if get(t, "inclusive") is True)
    return 0


def line_net(line: Obj) -> int:
    """A line's revenue: after its discounts, without tax."""
    amount = as_int(line.get("amount")) or 0
    return amount - sum_amounts(line.get("discount_amounts")) - _inclusive_tax(line)


def line_kind(ix: Index, line: Obj) -> RevenueKind:
    view = ix.line(line)
    price = ix.price(view.price_id, line.get("price"))
    if price is not None and is_metered(price):
        return RevenueKind.USAGE
    if view.kind == "subscription":
        return RevenueKind.RECURRING
    subscription = ref(line_detail(line, "subscription", view.details))
    if view.proration and subscription is not None:
        return RevenueKind.RECURRING
    return RevenueKind.ONE_TIME


def invoice_lines(ix: Index, invoice: Obj) -> list[RevenueLine]:
    finalized = transition(invoice, "finalized_at")
    if invoice.get("status") not in BILLED or finalized is None or finalized > ix.now:
        return []
    currency = as_str(invoice.get("currency")) or ix.raw.default_currency
    customer = customer_of(invoice)
    out: list[RevenueLine] = []
    for line in data_list(invoice.get("lines")):
        amount = line_net(line)
        if amount == 0:
            continue
        out.append(RevenueLine(finalized, customer, str(line.get("id")), line_kind(ix, line),
                               amount, as_str(line.get("currency")) or currency))
    return out


def standalone_charges(ix: Index) -> list[RevenueLine]:
    out: list[RevenueLine] = []
    for ch in ix.raw.charges:
        created = as_int(ch.get("created"))
        if ch.get("status") != "succeeded" or created is None or created > ix.now:
            continue
        if ch.get("id") in ix.paid_charges:
            continue
        captured = as_int(ch.get("amount_captured"))
        amount = captured if captured else as_int(ch.get("amount")) or 0
        if amount:
            out.append(RevenueLine(created, customer_of(ch), str(ch.get("id")),
                                   RevenueKind.ONE_TIME, amount,
                                   as_str(ch.get("currency")) or ix.raw.default_currency))
    return out


def refunds(ix: Index) -> list[RevenueLine]:
    charges = {c.get("id"): c for c in ix.raw.charges}
    out: list[RevenueLine] = []
    for re in ix.raw.refunds:
        created = as_int(re.get("created"))
        amount = as_int(re.get("amount")) or 0
        if re.get("status") not in ("succeeded", "pending") or created is None \
                or created > ix.now or not amount:
            continue
        customer = ref(first(re.get("customer"),
                             get(charges.get(ref(re.get("charge"))), "customer")))
        out.append(RevenueLine(created, customer, str(re.get("id")), RevenueKind.REFUND,
                               amount, as_str(re.get("currency")) or ix.raw.default_currency))
    return out


def credit_note_amount(cn: Obj) -> int:
    excluding = as_int(cn.get("total_excluding_tax"))
    if excluding is not None:
        return excluding
    amount = as_int(cn.get("amount")) or 0
    taxes = cn.get("total_taxes")
    if isinstance(taxes, list):
        return amount - sum_amounts(taxes)
    return amount - sum_amounts(cn.get("tax_amounts"))


def credit_notes(ix: Index) -> list[RevenueLine]:
    out: list[RevenueLine] = []
    for cn in ix.raw.credit_notes:
        at = as_int(first(cn.get("effective_at"), cn.get("created")))
        if cn.get("status") == "void" or at is None or at > ix.now:
            continue
        amount = credit_note_amount(cn)
        if amount:
            out.append(RevenueLine(at, customer_of(cn), str(cn.get("id")),
                                   RevenueKind.CREDIT_NOTE, amount,
                                   as_str(cn.get("currency")) or ix.raw.default_currency))
    return out


def revenue(ix: Index) -> list[RevenueLine]:
    out = [line for inv in ix.invoices.values() for line in invoice_lines(ix, inv)]
    out += standalone_charges(ix) + refunds(ix) + credit_notes(ix)
    return sorted(out, key=lambda r: (r.at, r.source))
