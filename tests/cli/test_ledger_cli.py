"""`flask portfolios create`, `flask transactions add` and `flask transactions import FILE.csv [--dry-run]`."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from cli import register_cli
from models import Portfolio, Position, Transaction, db
from tests.support.portfolios import add_asset, add_user

GOOD = """type,symbol,quantity,price,currency,fees,executed_at,fx_rate,note
deposit,,,10000,USD,,2024-01-02,,opening cash
buy,AAPL,10,150,USD,1,2024-01-03T15:00:00Z,,
buy,SAP,20,100,EUR,2,2024-01-03T09:00:00+01:00,1.10,"quoted, with a comma"
sell,AAPL,4,160,,1,2024-01-10T15:00:00Z,,
dividend,AAPL,6,0.24,USD,0.22,2024-02-15,,withholding as fees
split,AAPL,4,,,,2024-03-01,,4-for-1
"""


def _runner(app: Flask):  # type: ignore[no-untyped-def]
    register_cli(app)
    return app.test_cli_runner()


def _portfolio(app: Flask) -> int:
    add_user("alice")
    add_asset("AAPL", "USD", "40", "39")
    add_asset("SAP", "EUR", "110", "110")
    db.session.commit()
    result = _runner(app).invoke(args=["portfolios", "create", "alice", "Main", "--base-currency", "USD"])
    assert result.exit_code == 0, result.output
    return int(db.session.scalar(select(Portfolio.id)))


def _count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Transaction)) or 0)


def test_portfolios_create_refuses_bad_input(app: Flask) -> None:
    add_user("alice")
    result = _runner(app).invoke(args=["portfolios", "create", "alice", "X", "--base-currency", "euro"])
    assert result.exit_code == 1 and "base_currency: not a currency code" in result.output
    assert _runner(app).invoke(args=["portfolios", "create", "nobody", "X"]).exit_code == 1


def test_good_file_imports_and_derives_the_positions(app: Flask, tmp_path: Path) -> None:
    pid = _portfolio(app)
    path = tmp_path / "good.csv"
    path.write_text(GOOD)
    dry = _runner(app).invoke(args=["transactions", "import", str(pid), str(path), "--dry-run"])
    assert dry.exit_code == 0 and "would import 6 transactions" in dry.output
    assert _count() == 0
    result = _runner(app).invoke(args=["transactions", "import", str(pid), str(path)])
    assert result.exit_code == 0, result.output
    assert _count() == 6
    positions = {p.asset.symbol: p for p in db.session.scalars(select(Position))}
    # AAPL: 10 bought at 150.10 (fee in), 4 sold, 6 left, split 4-for-1: 24 at 37.525
    assert (positions["AAPL"].quantity, positions["AAPL"].cost_basis) == (Decimal(24), Decimal("900.60"))
    assert positions["SAP"].cost_basis_base == Decimal("2202.20")  # (2000 + 2) EUR x 1.10
    portfolio = db.session.get(Portfolio, pid)
    assert portfolio is not None
    # realised (160 - 0.25) x 4 - 150.10 x 4 = 38.60; dividend 6 x 0.24 - 0.22 = 1.22
    assert (portfolio.realised_gain, portfolio.dividends) == (Decimal("38.6"), Decimal("1.22"))
    # USD cash 10000 - 1501 + 639 + 1.22 = 9139.22; EUR -2002
    assert portfolio.cash == {"EUR": "-2002", "USD": "9139.22"}


def test_three_bad_rows_import_nothing_and_are_each_named(app: Flask, tmp_path: Path) -> None:
    pid = _portfolio(app)
    path = tmp_path / "bad.csv"
    path.write_text(GOOD + "buy,AAPL,-3,150,USD,,2024-04-01,,\n"
                    "buy,AAPL,3,150,USD,,the fourth of april,,\n"
                    "buy,AAPL,3\n")
    result = _runner(app).invoke(args=["transactions", "import", str(pid), str(path)])
    assert result.exit_code == 1
    assert "line 8: quantity: must be greater than 0" in result.output
    assert "line 9: executed_at: not an ISO-8601 date-time" in result.output
    assert "line 10: row: 3 cells, the header has 9" in result.output
    assert "3 bad rows: nothing imported" in result.output
    assert _count() == 0


def test_bad_header_and_add(app: Flask, tmp_path: Path) -> None:
    pid = _portfolio(app)
    path = tmp_path / "header.csv"
    path.write_text("kind,ticker\nbuy,AAPL\n")
    result = _runner(app).invoke(args=["transactions", "import", str(pid), str(path)])
    assert result.exit_code == 1 and "line 1: unknown columns: kind, ticker" in result.output
    added = _runner(app).invoke(args=["transactions", "add", str(pid), "--type", "buy", "--symbol", "AAPL",
                                      "--quantity", "2", "--price", "39.5"])
    assert added.exit_code == 0, added.output
    refused = _runner(app).invoke(args=["transactions", "add", str(pid), "--type", "buy", "--symbol", "AAPL"])
    assert refused.exit_code == 1 and "price: required" in refused.output
    assert _count() == 1


def test_ten_thousand_rows_on_postgresql(pg_app: Flask, tmp_path: Path) -> None:
    pid = _portfolio(pg_app)
    path = tmp_path / "big.csv"
    lines = ["type,symbol,quantity,price,executed_at"]
    for n in range(10_000):
        day = f"2023-{1 + n % 12:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00Z"
        lines.append(f"{'buy' if n % 3 else 'sell'},AAPL,{1 + n % 5},{100 + n % 50}.25,{day}")
    path.write_text("\n".join(lines) + "\n")
    started = time.monotonic()
    result = _runner(pg_app).invoke(args=["transactions", "import", str(pid), str(path)])
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert _count() == 10_000
    # The budget is 10 s; the house rule is no timing assertions on a shared machine,
    # so the time is reported (pytest -s) and recorded in docs/portfolio.md instead.
    print(f"10,000 rows imported in {elapsed:.1f} s")
    assert db.session.scalar(select(Position.quantity)) == sum(
        (1 + n % 5) * (1 if n % 3 else -1) for n in range(10_000))
