"""Reading the facts that movement alerts need: only the customers whose MRR changed in a
window, and the account's MRR at an instant (the alert threshold's base).

A tick looks at a few days of changes, so it must not read every customer's facts the
way a report does: the customers with a span starting or ending in the window are found
first (one pass over the account's spans), then only their facts are read.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from reports.facts import Cause, ChurnEvent, ChurnKind, Customer, CustomerFacts, MrrSpan
from syncer.db.facts_store import CHURNS, SPANS
from syncer.db.store import table

_CHUNK = 500  # ids per IN (...): well under every backend's bound-parameter limit


def customers_moving(conn: Connection, account: str, livemode: bool, since: int, until: int) -> list[str]:
    """Customers with a span that starts or ends in ``[since, until]``, sorted."""
    sp = SPANS.c
    rows = conn.execute(
        select(sp.customer).distinct().where(
            sp.account == account, sp.livemode == livemode,
            or_(and_(sp.start >= since, sp.start <= until), and_(sp.end >= since, sp.end <= until)),
        ).order_by(sp.customer)
    )
    return [r[0] for r in rows]


def customer_facts(conn: Connection, account: str, livemode: bool, customers: Sequence[str]) -> CustomerFacts:
    """The names, spans and churn events of ``customers`` (no payment failures: alerts
    do not read them)."""
    cus_t = table("customers")
    causes = {str(c): c for c in Cause}
    names: list[Customer] = []
    spans: list[MrrSpan] = []
    churns: list[ChurnEvent] = []
    for i in range(0, len(customers), _CHUNK):
        chunk = list(customers[i : i + _CHUNK])
        names += [Customer(id=r.id, name=r.name, currency=r.currency, deleted=r.deleted_at is not None)
                  for r in conn.execute(select(cus_t.c.id, cus_t.c.name, cus_t.c.currency, cus_t.c.deleted_at)
                                        .where(cus_t.c.account == account, cus_t.c.livemode == livemode,
                                               cus_t.c.id.in_(chunk)))]
        sp = SPANS.c
        spans += [MrrSpan(r.customer, r.subscription, r.item, r.price, r.currency, r.start, r.end, r.mrr,
                          r.contract_mrr, causes[r.cause])
                  for r in conn.execute(select(SPANS).where(sp.account == account, sp.livemode == livemode,
                                                            sp.customer.in_(chunk)).order_by(sp.customer, sp.start))]
        ch = CHURNS.c
        churns += [ChurnEvent(customer=r.customer, subscription=r.subscription, at=r.at, requested_at=r.requested_at,
                              kind=ChurnKind(r.kind), rule=r.rule, derived=bool(r.derived), reason=r.reason,
                              feedback=r.feedback, comment=None)  # the comment is personal data: never read
                   for r in conn.execute(select(CHURNS).where(ch.account == account, ch.livemode == livemode,
                                                              ch.customer.in_(chunk)))]
    return CustomerFacts(tuple(names), tuple(spans), tuple(churns), ())


def mrr_total_at(conn: Connection, account: str, livemode: bool, at: int) -> dict[str, int]:
    """The account's MRR in force at ``at``, per currency."""
    sp = SPANS.c
    rows = conn.execute(
        select(sp.currency, func.sum(sp.mrr)).where(
            sp.account == account, sp.livemode == livemode, sp.start <= at, or_(sp.end.is_(None), sp.end > at),
        ).group_by(sp.currency)
    )
    return {currency: int(total) for currency, total in rows if total}
