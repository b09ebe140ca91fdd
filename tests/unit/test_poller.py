"""StatusPoller against a fake transport that replays recorded Slurm answers."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from batchspawner_x.errors import TransportError
from batchspawner_x.poller import MAX_ROUNDS_IN_FLIGHT, StatusPoller
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.states import JobState, JobStatus

from .fakes import FakeTransport

SQUEUE_FORMAT = "--format=%i|%T|%B|%r|%S|%l|%e"
TIMED_OUT = CommandResult(1, "", "slurm_load_jobs error: Socket timed out on send/recv operation\n")
PURGED = CommandResult(1, "", "slurm_load_jobs error: Invalid job id specified\n")


#: The account of a user's own status queries, and of a shared status identity.
USER_KEY = ("fake", "login.cluster", "22", "alice")
STATUS_KEY = ("fake", "login.cluster", "22", "status")


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    saved = dict(StatusPoller._registry)
    StatusPoller._registry.clear()
    yield
    StatusPoller._registry.clear()
    StatusPoller._registry.update(saved)


def make(results: Sequence[CommandResult | Exception]) -> tuple[StatusPoller, FakeTransport]:
    """A poller over a login node that gives ``results`` in order, then fails the test."""
    transport = FakeTransport(results, key=USER_KEY, delay=0)
    return StatusPoller(transport, SlurmScheduler(), interval=30, timeout=5, min_spacing=0), transport


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
    assert transport.commands == [
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
    assert len(transport.commands) == 1


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
        assert entry.since == before.since
    assert "Socket timed out on send/recv operation" in (entry.error or "")
    assert poller.last_error == entry.error
    assert len(transport.commands) == 4
    assert transport.commands[-1][0] == "squeue"


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


async def test_an_unchanged_status_keeps_its_entry_and_since() -> None:
    line = "101|PENDING|n/a|Priority|N/A"
    poller, _ = make([squeue(line), squeue(line), squeue("101|RUNNING|c1|None|N/A")])
    first = await poller.status("101", max_age=0)
    second = await poller.status("101", max_age=0)
    assert first is not None and second is first
    third = await poller.status("101", max_age=0)
    assert third is not None and third.status.state is JobState.RUNNING
    assert third.since == poller.asked["101"]  # the round that first saw it


async def test_recovery_with_the_same_status_keeps_since() -> None:
    line = "101|RUNNING|c1|None|N/A"
    poller, _ = make([squeue(line), TIMED_OUT, squeue(line)])
    before = await poller.status("101", max_age=0)
    await poller.refresh()
    await poller.refresh()
    after = poller.cached("101")
    assert before is not None and after is not None
    assert not after.stale and after.since == before.since


async def test_finished_job_gets_exit_code() -> None:
    poller, transport = make(
        [squeue("101|FAILED|c1|NonZeroExitCode|2026-11-25T20:14:03"), scontrol("3:0", "FAILED")]
    )
    entry = await poller.status("101", max_age=0)
    assert transport.commands == [
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
    assert [call[0] for call in transport.commands] == ["squeue", "scontrol", "squeue"]


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
    assert [call[0] for call in transport.commands] == ["squeue", "scontrol", "squeue"]


async def test_gone_without_history_is_gone() -> None:
    poller, transport = make([PURGED])
    entry = await poller.status("101", max_age=0)
    assert entry is not None
    assert entry.status == JobStatus("101", JobState.GONE, "purged")
    assert entry.status.alive is False
    assert len(transport.commands) == 1


async def test_untracked_job_is_not_asked_about() -> None:
    poller, transport = make([squeue("101|RUNNING|c1|None|N/A"), squeue("102|RUNNING|c1|None|N/A")])
    await poller.status("101", max_age=0)
    poller.untrack("101")
    await poller.status("102", max_age=0)
    assert transport.commands[1][3] == "--jobs=102"
    assert poller.cached("101") is None


# -- one round per interval, whatever the number of callers ---------------------------------


def any_jobs_transport(*, fail: bool = False, delay: float = 0.005) -> FakeTransport:
    """A status login node that answers every squeue for whatever ids it is asked, as held
    pending jobs; or that times out."""

    def answer(argv: list[str]) -> CommandResult:
        if fail:
            return TIMED_OUT
        return squeue(*(f"{jid}|PENDING|n/a|JobHeldUser|N/A" for jid in jobs_asked(argv)))

    return FakeTransport(answer, home="/home/status", key=STATUS_KEY, delay=delay)


def jobs_asked(argv: list[str]) -> list[str]:
    (jobs,) = [arg for arg in argv if arg.startswith("--jobs=")]
    return jobs.removeprefix("--jobs=").split(",")


async def poll_at_random_times(poller: StatusPoller, job_id: str, *, every: float, until: float) -> int:
    """What JupyterHub does to each spawner: poll() at its own, jittered times."""
    rng = random.Random(job_id)
    answers = 0
    await asyncio.sleep(rng.uniform(0, every))
    while time.monotonic() < until:
        poller.track(job_id)
        entry = await poller.status(job_id, max_age=poller.interval)
        assert entry is not None and entry.status.state is JobState.HELD
        answers += 1
        await asyncio.sleep(rng.uniform(0.5 * every, 1.5 * every))
    return answers


async def test_many_random_pollers_cause_one_query_per_interval() -> None:
    transport = any_jobs_transport()
    poller = StatusPoller(transport, SlurmScheduler(), interval=0.2, timeout=5)
    n, duration = 300, 2.0
    until = time.monotonic() + duration
    answers = await asyncio.gather(
        *(poll_at_random_times(poller, str(1000 + i), every=0.1, until=until) for i in range(n))
    )
    assert sum(answers) > 5 * n, "every caller polled many times"
    # one query to learn about the new jobs, then one per interval; nothing per caller
    assert len(transport.commands) <= duration / 0.2 + 3
    assert len(transport.commands) == poller.queries == poller.rounds
    # steady state: every query asks about all the jobs, and queries are an interval apart
    assert all(len(jobs_asked(argv)) == n for argv in transport.commands[1:])
    gaps = [b - a for a, b in zip(transport.times[1:], transport.times[2:], strict=False)]
    assert min(gaps) >= 0.2 * 0.9


async def test_a_failing_scheduler_is_not_asked_more_often() -> None:
    transport = any_jobs_transport(fail=True)
    poller = StatusPoller(transport, SlurmScheduler(), interval=0.2, timeout=5)

    async def caller(job_id: str, until: float) -> None:
        rng = random.Random(job_id)
        while time.monotonic() < until:
            poller.track(job_id)
            assert await poller.status(job_id, max_age=poller.interval) is None
            await asyncio.sleep(rng.uniform(0.01, 0.1))

    until = time.monotonic() + 1.0
    await asyncio.gather(*(caller(str(i), until) for i in range(100)))
    assert len(transport.commands) <= 1.0 / 0.2 + 3


async def test_starting_jobs_are_asked_often_but_in_one_query() -> None:
    transport = any_jobs_transport()
    poller = StatusPoller(transport, SlurmScheduler(), interval=30, timeout=5, fast_interval=0.1)
    jobs = [str(2000 + i) for i in range(50)]

    async def starting(job_id: str, until: float) -> None:
        # what _wait_for_server does
        poller.track(job_id, starting=True)
        while time.monotonic() < until:
            assert await poller.status(job_id, max_age=0.1) is not None
            await asyncio.sleep(0.1)

    until = time.monotonic() + 1.0
    await asyncio.gather(*(starting(jid, until) for jid in jobs))
    assert 5 <= len(transport.commands) <= 1.0 / 0.1 + 3
    assert all(sorted(jobs_asked(argv)) == jobs for argv in transport.commands)

    # once started, the slow interval applies again
    for jid in jobs:
        poller.started(jid)
    before = len(transport.commands)
    await asyncio.sleep(0.5)
    assert len(transport.commands) - before <= 1


async def test_a_burst_of_new_jobs_shares_few_queries() -> None:
    transport = any_jobs_transport()
    poller = StatusPoller(transport, SlurmScheduler(), interval=30, timeout=5, min_spacing=0.2)

    async def new_job(i: int) -> None:
        await asyncio.sleep(i * 0.01)  # 50 submissions over half a second
        poller.track(str(i), starting=True)
        entry = await poller.status(str(i), max_age=1.0)
        assert entry is not None and entry.status.job_id == str(i)

    await asyncio.gather(*(new_job(i) for i in range(50)))
    assert len(transport.commands) <= 0.5 / 0.2 + 2
    gaps = [b - a for a, b in zip(transport.times, transport.times[1:], strict=False)]
    assert all(gap >= 0.2 * 0.9 for gap in gaps)


async def test_a_cancelled_caller_does_not_cancel_the_query() -> None:
    transport = any_jobs_transport(delay=0.1)
    poller = StatusPoller(transport, SlurmScheduler(), interval=30, timeout=5)
    impatient = asyncio.ensure_future(poller.status("1", max_age=0))
    patient = asyncio.ensure_future(poller.status("2", max_age=0))
    await asyncio.sleep(0.02)
    impatient.cancel()
    entry = await patient
    assert entry is not None and entry.status.state is JobState.HELD
    assert len(transport.commands) == 1 and sorted(jobs_asked(transport.commands[0])) == ["1", "2"]


async def test_a_job_tracked_during_a_query_gets_the_next_one() -> None:
    transport = any_jobs_transport(delay=0.05)
    poller = StatusPoller(transport, SlurmScheduler(), interval=30, timeout=5, min_spacing=0)
    first = asyncio.ensure_future(poller.status("1", max_age=0))
    await asyncio.sleep(0.01)  # the query for job 1 is running
    late = await poller.status("2", max_age=0)
    await first
    assert late is not None and late.status.job_id == "2"
    assert [jobs_asked(argv) for argv in transport.commands] == [["1"], ["1", "2"]]


async def test_long_id_lists_are_split_into_few_commands() -> None:
    transport = any_jobs_transport()
    poller = StatusPoller(transport, SlurmScheduler(), interval=30, timeout=5, max_argv_bytes=1000)
    jobs = [str(100000 + i) for i in range(500)]  # 3.5 kB of ids
    for jid in jobs:
        poller.track(jid)
    await poller.refresh()
    sizes = [sum(len(arg) + 1 for arg in argv) for argv in transport.commands]
    assert all(size <= 1000 for size in sizes)
    assert 4 <= len(transport.commands) <= 8
    assert sorted(jid for argv in transport.commands for jid in jobs_asked(argv)) == jobs
    assert poller.rounds == 1 and poller.queries == len(transport.commands)
    assert all(poller.cached(jid) is not None for jid in jobs)


async def test_default_limit_keeps_every_argument_below_linux_limit() -> None:
    transport = any_jobs_transport()
    poller = StatusPoller(transport, SlurmScheduler(), interval=30, timeout=5)
    for i in range(20000):  # 160 kB of ids: one argument would exceed MAX_ARG_STRLEN (128 kB)
        poller.track(str(10_000_000 + i))
    await poller.refresh()
    assert len(transport.commands) == 2
    assert all(max(len(arg.encode()) for arg in argv) < 128 * 1024 for argv in transport.commands)


async def test_intervals_of_sharing_spawners_take_the_shortest() -> None:
    transport = any_jobs_transport()
    a = StatusPoller.get(transport, SlurmScheduler(), interval=30, timeout=5, fast_interval=2)
    b = StatusPoller.get(transport, SlurmScheduler(), interval=10, timeout=5, fast_interval=1)
    assert a is b
    assert (a.interval, a.fast_interval) == (10, 1)


async def test_a_status_identity_and_a_users_own_queries_do_not_share_a_poller() -> None:
    transport = FakeTransport([], key=USER_KEY, delay=0)
    try:
        own = StatusPoller.get(transport, SlurmScheduler(), interval=30, timeout=5)
        shared = StatusPoller.get(transport, SlurmScheduler(all_users=True), interval=30, timeout=5)
        assert own is not shared
        assert StatusPoller.get(transport, SlurmScheduler(), interval=30, timeout=5) is own
    finally:
        StatusPoller.close_all()


async def test_status_output_is_parsed_outside_the_event_loop() -> None:
    threads = []

    class RecordingSlurm(SlurmScheduler):
        def parse_status(self, job_ids: Sequence[str], result: CommandResult) -> dict[str, JobStatus]:
            threads.append(threading.current_thread())
            return super().parse_status(job_ids, result)

    poller = StatusPoller(any_jobs_transport(), RecordingSlurm(), interval=30, timeout=5)
    entry = await poller.status("7", max_age=0)
    assert entry is not None and entry.status.job_id == "7"
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


class HangingSlurm:
    """Answers squeue for whatever ids it is asked with a given state; made to hang, each
    answer waits until released. scontrol says the job was cancelled."""

    def __init__(self) -> None:
        self.hang = False
        self.state = "RUNNING"
        self.release = asyncio.Event()

    async def __call__(self, argv: list[str]) -> CommandResult:
        if argv[0] == "scontrol":
            return scontrol("0:15", "CANCELLED")
        state = self.state  # what the scheduler knew when it was asked
        if self.hang:
            await self.release.wait()
        return squeue(*(f"{jid}|{state}|c1|None|N/A" for jid in jobs_asked(argv)))


async def test_a_hanging_query_does_not_hold_back_the_next_round_or_the_callers() -> None:
    slurm = HangingSlurm()
    transport = FakeTransport(slurm, key=STATUS_KEY)
    poller = StatusPoller(transport, SlurmScheduler(), interval=0.2, timeout=30, patience=0.1)
    first = await poller.status("7", max_age=0)
    assert first is not None and first.status.state is JobState.RUNNING
    slurm.hang = True
    # a second on a scheduler that hangs (status_timeout 30 s): one command per interval,
    # at most MAX_ROUNDS_IN_FLIGHT of them waiting at once
    started = time.monotonic()
    answers = []
    while time.monotonic() - started < 1.0:
        entry = await poller.status("7", max_age=poller.interval)
        answers.append(time.monotonic())
        assert entry is not None and entry.status.state is JobState.RUNNING, "the last known state"
        await asyncio.sleep(0.05)
    hung = len(transport.commands_of("squeue")) - 1
    assert hung == MAX_ROUNDS_IN_FLIGHT, transport.commands
    assert transport.times[2] - transport.times[1] < 0.2 * 2, "the next round came on time"
    gaps = [b - a for a, b in zip([started, *answers], answers, strict=False)]
    assert max(gaps) < 0.5, "poll() answered from the cache instead of waiting for the hang"
    # the scheduler answers again: the job ended meanwhile, and that is seen
    slurm.state = "CANCELLED"
    slurm.hang = False
    slurm.release.set()
    await asyncio.sleep(0.01)
    entry = await poller.status("7", max_age=0)
    assert entry is not None and entry.status.state is JobState.FINISHED
    poller.close()


async def test_an_older_rounds_late_answer_does_not_replace_a_newer_one() -> None:
    slurm = HangingSlurm()
    transport = FakeTransport(slurm, key=STATUS_KEY)
    poller = StatusPoller(transport, SlurmScheduler(), interval=0.1, timeout=30, patience=0.05)
    slurm.hang = True
    poller.track("7")
    await asyncio.sleep(0.05)  # round 1 asked "RUNNING", and hangs
    slurm.hang = False
    slurm.state = "CANCELLED"
    await asyncio.sleep(0.15)  # round 2 answers at once
    entry = poller.cached("7")
    assert entry is not None and entry.status.state is JobState.FINISHED
    slurm.release.set()  # round 1's old answer arrives last
    await asyncio.sleep(0.01)
    entry = poller.cached("7")
    assert entry is not None and entry.status.state is JobState.FINISHED
    poller.close()
