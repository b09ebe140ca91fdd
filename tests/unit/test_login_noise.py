"""A login shell that prints a line on every command (a ``.bashrc`` that echoes).

Every backend skips the lines it does not recognise, around recorded output of the
real commands, so that a job's end is still seen; an answer that holds nothing but
such lines, or leaves a job out beside lines never seen around a real answer, still
counts as a failed query, never as "every job gone". Submission and lookup parsing
take the job id from behind the greeting.
"""

from __future__ import annotations

import logging

import pytest

from batchspawner_x.poller import StatusPoller
from batchspawner_x.schedulers.base import CommandResult, Scheduler
from batchspawner_x.schedulers.condor import CondorScheduler, exit_code_from_history
from batchspawner_x.schedulers.lsf import LsfScheduler
from batchspawner_x.schedulers.moab import MoabScheduler
from batchspawner_x.schedulers.pbs import PBSProScheduler, TorqueScheduler
from batchspawner_x.schedulers.sge import GridengineScheduler
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.states import JobState, StatusUnavailable

from .fakes import FakeTransport
from .test_moab_parsing import data as moab_data
from .test_moab_parsing import job as moab_job
from .test_pbs_parsing import FINISHED, RUNNING, pbs_json, torque_job
from .test_sge_parsing import document as sge_document
from .test_sge_parsing import job as sge_job

#: What a site's ~/.bashrc printed on every command.
GREETING = "Welcome to the Example University cluster -- quota: 12G of 50G used"


def noisy(stdout: str, stderr: str = "", returncode: int = 0) -> CommandResult:
    return CommandResult(returncode, GREETING + "\n" + stdout, stderr)


# Each backend: (scheduler, job id, an answer listing it running, listing it ended,
# an answer that lists nothing: the job left the queue or was purged).
BACKENDS = {
    "slurm": (
        SlurmScheduler,
        "25",
        "25|RUNNING|node01|None|2026-11-25T20:14:03\n",
        "25|CANCELLED|node01|None|2026-11-25T20:14:03\n",
        "",
    ),
    "lsf": (LsfScheduler, "1815", "1815|RUN|node01|-|-\n", "1815|EXIT|node01|130|-\n", None),
    "condor": (
        CondorScheduler,
        "19",
        "19.0 2 slot1@node01.example.org undefined undefined undefined undefined\n",
        "19.0 4 slot1@node01.example.org 3 undefined undefined undefined\n",
        "",
    ),
    "sge": (
        GridengineScheduler,
        "6",
        sge_document(running=sge_job("6", "r", "all.q@node01", "running")),
        sge_document(running=sge_job("6", "z", "all.q@node01", "running")),
        sge_document(),
    ),
    "moab": (
        MoabScheduler,
        "12",
        moab_data(moab_job("12", "Running")),
        moab_data(moab_job("12", "Completed", CompletionCode="0")),
        moab_data(),
    ),
    "pbs": (
        PBSProScheduler,
        "12.pbs-server",
        pbs_json({"12.pbs-server": RUNNING}),
        pbs_json({"12.pbs-server": FINISHED}),
        None,
    ),
    "torque": (
        TorqueScheduler,
        "12.srv",
        "<Data>" + torque_job("12.srv", "R", exec_host="node01/0") + "</Data>\n",
        "<Data>" + torque_job("12.srv", "C", exec_host="node01/0", exit_status="0") + "</Data>\n",
        None,
    ),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_greeting_is_skipped_and_the_jobs_end_is_seen(backend: str) -> None:
    cls, jid, running, ended, _ = BACKENDS[backend]
    scheduler: Scheduler = cls()
    assert scheduler.parse_status([jid], noisy(running))[jid].state is JobState.RUNNING
    assert scheduler.parse_status([jid], noisy(ended))[jid].state is JobState.FINISHED
    # after the answer, too
    after = CommandResult(0, ended + GREETING + "\n", "")
    assert scheduler.parse_status([jid], after)[jid].state is JobState.FINISHED
    assert scheduler.unrecognised == {GREETING}


@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_but_a_greeting_is_a_failed_query_not_a_death(backend: str) -> None:
    cls, jid, *_ = BACKENDS[backend]
    with pytest.raises(StatusUnavailable):
        cls().parse_status([jid], CommandResult(0, GREETING + "\n", ""))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_error_exit_with_a_greeting_is_still_a_failed_query(backend: str) -> None:
    cls, jid, *_ = BACKENDS[backend]
    with pytest.raises(StatusUnavailable):
        cls().parse_status([jid], noisy("", "cannot connect to the server\n", returncode=2))


@pytest.mark.parametrize("backend", [b for b, spec in BACKENDS.items() if spec[4] is not None])
def test_a_greeting_known_from_real_answers_around_an_empty_answer_is_an_empty_answer(
    backend: str,
) -> None:
    cls, jid, running, _, empty = BACKENDS[backend]
    scheduler: Scheduler = cls()
    assert empty is not None
    # before the greeting was ever seen beside a real answer: not trusted
    with pytest.raises(StatusUnavailable):
        scheduler.parse_status([jid], noisy(empty))
    scheduler.parse_status([jid], noisy(running))  # seen around a complete answer: noise
    status = scheduler.parse_status([jid], noisy(empty))[jid]
    assert not status.alive, "the job left the queue, and that is seen"


def test_a_line_beside_an_incomplete_answer_is_not_trusted() -> None:
    # squeue listed one of two jobs and printed a line we do not know: the other job is not
    # taken for gone on the strength of that answer
    slurm = SlurmScheduler()
    out = "26|RUNNING|node01|None|N/A\nsqueue: error: something odd\n"
    with pytest.raises(StatusUnavailable, match="something odd"):
        slurm.parse_status(["25", "26"], CommandResult(0, out, ""))


def test_purged_jobs_are_gone_whatever_the_greeting() -> None:
    slurm = SlurmScheduler()
    purged = noisy("", "slurm_load_jobs error: Invalid job id specified\n", returncode=1)
    assert slurm.parse_status(["25"], purged)["25"].state is JobState.GONE
    pbs = PBSProScheduler()
    unknown = noisy("", "qstat: Unknown Job Id 12.pbs-server\n", returncode=153)
    assert pbs.parse_status(["12.pbs-server"], unknown)["12.pbs-server"].state is JobState.GONE
    lsf = LsfScheduler()
    assert lsf.parse_status(["1815"], noisy("", "Job <1815> is not found\n", 255))["1815"].state is (
        JobState.GONE
    )


@pytest.mark.parametrize(
    ("scheduler", "stdout", "job_id"),
    [
        (SlurmScheduler(), "25\n", "25"),
        (PBSProScheduler(), "12.pbs-server\n", "12.pbs-server"),
        (TorqueScheduler(), "12.srv\n", "12.srv"),
        (MoabScheduler(), "\n12\n", "12"),
        (GridengineScheduler(), 'Your job 6 ("jupyter-erin") has been submitted\n', "6"),
        (LsfScheduler(), "Job <1815> is submitted to default queue <normal>.\n", "1815"),
        (CondorScheduler(), "Submitting job(s).\n1 job(s) submitted to cluster 19.\n", "19"),
    ],
)
def test_submission_reads_the_id_behind_a_greeting(scheduler: Scheduler, stdout: str, job_id: str) -> None:
    assert scheduler.parse_submit(noisy(stdout)) == job_id


def test_lookup_and_exit_codes_behind_a_greeting() -> None:
    slurm = SlurmScheduler()
    found = slurm.parse_lookup("bsx-1", noisy("25|bsx-1\n26|other\n"))
    assert found == ["25"]
    assert slurm.parse_exit_code(GREETING + "\nJobId=25 JobState=FAILED ExitCode=3:0 NodeList=node01\n") == 3
    # a three-word greeting is not condor_history's "ExitBySignal ExitCode ExitSignal"
    assert exit_code_from_history("Welcome to Condor\nfalse 3 undefined\n") == 3


async def test_the_poller_logs_each_unrecognised_line_once(caplog: pytest.LogCaptureFixture) -> None:
    answer = noisy("25|RUNNING|node01|None|N/A\n")
    transport = FakeTransport([answer] * 3, delay=0)
    poller = StatusPoller(transport, SlurmScheduler(), interval=30, timeout=5, min_spacing=0)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            entry = await poller.status("25", max_age=0)
            assert entry is not None and entry.status.state is JobState.RUNNING and not entry.stale
    poller.close()
    logged = [r.getMessage() for r in caplog.records if GREETING in r.getMessage()]
    assert len(logged) == 1, logged
    assert "does not recognise" in logged[0] and "logged once" in logged[0]
