"""The registry of what is synced: expansions Stripe accepts, test clocks' listings."""

from __future__ import annotations

from syncer.stripe.resources import (
    BY_NAME,
    CLOCK_SCOPE,
    MAX_EXPAND_DEPTH,
    RESOURCES,
    clock_listings,
    expand_depth,
)


def test_every_expansion_stays_within_stripes_four_levels_listed_retrieved_and_paged() -> None:
    listed = [e for r in RESOURCES for e in r.expand]
    paged = [e for r in RESOURCES for c in r.children for e in c.expand]
    retrieved = [e.removeprefix("data.") for e in listed]  # events re-read objects by id
    assert max(map(expand_depth, [*listed, *paged])) == MAX_EXPAND_DEPTH == 4
    assert max(map(expand_depth, retrieved)) == 3
    assert all(e.startswith("data.") for e in [*listed, *paged])


def test_item_and_line_discounts_are_expanded_and_their_coupons_where_the_depth_allows() -> None:
    subs, invoices = BY_NAME["subscriptions"], BY_NAME["invoices"]
    assert {"data.discounts.source.coupon", "data.items.data.discounts"} <= set(subs.expand)
    assert {"data.discounts.source.coupon", "data.lines.data.discounts"} <= set(invoices.expand)
    # Five levels would be refused: the item's coupon is fetched from the item instead.
    assert "data.items.data.discounts.source.coupon" not in subs.expand
    for parent in (subs, invoices):
        (child,) = parent.children
        assert "data.discounts.source.coupon" in child.expand


def test_a_test_clock_lists_its_customers_and_subscriptions_under_their_own_checkpoint() -> None:
    listings = clock_listings("clock_1", 1_700_000_000, list(RESOURCES))
    assert [(r.name, r.scope, r.listing, r.windowed) for r in listings] == [
        ("customers", {"test_clock": "clock_1"}, "customers@test_clock=clock_1@1700000000", False),
        ("subscriptions", {"test_clock": "clock_1"}, "subscriptions@test_clock=clock_1@1700000000", False),
    ]
    # Same expansions and filters as the plain lists, so the rows are the same shape.
    assert listings[1].expand == BY_NAME["subscriptions"].expand
    assert listings[1].params == {"status": "all"}
    assert BY_NAME["customers"].listing == "customers"
    # A clock moved on is another listing: its objects are listed again.
    assert clock_listings("clock_1", 1_700_086_400, list(RESOURCES))[0].listing != listings[0].listing
    assert all(CLOCK_SCOPE in r.listing for r in listings)
