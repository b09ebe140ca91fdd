"""MoabScheduler fed the output formats in shared/scheduler-formats.md.

``msub`` prints the job id after an empty line; ``mdiag -j ID,ID --xml``
prints ``<Data>`` with one ``<job ... State="Running" ...>`` per job, the node
in the ``AllocNodeList`` of its ``<req>``, and ``CompletionCode`` once it has
ended; errors start with ``ERROR:``. Moab's full state list comes from its
documentation only.
"""

from __future__ import annotations

import pytest

from batchspawner_x import MoabSpawner
from batchspawner_x.errors import SubmitError
from batchspawner_x.handshake import server_file_text
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.moab import MOAB_STATES, MoabScheduler
from batchspawner_x.states import JobState, JobStatus, StatusUnavailable

from .fakes import make_spawner


@pytest.fixture
def moab() -> MoabScheduler:
    return MoabScheduler()


def job(job_id: str, state: str, req: str = "", **attrs: str) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return (
        f'<job AWDuration="12" Class="batch" EState="{state}" Group="alice" JobID="{job_id}" '
        f'JobName="jupyter-alice" State="{state}" SubmitTime="1764100000" User="alice"{extra}>'
        f'<req Index="0" ReqNodeProc="2" TCReqMin="2"{req}></req></job>'
    )


def data(*jobs: str) -> str:
    return "<Data>" + "".join(jobs) + "</Data>\n"


# ---------------------------------------------------------------------------
# msub


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [
        ("\n12\n", "12"),
        ("12\n", "12"),
        ("\nMoab.12\n", "Moab.12"),
        ("\n  1234567  \n", "1234567"),
        ("\n12.srv\n", "12.srv"),
    ],
)
def test_parse_submit(moab: MoabScheduler, stdout: str, job_id: str) -> None:
    assert moab.parse_submit(CommandResult(0, stdout, "")) == job_id


def test_commands(moab: MoabScheduler) -> None:
    assert moab.submit_argv() == ["msub"]
    assert moab.status_argv(["12", "13"]) == ["mdiag", "-j", "12,13", "--xml"]
    assert moab.cancel_argv("12") == ["mjobctl", "-c", "12"]


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr", "message"),
    [
        (
            1,
            "",
            "ERROR:    cannot submit job - class 'reject' does not exist\n",
            "cannot submit job - class 'reject' does not exist",
        ),
        (1, "", "ERROR:    cannot submit job\n", "cannot submit job"),
        (
            0,
            "\nERROR:    cannot submit job - invalid wallclock limit '99x'\n",
            "",
            "cannot submit job - invalid wallclock limit '99x'",
        ),
    ],
    ids=["bad-class", "bare", "error-with-rc-0"],
)
def test_parse_submit_errors_carry_moabs_words(
    moab: MoabScheduler, returncode: int, stdout: str, stderr: str, message: str
) -> None:
    with pytest.raises(SubmitError) as info:
        moab.parse_submit(CommandResult(returncode, stdout, stderr))
    assert info.value.scheduler_message == message


@pytest.mark.parametrize("stdout", ["", "\n\n", "job submitted\n"])
def test_parse_submit_without_a_job_id_is_an_error(moab: MoabScheduler, stdout: str) -> None:
    with pytest.raises(SubmitError, match="msub printed no job id"):
        moab.parse_submit(CommandResult(0, stdout, ""))


# ---------------------------------------------------------------------------
# mdiag -j --xml


def test_idle_running_completed(moab: MoabScheduler) -> None:
    out = data(
        job("12", "Idle", BlockReason="NoResources"),
        job("13", "Running", ' AllocNodeList="node01" AllocPartition="base"', StartTime="1764100100"),
        job("14", "Completed", ' AllocNodeList="node02"', CompletionCode="3", CompletionTime="1764100200"),
    )
    statuses = moab.parse_status(["12", "13", "14"], CommandResult(0, out, ""))
    assert statuses["12"] == JobStatus("12", JobState.PENDING, "Idle", reason="NoResources")
    assert statuses["13"] == JobStatus(
        "13", JobState.RUNNING, "Running", host="node01", start_time="1764100100"
    )
    assert statuses["14"] == JobStatus("14", JobState.FINISHED, "Completed", host="node02", exit_code=3)


def test_start_and_requested_walltime(moab: MoabScheduler) -> None:
    # StartTime (seconds since the epoch, 0 before the start) and ReqAWDuration (seconds), as
    # Moab's mdiag -j --xml prints them (Moab's reference; the tests' emulator prints the same)
    out = data(
        job("12", "Idle", StartTime="0", ReqAWDuration="3600"),
        job("13", "Running", ' AllocNodeList="node01"', StartTime="1796401800", ReqAWDuration="180"),
    )
    statuses = moab.parse_status(["12", "13"], CommandResult(0, out, ""))
    assert (statuses["12"].start_time, statuses["12"].time_limit_seconds) == (None, 3600)
    assert (statuses["13"].start_time, statuses["13"].time_limit_seconds) == ("1796401800", 180)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("Idle", JobState.PENDING),
        ("Starting", JobState.PENDING),
        ("Running", JobState.RUNNING),
        ("Hold", JobState.HELD),
        ("BatchHold", JobState.HELD),
        ("SystemHold", JobState.HELD),
        ("UserHold", JobState.HELD),
        ("Deferred", JobState.HELD),
        ("Suspended", JobState.SUSPENDED),
        ("Completed", JobState.FINISHED),
        ("Removed", JobState.FINISHED),
        ("Vacated", JobState.FINISHED),
        ("Staging", JobState.PENDING),
        ("Blocked", JobState.PENDING),
        ("NotQueued", JobState.HELD),
        ("SubmitErr", JobState.FINISHED),
        ("Migrated", JobState.UNKNOWN),  # not in our table: alive, never a death
    ],
)
def test_every_state(moab: MoabScheduler, state: str, expected: JobState) -> None:
    status = moab.parse_status(["12"], CommandResult(0, data(job("12", state)), ""))["12"]
    assert status.state is expected
    assert status.raw_state == state


def test_documented_states_are_all_mapped() -> None:
    documented = {"Idle", "Starting", "Running", "Hold", "BatchHold", "SystemHold", "UserHold"}
    documented |= {"Deferred", "Suspended", "Completed", "Removed", "Vacated"}
    assert documented <= set(MOAB_STATES)


def test_idle_with_a_hold_is_held(moab: MoabScheduler) -> None:
    status = moab.parse_status(["12"], CommandResult(0, data(job("12", "Idle", Hold="User")), ""))["12"]
    assert status.state is JobState.HELD
    assert status.reason == "User"
    assert moab.describe_reason(status.reason) == "held by you (release it with mjobctl -u)"


@pytest.mark.parametrize(
    ("nodes", "host"),
    [("node01", "node01"), ("node01,node02", "node01"), ("node07:4", "node07")],
)
def test_alloc_node_list(moab: MoabScheduler, nodes: str, host: str) -> None:
    out = data(job("12", "Running", f' AllocNodeList="{nodes}"'))
    assert moab.parse_status(["12"], CommandResult(0, out, ""))["12"].host == host


def test_alloc_node_list_on_the_job_element(moab: MoabScheduler) -> None:
    out = data(job("12", "Running", AllocNodeList="node03"))
    assert moab.parse_status(["12"], CommandResult(0, out, ""))["12"].host == "node03"


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [("0", 0), ("3", 3), ("271", 143), ("-1", -1), ("CNCLD(271)", 143), ("", None)],
)
def test_completion_code(moab: MoabScheduler, code: str, exit_code: int | None) -> None:
    out = data(job("12", "Removed", CompletionCode=code))
    assert moab.parse_status(["12"], CommandResult(0, out, ""))["12"].exit_code == exit_code


def test_a_job_no_longer_listed_is_gone(moab: MoabScheduler) -> None:
    out = data(job("13", "Running", ' AllocNodeList="node01"'))
    statuses = moab.parse_status(["12", "13"], CommandResult(0, out, ""))
    assert statuses["12"] == JobStatus("12", JobState.GONE, "not listed")
    assert statuses["13"].state is JobState.RUNNING
    empty = moab.parse_status(["12"], CommandResult(0, "<Data></Data>\n", ""))
    assert empty["12"].state is JobState.GONE


def test_ids_written_differently_still_match(moab: MoabScheduler) -> None:
    out = data(job("Moab.12", "Running", ' AllocNodeList="node01"'))
    assert moab.parse_status(["12"], CommandResult(0, out, ""))["12"].state is JobState.RUNNING


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr"),
    [
        (1, "", "ERROR:    cannot connect to Moab server 'head' port 42559 (server may not be running)\n"),
        (1, "", "ERROR:    user 'alice' is not authorized to run command 'mdiag'\n"),
        (0, "", "ERROR:    lost connection to server\n"),
        (0, "", ""),
        (0, '<Data><job JobID="12" State="Runn', ""),
        (0, "JobID   State Proc\n12  Running 2\n", ""),
    ],
    ids=["no-server", "not-authorized", "error-rc-0", "empty", "truncated", "not-xml"],
)
def test_unreliable_answers_are_never_a_death(
    moab: MoabScheduler, returncode: int, stdout: str, stderr: str
) -> None:
    with pytest.raises(StatusUnavailable):
        moab.parse_status(["12"], CommandResult(returncode, stdout, stderr))


# ---------------------------------------------------------------------------
# mjobctl -c


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr"),
    [(0, "job '12' cancelled\n", ""), (1, "", "ERROR:  invalid job specified (12)\n")],
    ids=["cancelled", "already-gone"],
)
def test_cancel_is_harmless_on_a_finished_job(
    moab: MoabScheduler, returncode: int, stdout: str, stderr: str
) -> None:
    assert moab.cancel_failed(CommandResult(returncode, stdout, stderr)) is None


def test_cancel_failure_is_reported(moab: MoabScheduler) -> None:
    result = CommandResult(1, "", "ERROR:  user 'bob' is not authorized to perform operation on job '12'\n")
    assert moab.cancel_failed(result) == "user 'bob' is not authorized to perform operation on job '12'"


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("NoResources", "waiting for the requested resources to become free"),
        ("ActivePolicy", "you are at a limit on running jobs"),
        ("Depend", "waiting for another job to finish"),
        ("Batch", "held by Moab because it could not be started; ask your administrators"),
        ("SomethingNew", "SomethingNew"),
    ],
)
def test_describe_reason(moab: MoabScheduler, reason: str, words: str) -> None:
    assert moab.describe_reason(reason) == words


# ---------------------------------------------------------------------------
# same job


@pytest.mark.parametrize(
    ("reported", "known", "same"),
    [
        ("Moab.12", "Moab.12", True),
        ("12", "Moab.12", True),  # MOAB_JOBID without the prefix msub printed
        ("Moab.12", "Moab.13", False),
        ("Moab.120", "Moab.12", False),
    ],
)
def test_same_job_compares_the_numbers(moab: MoabScheduler, reported: str, known: str, same: bool) -> None:
    assert moab.same_job(reported, known) is same


async def test_server_file_of_an_earlier_job_is_not_taken() -> None:
    """A server file left by Moab.12 (still running) is not the address of Moab.13."""
    spawner, transport = make_spawner(cls=MoabSpawner)
    spawner.job_id = "Moab.13"
    job_dir = "/home/alice/.batchspawner_x/alice"
    transport.files[f"{job_dir}/server.json"] = server_file_text("node7", 40001, "Moab.12").encode()
    assert await spawner._read_server_file(job_dir) is None
    transport.files[f"{job_dir}/server.json"] = server_file_text("node8", 40002, "Moab.13").encode()
    assert await spawner._read_server_file(job_dir) == ("node8", 40002)
