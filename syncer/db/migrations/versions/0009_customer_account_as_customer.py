"""objects billed to an Accounts v2 account get it as their customer

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 06:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

# The projection now fills ``customer`` with ``customer_account`` when ``customer`` is
# null (shapes.customer_of): rows stored before are filled from their raw JSON, so batches
# of customers and ``forget-customer`` find them without a re-list. Data only: the
# columns are unchanged, and a downgrade has nothing to undo that the old code minds.
TABLES = ('subscriptions', 'invoices', 'invoice_items', 'charges', 'credit_notes', 'discounts',
          'promotion_codes')


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    account = "json_extract(raw, '$.customer_account')" if sqlite else "(raw::jsonb ->> 'customer_account')"
    for name in TABLES:
        # ``raw LIKE`` first: most rows have no such field, and reading it is cheaper than parsing.
        op.execute(f"UPDATE {name} SET customer = {account} "
                   f"WHERE customer IS NULL AND raw LIKE '%\"customer_account\":\"%'")


def downgrade() -> None:
    pass
