"""object rows numbered by the change that last altered them; fact horizons; unowned objects

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# Incremental normalization: each object row carries the number of the change that last
# altered it (rows stored before stay None and are covered by the full rebuild the first
# normalization after this upgrade makes: it has no ``through_change`` yet).
OBJECT_TABLES = ('customers', 'products', 'prices', 'coupons', 'promotion_codes', 'subscriptions',
                 'subscription_items', 'invoices', 'invoice_lines', 'invoice_items', 'invoice_payments',
                 'charges', 'refunds', 'credit_notes', 'credit_note_lines', 'disputes', 'discounts', 'events')
NORMALIZATION_COLUMNS = (('through_change', sa.BigInteger), ('fingerprint', sa.String), ('kind', sa.String),
                         ('customers_updated', sa.Integer), ('full_at', sa.BigInteger))


def _object_tables() -> list[str]:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    return [name for name in OBJECT_TABLES if name in present]


def upgrade() -> None:
    for name in _object_tables():
        op.add_column(name, sa.Column('changed', sa.BigInteger(), nullable=True))
        op.add_column(name, sa.Column('changed_at', sa.BigInteger(), nullable=True))
        # The best guess of when the sync saw a stored row as it is: the last time it wrote it.
        op.execute(f"UPDATE {name} SET changed_at = synced_at")
        op.create_index(f'ix_{name}_changed', name, ['changed'], unique=False)
    op.create_table(
        'change_counter',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('last', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.execute("INSERT INTO change_counter (id, last) VALUES (1, 0)")
    op.create_table(
        'fact_horizons',
        sa.Column('account', sa.String(), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('customer', sa.String(), nullable=False),
        sa.Column('valid_until', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('account', 'livemode', 'customer'),
    )
    op.create_index('ix_fact_horizons_until', 'fact_horizons', ['account', 'livemode', 'valid_until'], unique=False)
    op.create_table(
        'unowned_objects',
        sa.Column('account', sa.String(), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('table_name', sa.String(), nullable=False),
        sa.Column('id', sa.String(), nullable=False),
        sa.PrimaryKeyConstraint('account', 'livemode', 'table_name', 'id'),
    )
    with op.batch_alter_table('normalizations') as batch:
        for name, kind in NORMALIZATION_COLUMNS:
            batch.add_column(sa.Column(name, kind(), nullable=True))
    op.create_index('ix_revenue_lines_customer', 'revenue_lines', ['account', 'livemode', 'customer'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_revenue_lines_customer', table_name='revenue_lines')
    with op.batch_alter_table('normalizations') as batch:
        for name, _ in NORMALIZATION_COLUMNS:
            batch.drop_column(name)
    op.drop_table('unowned_objects')
    op.drop_index('ix_fact_horizons_until', table_name='fact_horizons')
    op.drop_table('fact_horizons')
    op.drop_table('change_counter')
    for name in _object_tables():
        op.drop_index(f'ix_{name}_changed', table_name=name, if_exists=True)
        with op.batch_alter_table(name) as batch:
            batch.drop_column('changed')
            batch.drop_column('changed_at')
