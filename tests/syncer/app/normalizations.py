"""Normalizations seen from outside: the facts an account has stored (to compare two
runs' results), and a normalization in another process that pauses midway."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from sqlalchemy import select

from syncer.app.accounts import AccountRef
from syncer.app.normalizing import Target
from syncer.db.engine import create_db_engine
from syncer.db.facts_store import CHURNS, FAILURES, REVENUE, SPANS
from syncer.db.store import Store
from syncer.normalize.model import NormalizeSettings


def fact_rows(store: Store, ref: AccountRef) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored fact of the account, as sorted rows without their ids."""
    out = {}
    with store.reading() as conn:
        for t in (SPANS, CHURNS, REVENUE, FAILURES):
            columns = [c for c in t.columns if c.name != "id"]
            out[t.name] = sorted(conn.execute(select(*columns).where(
                t.c.account == ref.account, t.c.livemode == ref.livemode)).all(), key=repr)
    return out


@contextmanager
def paused_after_first_batch(database_url: str, target: Target, norm: NormalizeSettings, clock: int,
                             tmp_path: Path, *, pause_seconds: float) -> Iterator[BaseProcess]:
    """A normalization in a child process, in batches of two customers; the block runs
    once its first batch is written, while it pauses ``pause_seconds`` with its
    transaction open before going on. The child is joined after the block (kill it in
    the block to end it sooner)."""
    started = tmp_path / "normalization-started"
    child = multiprocessing.get_context("spawn").Process(
        target=_normalize_pausing, args=(database_url, target, norm, clock, str(started), pause_seconds))
    child.start()
    try:
        for _ in range(600):
            if started.exists() or not child.is_alive():
                break
            time.sleep(0.1)
        assert started.exists(), "the child never wrote a batch"
        yield child
    finally:
        child.join(60 + pause_seconds)


def _normalize_pausing(url: str, target: Target, norm: NormalizeSettings, clock: int, started: str,
                       pause_seconds: float) -> None:
    import time as time_module

    from syncer.app import normalizing
    from syncer.db import raw_loader as loader

    loader.BATCH_CUSTOMERS = 2
    normalizing.BATCH_CUSTOMERS = 2
    write = normalizing._write

    def write_then_pause(*args: Any, **kwargs: Any) -> bool:
        kept = write(*args, **kwargs)
        if not Path(started).exists():
            Path(started).touch()
            time_module.sleep(pause_seconds)
        return kept

    normalizing._write = write_then_pause  # type: ignore[assignment]
    store = Store(create_db_engine(url))
    normalizing.normalize_target(store, target, norm, as_of=clock, now=clock)
