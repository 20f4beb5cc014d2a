"""Leader election: only one ``nrr run`` process runs the scheduled jobs.

Every replica asks for the same lock, the database's ``leader`` lock (``syncer.db.locks``:
a PostgreSQL advisory lock, or ``flock`` on ``<database>.leader``, gone with its holder
however it dies). The one that gets it leads; the others keep asking and take over once
the leader is gone. A replica that cannot reach the database does not lead and asks again.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from syncer.db.locks import LEADER, DatabaseLock, lock_for

LeaderLock = DatabaseLock


def leader_lock_for(engine: Engine) -> LeaderLock:
    """The leader lock of the database behind *engine*; does not connect yet."""
    return lock_for(engine, LEADER)
