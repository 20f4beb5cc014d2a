"""Turning fetched objects into rows, paging embedded lists to their end."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from syncer.db.store import Store
from syncer.projection import RowContext, embedded_list, project, project_child
from syncer.resources import Child, Resource
from syncer.sync.context import Api

PAGE_SIZE = 100


@dataclass
class Collected:
    """Rows per table, and for each parent the complete list of its children's ids."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    children: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    objects: int = 0

    def add(self, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        for name, batch in rows.items():
            self.rows[name].extend(batch)

    def write(self, store: Store, conn: Connection, *, account: str, livemode: bool, at: int) -> int:
        written = store.upsert_rows(conn, _dedupe(self.rows))
        for (child_table, parent_column), parents in self.children.items():
            store.mark_missing_children_deleted(
                conn, child_table, parent_column, parents, account=account, livemode=livemode, at=at
            )
        return written


PARENT_COLUMN = {"subscription_items": "subscription", "invoice_lines": "invoice", "credit_note_lines": "credit_note"}


def collect(
    api: Api, resource: Resource, objects: Iterable[Mapping[str, Any]], ctx: RowContext, out: Collected
) -> Collected:
    """Project ``objects`` into ``out``, fetching the rest of any truncated child list."""
    for obj in objects:
        out.add(project(resource.name, obj, ctx))
        out.objects += 1
        for child in resource.children:
            ids = _collect_children(api, resource, child, obj, ctx, out)
            if ids is not None:
                key = (child.table, PARENT_COLUMN[child.table])
                out.children.setdefault(key, {})[str(obj["id"])] = ids
    return out


def _collect_children(
    api: Api, resource: Resource, child: Child, obj: Mapping[str, Any], ctx: RowContext, out: Collected
) -> list[str] | None:
    """Ids of every child of ``obj``; None when the object carries no such list at all."""
    if not isinstance(obj.get(child.field), Mapping):
        return None
    data, has_more = embedded_list(obj, child.field)
    ids = [str(c["id"]) for c in data]
    parent_id = str(obj["id"])
    position = len(data)
    while has_more and ids:
        params: dict[str, Any] = {"limit": PAGE_SIZE, "starting_after": ids[-1]}
        if child.parent_param:
            params[child.parent_param] = parent_id
        page = api.fetch_list_page(child.path.format(id=parent_id), params, resource=resource.name)
        for c in page.data:
            out.add(project_child(child.table, parent_id, c, position, ctx))
            ids.append(str(c["id"]))
            position += 1
        has_more = page.has_more and bool(page.data)
    return ids


def _dedupe(rows: Mapping[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """One row per key in a batch (a discount appears on a subscription and its invoice);
    the newest wins, as in the database."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, batch in rows.items():
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in batch:
            key = (row["account"], row["livemode"], row["id"])
            old = seen.get(key)
            if old is None or row["synced_at"] >= old["synced_at"]:
                seen[key] = row
        out[name] = list(seen.values())
    return out
