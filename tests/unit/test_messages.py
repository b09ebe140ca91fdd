"""What the spawn page says about a waiting or running job (pure, no cluster)."""

from __future__ import annotations

import datetime as dt

import pytest

from batchspawner_x.messages import describe_start_time, describe_status
from batchspawner_x.schedulers.slurm import SlurmScheduler, parse_squeue_line

TODAY = dt.date(2026, 11, 26)
slurm = SlurmScheduler()


@pytest.mark.parametrize(
    ("line", "gpus", "text"),
    [
        (
            "25|PENDING|n/a|Resources|2026-11-26T14:05:00",
            1,
            "Job 25 is waiting in the queue: waiting for a free GPU node (Resources); "
            "expected start today at 14:05",
        ),
        (
            "25|PENDING|n/a|Resources|N/A",
            0,
            "Job 25 is waiting in the queue: waiting for the requested resources to become free (Resources)",
        ),
        (
            "25|PENDING|n/a|Priority|2026-11-27T09:00:00",
            0,
            "Job 25 is waiting in the queue: other jobs have higher priority (Priority); "
            "expected start on 2026-11-27 at 09:00",
        ),
        (
            "25|PENDING|n/a|AssocGrpJobsLimit|N/A",
            0,
            "Job 25 is waiting in the queue: your group is at its job limit (AssocGrpJobsLimit)",
        ),
        (
            "25|PENDING|n/a|QOSMaxJobsPerUserLimit|N/A",
            2,
            "Job 25 is waiting in the queue: you are at your QOS's limit of running jobs "
            "(QOSMaxJobsPerUserLimit)",
        ),
        (
            "25|PENDING|n/a|ReqNodeNotAvail|N/A",
            0,
            "Job 25 is waiting in the queue: the requested nodes are not available "
            "(down, drained or reserved) (ReqNodeNotAvail)",
        ),
        (
            "25|PENDING|n/a|BeginTime|2026-11-26T02:10:05",
            0,
            "Job 25 is waiting in the queue: waiting for its requested start time (BeginTime); "
            "expected start today at 02:10",
        ),
        (
            "25|PENDING|n/a|Dependency|N/A",
            0,
            "Job 25 is waiting in the queue: waiting for another job to finish (Dependency)",
        ),
        (
            "25|PENDING|n/a|JobHeldUser|2026-11-26T14:05:00",
            0,
            "Job 25 is waiting in the queue: held by you (release it with scontrol release) (JobHeldUser)",
        ),
        ("25|PENDING|n/a|BrandNewReason|N/A", 0, "Job 25 is waiting in the queue: BrandNewReason"),
        ("25|PENDING|n/a|None|N/A", 0, "Job 25 is waiting in the queue"),
        (
            "25|RUNNING|node7|None|2026-11-26T01:00:00",
            0,
            "Job 25 is running on node7; waiting for the notebook server to start",
        ),
        ("25|COMPLETING|node7|None|N/A", 0, "Job 25 is COMPLETING"),
    ],
)
def test_slurm_status_in_words(line: str, gpus: int, text: str) -> None:
    assert describe_status(parse_squeue_line(line), slurm, gpus=gpus, today=TODAY) == text


def test_the_text_changes_only_with_the_reason_or_the_estimate() -> None:
    first = parse_squeue_line("25|PENDING|n/a|Priority|2026-11-26T14:05:00")
    same = parse_squeue_line("25|PENDING|n/a|Priority|2026-11-26T14:05:00")
    later = parse_squeue_line("25|PENDING|n/a|Priority|2026-11-26T14:35:00")
    assert describe_status(first, slurm, today=TODAY) == describe_status(same, slurm, today=TODAY)
    assert describe_status(first, slurm, today=TODAY) != describe_status(later, slurm, today=TODAY)


def test_start_times_the_scheduler_did_not_write_as_iso_are_kept() -> None:
    assert describe_start_time("tomorrow-ish", TODAY) == "tomorrow-ish"
    assert describe_start_time("2026-11-26T14:05:00") == "on 2026-11-26 at 14:05"
