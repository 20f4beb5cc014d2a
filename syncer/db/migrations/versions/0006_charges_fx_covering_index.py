"""the FX index holds the rates it is read for

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 04:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

COVERING = ['account', 'livemode', 'bt_currency', 'currency', 'created', 'exchange_rate']


def upgrade() -> None:
    op.drop_index('ix_charges_fx', table_name='charges')
    op.create_index('ix_charges_fx', 'charges', COVERING, unique=False)


def downgrade() -> None:
    op.drop_index('ix_charges_fx', table_name='charges')
    op.create_index('ix_charges_fx', 'charges', ['account', 'livemode', 'bt_currency'], unique=False)
