"""What ``nrr status`` shows: last runs, cursor age and object counts per resource."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from syncer.db.facts_store import RUNS
from syncer.db.store import Store
from syncer.stripe.resources import CHILD_TABLES, EVENTS, RESOURCES


def iso(ts: int | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None


def collect_status(store: Store, now: int, runs: int = 5, *,
                   counts: Mapping[str, tuple[int, int]] | None = None) -> dict[str, Any]:
    """``nrr status``'s document; ``counts`` are ``row_counts``' if already known (they
    read every table: the dashboard keeps them per sync run)."""
    states: dict[str, list[Any]] = {}
    for st in store.states():
        states.setdefault(st.resource, []).append(st)
    resources: dict[str, Any] = {}
    counted = counts if counts is not None else row_counts(store)
    for name, (live, deleted) in counted.items():
        entry: dict[str, Any] = {"count": live, "deleted": deleted}
        per_account = states.get(name)
        if per_account:
            # Listed when listed for every account; as of the oldest of those lists.
            done = [st.completed_at for st in per_account]
            entry["listed"] = all(d is not None for d in done)
            entry["listed_at"] = iso(min(d for d in done if d is not None)) if entry["listed"] else None
            entry["generation"] = max(st.generation for st in per_account)
        resources[name] = entry
    cursors = [
        {
            "account": c.account,
            "livemode": c.livemode,
            "cursor": iso(c.cursor),
            "age_seconds": now - c.cursor,
        }
        for c in store.cursors()
    ]
    recent = store.recent_runs(runs)
    for r in recent:
        r["started_at"] = iso(r["started_at"])
        r["finished_at"] = iso(r["finished_at"])
    last_ok = store.last_successful_run()
    return {
        "resources": resources,
        "event_cursors": cursors,
        "last_success": iso(last_ok["finished_at"]) if last_ok else None,
        "runs": recent,
        "facts": _facts(store),
    }


def row_counts(store: Store) -> dict[str, tuple[int, int]]:
    """Each synced table's rows of every account, (not deleted, deleted), in resource order."""
    with store.reading() as conn:
        return {name: store.count_live_and_deleted(conn, name)
                for name in [*(r.name for r in RESOURCES), EVENTS.name, *CHILD_TABLES]}


def _facts(store: Store) -> list[dict[str, Any]]:
    """Per account: when its facts were last brought up to date, from data as of when,
    how (full or incremental) and for how many customers."""
    with store.reading() as conn:
        rows = conn.execute(select(RUNS).order_by(RUNS.c.account, RUNS.c.livemode)).mappings().all()
    return [
        {
            "account": r["account"], "livemode": bool(r["livemode"]), "updated_at": iso(r["finished_at"]),
            "data_as_of": iso(r["data_as_of"]), "kind": r["kind"] or "full",
            "customers_updated": r["customers_updated"] if r["kind"] == "incremental" else r["customers"],
            "customers": r["customers"], "last_full": iso(r["full_at"]),
        }
        for r in rows
    ]
