"""index for reading one account's revenue of a few months

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 14:40:00
"""
from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_revenue_lines_period', 'revenue_lines', ['account', 'livemode', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_revenue_lines_period', table_name='revenue_lines')
