"""Tables the sync keeps about itself: runs, per-resource state, windows, cursors."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel


class SyncRun(SQLModel, table=True):
    """One ``nrr sync`` (or daemon tick): what it did and how it ended."""

    __tablename__ = "sync_runs"

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # "sync" | "full"
    status: str = Field(index=True)  # running | success | failed | interrupted
    started_at: int = Field(sa_type=BigInteger)
    finished_at: int | None = Field(default=None, sa_type=BigInteger)
    pid: int | None = None
    resources: str = Field(default="[]", sa_type=Text)  # JSON list of names
    counts: str = Field(default="{}", sa_type=Text)  # JSON {resource: objects written}
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    errors: str = Field(default="[]", sa_type=Text)  # JSON list of one-line messages


class SyncState(SQLModel, table=True):
    """Where the backfill (list) of one resource of one account stands."""

    __tablename__ = "sync_state"

    account: str = Field(primary_key=True)
    livemode: bool = Field(primary_key=True)
    resource: str = Field(primary_key=True)
    generation: int = 0  # bumped by every re-list (``--full``, expired events)
    listed_from: int = Field(default=0, sa_type=BigInteger)  # lower bound of the list
    listed_until: int = Field(default=0, sa_type=BigInteger)  # upper bound (exclusive)
    started_at: int | None = Field(default=None, sa_type=BigInteger)
    completed_at: int | None = Field(default=None, sa_type=BigInteger)


class BackfillWindow(SQLModel, table=True):
    """A slice ``[start, end)`` of ``created`` times of one resource, paged to the end.

    A window is done only when its last page said ``has_more: false``. Windows of a
    generation tile the resource's whole range, so all done means nothing was missed.
    """

    __tablename__ = "backfill_windows"
    __table_args__ = (
        Index("ix_backfill_windows_open", "account", "livemode", "resource", "generation", "done"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str
    livemode: bool
    resource: str
    generation: int
    start: int = Field(sa_type=BigInteger)
    end: int = Field(sa_type=BigInteger)
    cursor: str | None = None  # ``starting_after`` for the next page
    done: bool = False
    pages: int = 0
    objects: int = 0


class EventCursor(SQLModel, table=True):
    """Events up to ``cursor`` (epoch seconds) have been applied for an account."""

    __tablename__ = "event_cursors"

    account: str = Field(primary_key=True)
    livemode: bool = Field(primary_key=True)
    cursor: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)


class StripeAccount(SQLModel, table=True):
    """The Stripe account behind the key (and each connected account synced)."""

    __tablename__ = "accounts"

    account: str = Field(primary_key=True)
    livemode: bool = Field(primary_key=True)
    is_platform: bool = False  # the key's own account, not a connected one
    name: str | None = None
    default_currency: str | None = None
    created: int | None = Field(default=None, sa_type=BigInteger)
    raw: str = Field(default="{}", sa_type=Text)
    synced_at: int = Field(sa_type=BigInteger)


class ChangeCounter(SQLModel, table=True):
    """The number of the last change written to the object tables (one row).

    Each transaction that alters object rows takes the next number and stamps the rows
    with it (``changed``). Taking it locks this row until the transaction ends, so
    numbers commit in order: whoever reads number N sees every change up to N."""

    __tablename__ = "change_counter"

    id: int = Field(default=1, primary_key=True)
    last: int = Field(default=0, sa_type=BigInteger)
