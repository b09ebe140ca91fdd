"""Cancelling through connection failures and scheduler hiccups (no cluster).

The real fault (the login node's sshd gone while a server is stopped) is in
tests/integration/test_faults.py; these pin the retry rules.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import pytest

from batchspawner_x import cancel
from batchspawner_x import spawner as spawner_module
from batchspawner_x.errors import CommandTimeout, HostKeyError, TransportError
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.transport import ConnectFailed

from .fakes import FakeTransport, make_spawner

Step = Callable[[list[str]], CommandResult]


def raises(error: TransportError) -> Step:
    def step(argv: list[str]) -> CommandResult:
        raise error

    return step


def answers(rc: int = 0, stdout: str = "", stderr: str = "") -> Step:
    return lambda argv: CommandResult(rc, stdout, stderr)


class ScriptedTransport(FakeTransport):
    """Answers the cancel commands with ``steps`` in turn (the last one repeats), and the
    status command with ``squeue``."""

    def __init__(self, steps: Sequence[Step], squeue: str = "25|RUNNING|n1|None|N/A\n") -> None:
        super().__init__(self.answer_next)
        self.steps = list(steps)
        self.squeue = squeue
        self.at: list[float] = []  # when each cancel command was sent

    def answer_next(self, argv: list[str]) -> CommandResult:
        if argv[0] == "squeue":
            return CommandResult(0, self.squeue)
        if argv[0] == "scontrol":
            return CommandResult(0, "JobId=25 JobState=CANCELLED ExitCode=0:15\n")
        self.at.append(time.monotonic())
        step = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        return step(argv)

    def cancels(self) -> int:
        return len(self.commands_of("scancel"))


@pytest.fixture(autouse=True)
def short_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cancel, "FIRST_PAUSE", 0.05)
    monkeypatch.setattr(cancel, "MAX_PAUSE", 0.1)
    monkeypatch.setattr(cancel, "BACKGROUND_MAX_PAUSE", 0.1)


async def send(transport: ScriptedTransport, deadline_in: float = 5.0) -> None:
    await cancel.cancel_job(
        transport, SlurmScheduler(), "25", command_timeout=1, deadline=time.monotonic() + deadline_in
    )


async def test_an_unreachable_login_node_is_waited_for_as_long_as_the_pool_backs_off() -> None:
    retry_at = time.monotonic() + 0.3
    transport = ScriptedTransport([raises(ConnectFailed("Cannot connect: refused", retry_at)), answers()])
    await send(transport)
    assert transport.cancels() == 2
    # not before the pool's next attempt (an earlier one would fail at once)
    assert transport.at[1] >= retry_at


async def test_a_lost_connection_and_a_timeout_are_tried_again() -> None:
    transport = ScriptedTransport(
        [
            raises(TransportError("Connection lost")),
            raises(CommandTimeout("scancel did not finish")),
            answers(),
        ]
    )
    await send(transport)
    assert transport.cancels() == 3


async def test_a_refusing_scheduler_is_asked_again_while_the_job_is_listed() -> None:
    refused = answers(1, stderr="scancel: error: Unable to contact slurm controller (connect failure)\n")
    transport = ScriptedTransport([refused, refused, answers()])
    await send(transport)
    assert transport.cancels() == 3


async def test_a_refused_cancel_of_a_job_that_already_ended_is_done() -> None:
    transport = ScriptedTransport(
        [answers(1, stderr="scancel: error: something new\n")], squeue="25|CANCELLED|n1|None|N/A\n"
    )
    await send(transport)
    assert transport.cancels() == 1


async def test_an_error_that_waiting_does_not_cure_ends_at_once() -> None:
    transport = ScriptedTransport([raises(HostKeyError("The host key of login:22 does not match"))])
    with pytest.raises(cancel.CancelFailed, match="host key") as failed:
        await send(transport)
    assert failed.value.permanent
    assert failed.value.job_id == "25"
    assert transport.cancels() == 1


async def test_the_deadline_ends_the_attempts_with_the_last_problem() -> None:
    transport = ScriptedTransport([raises(ConnectFailed("Cannot connect to login:22: refused"))])
    started = time.monotonic()
    with pytest.raises(cancel.CancelFailed, match="refused") as failed:
        await send(transport, deadline_in=0.3)
    assert not failed.value.permanent
    assert failed.value.job_id == "25"
    assert time.monotonic() - started < 1.0  # it stopped at the deadline, not after more attempts
    assert transport.cancels() >= 2


async def test_stop_keeps_cancelling_through_an_outage_shorter_than_cancel_timeout() -> None:
    outage = raises(ConnectFailed("Cannot connect to login:22 as 'alice': refused"))
    transport = ScriptedTransport([outage, outage, outage, answers()], squeue="25|CANCELLED|n1|None|N/A\n")
    spawner, _ = make_spawner(transport=transport)
    spawner.load_state({"job_id": "25", "job_dir": "/home/alice/.batchspawner_x/alice"})
    await spawner.stop()
    assert transport.cancels() == 4
    assert spawner.job_id == ""


async def test_a_cancel_stop_could_not_send_goes_on_in_the_background(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = raises(ConnectFailed("Cannot connect to login:22 as 'alice': refused"))
    transport = ScriptedTransport([outage] * 6 + [answers()])
    spawner, _ = make_spawner(transport=transport)
    spawner.cancel_timeout = 0.2
    spawner.load_state({"job_id": "25", "job_dir": "/home/alice/.batchspawner_x/alice"})
    before = set(cancel._background)
    caplog.set_level(logging.INFO)
    # stop() returns, so that JupyterHub revokes the server's token as for any stop
    await spawner.stop()
    assert spawner.job_id == ""
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "could not cancel" in error and "in the background" in error and "scancel 25" in error, error
    (task,) = set(cancel._background) - before
    await asyncio.wait_for(task, 10)
    assert transport.cancels() == 7
    assert any("cancelled" in r.getMessage() for r in caplog.records if r.levelname == "INFO")


async def test_a_permanent_failure_is_not_retried_in_the_background(caplog: pytest.LogCaptureFixture) -> None:
    refused = TransportError("SSH login as 'alice' to login:22 was refused")
    refused.maybe_sent = False  # as the pool marks it: nothing reached the node
    transport = ScriptedTransport([raises(refused)])
    spawner, _ = make_spawner(transport=transport)
    spawner.load_state({"job_id": "25"})
    before = set(cancel._background)
    await spawner.stop()
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "was refused" in error and "scancel 25" in error and "background" not in error, error
    assert set(cancel._background) == before
    assert transport.cancels() == 1


async def test_an_extra_job_is_cancelled_in_the_background_once_however_often_poll_finds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """poll() looks for other jobs of a submission whose answer was lost every
    EXTRA_JOB_CHECK seconds, and cancels each with one attempt before the background
    takes over: a job whose cancel keeps failing gets one background retry, not one
    more at every poll."""
    monkeypatch.setattr(spawner_module, "EXTRA_JOB_CHECK", 0.0)

    def answer(argv: list[str]) -> CommandResult:
        if argv[0] == "scancel":
            raise CommandTimeout("scancel did not finish within 30s")
        if "--me" in argv:  # the lookup by the submission's identity
            return CommandResult(0, "25|bsx-sub\n26|bsx-sub\n")
        return CommandResult(0, "25|RUNNING|n1|None|N/A\n")

    spawner, transport = make_spawner(answer)
    spawner.load_state({"job_id": "25", "submission": "bsx-sub", "submission_uncertain": True})
    before = set(cancel._background)
    for _ in range(3):
        assert await spawner.poll() is None
    started = set(cancel._background) - before
    try:
        assert len(started) == 1
        assert {tuple(argv) for argv in transport.commands_of("scancel")} == {("scancel", "26")}
        # the first poll's attempt and the background task's first one: while the
        # background task tries, later polls neither send one more nor log again
        assert len(transport.commands_of("scancel")) == 2
    finally:
        for task in started:
            task.cancel()
        await asyncio.gather(*started, return_exceptions=True)
