"""The declarative base and the unbound Flask-SQLAlchemy handle every model shares."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator, TypeEngine

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



class ExactDecimal(TypeDecorator[Decimal]):
    """Exact decimals everywhere: NUMERIC(p, s) on PostgreSQL, canonical fixed-point text on SQLite.

    SQLite stores NUMERIC as REAL (12345678901.23 reads back as 12345678901.22999954), so
    there the value is text with exactly `scale` places: equal numbers are equal strings,
    and a bound literal (`quantity != 0`) is written the same way. A value that does not fit
    NUMERIC(p, s) raises on both backends, as PostgreSQL's numeric field overflow does.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 24, scale: int = 8) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        self._limit = Decimal(10) ** (precision - scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Text (TEXT affinity: no conversion to REAL) on SQLite, NUMERIC elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def fits(self, value: Decimal) -> bool:
        """Whether the column can store `value` (finite, within its integer digits)."""
        return value.is_finite() and abs(value) < self._limit

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Check the range; on SQLite write `scale` fixed places."""
        if value is None:
            return None
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if not self.fits(number):
            raise ValueError(f"{number} does not fit NUMERIC({self.precision}, {self.scale})")
        if dialect.name != "sqlite":
            return number
        return format(number.quantize(self._quantum), "f")

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Decimal from text (or from a REAL written before this type existed)."""
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        """Literals compared with these columns are bound with this type (same text form)."""
        return self


MONEY = ExactDecimal(24, 8)
QUANTITY = ExactDecimal(24, 8)
PERCENT = ExactDecimal(14, 6)
FX_RATE = ExactDecimal(24, 12)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        """Store in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        """Read back as aware UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Typed declarative base: Decimal maps to Numeric, datetime to aware UTC."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={Decimal: MONEY, datetime: UTCDateTime()},
    )


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)


db = SQLAlchemy(model_class=Base)
