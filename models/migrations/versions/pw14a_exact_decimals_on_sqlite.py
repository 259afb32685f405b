"""exact decimals on SQLite: money and quantity columns become canonical text there

NUMERIC on SQLite has REAL affinity (12345678901.23 reads back as 12345678901.22999954).
models.base.ExactDecimal stores fixed-point text there; this turns the existing columns
into TEXT and rewrites their values in that form. PostgreSQL keeps NUMERIC: nothing to do.

Revision ID: pw14a_exact_decimals
Revises: i16a5e55107e
Create Date: 2026-11-29 23:40:00
"""
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

revision = 'pw14a_exact_decimals'
down_revision = 'i16a5e55107e'
branch_labels = None
depends_on = None

# table -> primary key, [(column, scale)]
COLUMNS = {
    'assets': ('id', [('market_cap', 8)]),
    'price_history': ('id', [('price', 8)]),
    'quotes': ('asset_id', [('price', 8), ('previous_close', 8), ('change', 8), ('change_percent', 6),
                            ('high', 8), ('low', 8), ('market_cap', 8)]),
    'portfolio_values': ('id', [('total_value', 8), ('daily_change', 8), ('stale_value', 8)]),
    'positions': ('id', [('quantity', 8), ('cost_basis', 8), ('last_published_value', 8)]),
}


def _text(value, scale):
    """The canonical text of a stored REAL/INTEGER/TEXT number (shortest float repr first)."""
    if value is None:
        return None
    return format(Decimal(str(value)).quantize(Decimal(1).scaleb(-scale)), 'f')


def _retype(to_text):
    """On SQLite, every money column to text (to_text) or back to NUMERIC; False elsewhere (nothing to do)."""
    if op.get_bind().dialect.name != 'sqlite':
        return False
    for table, (_, columns) in COLUMNS.items():
        with op.batch_alter_table(table) as batch_op:
            for column, scale in columns:
                numeric = sa.Numeric(24 if scale == 8 else 14, scale)
                text = sa.String(26 if scale == 8 else 16)
                batch_op.alter_column(column, type_=text if to_text else numeric,
                                      existing_type=numeric if to_text else text)
    return True


def upgrade():
    if not _retype(to_text=True):
        return
    bind = op.get_bind()
    for table, (key, columns) in COLUMNS.items():
        names = [column for column, _ in columns]
        rows = bind.execute(sa.text(f'SELECT {key}, {", ".join(names)} FROM {table}')).all()
        if rows:
            assignments = ", ".join(f"{name} = :{name}" for name in names)
            bind.execute(sa.text(f'UPDATE {table} SET {assignments} WHERE {key} = :pk'), [
                {'pk': row[0], **{name: _text(row[i + 1], scale) for i, (name, scale) in enumerate(columns)}}
                for row in rows
            ])


def downgrade():
    _retype(to_text=False)
