"""The generic transaction CSV (docs/portfolio.md): a header naming the columns, then one transaction a row.

Columns are models.transaction_input.FIELDS in any order; only `type` and `executed_at`
are required in the header; an empty cell is an absent field. Line numbers count from the
header (line 1) and follow quoted newlines, so they match what an editor shows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TextIO

from models.transaction_input import FIELDS

REQUIRED_COLUMNS = ("type", "executed_at")
ROW_ERROR = "__row__"  # the key of a row that could not be split into its columns


class BadHeader(ValueError):
    """The header row is missing, has unknown or repeated columns, or lacks a required one."""


def read_rows(stream: TextIO) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: cell}) of each non-empty row; BadHeader before the first row if the header is wrong."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise BadHeader("the file is empty: expected a header row")
    columns = [name.strip().lower().lstrip("\ufeff") for name in header]
    unknown = [name for name in columns if name not in FIELDS]
    if unknown:
        raise BadHeader(f"unknown columns: {', '.join(unknown)} (allowed: {', '.join(FIELDS)})")
    if len(set(columns)) != len(columns):
        raise BadHeader("a column is named twice")
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise BadHeader(f"missing columns: {', '.join(missing)}")
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            yield line, {ROW_ERROR: f"{len(cells)} cells, the header has {len(columns)}"}
            continue
        yield line, {name: cell.strip() for name, cell in zip(columns, cells, strict=True) if cell.strip()}
