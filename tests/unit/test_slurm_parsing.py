"""SlurmScheduler fed the output Slurm 22.05 really printed (shared/cluster.md)."""

from __future__ import annotations

import pytest

from batchspawner_x.errors import SubmitError
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.slurm import (
    SLURM_STATE_CODES,
    SLURM_STATES,
    SlurmScheduler,
    exit_code_from_scontrol,
    parse_squeue_line,
)
from batchspawner_x.states import JobState, JobStatus, StatusUnavailable


@pytest.fixture
def slurm() -> SlurmScheduler:
    return SlurmScheduler()


def squeue(stdout: str, returncode: int = 0, stderr: str = "") -> CommandResult:
    return CommandResult(returncode=returncode, stdout=stdout, stderr=stderr)


# ---------------------------------------------------------------------------
# sbatch --parsable


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [
        ("25\n", "25"),
        ("25;cluster\n", "25"),
        ("25", "25"),
        ("1234567\n", "1234567"),
    ],
)
def test_parse_submit_job_id(slurm: SlurmScheduler, stdout: str, job_id: str) -> None:
    assert slurm.parse_submit(CommandResult(0, stdout, "")) == job_id


def test_parse_submit_ignores_a_warning_on_stderr(slurm: SlurmScheduler) -> None:
    result = CommandResult(
        0, "25\n", "sbatch: warning: can't honor --ntasks-per-node set to 2 which doesn't match\n"
    )
    assert slurm.parse_submit(result) == "25"


@pytest.mark.parametrize(
    ("returncode", "stderr", "message"),
    [
        (
            255,
            "sbatch: unrecognized option '--bogus'\n",
            "unrecognized option '--bogus'",
        ),
        (
            255,
            "sbatch: error: Invalid --time specification\n",
            "Invalid --time specification",
        ),
        (
            1,
            "sbatch: error: Batch job submission failed: Invalid partition name specified\n",
            "Batch job submission failed: Invalid partition name specified",
        ),
        (
            1,
            "sbatch: error: Batch job submission failed: Requested node configuration is not available\n",
            "Batch job submission failed: Requested node configuration is not available",
        ),
        (
            1,
            "sbatch: error: This does not look like a batch script.  The first\n"
            "sbatch: error: line must start with #! followed by the path to an interpreter.\n"
            "sbatch: error: For instance: #!/bin/sh\n",
            "This does not look like a batch script.  The first\n"
            "line must start with #! followed by the path to an interpreter.\n"
            "For instance: #!/bin/sh",
        ),
    ],
    ids=["unknown-option", "bad-time", "bad-partition", "no-node-config", "no-shebang"],
)
def test_parse_submit_errors_carry_slurms_words(
    slurm: SlurmScheduler, returncode: int, stderr: str, message: str
) -> None:
    with pytest.raises(SubmitError) as info:
        slurm.parse_submit(CommandResult(returncode, "", stderr))
    assert info.value.scheduler_message == message
    assert info.value.returncode == returncode
    assert "sbatch: error:" not in str(info.value)


@pytest.mark.parametrize(
    "stdout",
    ["", "\n", "Submitted batch job 25\n", "abc;cluster\n", "abc\n", "25 26\n"],
)
def test_parse_submit_rc0_without_job_id_is_an_error(slurm: SlurmScheduler, stdout: str) -> None:
    with pytest.raises(SubmitError) as info:
        slurm.parse_submit(CommandResult(0, stdout, ""))
    assert info.value.scheduler_message.startswith("sbatch printed no job id: ")
    assert info.value.returncode == 0


# ---------------------------------------------------------------------------
# squeue --format=%i|%T|%B|%r|%S


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("25|PENDING|n/a|None|N/A", JobStatus("25", JobState.PENDING, "PENDING")),
        (
            "25|PENDING|n/a|Priority|2026-11-25T21:00:00",
            JobStatus("25", JobState.PENDING, "PENDING", reason="Priority", start_time="2026-11-25T21:00:00"),
        ),
        ("25|PENDING|n/a|Resources|N/A", JobStatus("25", JobState.PENDING, "PENDING", reason="Resources")),
        (
            "25|PENDING|n/a|JobHeldUser|N/A",
            JobStatus("25", JobState.HELD, "PENDING", reason="JobHeldUser"),
        ),
        (
            "25|RUNNING|localhost|None|2026-11-25T20:14:03",
            JobStatus("25", JobState.RUNNING, "RUNNING", host="localhost", start_time="2026-11-25T20:14:03"),
        ),
        (
            "25|COMPLETING|localhost|None|2026-11-25T20:14:03",
            JobStatus(
                "25", JobState.FINISHING, "COMPLETING", host="localhost", start_time="2026-11-25T20:14:03"
            ),
        ),
        (
            "25|COMPLETED|localhost|None|2026-11-25T20:14:03",
            JobStatus(
                "25", JobState.FINISHED, "COMPLETED", host="localhost", start_time="2026-11-25T20:14:03"
            ),
        ),
        (
            "25|FAILED|localhost|NonZeroExitCode|2026-11-25T20:14:03",
            JobStatus(
                "25",
                JobState.FINISHED,
                "FAILED",
                host="localhost",
                reason="NonZeroExitCode",
                start_time="2026-11-25T20:14:03",
            ),
        ),
        (
            "25|CANCELLED|localhost|None|2026-11-25T20:14:03",
            JobStatus(
                "25", JobState.FINISHED, "CANCELLED", host="localhost", start_time="2026-11-25T20:14:03"
            ),
        ),
        (
            "25|TIMEOUT|localhost|TimeLimit|2026-11-25T20:14:03",
            JobStatus(
                "25",
                JobState.FINISHED,
                "TIMEOUT",
                host="localhost",
                reason="TimeLimit",
                start_time="2026-11-25T20:14:03",
            ),
        ),
    ],
    ids=[
        "pending-none",
        "pending-priority",
        "pending-resources",
        "pending-held",
        "running",
        "completing",
        "completed",
        "failed",
        "cancelled",
        "timeout",
    ],
)
def test_parse_status_recorded_lines(slurm: SlurmScheduler, line: str, expected: JobStatus) -> None:
    statuses = slurm.parse_status(["25"], squeue(line + "\n"))
    assert statuses == {"25": expected}
    # every field, including exit_code, which squeue does not give
    got = statuses["25"]
    assert (got.host, got.reason, got.start_time, got.exit_code) == (
        expected.host,
        expected.reason,
        expected.start_time,
        None,
    )


# squeue --format=%i|%T|%B|%r|%S|%l|%e, printed by Slurm 22.05 on the test cluster (as erin,
# 2026-12-04): a 3-minute job running, a 30-second one finished (squeue rounds the limit up
# to the minute), a held 26-hour one, both cancelled, and one without a limit.
RECORDED_TIMES = """\
5675|COMPLETED|localhost|None|2026-12-04T16:28:24|1:00|2026-12-04T16:28:25
5674|PENDING|n/a|JobHeldUser|N/A|1-02:00:00|N/A
5673|RUNNING|localhost|None|2026-12-04T16:28:24|3:00|2026-12-04T16:31:24
5676|RUNNING|localhost|None|2026-12-04T16:28:30|UNLIMITED|NONE
"""
RECORDED_TIMES_CANCELLED = """\
5673|CANCELLED|localhost|None|2026-12-04T16:28:24|3:00|2026-12-04T16:28:33
5674|CANCELLED|n/a|JobHeldUser|2026-12-04T16:28:33|1-02:00:00|2026-12-04T16:28:33
5676|CANCELLED|localhost|None|2026-12-04T16:28:30|UNLIMITED|2026-12-04T16:28:34
"""


def test_parse_status_reads_start_time_limit_and_end(slurm: SlurmScheduler) -> None:
    got = slurm.parse_status(["5673", "5674", "5675", "5676"], squeue(RECORDED_TIMES))
    times = {jid: (s.start_time, s.time_limit_seconds, s.end_time) for jid, s in got.items()}
    assert times == {
        "5673": ("2026-12-04T16:28:24", 180, "2026-12-04T16:31:24"),
        "5674": (None, 93600, None),
        "5675": ("2026-12-04T16:28:24", 60, "2026-12-04T16:28:25"),
        "5676": ("2026-12-04T16:28:30", None, None),  # UNLIMITED, NONE
    }
    assert got["5674"].state is JobState.HELD and got["5673"].host == "localhost"


def test_parse_status_of_cancelled_jobs_keeps_their_times(slurm: SlurmScheduler) -> None:
    got = slurm.parse_status(["5673", "5674", "5676"], squeue(RECORDED_TIMES_CANCELLED))
    assert got["5673"].end_time == "2026-12-04T16:28:33" and got["5673"].time_limit_seconds == 180
    assert got["5676"].time_limit_seconds is None and got["5676"].end_time == "2026-12-04T16:28:34"
    assert all(s.state is JobState.FINISHED for s in got.values())


@pytest.mark.parametrize("limit", ["UNLIMITED", "INVALID", "NOT_SET", "N/A", "", "soon"])
def test_a_limit_squeue_cannot_give_is_none(slurm: SlurmScheduler, limit: str) -> None:
    line = f"25|RUNNING|c1|None|2026-12-04T16:28:24|{limit}|N/A\n"
    got = slurm.parse_status(["25"], squeue(line))["25"]
    assert got.state is JobState.RUNNING and got.time_limit_seconds is None and got.end_time is None


def test_a_line_of_six_fields_is_not_a_status(slurm: SlurmScheduler) -> None:
    with pytest.raises(StatusUnavailable):
        slurm.parse_status(["25"], squeue("25|RUNNING|c1|None|2026-12-04T16:28:24|3:00\n"))


# What each Slurm state means for the spawner: alive (poll() returns None) or finished.
EXPECTED_LONG = {
    "PENDING": "alive",
    "CONFIGURING": "alive",
    "REQUEUED": "alive",
    "REQUEUE_FED": "alive",
    "REQUEUE_HOLD": "alive",
    "RESV_DEL_HOLD": "alive",
    "SPECIAL_EXIT": "alive",
    "RUNNING": "alive",
    "RESIZING": "alive",
    "SIGNALING": "alive",
    "SUSPENDED": "alive",
    "STOPPED": "alive",
    "COMPLETING": "alive",
    "STAGE_OUT": "alive",
    "COMPLETED": "finished",
    "CANCELLED": "finished",
    "FAILED": "finished",
    "TIMEOUT": "finished",
    "NODE_FAIL": "finished",
    "BOOT_FAIL": "finished",
    "DEADLINE": "finished",
    "OUT_OF_MEMORY": "finished",
    "PREEMPTED": "finished",
    "REVOKED": "finished",
}

EXPECTED_CODES = {
    "BF": "finished",
    "CA": "finished",
    "CD": "finished",
    "CF": "alive",
    "CG": "alive",
    "DL": "finished",
    "F": "finished",
    "NF": "finished",
    "OOM": "finished",
    "PD": "alive",
    "PR": "finished",
    "R": "alive",
    "RD": "alive",
    "RF": "alive",
    "RH": "alive",
    "RQ": "alive",
    "RS": "alive",
    "RV": "finished",
    "SI": "alive",
    "SE": "alive",
    "SO": "alive",
    "ST": "alive",
    "S": "alive",
    "TO": "finished",
}


def test_expected_tables_cover_every_state() -> None:
    assert set(EXPECTED_LONG) == set(SLURM_STATES)
    assert set(EXPECTED_CODES) == set(SLURM_STATE_CODES)


def _assert_meaning(status: JobStatus, meaning: str) -> None:
    if meaning == "alive":
        assert status.alive is True
        assert status.state not in (JobState.FINISHED, JobState.GONE, JobState.UNKNOWN)
    else:
        assert status.alive is False
        assert status.state is JobState.FINISHED


@pytest.mark.parametrize(("word", "meaning"), sorted(EXPECTED_LONG.items()))
def test_every_long_state(slurm: SlurmScheduler, word: str, meaning: str) -> None:
    status = slurm.parse_status(["7"], squeue(f"7|{word}|node1|None|N/A\n"))["7"]
    assert status.raw_state == word
    _assert_meaning(status, meaning)


@pytest.mark.parametrize(("code", "meaning"), sorted(EXPECTED_CODES.items()))
def test_every_short_code(slurm: SlurmScheduler, code: str, meaning: str) -> None:
    status = slurm.parse_status(["7"], squeue(f"7|{code}|node1|None|N/A\n"))["7"]
    assert status.raw_state == code
    _assert_meaning(status, meaning)


def test_state_with_suffix(slurm: SlurmScheduler) -> None:
    status = slurm.parse_status(["25"], squeue("25|CANCELLED by 1000|localhost|None|N/A\n"))["25"]
    assert status == JobStatus("25", JobState.FINISHED, "CANCELLED", host="localhost")


def test_unknown_state_word_is_alive(slurm: SlurmScheduler) -> None:
    status = slurm.parse_status(["25"], squeue("25|WIBBLING|localhost|None|N/A\n"))["25"]
    assert status == JobStatus("25", JobState.UNKNOWN, "WIBBLING", host="localhost")
    assert status.alive is True


def test_na_host_and_start_are_none(slurm: SlurmScheduler) -> None:
    status = slurm.parse_status(["25"], squeue("25|PENDING|n/a|Priority|N/A\n"))["25"]
    assert status.host is None
    assert status.start_time is None
    assert status.reason == "Priority"


def test_several_jobs_in_one_answer(slurm: SlurmScheduler) -> None:
    out = "25|RUNNING|localhost|None|2026-11-25T20:14:03\n26|PENDING|n/a|Resources|N/A\n"
    statuses = slurm.parse_status(["25", "26"], squeue(out))
    assert statuses == {
        "25": JobStatus(
            "25", JobState.RUNNING, "RUNNING", host="localhost", start_time="2026-11-25T20:14:03"
        ),
        "26": JobStatus("26", JobState.PENDING, "PENDING", reason="Resources"),
    }


def test_lines_for_jobs_not_asked_are_ignored(slurm: SlurmScheduler) -> None:
    out = "99|RUNNING|localhost|None|N/A\n25|RUNNING|localhost|None|N/A\n"
    assert set(slurm.parse_status(["25"], squeue(out))) == {"25"}


def test_unchanged_lines_reuse_the_previous_answers_statuses(slurm: SlurmScheduler) -> None:
    first = slurm.parse_status(
        ["25", "26"], squeue("25|RUNNING|localhost|None|N/A\n26|PENDING|n/a|Priority|N/A\n")
    )
    second = slurm.parse_status(
        ["25", "26"], squeue("25|RUNNING|localhost|None|N/A\n26|RUNNING|node2|None|N/A\n")
    )
    assert second["25"] is first["25"]
    assert second["26"] == JobStatus("26", JobState.RUNNING, "RUNNING", host="node2")
    # only the latest answer is remembered: a line seen two answers ago is parsed afresh
    third = slurm.parse_status(["26"], squeue("26|PENDING|n/a|Priority|N/A\n"))
    assert third["26"] == first["26"] and third["26"] is not first["26"]


def test_a_bad_line_is_not_remembered(slurm: SlurmScheduler) -> None:
    with pytest.raises(StatusUnavailable):
        slurm.parse_status(["25"], squeue("25|RUNNING\n"))
    with pytest.raises(StatusUnavailable):
        slurm.parse_status(["25"], squeue("25|RUNNING\n"))


# -- errors -------------------------------------------------------------------


def test_invalid_job_id_means_every_asked_job_is_gone(slurm: SlurmScheduler) -> None:
    result = squeue("", 1, "slurm_load_jobs error: Invalid job id specified\n")
    assert slurm.parse_status(["25", "26"], result) == {
        "25": JobStatus("25", JobState.GONE, "purged"),
        "26": JobStatus("26", JobState.GONE, "purged"),
    }
    assert not any(s.alive for s in slurm.parse_status(["25", "26"], result).values())


@pytest.mark.parametrize(
    "stderr",
    [
        "slurm_load_jobs error: Socket timed out on send/recv operation\n",
        "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n",
    ],
)
def test_controller_trouble_is_unavailable(slurm: SlurmScheduler, stderr: str) -> None:
    with pytest.raises(StatusUnavailable) as info:
        slurm.parse_status(["25"], squeue("", 1, stderr))
    assert stderr.strip() in str(info.value)


def test_rc1_without_output_is_unavailable(slurm: SlurmScheduler) -> None:
    with pytest.raises(StatusUnavailable):
        slurm.parse_status(["25"], squeue("", 1, ""))


def test_missing_ids_are_gone(slurm: SlurmScheduler) -> None:
    out = "26|RUNNING|localhost|None|N/A\n"
    statuses = slurm.parse_status(["25", "26", "27"], squeue(out))
    assert statuses == {
        "25": JobStatus("25", JobState.GONE, "not listed"),
        "26": JobStatus("26", JobState.RUNNING, "RUNNING", host="localhost"),
        "27": JobStatus("27", JobState.GONE, "not listed"),
    }


def test_empty_answer_means_gone(slurm: SlurmScheduler) -> None:
    assert slurm.parse_status(["25"], squeue("")) == {"25": JobStatus("25", JobState.GONE, "not listed")}


@pytest.mark.parametrize(
    "out",
    [
        "25|RUNNING|localhost\n",
        "25 RUNNING localhost None N/A\n",
        "25|RUNNING|localhost|None|N/A|extra\n",
        "26|RUNNING|localhost|None|N/A\nsqueue: error: something odd\n",
    ],
)
def test_malformed_line_is_unavailable(slurm: SlurmScheduler, out: str) -> None:
    with pytest.raises(StatusUnavailable):
        slurm.parse_status(["25", "26"], squeue(out))


# ---------------------------------------------------------------------------
# scontrol --oneliner show job

SCONTROL = (
    "JobId=25 JobName=jupyter-alice UserId=alice(1000) GroupId=alice(1000) MCS_label=N/A "
    "Priority=4294901757 Nice=0 Account=(null) QOS=(null) JobState={state} Reason=None "
    "Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode={exit} RunTime=00:00:07 "
    "TimeLimit=08:00:00 TimeMin=N/A SubmitTime=2026-11-25T20:14:02 EligibleTime=2026-11-25T20:14:02 "
    "AccrueTime=2026-11-25T20:14:02 StartTime=2026-11-25T20:14:03 EndTime=2026-11-25T20:14:10 "
    "Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-25T20:14:03 Scheduler=Main "
    "Partition=debug AllocNode:Sid=localhost:4242 ReqNodeList=(null) ExcNodeList=(null) "
    "NodeList=localhost BatchHost=localhost NumNodes=1 NumCPUs=2 NumTasks=1 CPUs/Task=2 "
    "ReqB:S:C:T=0:0:*:* TRES=cpu=2,mem=4G,node=1,billing=2 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* "
    "CoreSpec=* MinCPUsNode=2 MinMemoryNode=4G MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 "
    "OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) WorkDir=/home/alice "
    "StdErr=/home/alice/.batchspawner_x/alice/job-25.out StdIn=/dev/null "
    "StdOut=/home/alice/.batchspawner_x/alice/job-25.out Power=\n"
)


@pytest.mark.parametrize(
    ("state", "exit", "code"),
    [("COMPLETED", "0:0", 0), ("FAILED", "3:0", 3), ("CANCELLED", "0:15", 143), ("TIMEOUT", "0:15", 143)],
)
def test_exit_code_from_scontrol(state: str, exit: str, code: int) -> None:
    text = SCONTROL.format(state=state, exit=exit)
    assert exit_code_from_scontrol(text) == code
    assert SlurmScheduler().parse_exit_code(text) == code


def test_exit_code_missing() -> None:
    text = SCONTROL.replace("ExitCode={exit} ", "").format(state="COMPLETED")
    assert "ExitCode" not in text
    assert exit_code_from_scontrol(text) is None
    assert exit_code_from_scontrol("") is None
    assert exit_code_from_scontrol("slurm_load_jobs error: Invalid job id specified\n") is None


def test_exit_code_ignores_derived_exit_code() -> None:
    text = "JobId=25 JobState=FAILED DerivedExitCode=9:0 Reboot=0 ExitCode=2:0 RunTime=00:00:07"
    assert exit_code_from_scontrol(text) == 2


# ---------------------------------------------------------------------------
# reasons and argv


def test_describe_reason(slurm: SlurmScheduler) -> None:
    assert slurm.describe_reason("Priority") == "other jobs have higher priority"
    assert slurm.describe_reason("Resources") == "waiting for the requested resources to become free"
    assert slurm.describe_reason("JobHeldUser") == "held by you (release it with scontrol release)"
    assert slurm.describe_reason("QOSMaxJobsPerUserLimit") == "you are at your QOS's limit of running jobs"
    assert slurm.describe_reason("WeirdNewReason") == "WeirdNewReason"


def test_argv_builders(slurm: SlurmScheduler) -> None:
    assert slurm.submit_argv() == ["sbatch", "--parsable"]
    assert slurm.status_argv(["25", "26", "27"]) == [
        "squeue",
        "--noheader",
        "--states=all",
        "--jobs=25,26,27",
        "--format=%i|%T|%B|%r|%S|%l|%e",
    ]
    assert slurm.cancel_argv("25") == ["scancel", "25"]
    assert slurm.exit_code_argv("25") == ["scontrol", "--oneliner", "show", "job", "25"]
    assert SlurmScheduler.output_name("25") == "job-25.out"


def test_command_overrides() -> None:
    custom = SlurmScheduler({"status": "/opt/slurm/bin/squeue"})
    assert custom.status_argv(["25"]) == [
        "/opt/slurm/bin/squeue",
        "--noheader",
        "--states=all",
        "--jobs=25",
        "--format=%i|%T|%B|%r|%S|%l|%e",
    ]
    assert custom.submit_argv() == ["sbatch", "--parsable"]
    assert custom.cancel_argv("25") == ["scancel", "25"]
    # the class defaults are not changed by one instance's overrides
    assert SlurmScheduler().status_argv(["25"])[0] == "squeue"
    assert SlurmScheduler.default_commands["status"] == "squeue"


def test_all_commands_overridable() -> None:
    custom = SlurmScheduler(
        {"submit": "/s/sbatch", "status": "/s/squeue", "cancel": "/s/scancel", "info": "/s/scontrol"}
    )
    assert custom.submit_argv()[0] == "/s/sbatch"
    assert custom.cancel_argv("1") == ["/s/scancel", "1"]
    assert custom.exit_code_argv("1")[0] == "/s/scontrol"


def test_cancel_failed(slurm: SlurmScheduler) -> None:
    assert slurm.cancel_failed(CommandResult(0, "", "")) is None
    assert (
        slurm.cancel_failed(CommandResult(1, "", "scancel: error: Kill job error on job id 25\n"))
        == "scancel: error: Kill job error on job id 25"
    )


@pytest.mark.parametrize("reason", ["JobHeldUser", "JobHeldAdmin"])
def test_held_pending_job_is_held_and_alive(reason: str) -> None:
    status = parse_squeue_line(f"31|PENDING|n/a|{reason}|N/A")
    assert status.state is JobState.HELD
    assert status.alive and status.state.queued
