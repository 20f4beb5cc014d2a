"""revenue lines keep one index: (account, livemode, at)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 08:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# Both are prefixes of, or served by, ix_revenue_lines_period (0005), and normalization
# writes every line of an account through each index it has: the most numerous facts.


def upgrade() -> None:
    op.drop_index('ix_revenue_lines_account', table_name='revenue_lines')
    op.drop_index('ix_revenue_lines_at', table_name='revenue_lines')


def downgrade() -> None:
    op.create_index('ix_revenue_lines_at', 'revenue_lines', ['at'], unique=False)
    op.create_index('ix_revenue_lines_account', 'revenue_lines', ['account'], unique=False)
