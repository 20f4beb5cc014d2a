"""The registry of what is synced: expansions Stripe accepts, test clocks' listings,
which customer each table's rows belong to."""

from __future__ import annotations

from syncer.stripe.resources import (
    ACCOUNT_WIDE,
    ANY_TABLE,
    BY_NAME,
    CHILD_TABLES,
    CLOCK_SCOPE,
    EVENTS,
    MAX_EXPAND_DEPTH,
    OWNED_TABLES,
    OWNERS,
    RESOURCES,
    Link,
    Owner,
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


def test_every_table_declares_which_customer_its_rows_belong_to() -> None:
    assert set(OWNERS) == {r.name for r in RESOURCES} | set(CHILD_TABLES) | {EVENTS.name}
    assert all(OWNERS[r.name] is r.owner for r in (*RESOURCES, EVENTS))
    assert {name for name, owner in OWNERS.items() if owner is ACCOUNT_WIDE} == {"products", "prices", "coupons"}
    for name, owner in OWNERS.items():
        assert owner is None or owner.column or owner.parent, f"{name}: no way to a customer"
    # A child row is its parent's customer's.
    for r in RESOURCES:
        for c in r.children:
            assert OWNERS[c.table] == Owner(None, parent=Link(c.parent_column, r.name))


def test_owned_tables_come_after_the_tables_their_rows_link_to() -> None:
    assert sorted(OWNED_TABLES) == sorted(name for name, owner in OWNERS.items() if owner is not None)
    position = {name: n for n, name in enumerate(OWNED_TABLES)}
    for name in OWNED_TABLES:
        owner = OWNERS[name]
        assert owner is not None
        for link in owner.links:
            linked = [t for t in OWNED_TABLES if t != name] if link.table == ANY_TABLE else [link.table]
            assert all(position[t] < position[name] for t in linked), (name, link)
    assert OWNED_TABLES[-1] == EVENTS.name  # an event may describe any of them


def test_a_row_without_a_customer_column_is_placed_by_its_parents_customer() -> None:
    # The raw loader batches a row by its customer column, else through its parent: a
    # parent by id with a customer column, or (a key other than the id) a parent that
    # itself is placed by its own parent (a charge's payment intent → invoice payment →
    # invoice).
    for name, owner in OWNERS.items():
        if owner is None or owner.parent is None or owner.parent.table == ANY_TABLE:
            continue
        parent = OWNERS[owner.parent.table]
        assert parent is not None, name
        if owner.parent.key == "id":
            assert parent.column is not None, name
        else:
            assert owner.column is not None and parent.column is None and parent.parent is not None, name
            grandparent = OWNERS[parent.parent.table]
            assert grandparent is not None and grandparent.column is not None, name
