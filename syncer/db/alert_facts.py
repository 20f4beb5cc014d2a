"""Reading the facts that movement alerts need: only the customers whose MRR changed in a
window, and the account's MRR at an instant (the alert threshold's base).

A tick looks at a few days of changes, so it must not read every customer's facts the
way a report does: the customers with a span starting or ending in the window are found
first (one pass over the account's spans), then only their facts are read
(``facts_store.customer_facts``).
"""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from syncer.db.facts_store import SPANS


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


def mrr_total_at(conn: Connection, account: str, livemode: bool, at: int) -> dict[str, int]:
    """The account's MRR in force at ``at``, per currency."""
    sp = SPANS.c
    rows = conn.execute(
        select(sp.currency, func.sum(sp.mrr)).where(
            sp.account == account, sp.livemode == livemode, sp.start <= at, or_(sp.end.is_(None), sp.end > at),
        ).group_by(sp.currency)
    )
    return {currency: int(total) for currency, total in rows if total}
