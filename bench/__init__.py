"""Benchmarks: `python -m bench.run --quick|--full` (see docs/performance.md); stdlib-only at import time."""
