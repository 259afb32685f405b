"""assets.mic and assets.timezone: each asset's exchange and time zone (market sessions, issue 13)

Revision ID: d13a5e55c0de
Revises: cf52cde45cd4
Create Date: 2026-11-29 23:45:00

Existing rows are filled from their symbols (models/exchanges.py); the feed corrects them from provider
metadata when a provider states the exchange.
"""
from alembic import op
import sqlalchemy as sa


revision = 'd13a5e55c0de'
down_revision = 'cf52cde45cd4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('assets') as batch:
        batch.add_column(sa.Column('mic', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))
    from models.exchanges import market_for_symbol

    assets = sa.table('assets', sa.column('id', sa.Integer), sa.column('symbol', sa.String),
                      sa.column('mic', sa.String), sa.column('timezone', sa.String))
    connection = op.get_bind()
    for asset_id, symbol in connection.execute(sa.select(assets.c.id, assets.c.symbol)).all():
        market = market_for_symbol(symbol)
        connection.execute(assets.update().where(assets.c.id == asset_id)
                           .values(mic=market.mic, timezone=market.timezone))


def downgrade():
    with op.batch_alter_table('assets') as batch:
        batch.drop_column('timezone')
        batch.drop_column('mic')
