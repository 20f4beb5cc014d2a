"""What the fake knows of each resource it serves: the restricted-key permission a 403
names, Stripe's ``object`` type, what a deletion leaves, the embedded child list.
"""

from __future__ import annotations

from syncer.stripe.resources import EVENTS, RESOURCES, TEST_CLOCKS

# Restricted-key permission Stripe names in its 403 message, per resource (the registry's,
# and what the sync reads without listing it).
RAK_PERMISSIONS: dict[str, str] = {
    "account": "rak_account_read",
    **{r.name: r.permission_key for r in (*RESOURCES, EVENTS, TEST_CLOCKS)},
    "balance_transactions": "rak_balance_transaction_source_read",
}

# Stripe's ``object`` of each list the fake serves (the registry's resources, child lists,
# events, test clocks); what ``expand[]`` accepts on each is read from that object's type
# (see ``expansion``).
OBJECT_OF: dict[str, str] = {
    **{r.name: r.object for r in (*RESOURCES, EVENTS)},
    **{c.table: c.object for r in RESOURCES for c in r.children},
    TEST_CLOCKS.name: TEST_CLOCKS.object,
}
# Deleted objects Stripe forgets: retrieving one is a 404 (a deleted customer answers a
# ``deleted: true`` stub instead), though a discount still expands its deleted coupon.
FORGOTTEN_WHEN_DELETED = frozenset({"coupons"})

# Embedded child list of each parent resource.
CHILD_FIELD: dict[str, str] = {r.name: c.field for r in RESOURCES for c in r.children}
