"""Every module of the packages is at most 300 lines, or its docstring says why it is longer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "models", "tasks", "cli", "protocol", "infra")
LIMIT = 300
REASON = "Over 300 lines:"


def modules() -> list[Path]:
    """Every .py module of the packages, migrations included."""
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def oversized(path: Path, root: Path = ROOT) -> str | None:
    """Why the module breaks the rule, or None when it keeps it."""
    text = path.read_text(encoding="utf-8")
    lines = len(text.splitlines())
    if lines <= LIMIT:
        return None
    docstring = ast.get_docstring(ast.parse(text)) or ""
    reasons = [line for line in docstring.splitlines() if line.startswith(REASON)]
    if reasons and reasons[0][len(REASON):].strip():
        return None
    return f"{path.relative_to(root)}: {lines} lines and no '{REASON} <why>' line in its docstring"


def test_the_packages_have_modules() -> None:
    assert len(modules()) > 100


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_module_is_small_or_says_why(path: Path) -> None:
    assert oversized(path) is None, oversized(path)


def test_a_long_module_without_a_reason_is_reported(tmp_path: Path) -> None:
    long_body = "\n".join(f"X{n} = {n}" for n in range(LIMIT))
    silent = tmp_path / "silent.py"
    silent.write_text(f'"""A long module."""\n{long_body}\n', encoding="utf-8")
    empty_reason = tmp_path / "empty.py"
    empty_reason.write_text(f'"""A long module.\n\n{REASON}\n"""\n{long_body}\n', encoding="utf-8")
    explained = tmp_path / "explained.py"
    explained.write_text(f'"""A long module.\n\n{REASON} one table of constants.\n"""\n{long_body}\n',
                         encoding="utf-8")
    for bad in (silent, empty_reason):
        message = oversized(bad, tmp_path)
        assert message is not None and "no 'Over 300 lines: <why>'" in message
    assert oversized(explained, tmp_path) is None

