"""Why a job ended: parsed from what Slurm printed on the test cluster, classified in words.

The recorded files are in ``recorded/slurm-end`` (see its README: which lines were seen,
and which follow the documented format for states this cluster cannot produce).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batchspawner_x.end_reasons import (
    EndReason,
    JobEndFacts,
    classify,
    parse_sacct,
    parse_scontrol,
    slurm_end_argvs,
    stopped_from_the_hub,
)
from batchspawner_x.schedulers.slurm import SlurmScheduler, parse_squeue_line

RECORDED = Path(__file__).parent / "recorded" / "slurm-end"
GRACE = 1007


def recorded(name: str) -> str:
    return (RECORDED / name).read_text()


def sacct(job_id: str, name: str = "sacct-recorded.txt") -> JobEndFacts | None:
    return parse_sacct(recorded(name), job_id)


# -- sacct, once slurmdbd runs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("job_id", "kind", "summary", "by"),
    [
        ("5742", "time_limit", "time limit reached after 1 min", ""),
        ("5749", "cancelled", "cancelled by an administrator after 2 s", "an administrator"),
        ("5751", "cancelled", "cancelled by you after 3 s", "you"),
        ("5752", "failed", "the server exited with code 3 after 0 s", ""),
    ],
)
def test_recorded_sacct_lines(job_id: str, kind: str, summary: str, by: str) -> None:
    facts = sacct(job_id)
    assert facts is not None and facts.source == "sacct"
    reason = classify(facts, job_id=job_id)
    assert (reason.kind, reason.summary, reason.cancelled_by) == (kind, summary, by)


@pytest.mark.parametrize(
    ("job_id", "kind", "summary", "failure"),
    [
        ("5672", "out_of_memory", "the job ran out of memory after 2 h 3 min", True),
        ("5674", "preempted", "preempted by the scheduler for another job after 10 min", True),
        ("5675", "node_failure", "the node it ran on failed after 1 h", True),
        ("5679", "cancelled", "cancelled by another account (uid 64030) after 9 s", False),
    ],
)
def test_documented_sacct_lines(job_id: str, kind: str, summary: str, failure: bool) -> None:
    facts = sacct(job_id, "sacct-documented.txt")
    assert facts is not None
    reason = classify(facts)
    assert (reason.kind, reason.summary, reason.failure) == (kind, summary, failure)


def test_a_job_sacct_shows_still_running_or_does_not_list_gives_no_facts() -> None:
    assert sacct("5678", "sacct-documented.txt") is None  # RUNNING: slurmdbd not told yet
    assert sacct("999") is None
    assert parse_sacct(recorded("sacct-disabled.stderr"), "5742") is None


def test_a_cancel_by_the_owner_is_told_from_one_by_root() -> None:
    mine = sacct("5751")
    roots = sacct("5749")
    assert mine is not None and roots is not None
    assert (mine.cancelled_by_uid, mine.owner_uid) == (GRACE, GRACE)
    assert (roots.cancelled_by_uid, roots.owner_uid) == (0, GRACE)


# -- scontrol, without slurmdbd -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "summary", "code"),
    [
        ("scontrol-timeout.txt", "time_limit", "time limit reached after 1 min", 143),
        ("scontrol-cancelled.txt", "cancelled", "cancelled after 4 s", 143),
        ("scontrol-failed-exit3.txt", "failed", "the server exited with code 3 after 0 s", 3),
    ],
)
def test_recorded_scontrol_lines(name: str, kind: str, summary: str, code: int) -> None:
    facts = parse_scontrol(recorded(name))
    assert facts is not None
    assert (facts.owner_uid, facts.cancelled_by_uid, facts.exit_code) == (GRACE, None, code)
    reason = classify(facts)
    # scontrol never says who cancelled: plain "cancelled"
    assert (reason.kind, reason.summary, reason.cancelled_by) == (kind, summary, "")


def test_scontrol_on_a_running_job_gives_no_facts() -> None:
    running = recorded("scontrol-timeout.txt").replace("JobState=TIMEOUT", "JobState=RUNNING")
    assert parse_scontrol(running) is None
    assert parse_scontrol("") is None


# -- squeue --states=all: what the poller saw -------------------------------------------


@pytest.mark.parametrize(
    ("name", "exit_code", "kind", "summary"),
    [
        ("squeue-timeout.txt", None, "time_limit", "time limit reached"),
        ("squeue-cancelled.txt", 143, "cancelled", "cancelled"),
        ("squeue-failed.txt", 3, "failed", "the server exited with code 3"),
    ],
)
def test_recorded_squeue_lines(name: str, exit_code: int | None, kind: str, summary: str) -> None:
    status = parse_squeue_line(recorded(name).strip())
    reason = classify(JobEndFacts(state=status.raw_state, exit_code=exit_code, source="status"))
    assert (reason.kind, reason.summary) == (kind, summary)


# -- other schedulers, from the state words and exit codes they print -----------------------


@pytest.mark.parametrize(
    ("state", "code", "kind"),
    [
        ("EXIT", 3, "failed"),  # LSF
        ("DONE", 0, "completed"),  # LSF
        ("3", None, "cancelled"),  # HTCondor: removed
        ("F", 0, "completed"),  # PBS Pro history: the exit status decides
        ("F", 271, "failed"),
        ("purged", None, "ended"),
    ],
)
def test_other_schedulers_words(state: str, code: int | None, kind: str) -> None:
    assert classify(JobEndFacts(state=state, exit_code=code)).kind == kind


# -- the hub's record ------------------------------------------------------------------


def test_a_reason_survives_the_spawner_state_and_tolerates_a_damaged_one() -> None:
    facts = sacct("5742")
    assert facts is not None
    reason = classify(facts, job_id="5742", output_tail="last line", when=1796400000.0)
    again = EndReason.from_state(reason.to_state())
    assert again == reason and again is not None and again.output_tail == "last line"
    assert again.message == "Your last session ended: time limit reached after 1 min."
    assert EndReason.from_state({"kind": 3}) is None
    assert EndReason.from_state("time limit") is None
    assert EndReason.from_state({"kind": "failed", "summary": "x", "future_field": 1}) is not None


def test_the_hubs_own_stop() -> None:
    reason = stopped_from_the_hub("25")
    assert (reason.kind, reason.summary, reason.cancelled_by, reason.failure) == (
        "stopped",
        "stopped from the hub",
        "the hub",
        False,
    )


def test_the_queries_use_the_sites_command_names() -> None:
    commands = dict(SlurmScheduler(commands={"info": "/opt/slurm/bin/scontrol"}).commands)
    commands["accounting"] = "/opt/slurm/bin/sacct"
    [(first, sacct_argv), (second, scontrol_argv)] = slurm_end_argvs("25", commands)
    assert (first, second) == ("sacct", "scontrol")
    assert sacct_argv == [
        "/opt/slurm/bin/sacct",
        "--noheader",
        "--parsable2",
        "--allocations",
        "--jobs=25",
        "--format=JobID,State,ExitCode,ElapsedRaw,UID",
    ]
    assert scontrol_argv == ["/opt/slurm/bin/scontrol", "--oneliner", "show", "job", "25"]
