"""The benchmark is a script users run by hand, so CI checks that it still starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_status_starts_and_prints_its_usage() -> None:
    # --help imports everything the benchmark uses (the integration harness included),
    # so a broken import or an import cycle fails here rather than in a user's hands.
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_status.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "--sections" in done.stdout
