"""PBSProScheduler and TorqueScheduler fed the output formats in shared/scheduler-formats.md.

PBS Pro: ``qsub`` prints ``123.pbs-server``; ``qstat -x -f -F json`` prints one
JSON document (``Jobs`` keyed by full id) with ``job_state``, ``exec_host``
(``node01/0*4``), ``comment`` and, for finished jobs, ``Exit_status``; unknown
ids are reported on stderr (``qstat: Unknown Job Id 123.srv``, exit 153).
Torque: ``qstat -x`` prints single-line XML, ``<Data><Job>...</Job></Data>``,
``exec_host`` as ``node01/0+node01/1``, ``exit_status`` for ``C`` jobs, and
``qstat: Unknown Job Id Error 123.srv`` once a completed job is purged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchspawner_x.errors import SubmitError
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.pbs import (
    PBSPRO_STATES,
    TORQUE_STATES,
    PBSProScheduler,
    TorqueScheduler,
    exit_code_from_pbs,
    first_exec_host,
    same_job,
)
from batchspawner_x.states import JobState, JobStatus, StatusUnavailable


@pytest.fixture
def pbs() -> PBSProScheduler:
    return PBSProScheduler()


@pytest.fixture
def torque() -> TorqueScheduler:
    return TorqueScheduler()


# ---------------------------------------------------------------------------
# qsub


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [
        ("123.pbs-server\n", "123.pbs-server"),
        ("123.pbs-server", "123.pbs-server"),
        ("4567.pbs01.cluster.example.edu\n", "4567.pbs01.cluster.example.edu"),
        ("123[].pbs-server\n", "123[].pbs-server"),
        ("123\n", "123"),
    ],
)
@pytest.mark.parametrize("scheduler", [PBSProScheduler(), TorqueScheduler()], ids=["pbspro", "torque"])
def test_parse_submit_keeps_the_full_id(scheduler: PBSProScheduler, stdout: str, job_id: str) -> None:
    assert scheduler.parse_submit(CommandResult(0, stdout, "")) == job_id


def test_submit_reads_the_script_on_stdin(pbs: PBSProScheduler, torque: TorqueScheduler) -> None:
    assert pbs.submit_argv() == ["qsub"]
    assert torque.submit_argv() == ["qsub"]
    assert PBSProScheduler({"submit": "/opt/pbs/bin/qsub"}).submit_argv() == ["/opt/pbs/bin/qsub"]


@pytest.mark.parametrize(
    ("returncode", "stderr", "message"),
    [
        (174, "qsub: Unknown queue\n", "Unknown queue"),
        (
            188,
            "qsub: Job violates queue and/or server resource limits\n",
            "Job violates queue and/or server resource limits",
        ),
        (2, "qsub: Unknown resource Resource_List.foo\n", "Unknown resource Resource_List.foo"),
        (
            2,
            "qsub: Illegal attribute or resource value Resource_List.walltime\n",
            "Illegal attribute or resource value Resource_List.walltime",
        ),
        (
            170,
            "qsub: submit error (Unknown queue MSG=requested queue not found)\n",
            "submit error (Unknown queue MSG=requested queue not found)",
        ),
        (
            188,
            "qsub: submit error (Job exceeds queue resource limits MSG=cannot locate feasible nodes "
            "(nodes file is empty or all systems are busy))\n",
            "submit error (Job exceeds queue resource limits MSG=cannot locate feasible nodes "
            "(nodes file is empty or all systems are busy))",
        ),
        (1, "qsub: Job rejected by all possible destinations\n", "Job rejected by all possible destinations"),
    ],
    ids=[
        "unknown-queue",
        "limits",
        "unknown-resource",
        "bad-walltime",
        "torque-queue",
        "torque-limits",
        "routing",
    ],
)
def test_parse_submit_errors_carry_the_schedulers_words(
    pbs: PBSProScheduler, returncode: int, stderr: str, message: str
) -> None:
    with pytest.raises(SubmitError) as info:
        pbs.parse_submit(CommandResult(returncode, "", stderr))
    assert info.value.scheduler_message == message
    assert info.value.returncode == returncode


@pytest.mark.parametrize("stdout", ["", "\n", "Job submitted\n", "abc.pbs-server\n", "12 13\n"])
def test_parse_submit_without_a_job_id_is_an_error(pbs: PBSProScheduler, stdout: str) -> None:
    with pytest.raises(SubmitError) as info:
        pbs.parse_submit(CommandResult(0, stdout, ""))
    assert info.value.scheduler_message.startswith("qsub printed no job id: ")


# ---------------------------------------------------------------------------
# PBS Pro: qstat -x -f -F json


def test_status_asks_about_every_job_at_once(pbs: PBSProScheduler, torque: TorqueScheduler) -> None:
    ids = ["12.pbs-server", "13.pbs-server", "14.pbs-server"]
    assert pbs.status_argv(ids) == ["qstat", "-x", "-f", "-F", "json", *ids]
    assert torque.status_argv(ids) == ["qstat", "-x", *ids]


def pbs_json(jobs: dict[str, dict[str, Any]]) -> str:
    document: dict[str, Any] = {"timestamp": 1764100000, "pbs_version": "19.1.3", "pbs_server": "pbs-server"}
    if jobs:
        document["Jobs"] = jobs
    return json.dumps(document, indent=4, separators=(",", ":")) + "\n"


QUEUED = {
    "Job_Name": "jupyter-alice",
    "Job_Owner": "alice@login01",
    "job_state": "Q",
    "queue": "workq",
    "server": "pbs-server",
    "Resource_List": {"ncpus": 2, "nodect": 1, "select": "1:ncpus=2:mem=4096mb", "walltime": "08:00:00"},
    "substate": 10,
    "comment": "Not Running: Insufficient amount of resource: ncpus (R: 2 A: 0 T: 64)",
    "estimated": {"exec_vnode": "(node01:ncpus=2)", "start_time": "Tue Nov 25 21:00:00 2025"},
}
RUNNING = {
    "Job_Name": "jupyter-bob",
    "job_state": "R",
    "queue": "workq",
    "exec_host": "node01/0*4",
    "exec_vnode": "(node01:ncpus=4)",
    "session_id": 4242,
    "substate": 42,
    "comment": "Job run at Tue Nov 25 at 20:14 on (node01:ncpus=4)",
}
FINISHED = {
    "Job_Name": "jupyter-carol",
    "job_state": "F",
    "queue": "workq",
    "exec_host": "node02/0*2+node03/0*2",
    "substate": 92,
    "comment": "Job run at Tue Nov 25 at 20:14 on (node02:ncpus=2) and finished",
    "Exit_status": 3,
}


def test_pbspro_queued_running_finished(pbs: PBSProScheduler) -> None:
    ids = ["12.pbs-server", "13.pbs-server", "14.pbs-server"]
    out = pbs_json({"12.pbs-server": QUEUED, "13.pbs-server": RUNNING, "14.pbs-server": FINISHED})
    statuses = pbs.parse_status(ids, CommandResult(0, out, ""))
    assert statuses["12.pbs-server"] == JobStatus(
        "12.pbs-server",
        JobState.PENDING,
        "Q",
        reason="Not Running: Insufficient amount of resource: ncpus (R: 2 A: 0 T: 64)",
        start_time="Tue Nov 25 21:00:00 2025",
        time_limit_seconds=28800,
    )
    assert statuses["13.pbs-server"] == JobStatus("13.pbs-server", JobState.RUNNING, "R", host="node01")
    assert statuses["14.pbs-server"] == JobStatus(
        "14.pbs-server", JobState.FINISHED, "F", host="node02", exit_code=3
    )
    assert statuses["14.pbs-server"].extra["Exit_status"] == "3"


@pytest.mark.parametrize(
    ("code", "state", "expected"),
    [
        ("B", JobState.RUNNING, True),
        ("E", JobState.FINISHING, True),
        ("F", JobState.FINISHED, False),
        ("H", JobState.HELD, True),
        ("M", JobState.PENDING, True),
        ("Q", JobState.PENDING, True),
        ("R", JobState.RUNNING, True),
        ("S", JobState.SUSPENDED, True),
        ("T", JobState.PENDING, True),
        ("U", JobState.SUSPENDED, True),
        ("W", JobState.PENDING, True),
        ("X", JobState.FINISHED, False),
        ("Z", JobState.UNKNOWN, True),  # a state we do not know is never a death
    ],
)
def test_pbspro_every_state(pbs: PBSProScheduler, code: str, state: JobState, expected: bool) -> None:
    out = pbs_json({"7.srv": {"job_state": code, "queue": "workq"}})
    status = pbs.parse_status(["7.srv"], CommandResult(0, out, ""))["7.srv"]
    assert status.state is state
    assert status.raw_state == code
    assert status.alive is expected


def test_pbspro_state_table_is_complete() -> None:
    assert set(PBSPRO_STATES) == set("BEFHMQRSTUWX")
    assert set(TORQUE_STATES) == set("CEHQRTWS")


def test_pbspro_held_job_shows_its_comment(pbs: PBSProScheduler) -> None:
    held = {"job_state": "H", "Hold_Types": "u", "comment": "Job held by alice on Tue Nov 25 20:14:03 2025"}
    status = pbs.parse_status(["7.srv"], CommandResult(0, pbs_json({"7.srv": held}), ""))["7.srv"]
    assert status.state is JobState.HELD
    assert status.reason == "Job held by alice on Tue Nov 25 20:14:03 2025"
    assert pbs.describe_reason(status.reason) == "held by you or an administrator (release it with qrls)"


def test_pbspro_running_job_has_no_pending_reason(pbs: PBSProScheduler) -> None:
    status = pbs.parse_status(["13.srv"], CommandResult(0, pbs_json({"13.srv": RUNNING}), ""))["13.srv"]
    assert status.reason is None


def test_pbspro_finished_job_killed_by_signal(pbs: PBSProScheduler) -> None:
    deleted = {"job_state": "F", "exec_host": "node01/0*2", "Exit_status": 271}
    status = pbs.parse_status(["7.srv"], CommandResult(0, pbs_json({"7.srv": deleted}), ""))["7.srv"]
    assert status.exit_code == 143  # SIGTERM from qdel, as a shell reports it


def test_pbspro_finished_without_exit_status(pbs: PBSProScheduler) -> None:
    # a job deleted while it was queued never ran: no Exit_status
    status = pbs.parse_status(["7.srv"], CommandResult(0, pbs_json({"7.srv": {"job_state": "F"}}), ""))[
        "7.srv"
    ]
    assert status.state is JobState.FINISHED and status.exit_code is None and status.host is None


def test_pbspro_some_ids_unknown(pbs: PBSProScheduler) -> None:
    out = pbs_json({"13.pbs-server": RUNNING})
    result = CommandResult(153, out, "qstat: Unknown Job Id 12.pbs-server\n")
    statuses = pbs.parse_status(["12.pbs-server", "13.pbs-server"], result)
    assert statuses["12.pbs-server"] == JobStatus("12.pbs-server", JobState.GONE, "unknown to the server")
    assert statuses["13.pbs-server"].state is JobState.RUNNING


@pytest.mark.parametrize("stdout", ["", pbs_json({})])
def test_pbspro_every_id_unknown_means_gone(pbs: PBSProScheduler, stdout: str) -> None:
    stderr = "qstat: Unknown Job Id 12.pbs-server\nqstat: Unknown Job Id 14.pbs-server\n"
    statuses = pbs.parse_status(["12.pbs-server", "14.pbs-server"], CommandResult(153, stdout, stderr))
    assert {s.state for s in statuses.values()} == {JobState.GONE}
    assert sorted(statuses) == ["12.pbs-server", "14.pbs-server"]


def test_pbspro_finished_without_history_option(pbs: PBSProScheduler) -> None:
    stderr = "qstat: 12.pbs-server Job has finished, use -x or -H to obtain historical job information\n"
    status = pbs.parse_status(["12.pbs-server"], CommandResult(35, "", stderr))["12.pbs-server"]
    assert status.state is JobState.FINISHED and not status.alive


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr"),
    [
        (2, "", "Connection refused\nqstat: cannot connect to server pbs-server (errno=15010)\n"),
        (1, "", "qstat: Communication failure.\n"),
        (
            15,
            "",
            "pbs_iff: cannot connect to host\nNo Permission.\nqstat: cannot connect to server pbs-server\n",
        ),
        (0, '{\n    "timestamp":17641', ""),  # cut off
        (0, "Job id  Name  User  Time Use S Queue\n", ""),  # not JSON
        (0, '{"timestamp":1,"Jobs":[]}', ""),
        (0, pbs_json({}), ""),  # an asked job missing without an error line
        (-1, "", ""),
    ],
    ids=["refused", "comm-failure", "iff", "truncated", "table", "jobs-not-object", "silent", "killed"],
)
def test_pbspro_unreliable_answers_are_never_a_death(
    pbs: PBSProScheduler, returncode: int, stdout: str, stderr: str
) -> None:
    with pytest.raises(StatusUnavailable):
        pbs.parse_status(["12.pbs-server"], CommandResult(returncode, stdout, stderr))


def test_pbspro_unknown_line_beside_an_error_is_unavailable(pbs: PBSProScheduler) -> None:
    stderr = "qstat: Unknown Job Id 12.pbs-server\nqstat: cannot connect to server pbs-server (errno=15010)\n"
    with pytest.raises(StatusUnavailable, match="cannot connect"):
        pbs.parse_status(["12.pbs-server", "13.pbs-server"], CommandResult(2, "", stderr))


def test_pbspro_server_written_with_its_domain(pbs: PBSProScheduler) -> None:
    out = pbs_json({"13.pbs-server.example.edu": RUNNING})
    status = pbs.parse_status(["13.pbs-server"], CommandResult(0, out, ""))["13.pbs-server"]
    assert status.job_id == "13.pbs-server" and status.state is JobState.RUNNING


def test_pbspro_control_characters_in_variables_do_not_break_parsing(pbs: PBSProScheduler) -> None:
    out = pbs_json({"13.srv": {**RUNNING, "Variable_List": {"PBS_O_X": "TAB"}}}).replace("TAB", "a\tb")
    assert pbs.parse_status(["13.srv"], CommandResult(0, out, ""))["13.srv"].state is JobState.RUNNING


def test_pbspro_running_job_has_its_start_and_time_limit(pbs: PBSProScheduler) -> None:
    # stime and Resource_List.walltime, as PBS Pro's qstat -f -F json prints them
    # (PBS Pro reference guide; the tests' emulator prints the same)
    running = {**RUNNING, "stime": "Fri Dec  4 16:28:24 2026", "Resource_List": {"walltime": "36:00:00"}}
    status = pbs.parse_status(["13.srv"], CommandResult(0, pbs_json({"13.srv": running}), ""))["13.srv"]
    assert (status.start_time, status.time_limit_seconds, status.end_time) == (
        "Fri Dec  4 16:28:24 2026",
        129600,
        None,
    )
    no_limit = {**RUNNING, "stime": "Fri Dec  4 16:28:24 2026", "Resource_List": {"ncpus": 4}}
    status = pbs.parse_status(["13.srv"], CommandResult(0, pbs_json({"13.srv": no_limit}), ""))["13.srv"]
    assert status.time_limit_seconds is None


# ---------------------------------------------------------------------------
# Torque: qstat -x


def torque_job(job_id: str, state: str, **fields: str) -> str:
    body = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
    return (
        f"<Job><Job_Id>{job_id}</Job_Id><Job_Name>jupyter-alice</Job_Name><Job_Owner>alice@login01</Job_Owner>"
        f"<job_state>{state}</job_state><queue>batch</queue><server>torque-server</server>{body}</Job>"
    )


def test_torque_queued_running_completed(torque: TorqueScheduler) -> None:
    out = (
        "<Data>"
        + torque_job("12.torque-server", "Q")
        + torque_job("13.torque-server", "R", exec_host="node01/0+node01/1", session_id="4242")
        + torque_job("14.torque-server", "C", exec_host="node02/0", exit_status="0")
        + "</Data>\n"
    )
    ids = ["12.torque-server", "13.torque-server", "14.torque-server"]
    statuses = torque.parse_status(ids, CommandResult(0, out, ""))
    assert statuses["12.torque-server"] == JobStatus("12.torque-server", JobState.PENDING, "Q")
    assert statuses["13.torque-server"] == JobStatus("13.torque-server", JobState.RUNNING, "R", host="node01")
    assert statuses["14.torque-server"] == JobStatus(
        "14.torque-server", JobState.FINISHED, "C", host="node02", exit_code=0
    )


def test_torque_running_job_has_its_start_and_time_limit(torque: TorqueScheduler) -> None:
    # start_time in seconds since the epoch and Resource_List/walltime, as Torque's qstat -x
    # prints them (Torque's manual; the tests' emulator prints the same)
    job = torque_job(
        "13.srv",
        "R",
        exec_host="node01/0",
        Resource_List="<nodes>1</nodes><walltime>00:03:00</walltime>",
        start_time="1796401800",
    )
    status = torque.parse_status(["13.srv"], CommandResult(0, f"<Data>{job}</Data>", ""))["13.srv"]
    assert (status.start_time, status.time_limit_seconds) == ("1796401800", 180)
    queued = torque_job("12.srv", "Q", Resource_List="<walltime>01:00:00</walltime>")
    status = torque.parse_status(["12.srv"], CommandResult(0, f"<Data>{queued}</Data>", ""))["12.srv"]
    assert (status.start_time, status.time_limit_seconds) == (None, 3600)


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("C", JobState.FINISHED),
        ("E", JobState.FINISHING),
        ("H", JobState.HELD),
        ("Q", JobState.PENDING),
        ("R", JobState.RUNNING),
        ("T", JobState.PENDING),
        ("W", JobState.PENDING),
        ("S", JobState.SUSPENDED),
        ("Z", JobState.UNKNOWN),
    ],
)
def test_torque_every_state(torque: TorqueScheduler, code: str, state: JobState) -> None:
    out = "<Data>" + torque_job("7.srv", code) + "</Data>"
    assert torque.parse_status(["7.srv"], CommandResult(0, out, ""))["7.srv"].state is state


@pytest.mark.parametrize(
    ("exit_status", "code"),
    [("0", 0), ("3", 3), ("271", 143), ("265", 137), ("-1", -1)],
)
def test_torque_exit_status(torque: TorqueScheduler, exit_status: str, code: int) -> None:
    out = "<Data>" + torque_job("7.srv", "C", exit_status=exit_status) + "</Data>"
    assert torque.parse_status(["7.srv"], CommandResult(0, out, ""))["7.srv"].exit_code == code


def test_torque_one_document_per_operand(torque: TorqueScheduler) -> None:
    out = (
        '<?xml version="1.0"?>\n<Data>' + torque_job("12.srv", "R", exec_host="node05/0-3") + "</Data>\n"
        '<?xml version="1.0"?>\n<Data>' + torque_job("13.srv", "H", comment="job held by user") + "</Data>\n"
    )
    statuses = torque.parse_status(["12.srv", "13.srv"], CommandResult(0, out, ""))
    assert statuses["12.srv"].host == "node05"
    assert statuses["13.srv"].state is JobState.HELD and statuses["13.srv"].reason == "job held by user"


def test_torque_escaped_characters(torque: TorqueScheduler) -> None:
    out = "<Data>" + torque_job("12.srv", "R", Variable_List="A=1&amp;2,B=&lt;x&gt;") + "</Data>"
    assert torque.parse_status(["12.srv"], CommandResult(0, out, ""))["12.srv"].state is JobState.RUNNING


def test_torque_completed_then_purged(torque: TorqueScheduler) -> None:
    out = "<Data>" + torque_job("13.torque-server", "R", exec_host="node01/0") + "</Data>\n"
    stderr = "qstat: Unknown Job Id Error 12.torque-server\n"
    statuses = torque.parse_status(["12.torque-server", "13.torque-server"], CommandResult(153, out, stderr))
    assert statuses["12.torque-server"].state is JobState.GONE
    assert statuses["13.torque-server"].state is JobState.RUNNING
    only_unknown = CommandResult(153, "", stderr)
    assert torque.parse_status(["12.torque-server"], only_unknown)["12.torque-server"].state is JobState.GONE


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr"),
    [
        (2, "", "qstat: cannot connect to server torque-server (errno=111) Connection refused\n"),
        (1, "", "Cannot connect to specified server host 'torque-server'.\n"),
        (0, "<Data><Job><Job_Id>12.srv</Job_Id><job_state>R", ""),  # truncated
        (0, "Job ID  Name  User  Time Use S Queue\n", ""),
        (0, "", ""),  # nothing said about the job
    ],
    ids=["refused", "no-server", "truncated", "table", "silent"],
)
def test_torque_unreliable_answers_are_never_a_death(
    torque: TorqueScheduler, returncode: int, stdout: str, stderr: str
) -> None:
    with pytest.raises(StatusUnavailable):
        torque.parse_status(["12.srv"], CommandResult(returncode, stdout, stderr))


# ---------------------------------------------------------------------------
# qdel


def test_cancel_argv(pbs: PBSProScheduler) -> None:
    assert pbs.cancel_argv("12.pbs-server") == ["qdel", "12.pbs-server"]


@pytest.mark.parametrize(
    ("returncode", "stderr"),
    [
        (0, ""),
        (153, "qdel: Unknown Job Id 12.pbs-server\n"),
        (153, "qdel: Unknown Job Id Error 12.torque-server\n"),
        (35, "qdel: Job has finished 12.pbs-server\n"),
        (
            168,
            "qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE 12.torque-server\n",
        ),
    ],
    ids=["deleted", "pbspro-unknown", "torque-unknown", "pbspro-finished", "torque-complete"],
)
def test_cancel_of_a_finished_job_is_harmless(pbs: PBSProScheduler, returncode: int, stderr: str) -> None:
    assert pbs.cancel_failed(CommandResult(returncode, "", stderr)) is None


@pytest.mark.parametrize(
    "stderr",
    [
        "qdel: Unauthorized Request  12.pbs-server\n",
        "Connection refused\nqdel: cannot connect to server pbs-server (errno=15010)\n",
    ],
)
def test_cancel_failures_are_reported(pbs: PBSProScheduler, stderr: str) -> None:
    assert pbs.cancel_failed(CommandResult(159, "", stderr)) == stderr.strip()


# ---------------------------------------------------------------------------
# helpers and words


@pytest.mark.parametrize(
    ("value", "code"),
    [(0, 0), (1, 1), ("3", 3), (127, 127), (256, 256), (265, 137), (271, 143), (-1, -1), ("x", None)],
)
def test_exit_code_from_pbs(value: object, code: int | None) -> None:
    assert exit_code_from_pbs(value) == code


@pytest.mark.parametrize(
    ("exec_host", "host"),
    [
        ("node01/0*4", "node01"),
        ("node01/0*2+node02/0*2", "node01"),
        ("node01/0+node01/1", "node01"),
        ("node01.cluster/3", "node01.cluster"),
        ("", None),
        (None, None),
    ],
)
def test_first_exec_host(exec_host: str | None, host: str | None) -> None:
    assert first_exec_host(exec_host) == host


@pytest.mark.parametrize(
    ("asked", "reported", "same"),
    [
        ("12.srv", "12.srv", True),
        ("12.srv", "12.srv.example.edu", True),
        ("12.srv.example.edu", "12.srv", True),
        ("12", "12.srv", True),
        ("12.srv", "13.srv", False),
        ("12.srv", "12.other", False),
        ("12.srv", "12.srvx", False),
    ],
)
def test_same_job(asked: str, reported: str, same: bool) -> None:
    assert same_job(asked, reported) is same


@pytest.mark.parametrize(
    ("comment", "words"),
    [
        (
            "Not Running: Insufficient amount of resource: ncpus (R: 2 A: 0 T: 64)",
            "waiting for the requested resources to become free",
        ),
        (
            "Not Running: User has reached server running job limit.",
            "you are at the server's limit of running jobs",
        ),
        ("Not Running: Queue workq job limit has been reached.", "the queue is at its limit of jobs"),
        (
            "Not Running: Job would conflict with reservation or top job",
            "waiting behind a reservation or a higher-priority job",
        ),
        (
            "Not Running: Draining system to allow top job to run",
            "the system is draining to let a larger job start",
        ),
        (
            "Can Never Run: Insufficient amount of resource: ngpus (R: 9 A: 4 T: 4)",
            "the job can never run as requested: Insufficient amount of resource: ngpus (R: 9 A: 4 T: 4)",
        ),
        ("Something new from the scheduler", "Something new from the scheduler"),
    ],
)
def test_describe_reason(pbs: PBSProScheduler, comment: str, words: str) -> None:
    assert pbs.describe_reason(comment) == words


def test_names_and_templates() -> None:
    assert (PBSProScheduler.name, PBSProScheduler.display_name, PBSProScheduler.template) == (
        "pbs",
        "PBS Pro",
        "pbs.sh.j2",
    )
    assert (TorqueScheduler.name, TorqueScheduler.template) == ("torque", "torque.sh.j2")
    assert PBSProScheduler.job_id_placeholder is None and PBSProScheduler.output_name("12.srv") == "job.out"
