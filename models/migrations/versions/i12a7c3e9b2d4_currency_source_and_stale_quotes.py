"""assets.currency_source and quotes.stale (issue 12)

Revision ID: i12a7c3e9b2d4
Revises: d13a5e55c0de
Create Date: 2026-11-29 23:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i12a7c3e9b2d4'
down_revision = 'd13a5e55c0de'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('assets') as batch_op:
        batch_op.add_column(sa.Column('currency_source', sa.String(length=32), nullable=True))
    with op.batch_alter_table('quotes') as batch_op:
        batch_op.add_column(sa.Column('stale', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('quotes') as batch_op:
        batch_op.drop_column('stale')
    with op.batch_alter_table('assets') as batch_op:
        batch_op.drop_column('currency_source')
