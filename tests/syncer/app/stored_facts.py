"""The facts an account has stored, to compare two normalizations' results."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from syncer.app.reporting import AccountRef
from syncer.db.facts_store import CHURNS, FAILURES, REVENUE, SPANS
from syncer.db.store import Store


def fact_rows(store: Store, ref: AccountRef) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored fact of the account, as sorted rows without their ids."""
    out = {}
    with store.reading() as conn:
        for t in (SPANS, CHURNS, REVENUE, FAILURES):
            columns = [c for c in t.columns if c.name != "id"]
            out[t.name] = sorted(conn.execute(select(*columns).where(
                t.c.account == ref.account, t.c.livemode == ref.livemode)).all(), key=repr)
    return out
