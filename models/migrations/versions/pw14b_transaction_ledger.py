"""transaction ledger: transactions table, derived ledger columns, positions become opening transactions

Every existing position becomes one `transfer_in` transaction of its quantity at its
average cost (price = cost_basis / quantity rounded down to 8 places, the remainder as
fees, which a transfer in adds to its cost: quantity x price + fees = cost_basis), dated when its portfolio was created, at the FX
quote stored now (NULL when none is: its cost then keeps converting at today's rate, as
before). Nothing is lost: positions keep their rows, quantities and cost bases.

Revision ID: pw14b_transaction_ledger
Revises: pw14a_exact_decimals
Create Date: 2026-11-29 23:50:00
"""
from decimal import ROUND_DOWN, Decimal

import sqlalchemy as sa
from alembic import op

import models.base

revision = 'pw14b_transaction_ledger'
down_revision = 'pw14a_exact_decimals'
branch_labels = None
depends_on = None

MONEY = models.base.ExactDecimal(24, 8)


def upgrade():
    op.create_table('transactions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portfolio_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('quantity', MONEY, nullable=False),
    sa.Column('price', MONEY, nullable=False),
    sa.Column('currency', sa.String(length=8), nullable=False),
    sa.Column('fees', MONEY, nullable=False),
    sa.Column('fx_rate', models.base.ExactDecimal(24, 12), nullable=True),
    sa.Column('fx_source', sa.String(length=16), nullable=False),
    sa.Column('executed_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_transactions_asset_id_assets')),
    sa.ForeignKeyConstraint(['portfolio_id'], ['portfolios.id'], name=op.f('fk_transactions_portfolio_id_portfolios'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transactions'))
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transactions_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index('ix_transactions_portfolio_executed', ['portfolio_id', 'executed_at'], unique=False)
    with op.batch_alter_table('portfolios', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cash', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('returns_basis', sa.JSON(), nullable=True))
        for name in ('realised_gain', 'dividends', 'interest', 'fees'):
            batch_op.add_column(sa.Column(name, MONEY, nullable=False, server_default='0'))
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cost_basis_base', MONEY, nullable=True))
        batch_op.add_column(sa.Column('realised_gain', MONEY, nullable=False, server_default='0'))
    _positions_to_opening_transactions()


def _fx_rate(bind, currency, base):
    """The stored FX quote converting major `currency` into major `base` (direct or inverse), or None."""
    from models.currency import fx_symbol, normalize_currency

    major, _ = normalize_currency(currency)
    base_major, _ = normalize_currency(base)
    if major == base_major:
        return Decimal(1)
    query = sa.text('SELECT q.price FROM quotes q JOIN assets a ON a.id = q.asset_id WHERE a.symbol = :s')
    direct = bind.execute(query, {'s': fx_symbol(major, base_major)}).scalar()
    if direct is not None and Decimal(str(direct)) > 0:
        return Decimal(str(direct))
    inverse = bind.execute(query, {'s': fx_symbol(base_major, major)}).scalar()
    if inverse is not None and Decimal(str(inverse)) > 0:
        return 1 / Decimal(str(inverse))
    return None


def _positions_to_opening_transactions():
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        'SELECT p.id, p.portfolio_id, p.asset_id, p.quantity, p.cost_basis, a.currency, f.base_currency, '
        'f.created_at FROM positions p JOIN assets a ON a.id = p.asset_id JOIN portfolios f ON f.id = p.portfolio_id '
        'ORDER BY p.id'
    )).all()
    table = sa.table(
        'transactions', sa.column('portfolio_id'), sa.column('type'), sa.column('asset_id'),
        sa.column('quantity', MONEY), sa.column('price', MONEY), sa.column('currency'), sa.column('fees', MONEY),
        sa.column('fx_rate', models.base.ExactDecimal(24, 12)), sa.column('fx_source'),
        sa.column('executed_at', models.base.UTCDateTime()), sa.column('note'),
        sa.column('created_at', models.base.UTCDateTime()),
    )
    positions = sa.table('positions', sa.column('id'), sa.column('cost_basis_base', MONEY))
    from models.base import utcnow
    now = utcnow()
    for row in rows:
        quantity, cost = Decimal(str(row.quantity)), Decimal(str(row.cost_basis))
        if quantity == 0:
            continue
        rate = _fx_rate(bind, row.currency, row.base_currency)
        created = row.created_at if not isinstance(row.created_at, str) else now
        created = created if getattr(created, 'tzinfo', None) else created.replace(tzinfo=now.tzinfo)
        price = (cost / quantity).quantize(Decimal('1e-8'), rounding=ROUND_DOWN)
        fees = cost - quantity * price
        bind.execute(table.insert().values(
            portfolio_id=row.portfolio_id, type='transfer_in', asset_id=row.asset_id, quantity=quantity,
            price=price, currency=row.currency, fees=fees.quantize(Decimal('1e-8')), fx_rate=rate,
            fx_source='migrated' if rate is not None else 'unknown', executed_at=created,
            note='opening position (migrated)', created_at=now,
        ))
        if rate is not None:
            from models.currency import normalize_currency
            base = cost / normalize_currency(row.currency)[1] * rate
            bind.execute(positions.update().where(positions.c.id == row.id).values(cost_basis_base=base))


def downgrade():
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.drop_column('realised_gain')
        batch_op.drop_column('cost_basis_base')
    with op.batch_alter_table('portfolios', schema=None) as batch_op:
        for name in ('fees', 'interest', 'dividends', 'realised_gain', 'returns_basis', 'cash'):
            batch_op.drop_column(name)
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_portfolio_executed')
        batch_op.drop_index(batch_op.f('ix_transactions_asset_id'))
    op.drop_table('transactions')
