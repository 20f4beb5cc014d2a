"""The record of every request the fake answered (never the API key)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    """One request as the fake saw it (never the API key).

    ``headers`` holds the Stripe headers that were sent (``Stripe-Version``,
    ``Stripe-Account``), under those names.
    """

    method: str
    path: str
    query: str
    params: Mapping[str, Any]
    headers: Mapping[str, str]
    status: int
    fault: str | None

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("Stripe-Version")

    @property
    def stripe_account(self) -> str | None:
        return self.headers.get("Stripe-Account")


class RequestLog:
    """Thread-safe record of every request, with counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self.by_status: Counter[int] = Counter()
        self.by_method: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self.by_status[record.status] += 1
            self.by_method[record.method] += 1
            if record.fault:
                self.faults[record.fault] += 1

    def records(self) -> list[RequestRecord]:
        """A copy of every record so far, oldest first."""
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def count(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> int:
        return sum(
            1
            for r in self.records()
            if (method is None or r.method == method)
            and (path is None or r.path == path)
            and (path_prefix is None or r.path.startswith(path_prefix))
            and (status is None or r.status == status)
        )

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.by_status.clear()
            self.by_method.clear()
            self.faults.clear()
