"""Secondary indexes that a first backfill builds once at the end instead of row by row.

Each row a backfill writes goes into its table's primary key and into up to four
secondary indexes (customer, invoice, payment intent…), each at a scattered place. Once
the database outgrows SQLite's page cache, every commit reads and rewrites index pages
all over the file, and the one writer holds the fetchers back a large part of the
time. Building an index from the finished table is one sorted pass, a few seconds for
all of them on a medium account.

So a sync that starts on empty object tables drops these indexes and builds them when
the run ends. An index only makes reads faster, never different: a run that crashes or
is stopped leaves them missing, the backfill it resumes stays fast, and whichever comes
first, the next sync's end or a normalization, builds them.

Kept during the backfill: the indexes that find a parent's children (an invoice's
lines…), which the writer itself reads for every page to mark removed children.
A migration that alters one of the deferred indexes must tolerate its absence
(``if_exists``): it may run on a database whose first backfill was interrupted.
"""

from __future__ import annotations

from sqlalchemy import Index, select, text
from sqlalchemy.engine import Connection

from syncer.db.engine import page_cache_of
from syncer.db.objects import OBJECT_TABLES
from syncer.stripe.resources import CHILD_PARENT_COLUMN

# SQLite sorts an index's keys in up to a page cache's worth of memory before spilling to
# a temporary file: with the sync's large cache the build raised the sync's peak memory;
# with 4 MB it adds nothing to the peak and is no slower.
BUILD_SQLITE_CACHE_KIB = 4 * 1024


def deferrable_indexes() -> list[Index]:
    """The secondary indexes of the object tables the backfill's writer never reads."""
    kept = set(CHILD_PARENT_COLUMN.items())
    out = []
    for name, model in OBJECT_TABLES.items():
        for ix in model.__table__.indexes:  # type: ignore[attr-defined]
            columns = [c.name for c in ix.columns]
            if not (len(columns) == 1 and (name, columns[0]) in kept):
                out.append(ix)
    return sorted(out, key=lambda ix: str(ix.name))


def existing_index_names(conn: Connection) -> set[str]:
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))
    else:
        rows = conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
    return {str(name) for (name,) in rows}


def missing_indexes(conn: Connection) -> list[Index]:
    present = existing_index_names(conn)
    return [ix for ix in deferrable_indexes() if ix.name not in present]


def object_tables_empty(conn: Connection) -> bool:
    return all(
        conn.execute(select(model.__table__.c.id).limit(1)).first() is None  # type: ignore[attr-defined]
        for model in OBJECT_TABLES.values()
    )


def drop_if_first_backfill(conn: Connection) -> list[str]:
    """Drop the deferrable indexes when no object has been stored yet; their names."""
    if not object_tables_empty(conn):
        return []
    present = existing_index_names(conn)
    dropped = []
    for ix in deferrable_indexes():
        if ix.name in present:
            ix.drop(conn)
            dropped.append(str(ix.name))
    return dropped


def build_missing(conn: Connection) -> list[str]:
    """Create every deferrable index that is missing; their names."""
    built = []
    with page_cache_of(conn, BUILD_SQLITE_CACHE_KIB):
        for ix in missing_indexes(conn):
            ix.create(conn)
            built.append(str(ix.name))
    return built
