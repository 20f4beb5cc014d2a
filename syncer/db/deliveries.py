"""The deliveries ledger table and its statements (policy lives in syncer.deliver.ledger).

One row per (account, month, channel, target). Every state change is a single guarded
statement (``INSERT … ON CONFLICT DO NOTHING`` or ``UPDATE … WHERE state = … AND
generation = …``) so two processes racing for the same row cannot both win: the loser's
statement matches no row and it learns so from the row count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, Table, Text, UniqueConstraint, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
STATES = (PENDING, SENDING, SENT, FAILED)


class Delivery(SQLModel, table=True):
    """One report sent (or being sent) to one target of one channel for one month."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("account", "month", "channel", "target", name="uq_deliveries_target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str
    # What was sent: a report's YYYY-MM (YYYY-MM/preliminary), or a movement alert
    # (alert/<customer>/<instant>), a weekly digest (digest/YYYY-Www) or the instant
    # alerts were enabled (alerts/since): syncer.app.alerting
    month: str
    channel: str  # email | slack
    target: str  # an email address, a Slack channel
    state: str  # pending | sending | sent | failed
    attempts: int = 0  # claims of the current generation
    generation: int = 1  # bumped by every ``--force`` re-send
    forced: bool = False  # the current generation was sent on purpose with --force
    last_error: str | None = None  # one line, never a secret
    snapshot: str = Field(default="{}", sa_type=Text)  # the frozen report sent (JSON)
    created_at: int = Field(sa_type=BigInteger)
    updated_at: int = Field(sa_type=BigInteger)  # also "claimed at" while sending
    sent_at: int | None = Field(default=None, sa_type=BigInteger)


def deliveries_table() -> Table:
    return Delivery.__table__  # type: ignore[attr-defined]


def get_delivery(conn: Connection, *, account: str, month: str, channel: str, target: str) -> Delivery | None:
    t = deliveries_table()
    row = conn.execute(
        select(t).where(t.c.account == account, t.c.month == month, t.c.channel == channel, t.c.target == target)
    ).mappings().first()
    return Delivery(**row) if row else None


def delivery_by_id(conn: Connection, row_id: int) -> Delivery | None:
    t = deliveries_table()
    row = conn.execute(select(t).where(t.c.id == row_id)).mappings().first()
    return Delivery(**row) if row else None


def recent_deliveries(conn: Connection, limit: int) -> tuple[list[Delivery], int]:
    """The ``limit`` most recently changed rows without their snapshots (an e-mail's is
    tens of kB), and how many rows there are in all."""
    t = deliveries_table()
    columns = [c for c in t.c if c.name != "snapshot"]
    rows = conn.execute(select(*columns).order_by(t.c.updated_at.desc(), t.c.id.desc()).limit(limit)).mappings()
    total = conn.execute(select(func.count()).select_from(t)).scalar_one()
    return [Delivery(**r) for r in rows], int(total)


def list_deliveries(
    conn: Connection, *, account: str | None = None, month: str | None = None, month_prefix: str | None = None,
) -> list[Delivery]:
    t = deliveries_table()
    q = select(t).order_by(t.c.month, t.c.channel, t.c.target)
    if account is not None:
        q = q.where(t.c.account == account)
    if month is not None:
        q = q.where(t.c.month == month)
    if month_prefix is not None:
        q = q.where(t.c.month.startswith(month_prefix, autoescape=True))
    return [Delivery(**r) for r in conn.execute(q).mappings()]


def insert_sending(
    conn: Connection, *, account: str, month: str, channel: str, target: str, snapshot_json: str, now: int, forced: bool
) -> bool:
    """Create the row already in ``sending``; False when a row exists (someone else's)."""
    t = deliveries_table()
    values: Mapping[str, Any] = {
        "account": account, "month": month, "channel": channel, "target": target, "state": SENDING,
        "attempts": 1, "generation": 1, "forced": forced, "last_error": None, "snapshot": snapshot_json,
        "created_at": now, "updated_at": now, "sent_at": None,
    }
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    stmt = dialect.insert(t).values(**values).on_conflict_do_nothing(
        index_elements=["account", "month", "channel", "target"]
    ).returning(t.c.id)
    # RETURNING, not rowcount: psycopg reports no row count for this statement.
    return conn.execute(stmt).first() is not None


def transition(
    conn: Connection, row: Delivery, *, from_states: tuple[str, ...], values: Mapping[str, Any]
) -> bool:
    """Move ``row`` on only if it is still as we read it (same state, generation, update time).

    False means another process changed it first: the caller lost the race.
    """
    t = deliveries_table()
    result = conn.execute(
        update(t)
        .where(
            t.c.id == row.id,
            t.c.state.in_(from_states),
            t.c.state == row.state,
            t.c.generation == row.generation,
            t.c.updated_at == row.updated_at,
            t.c.attempts == row.attempts,
        )
        .values(**values)
    )
    return (result.rowcount or 0) == 1


def finish(conn: Connection, *, row_id: int, generation: int, values: Mapping[str, Any]) -> bool:
    """Record the outcome of a send we claimed; False if the claim was taken from us."""
    t = deliveries_table()
    result = conn.execute(
        update(t)
        .where(t.c.id == row_id, t.c.generation == generation, t.c.state == SENDING)
        .values(**values)
    )
    return (result.rowcount or 0) == 1
