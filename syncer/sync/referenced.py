"""Objects the lists cannot give, fetched one by one after them.

Stripe lists only what exists now, yet what was listed still names what no longer
does: an ended subscription its deleted customer, a discount its deleted coupon. Both
are few (usually none), so each is fetched by id:

* a customer deleted before the first backfill: ``GET /v1/customers/{id}`` answers its
  tombstone (``"deleted": true``), stored so reports can name it as deleted;
* an item's discount whose coupon was deleted: the listing expanded the discount but
  not its coupon (four levels deep already), so the item is fetched with
  ``discounts.source.coupon`` expanded (three levels from a retrieved object).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from syncer.app.logging import get_logger
from syncer.errors import StripeNotFound
from syncer.stripe.resources import BY_NAME, endpoint_of
from syncer.stripe.shapes import customer_of, line_details, ref
from syncer.sync.collect import Collected, fetch_expanded
from syncer.sync.context import SyncContext, Target
from syncer.sync.projection import has_coupon_terms, project, project_discounts

log = get_logger(__name__)

_COUPON = ("discounts", "discounts.source.coupon")


def fetch_unlisted_customers(
    ctx: SyncContext, target: Target, prefetched: Mapping[str, dict[str, Any] | None] | None = None
) -> int:
    """Fetch and store every customer that subscriptions or invoices name but the
    customer list did not give; returns how many were stored. One that Stripe cannot
    find at all is logged and left out (the next backfill asks again). ``prefetched``:
    what the backfill already fetched by id (None: not found), not asked again."""
    with ctx.store.reading() as conn:
        missing = ctx.store.unlisted_customers(conn, account=target.account, livemode=target.livemode)
    if not missing:
        return 0
    customers = BY_NAME["customers"]
    known = prefetched or {}

    def fetch(cid: str) -> dict[str, Any] | None:
        return known[cid] if cid in known else fetch_or_none(target, customers.retrieve(cid), "customers")

    with ThreadPoolExecutor(max_workers=ctx.concurrency, thread_name_prefix="customers") as pool:
        fetched = list(pool.map(fetch, missing))
    collected = Collected()
    row_ctx = ctx.row_context(target)
    for cid, obj in zip(missing, fetched, strict=True):
        if obj is None:
            log.warning("sync.customer_not_found", customer=cid,
                        why="named by its subscriptions or invoices, but Stripe has no such customer")
            continue
        collected.add(project("customers", obj, row_ctx))
        collected.objects += 1
    _write(ctx, target, collected)
    return collected.objects


def fetch_deleted_coupons(ctx: SyncContext, target: Target) -> int:
    """Store, with their coupon expanded, the item discounts whose coupon is known
    nowhere else; returns how many discounts were stored with their coupon."""
    with ctx.store.reading() as conn:
        wanted = ctx.store.discounts_without_coupon(conn, account=target.account, livemode=target.livemode)
    holders = sorted({("subscription_items", si) if si else ("invoice_items", str(ii)) for _, si, ii in wanted})
    if not holders:
        return 0
    with ThreadPoolExecutor(max_workers=ctx.concurrency, thread_name_prefix="discounts") as pool:
        fetched = list(pool.map(lambda h: _fetch_holder(ctx, target, *h), holders))
    collected = Collected()
    row_ctx = ctx.row_context(target)
    ids = {did for did, _, _ in wanted}
    for (kind, holder_id), obj in zip(holders, fetched, strict=True):
        if obj is None:
            log.warning("sync.coupon_unknown", holder=holder_id,
                        why="a discount's coupon was deleted and its item can no longer be read")
            continue
        if kind == "subscription_items":
            links = {"subscription": ref(obj.get("subscription")), "subscription_item": holder_id}
        else:
            links = {"customer": customer_of(obj), "invoice_item": holder_id}
        rows = project_discounts(obj.get("discounts") or [], links, row_ctx, owned=tuple(links))["discounts"]
        # Only the discounts asked for, and only when the coupon did come expanded: a row
        # without it would be no better than the one stored.
        collected.add({"discounts": [r for r in rows if r["id"] in ids and has_coupon_terms(r)]})
    _write(ctx, target, collected)
    return len(collected.rows["discounts"])


def _fetch_holder(ctx: SyncContext, target: Target, kind: str, holder_id: str) -> dict[str, Any] | None:
    """The item (or invoice item) with its discounts' coupons expanded. An ended
    subscription's item is deleted: its discounts are then read off the lines of the
    latest invoice that billed it, whose page expands them just as deep."""
    path = f"/v1/subscription_items/{holder_id}" if kind == "subscription_items" else BY_NAME[kind].retrieve(holder_id)
    resource = "subscriptions" if kind == "subscription_items" else kind
    try:
        return fetch_expanded(lambda p: target.api.fetch_object(path, resource=resource, params=p), {}, _COUPON,
                              target=target, endpoint=endpoint_of(path))
    except StripeNotFound:
        if kind != "subscription_items":
            return None
    with ctx.store.reading() as conn:
        invoice = ctx.store.latest_invoice_billing(conn, holder_id, account=target.account, livemode=target.livemode)
    if invoice is None:
        return None
    lines_path = BY_NAME["invoices"].children[0].path.format(id=invoice)
    try:
        page = fetch_expanded(
            lambda p: target.api.fetch_list_page(lines_path, p, resource="invoices"), {"limit": 100},
            [f"data.{e}" for e in _COUPON], target=target, endpoint=endpoint_of(lines_path),
        )
    except StripeNotFound:
        return None
    discounts = [d for line in page.data for d in line.get("discounts") or [] if isinstance(d, dict)]
    billed = [details for line in page.data if (details := line_details(line)[0]).get("subscription_item") == holder_id]
    subscription = ref(billed[0].get("subscription")) if billed else None
    return {"id": holder_id, "object": "subscription_item", "subscription": subscription, "discounts": discounts}


def fetch_or_none(target: Target, path: str, resource: str) -> dict[str, Any] | None:
    try:
        return target.api.fetch_object(path, resource=resource)
    except StripeNotFound:
        return None


def _write(ctx: SyncContext, target: Target, collected: Collected) -> None:
    if not any(collected.rows.values()):
        return
    with ctx.store.transaction() as conn:
        collected.write(ctx.store, conn, account=target.account, livemode=target.livemode, at=ctx.now())
