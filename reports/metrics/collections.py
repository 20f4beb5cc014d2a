"""Collections (METRICS.md §3, tracking): invoices failed and recovered in the month, and
the MRR of subscriptions still past due at its end."""

from __future__ import annotations

from reports.facts import PaymentFailure
from reports.fx import FxTable
from reports.metrics.index import CustomerIndex
from reports.metrics.mrr import convert, sum_in_force
from reports.metrics.report import Collections


def _open_at(f: PaymentFailure, at: int) -> bool:
    return f.first_failed_at <= at and (f.recovered_at is None or f.recovered_at > at) and (
        f.closed_at is None or f.closed_at > at
    )


def collections(index: CustomerIndex, fx: FxTable, start: int, end: int) -> Collections:
    """Failed and recovered in ``[start, end)``, past-due MRR at its last instant."""
    closing = end - 1
    failed = failed_amount = recovered = recovered_amount = 0
    past_due_subs: set[str] = set()
    for f in index.batch.failures:
        if start <= f.first_failed_at < end:
            failed += 1
            failed_amount += fx.convert(f.amount, f.currency, f.first_failed_at)
        if f.recovered_at is not None and start <= f.recovered_at < end:
            recovered += 1
            recovered_amount += fx.convert(f.amount, f.currency, f.recovered_at)
        if f.subscription is not None and _open_at(f, closing):
            past_due_subs.add(f.subscription)
    past_due = sum(
        convert(sum_in_force(index.by_subscription.get(sub, ()), closing), fx, closing) for sub in sorted(past_due_subs)
    )
    return Collections(failed_invoices=failed, failed_amount=failed_amount, recovered_amount=recovered_amount,
                       past_due_mrr=past_due, recovered_invoices=recovered)
