"""One database writer for the backfill, committing pages in groups.

The fetchers hand over ``(conn) -> None`` writes; one thread applies them in the order
they were handed over, several per transaction. Order matters: a page's checkpoint must
follow its rows, a split window must be inserted before its first page's checkpoint, a
resource is marked complete after its last page. Grouping matters because on SQLite a
commit costs about as much as writing a page of rows, and there is one writer at a time.

If a group's transaction fails, every write in it fails (their futures raise): none of
those pages is recorded as done, so a later run fetches them again.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Self

from sqlalchemy.engine import Connection

from syncer.db.store import Store

Write = Callable[[Connection], None]
# Enough to amortise a commit; small enough that a crash re-fetches little.
MAX_GROUP = 16


class GroupWriter:
    """A single writer thread; ``submit`` returns a future that completes once committed."""

    def __init__(self, store: Store, *, max_group: int = MAX_GROUP) -> None:
        self._store = store
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="backfill-writer", daemon=True)
        self._thread.start()

    def submit(self, write: Write, *, on_error: Callable[[], None] | None = None) -> Future[None]:
        """Queue ``write``; ``on_error`` runs in the writer thread, before any later write,
        if its group fails (so a later write can tell)."""
        if self._closed:
            raise RuntimeError("the backfill writer is closed; nothing would apply this write")
        fut: Future[None] = Future()
        self._queue.put(_Item(write, fut, on_error))
        return fut

    def close(self) -> None:
        """Apply everything submitted so far, then stop the thread."""
        self._closed = True
        self._queue.put(None)
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                return
            group: list[_Item] = [item]
            while len(group) < self._max_group:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.append(more)
            self._commit(group)

    def _commit(self, group: list[_Item]) -> None:
        try:
            with self._store.transaction() as conn:
                for item in group:
                    item.write(conn)
        except BaseException as exc:  # noqa: BLE001  handed to every waiter, not lost
            for item in group:
                if item.on_error is not None:
                    item.on_error()
                item.future.set_exception(exc)
            return
        for item in group:
            item.future.set_result(None)


@dataclass(frozen=True)
class _Item:
    write: Write
    future: Future[None]
    on_error: Callable[[], None] | None
