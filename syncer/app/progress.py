"""Showing a sync's progress: rich bars on a terminal, periodic log lines otherwise."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any, Self

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn


def _day(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d") if ts else "-"


class RichProgress:
    """One line per resource: objects so far, requests/s overall, oldest date reached."""

    def __init__(self, console: Console, stats: Any) -> None:
        self._stats = stats
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskID] = {}
        self._counts: dict[str, int] = {}
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.fields[resource]:<18}"),
            TextColumn("{task.fields[objects]:>9,} objects"),
            TextColumn("reached {task.fields[reached]}"),
            TextColumn("{task.fields[rate]:>6.1f} req/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def _rate(self) -> float:
        elapsed = max(1e-6, time.monotonic() - self._started)
        return float(getattr(self._stats, "requests", 0)) / elapsed

    def page(self, resource: str, objects: int, reached: int | None) -> None:
        with self._lock:
            total = self._counts[resource] = self._counts.get(resource, 0) + objects
            task = self._tasks.get(resource)
            rate = self._rate()
            if task is None:
                self._tasks[resource] = self._progress.add_task(
                    "", total=None, resource=resource, objects=total, rate=rate, reached=_day(reached)
                )
            elif reached:
                self._progress.update(task, objects=total, rate=rate, reached=_day(reached))
            else:
                self._progress.update(task, objects=total, rate=rate)

    def resource_done(self, resource: str) -> None:
        with self._lock:
            task = self._tasks.get(resource)
            if task is None:
                task = self._tasks[resource] = self._progress.add_task(
                    "", total=None, resource=resource, objects=0, reached="-", rate=self._rate()
                )
            self._progress.update(task, total=1, completed=1, reached="done", rate=self._rate())


class LogProgress:
    """Plain structured log lines, at most one per resource every ``every`` seconds."""

    def __init__(self, log: Any, every: float = 10.0) -> None:
        self._log = log
        self._every = every
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def page(self, resource: str, objects: int, reached: int | None) -> None:
        with self._lock:
            total = self._counts[resource] = self._counts.get(resource, 0) + objects
            now = time.monotonic()
            if now - self._last.get(resource, 0.0) < self._every:
                return
            self._last[resource] = now
        self._log.info("sync.progress", resource=resource, objects=total, reached=_day(reached))

    def resource_done(self, resource: str) -> None:
        with self._lock:
            total = self._counts.get(resource, 0)
        self._log.info("sync.resource_listed", resource=resource, objects=total)
