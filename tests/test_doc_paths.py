"""README and docs/ name only files that exist (CHANGELOG records renames, so it may name old paths)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Written by a run, not kept in git (.gitignore): `make bench` leaves its newest results here.
GENERATED = frozenset({"bench/results/latest.json"})
PACKAGES = "app|models|tasks|infra|protocol|cli|bench|tests|deploy"
PATH = re.compile(rf"\b(?:{PACKAGES})/[A-Za-z0-9_./-]+\.(?:py|md|conf|js|json)\b")


def test_every_file_the_docs_name_exists() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = {f"{doc.relative_to(ROOT)}: {path}" for doc in documents for path in PATH.findall(doc.read_text())
               if path not in GENERATED and not (ROOT / path).exists()}
    assert not missing, sorted(missing)
