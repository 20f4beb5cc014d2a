"""churn events and payment failures indexed by customer

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 10:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# A report reads an account's facts a range of customers at a time; the account-only
# indexes are prefixes of the new ones.


def upgrade() -> None:
    op.create_index('ix_churn_events_customer', 'churn_events', ['account', 'livemode', 'customer'], unique=False)
    op.drop_index('ix_churn_events_account', table_name='churn_events')
    op.create_index('ix_payment_failures_customer', 'payment_failures', ['account', 'livemode', 'customer'],
                    unique=False)
    op.drop_index('ix_payment_failures_account', table_name='payment_failures')


def downgrade() -> None:
    op.create_index('ix_payment_failures_account', 'payment_failures', ['account'], unique=False)
    op.drop_index('ix_payment_failures_customer', table_name='payment_failures')
    op.create_index('ix_churn_events_account', 'churn_events', ['account'], unique=False)
    op.drop_index('ix_churn_events_customer', table_name='churn_events')
