"""The backfill's group-committing writer: order, grouping, and failure handling."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from syncer.db.store import Store
from syncer.errors import DatabaseUnavailable
from syncer.sync.writer import GroupWriter


def _table(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))


def _rows(store: Store) -> list[int]:
    with store.reading() as conn:
        return [r[0] for r in conn.execute(text("SELECT n FROM t ORDER BY n"))]


def test_writes_are_applied_in_the_order_submitted_and_committed(store: Store) -> None:
    _table(store)
    seen: list[int] = []

    def write(n: int) -> Callable[[Connection], None]:
        def apply(conn: Connection) -> None:
            seen.append(n)
            conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        return apply

    with GroupWriter(store, max_group=4) as writer:
        futures = [writer.submit(write(n)) for n in range(50)]
    assert seen == list(range(50))
    assert all(f.done() and f.exception() is None for f in futures)
    assert _rows(store) == list(range(50))


def test_a_failed_group_fails_every_write_in_it_and_runs_their_error_hooks(store: Store) -> None:
    _table(store)
    gate, holding = threading.Event(), threading.Event()
    failed: list[int] = []

    def hold(conn: Connection) -> None:
        holding.set()
        gate.wait(5)  # the next writes queue up behind it, and form the next group

    def boom(conn: Connection) -> None:
        conn.execute(text("INSERT INTO no_such_table VALUES (1)"))

    with GroupWriter(store, max_group=16) as writer:
        first = writer.submit(hold)
        assert holding.wait(5)
        good = writer.submit(lambda conn: conn.execute(text("INSERT INTO t VALUES (1)")),
                             on_error=lambda: failed.append(1))
        bad = writer.submit(boom, on_error=lambda: failed.append(2))
        gate.set()
        bad.exception(timeout=5)  # that group is over; the next write starts a new one
        later = writer.submit(lambda conn: conn.execute(text("INSERT INTO t VALUES (3)")))
    assert first.exception() is None
    # The group holding the failing write rolled back as a whole: row 1 is not there.
    assert isinstance(good.exception(), DatabaseUnavailable) and isinstance(bad.exception(), DatabaseUnavailable)
    assert sorted(failed) == [1, 2]
    assert later.exception() is None and _rows(store) == [3]


def test_close_applies_everything_submitted_before(store: Store) -> None:
    _table(store)
    writer = GroupWriter(store)
    for n in range(10):
        writer.submit(lambda conn, n=n: conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": n}))
    writer.close()
    assert len(_rows(store)) == 10


def test_submit_after_close_is_refused(store: Store) -> None:
    writer = GroupWriter(store)
    writer.close()
    with pytest.raises(RuntimeError, match="closed"):
        writer.submit(lambda conn: None)
