"""The benchmarks are scripts users run by hand: CI checks that they still start, and what they parse."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("script", "option"), [("bench_status.py", "--sections"), ("bench_clusters.py", "--intervals")]
)
def test_benchmark_starts_and_prints_its_usage(script: str, option: str) -> None:
    # --help imports everything the benchmark uses (the integration harness included),
    # so a broken import or an import cycle fails here rather than in a user's hands.
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert option in done.stdout


# sdiag of Slurm 22.05.8 on the test cluster (the part after the scheduler statistics)
SDIAG = """\
*******************************************************
sdiag output at Fri Dec 04 13:09:10 2026 (1796389750)
Data since      Fri Dec 04 13:01:25 2026 (1796389285)
*******************************************************
Server thread count:  3
Jobs submitted: 46

Main schedule statistics (microseconds):
\tLast cycle:   749
\tTotal cycles: 2

Remote Procedure Call statistics by message type
\tREQUEST_FED_INFO                        ( 2049) count:618    ave_time:210    total_time:129853
\tREQUEST_PARTITION_INFO                  ( 2009) count:546    ave_time:210    total_time:115141
\tREQUEST_JOB_INFO_SINGLE                 ( 2021) count:422    ave_time:215    total_time:91110
\tREQUEST_SUBMIT_BATCH_JOB                ( 4003) count:46     ave_time:710    total_time:32687

Remote Procedure Call statistics by user
\talice           (    1001) count:891    ave_time:245    total_time:218771
\troot            (       0) count:652    ave_time:211    total_time:137720
\tfrank           (    1006) count:150    ave_time:239    total_time:35899

Pending RPC statistics
\tNo pending RPCs
"""


def test_sdiag_counts_are_read_by_user_and_by_message_type(monkeypatch: pytest.MonkeyPatch) -> None:
    # the benchmark's measure of controller load is sdiag's count for the test user
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    bench = importlib.import_module("bench_clusters")
    counts = bench.parse_sdiag(SDIAG)
    assert counts["user"] == {"alice": 891, "root": 652, "frank": 150}
    assert counts["type"]["REQUEST_JOB_INFO_SINGLE"] == 422
    assert sum(counts["type"].values()) == 618 + 546 + 422 + 46
    later = bench.parse_sdiag(SDIAG.replace("count:150 ", "count:162 ").replace("count:422 ", "count:431 "))
    assert bench.rpc_delta(counts, later) == (12, {"REQUEST_JOB_INFO_SINGLE": 9})
    with pytest.raises(RuntimeError, match="went back"):
        bench.rpc_delta(later, counts)
