"""portfolios.ledger_version: bumped whenever what a valuation reads of a portfolio changes (models.ledger_version)

Revision ID: i18c_ledger_version
Revises: pw14b_transaction_ledger
Create Date: 2026-11-30 03:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i18c_ledger_version'
down_revision = 'pw14b_transaction_ledger'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('portfolios', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ledger_version', sa.BigInteger(), nullable=False, server_default='0'))


def downgrade():
    with op.batch_alter_table('portfolios', schema=None) as batch_op:
        batch_op.drop_column('ledger_version')
