"""Truncated child lists: the rest of every long invoice on a page is fetched side by
side, and what is stored is the same as fetching them one after the other."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from syncer.stripe.resources import BY_NAME
from syncer.sync.collect import ChildRows, Collected, collect, run_in_turn
from syncer.sync.context import Target
from syncer.sync.projection import RowContext

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
CTX = RowContext(account="acct_1", livemode=False, api_version="2026-10-28.endive", synced_at=1_795_000_000)


class Page:
    def __init__(self, data: list[dict[str, Any]], has_more: bool) -> None:
        self.data, self.has_more = data, has_more


class Lines:
    """Serves each invoice's lines after the first, ``per_page`` at a time."""

    api_version = CTX.api_version

    def __init__(self, lines: dict[str, list[dict[str, Any]]], per_page: int = 100) -> None:
        self.lines, self.per_page = lines, per_page
        self.asked: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def fetch_list_page(self, path: str, params: dict[str, Any], *, resource: str,
                        retry_budget: float | None = None) -> Page:
        invoice = path.split("/")[3]
        with self.lock:
            self.asked.append((invoice, params["starting_after"]))
        ids = [line["id"] for line in self.lines[invoice]]
        start = ids.index(params["starting_after"]) + 1
        rest = self.lines[invoice][start:start + self.per_page]
        return Page(rest, start + self.per_page < len(ids))

    def fetch_object(self, path: str, *, resource: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        raise AssertionError(f"not asked here: {path}")


def _invoice(invoice_id: str, lines: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An invoice with ``lines`` lines, the first embedded (the list says it goes on)."""
    invoice = json.loads((FIXTURES / "invoice.json").read_text(encoding="utf-8"))
    line = invoice["lines"]["data"][0]
    all_lines = []
    for n in range(lines):
        copy_ = copy.deepcopy(line)
        copy_["id"] = f"il_{invoice_id}_{n}"
        all_lines.append(copy_)
    invoice.update(id=invoice_id)
    invoice["lines"] = {"object": "list", "data": all_lines[:1], "has_more": lines > 1,
                        "url": f"/v1/invoices/{invoice_id}/lines"}
    return invoice, all_lines


def _page_of_invoices() -> tuple[list[dict[str, Any]], Lines]:
    invoices, lines = {}, {}
    for invoice_id, count in (("in_a", 3), ("in_b", 1), ("in_c", 5), ("in_d", 2)):
        invoices[invoice_id], lines[invoice_id] = _invoice(invoice_id, count)
    return list(invoices.values()), Lines(lines, per_page=2)


def test_the_rest_of_each_long_invoice_is_asked_for_at_once_and_stored_as_if_in_turn() -> None:
    page, api = _page_of_invoices()
    in_turn = collect(Target("acct_1", False, api), BY_NAME["invoices"], page, CTX, Collected())

    batches: list[int] = []
    side_api = Lines(api.lines, per_page=2)
    pool = ThreadPoolExecutor(max_workers=4)

    def side_by_side(calls: Sequence[Callable[[], ChildRows]]) -> list[ChildRows]:
        batches.append(len(calls))
        return list(pool.map(lambda call: call(), calls))

    with pool:
        together = collect(Target("acct_1", False, side_api), BY_NAME["invoices"], page, CTX, Collected(),
                           run_all=side_by_side)
    assert batches == [3]  # in_a, in_c and in_d go on; in_b is whole
    assert sorted(side_api.asked) == sorted(api.asked)
    # in_c's 4 more lines take two pages of 2, one after the other.
    assert [a for a in side_api.asked if a[0] == "in_c"] == [("in_c", "il_in_c_0"), ("in_c", "il_in_c_2")]
    assert dict(together.rows) == dict(in_turn.rows)
    assert together.children == in_turn.children
    assert together.children[("invoice_lines", "invoice")]["in_c"] == [f"il_in_c_{n}" for n in range(5)]


def test_in_turn_runs_each_call_in_order() -> None:
    assert run_in_turn([lambda: 1, lambda: 2]) == [1, 2]
