"""A job that ends while its server starts fails the spawn at once, with how it ended.

The cluster is a stand-in for one Slurm 22.05 job that answers with the lines the
test cluster printed (see shared/cluster.md): RUNNING, then, once its server command
has exited 3, COMPLETING for a moment and FAILED with ``ExitCode=3:0``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Sequence

import pytest
from tornado import web

from batchspawner_x import SlurmSpawner
from batchspawner_x.errors import JobEndedError
from batchspawner_x.job_end import final_status, has_ended, output_tail
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.states import JobState, JobStatus

from .claims import unwrap
from .fakes import FakeTransport, make_spawner

OUTPUT = "/home/alice/.batchspawner_x/alice/job-25.out"
LAST_WORDS = (
    b"batchspawner-x-singleuser: server will listen on 127.0.0.1:40123\n"
    b"notebook: cannot load the lab extension (broken environment)\n"
)


class OneSlurmJob(FakeTransport):
    """Job 25: RUNNING until :meth:`die`, then each squeue gives the next of ``ending``
    (the last one for ever after)."""

    def __init__(self, ending: Sequence[str] = ("COMPLETING", "FAILED")) -> None:
        super().__init__(self.slurm_answer)
        self.states = ["RUNNING"]
        self.ending = list(ending)
        self.files[OUTPUT] = LAST_WORDS

    def die(self) -> None:
        self.states = list(self.ending)

    def slurm_answer(self, argv: list[str]) -> CommandResult:
        argv = unwrap(argv)  # the submit command's claim is not what this is about
        state = self.states[0]
        if argv[0] == "sbatch":
            return CommandResult(0, "25\n")
        if argv[0] == "squeue":
            if len(self.states) > 1:
                self.states.pop(0)
            reason = "NonZeroExitCode" if state == "FAILED" else "None"
            return CommandResult(0, f"25|{state}|localhost|{reason}|2026-12-01T10:00:00\n")
        if argv[0] == "scontrol":
            code = "3:0" if state == "FAILED" else "0:0"
            return CommandResult(0, f"JobId=25 JobName=jupyter-alice JobState={state} ExitCode={code}\n")
        if argv[0] == "scancel":
            return CommandResult(0)
        if argv[:3] == ["rm", "-rf", "--"]:  # the submission's claim, once stopped
            return CommandResult(0)
        raise AssertionError(f"unexpected command {argv}")

    def ran(self, name: str) -> int:
        return sum(1 for argv in self.commands if unwrap(argv)[0] == name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawner_on(cluster: OneSlurmJob) -> SlurmSpawner:
    spawner, _ = make_spawner(
        transport=cluster, startup_poll_interval=0.1, status_interval=30, http_timeout=20
    )
    return spawner


async def reported(spawner: SlurmSpawner, port: int) -> None:
    """What the node side does once the job runs: report the address (within 10 s)."""

    async def report() -> None:
        while spawner.job_id != "25":
            await asyncio.sleep(0.01)
        assert spawner.accept_server_report(spawner.api_token, "127.0.0.1", port, "25")
        while not any("notebook server is starting" in e["message"] for e in spawner._events):
            await asyncio.sleep(0.01)

    await asyncio.wait_for(report(), 10)


# -- the error ------------------------------------------------------------------------------


def test_the_error_carries_how_the_job_ended_and_says_it() -> None:
    error = JobEndedError("25", "FAILED", 3, "notebook: cannot load the lab extension")
    assert (error.job_id, error.state, error.exit_code) == ("25", "FAILED", 3)
    assert error.output_tail == "notebook: cannot load the lab extension"
    assert str(error) == (
        "Job 25 ended before its notebook server started (FAILED, exit code 3). "
        "Last lines of its output:\nnotebook: cannot load the lab extension"
    )
    # a scheduler that gives no exit code, and a job that printed nothing
    quiet = JobEndedError("7", "purged", None, "")
    assert str(quiet) == "Job 7 ended before its notebook server started (purged)."


def test_output_tail_drops_a_line_cut_by_the_byte_limit() -> None:
    assert output_tail(b"first line\nsecond\nthird\n", 14) == "second\nthird"
    assert output_tail(b"short\n", 2000) == "short"
    assert output_tail(None, 2000) == ""
    assert output_tail(b"\xff broken\n", 2000) == "\ufffd broken"


@pytest.mark.parametrize(
    ("state", "ended"),
    [
        (JobState.RUNNING, False),
        (JobState.SUSPENDED, False),
        (JobState.UNKNOWN, False),
        (JobState.FINISHING, True),
        (JobState.FINISHED, True),
        (JobState.GONE, True),
    ],
)
def test_a_finishing_job_has_ended(state: JobState, ended: bool) -> None:
    assert has_ended(JobStatus("25", state)) is ended


# -- waiting for the final state ----------------------------------------------------------


async def test_a_completing_job_is_waited_for_until_its_exit_code_is_known() -> None:
    cluster = OneSlurmJob(["COMPLETING", "COMPLETING", "FAILED"])
    cluster.die()
    poller = await spawner_on(cluster).poller()
    first = await poller.status("25", max_age=0)
    assert first is not None and first.status.raw_state == "COMPLETING"
    final = await final_status(poller, "25", first)
    assert (final.status.raw_state, final.status.exit_code) == ("FAILED", 3)
    poller.close()


async def test_a_job_finishing_for_ever_is_reported_after_a_short_wait() -> None:
    cluster = OneSlurmJob(["COMPLETING"])
    cluster.die()
    poller = await spawner_on(cluster).poller()
    first = await poller.status("25", max_age=0)
    assert first is not None
    started = time.monotonic()
    final = await final_status(poller, "25", first, wait=1.0)
    assert 1.0 <= time.monotonic() - started < 3.0
    assert (final.status.raw_state, final.status.exit_code) == ("COMPLETING", None)
    poller.close()


async def test_a_job_requeued_through_completing_has_not_ended() -> None:
    # a node failure or preemption with requeue: COMPLETING for a moment, then PENDING again
    cluster = OneSlurmJob(["COMPLETING", "PENDING"])
    cluster.die()
    spawner = spawner_on(cluster)
    poller = await spawner.poller()
    first = await poller.status("25", max_age=0)
    assert first is not None and has_ended(first.status)
    assert await spawner._job_ended_error(first, "/home/alice/.batchspawner_x/alice") is None
    poller.close()


# -- a death after the report ---------------------------------------------------------------


async def test_a_server_that_exits_after_its_report_ends_the_wait_with_how_it_ended() -> None:
    cluster = OneSlurmJob()
    spawner = spawner_on(cluster)
    spawner.load_state({"job_id": "25", "job_dir": "/home/alice/.batchspawner_x/alice"})
    poller = await spawner.poller()
    poller.track("25", starting=True)
    assert await poller.status("25", max_age=0) is not None
    cluster.die()
    started = time.monotonic()
    with pytest.raises(JobEndedError) as caught:
        await spawner._wait_until_listening("127.0.0.1", free_port())
    assert time.monotonic() - started < 5, "seconds, not http_timeout"
    error = caught.value
    assert (error.job_id, error.state, error.exit_code) == ("25", "FAILED", 3)
    assert error.output_tail.endswith("notebook: cannot load the lab extension (broken environment)")
    poller.close()


async def test_start_fails_within_seconds_and_cancels_when_the_server_exits_after_its_report() -> None:
    cluster = OneSlurmJob()
    spawner = spawner_on(cluster)
    starting = asyncio.ensure_future(spawner.start())
    await reported(spawner, free_port())  # nothing will listen there
    poller = spawner._poller
    assert poller is not None
    cluster.die()
    started = time.monotonic()
    with pytest.raises(web.HTTPError) as caught:
        await starting
    assert time.monotonic() - started < 5, "seconds, not http_timeout"
    message = str(getattr(caught.value, "jupyterhub_message", None) or caught.value.log_message)
    assert "ended before its notebook server started (FAILED, exit code 3)" in message
    assert "notebook: cannot load the lab extension (broken environment)" in message
    assert caught.value.status_code == 500
    assert cluster.ran("scancel") == 1, "cleaned up as after any failed start"
    assert not spawner.job_id and "25" not in poller.tracked
    assert "/home/alice/.batchspawner_x/alice/env.json" not in cluster.files


# -- the fast interval ------------------------------------------------------------------------


async def test_the_job_is_asked_about_often_until_its_server_answers() -> None:
    cluster = OneSlurmJob()
    spawner = spawner_on(cluster)
    port = free_port()
    starting = asyncio.ensure_future(spawner.start())
    await reported(spawner, port)
    poller = spawner._poller
    assert poller is not None
    # reported, not yet listening: still in the fast interval
    await asyncio.sleep(0.5)
    assert "25" in poller.starting
    asked = cluster.ran("squeue")
    await asyncio.sleep(0.5)
    assert cluster.ran("squeue") >= asked + 2, "rounds every startup_poll_interval, not status_interval"
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
    try:
        assert await asyncio.wait_for(starting, 5) == ("127.0.0.1", port)
    finally:
        server.close()
    assert "25" not in poller.starting and "25" in poller.tracked
    poller.close()
