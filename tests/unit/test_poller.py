"""StatusPoller against a fake transport that replays recorded Slurm answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest

from batchspawner_x.errors import TransportError
from batchspawner_x.poller import StatusPoller
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.states import JobState, JobStatus
from batchspawner_x.transport import Transport

SQUEUE_FORMAT = "--format=%i|%T|%B|%r|%S"
TIMED_OUT = CommandResult(1, "", "slurm_load_jobs error: Socket timed out on send/recv operation\n")
PURGED = CommandResult(1, "", "slurm_load_jobs error: Invalid job id specified\n")


class FakeTransport(Transport):
    """Returns the given results in order and records every argv it was asked to run."""

    key = ("fake", "login.cluster", "22", "alice")

    def __init__(self, results: Sequence[CommandResult | Exception]) -> None:
        self.results = list(results)
        self.calls: list[list[str]] = []

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float,
        idempotent: bool = True,
    ) -> CommandResult:
        self.calls.append(list(argv))
        await asyncio.sleep(0)
        if not self.results:
            raise AssertionError(f"unexpected command {list(argv)}")
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    async def home(self) -> str:
        return "/home/alice"

    async def write_file(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    async def read_tail(self, path: str, max_bytes: int) -> bytes | None:
        raise NotImplementedError

    async def remove(self, paths: Sequence[str]) -> None:
        raise NotImplementedError


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    saved = dict(StatusPoller._registry)
    StatusPoller._registry.clear()
    yield
    StatusPoller._registry.clear()
    StatusPoller._registry.update(saved)


def make(results: Sequence[CommandResult | Exception]) -> tuple[StatusPoller, FakeTransport]:
    transport = FakeTransport(results)
    return StatusPoller(transport, SlurmScheduler(), interval=30, timeout=5), transport


def squeue(*lines: str) -> CommandResult:
    return CommandResult(0, "".join(line + "\n" for line in lines), "")


def scontrol(exit_code: str, state: str = "COMPLETED") -> CommandResult:
    return CommandResult(
        0,
        f"JobId=101 JobName=jupyter-alice JobState={state} Reason=None Dependency=(null) Requeue=1 "
        f"Restarts=0 BatchFlag=1 Reboot=0 ExitCode={exit_code} RunTime=00:00:07 TimeLimit=08:00:00 "
        "NodeList=localhost BatchHost=localhost\n",
        "",
    )


async def test_concurrent_status_calls_share_one_query() -> None:
    poller, transport = make(
        [
            squeue(
                "101|RUNNING|c1|None|2026-11-25T20:14:03",
                "102|PENDING|n/a|Priority|N/A",
                "103|RUNNING|c2|None|2026-11-25T20:14:05",
            )
        ]
    )
    a, b, c = await asyncio.gather(
        poller.status("101", max_age=0),
        poller.status("102", max_age=0),
        poller.status("103", max_age=0),
    )
    assert transport.calls == [
        ["squeue", "--noheader", "--states=all", "--jobs=101,102,103", SQUEUE_FORMAT],
    ]
    assert poller.queries == 1
    assert a is not None and b is not None and c is not None
    assert a.status == JobStatus(
        "101", JobState.RUNNING, "RUNNING", host="c1", start_time="2026-11-25T20:14:03"
    )
    assert b.status == JobStatus("102", JobState.PENDING, "PENDING", reason="Priority")
    assert c.status.host == "c2"
    assert not (a.stale or b.stale or c.stale)


async def test_fresh_cache_is_not_queried_again() -> None:
    poller, transport = make([squeue("101|RUNNING|c1|None|N/A")])
    first = await poller.status("101", max_age=60)
    second = await poller.status("101", max_age=60)
    assert first is second
    assert len(transport.calls) == 1


async def test_failed_query_keeps_running_and_marks_stale() -> None:
    poller, transport = make(
        [squeue("101|RUNNING|c1|None|N/A"), TIMED_OUT, TransportError("connection lost"), TIMED_OUT]
    )
    before = await poller.status("101", max_age=0)
    assert before is not None and before.status.state is JobState.RUNNING and not before.stale

    for _ in range(3):
        entry = await poller.status("101", max_age=0)
        assert entry is not None
        assert entry.status == before.status
        assert entry.status.state is JobState.RUNNING
        assert entry.stale is True
        assert entry.fetched_at == before.fetched_at
    assert "Socket timed out on send/recv operation" in (entry.error or "")
    assert poller.last_error == entry.error
    assert len(transport.calls) == 4
    assert transport.calls[-1][0] == "squeue"


async def test_failed_first_query_knows_nothing() -> None:
    poller, _ = make([TIMED_OUT])
    assert await poller.status("101", max_age=0) is None


async def test_recovery_after_failure_clears_stale() -> None:
    poller, _ = make([squeue("101|RUNNING|c1|None|N/A"), TIMED_OUT, squeue("101|RUNNING|c1|None|N/A")])
    await poller.status("101", max_age=0)
    await poller.refresh()
    stale = poller.cached("101")
    assert stale is not None and stale.stale
    await poller.refresh()
    fresh = poller.cached("101")
    assert fresh is not None
    assert (fresh.stale, fresh.error, poller.last_error) == (False, None, None)


async def test_finished_job_gets_exit_code() -> None:
    poller, transport = make(
        [squeue("101|FAILED|c1|NonZeroExitCode|2026-11-25T20:14:03"), scontrol("3:0", "FAILED")]
    )
    entry = await poller.status("101", max_age=0)
    assert transport.calls == [
        ["squeue", "--noheader", "--states=all", "--jobs=101", SQUEUE_FORMAT],
        ["scontrol", "--oneliner", "show", "job", "101"],
    ]
    assert entry is not None
    assert entry.status.state is JobState.FINISHED
    assert entry.status.exit_code == 3
    assert entry.status.raw_state == "FAILED"
    assert entry.status.alive is False


async def test_completed_job_exit_code_zero_and_asked_once() -> None:
    poller, transport = make(
        [squeue("101|COMPLETED|c1|None|N/A"), scontrol("0:0"), squeue("101|COMPLETED|c1|None|N/A")]
    )
    await poller.status("101", max_age=0)
    await poller.refresh()
    entry = poller.cached("101")
    assert entry is not None
    assert (entry.status.state, entry.status.exit_code) == (JobState.FINISHED, 0)
    assert [call[0] for call in transport.calls] == ["squeue", "scontrol", "squeue"]


async def test_gone_after_finished_keeps_finished_and_exit_code() -> None:
    poller, transport = make([squeue("101|CANCELLED|c1|None|N/A"), scontrol("0:15", "CANCELLED"), PURGED])
    first = await poller.status("101", max_age=0)
    assert first is not None
    assert (first.status.state, first.status.exit_code) == (JobState.FINISHED, 143)

    await poller.refresh()
    after = poller.cached("101")
    assert after is not None
    assert after.status.state is JobState.FINISHED
    assert after.status.raw_state == "CANCELLED"
    assert after.status.exit_code == 143
    assert not after.stale
    assert [call[0] for call in transport.calls] == ["squeue", "scontrol", "squeue"]


async def test_gone_without_history_is_gone() -> None:
    poller, transport = make([PURGED])
    entry = await poller.status("101", max_age=0)
    assert entry is not None
    assert entry.status == JobStatus("101", JobState.GONE, "purged")
    assert entry.status.alive is False
    assert len(transport.calls) == 1


async def test_untracked_job_is_not_asked_about() -> None:
    poller, transport = make([squeue("101|RUNNING|c1|None|N/A"), squeue("102|RUNNING|c1|None|N/A")])
    await poller.status("101", max_age=0)
    poller.untrack("101")
    await poller.status("102", max_age=0)
    assert transport.calls[1][3] == "--jobs=102"
    assert poller.cached("101") is None
