"""Helpers for end-to-end tests: a generated account behind the fake Stripe, synced."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from syncer.app.settings import Settings, load_settings
from syncer.app.usecases import SyncOutcome, sync_stripe
from syncer.db.engine import create_db_engine
from syncer.db.locks import advisory_key
from syncer.db.store import Store, table
from syncer.sandbox.fake_stripe import FakeStripe
from syncer.sandbox.generator import Account
from syncer.stripe.resources import RESOURCES

KEY = "sk_test_51SandboxE2eKey0000000000000000"
NOW = 1795000000  # 2026-11-18, a fixed "today" for generated accounts


def settings_for(fake: FakeStripe, database_url: str, **more: Any) -> Settings:
    return load_settings(
        _env_file=None,
        stripe_api_key=KEY,
        stripe_api_base=fake.base_url,
        database_url=database_url,
        stripe_max_rps=more.pop("stripe_max_rps", 1000),
        stripe_retry_budget_seconds=more.pop("stripe_retry_budget_seconds", 30),
        **more,
    )


def use_stripe(monkeypatch: Any, server: FakeStripe, key: str = KEY) -> None:
    """Point the CLI's STRIPE_API_KEY and STRIPE_API_BASE at ``server``."""
    monkeypatch.setenv("STRIPE_API_KEY", key)
    monkeypatch.setenv("STRIPE_API_BASE", server.base_url)


def sync(settings: Settings, store: Store, clock: float | None = None, **kw: Any) -> SyncOutcome:
    if clock is not None:
        kw["clock"] = lambda: clock
    return sync_stripe(settings, store, **kw)


def stored(store: Store, name: str, *, include_deleted: bool = False) -> dict[str, dict[str, Any]]:
    """id -> raw object of every stored row of a table."""
    t = table(name)
    q = select(t.c.id, t.c.raw)
    if not include_deleted:
        q = q.where(t.c.deleted_at.is_(None))
    with store.reading() as conn:
        return {i: json.loads(raw) for i, raw in conn.execute(q)}


def child_ids(store: Store, name: str, parent_column: str) -> dict[str, set[str]]:
    t = table(name)
    out: dict[str, set[str]] = {}
    with store.reading() as conn:
        for parent, cid in conn.execute(select(t.c[parent_column], t.c.id).where(t.c.deleted_at.is_(None))):
            out.setdefault(parent, set()).add(cid)
    return out


def truth_ids(account: Account, name: str) -> set[str]:
    objs: Iterable[dict[str, Any]] = account.events if name == "events" else account.objects(name)
    return {o["id"] for o in objs}


def assert_matches_truth(store: Store, account: Account, fake: FakeStripe) -> None:
    """Every object of the account is stored, exactly as the server renders it in a list."""
    for resource in RESOURCES:
        rows = stored(store, resource.name)
        assert set(rows) == truth_ids(account, resource.name), resource.name
        for obj in account.objects(resource.name):
            assert rows[obj["id"]] == fake.render_listed(resource.name, obj), (resource.name, obj["id"])
    lines = child_ids(store, "invoice_lines", "invoice")
    for inv in account.invoices:
        assert lines.get(inv["id"], set()) == {line["id"] for line in inv["lines"]["data"]}, inv["id"]
    items = child_ids(store, "subscription_items", "subscription")
    for sub in account.subscriptions:
        assert items.get(sub["id"], set()) == {i["id"] for i in sub["items"]["data"]}, sub["id"]
    cn_lines = child_ids(store, "credit_note_lines", "credit_note")
    for cn in account.credit_notes:
        assert cn_lines.get(cn["id"], set()) == {line["id"] for line in cn["lines"]["data"]}, cn["id"]


# ---- a real ``nrr sync`` process, killed and resumed ------------------------------------


def cli_env(fake: FakeStripe, database_url: str, **more: str) -> dict[str, str]:
    """The environment of an ``nrr sync`` subprocess against ``fake``; ``more`` are extra
    settings by their environment name (STRIPE_MAX_RPS="15", ...)."""
    return {
        **os.environ,
        "STRIPE_API_KEY": KEY,
        "STRIPE_API_BASE": fake.base_url,
        "DATABASE_URL": database_url,
        "STRIPE_MAX_RPS": "15",  # slow enough that a kill lands mid-sync
        "STRIPE_MAX_CONCURRENCY": "8",
        "LOG_FORMAT": "json",
        **more,
    }


def start_sync(env: dict[str, str], cwd: Path, prelude: str = "", args: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """``nrr sync [args]`` in a new process; ``prelude`` is Python run first (to patch a constant)."""
    argv = ["sync", *args]
    code = f"import sys; {prelude}; from syncer.app.cli import main; sys.argv = ['nrr', *{argv!r}]; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code] if prelude else [sys.executable, "-m", "syncer.app.cli", *argv], env=env, cwd=cwd,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def wait_for_run(engine: Engine, proc: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    """Wait until ``proc`` has recorded its run (it is past start-up); False if it ended first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with engine.connect() as conn:
                if conn.execute(text("SELECT 1 FROM sync_runs WHERE pid = :pid"), {"pid": proc.pid}).first():
                    return True
        except SQLAlchemyError:
            pass  # the schema is still being created by the first run
        time.sleep(0.05)
    return proc.poll() is None


def kill_at_random_moments(
    database_url: str, env: dict[str, str], cwd: Path, *, kills: int, rng: random.Random,
    max_seconds: float = 0.8,
) -> int:
    """Start ``nrr sync`` ``kills`` times and ``kill -9`` each at a random moment of its run;
    returns how many were killed before they finished by themselves."""
    landed = 0
    watcher = create_db_engine(database_url)
    try:
        for _ in range(kills):
            proc = start_sync(env, cwd)
            wait_for_run(watcher, proc)
            deadline = time.monotonic() + rng.uniform(0.1, max_seconds)
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                landed += 1
            proc.communicate(timeout=60)
    finally:
        watcher.dispose()
    return landed


def finish_sync(env: dict[str, str], cwd: Path, timeout: float = 300, prelude: str = "") -> tuple[int, str]:
    """Run ``nrr sync`` to its end: (exit code, stderr)."""
    proc = start_sync(env, cwd, prelude)
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err.decode(errors="replace")


def assert_one_line_errors(stderr: str) -> list[str]:
    """The CLI's failure output is ``nrr: error: ...`` lines, never a traceback; returns them."""
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("nrr: error: ")]
    assert errors, stderr[-3000:]
    return errors


# ---- another process holding the database's sync lock ------------------------------------


@contextmanager
def sync_lock_held_elsewhere(database_url: str, cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """A separate process holding ``database_url``'s sync lock until the block ends (or the
    test kills it); yields the process, whose pid the lock's label names."""
    code = (
        "import sys\n"
        "from syncer.db.engine import create_db_engine\n"
        "from syncer.db.locks import sync_lock\n"
        "with sync_lock(create_db_engine(sys.argv[1])):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.read()\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, database_url], cwd=cwd, env=os.environ,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        if holder.poll() is None:
            holder.communicate("", timeout=30)  # end of stdin: the lock is released


def advisory_lock_holders(engine: Engine, name: str) -> list[int]:
    """Backends holding this schema's advisory lock ``name`` (``syncer.db.locks``), seen
    from a connection of their own."""
    with engine.connect() as conn:
        database, schema = conn.execute(text("SELECT current_database(), current_schema()")).one()
        unsigned = advisory_key(name, database, schema) & 0xFFFF_FFFF_FFFF_FFFF
        return list(conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1"
            ),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
        ).scalars())
