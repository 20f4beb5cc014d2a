"""index for the report's FX table (charges by settlement currency)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 14:20:00
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_charges_fx', 'charges', ['account', 'livemode', 'bt_currency'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_charges_fx', table_name='charges')
