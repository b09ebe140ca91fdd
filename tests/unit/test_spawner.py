"""SlurmSpawner's own logic against recorded Slurm output (no cluster).

The transport is a stand-in that answers each command with what Slurm 22.05
printed on the test cluster (see shared/cluster.md); the real end-to-end path
is covered by tests/integration.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from batchspawner_x.schedulers.base import CommandResult

from .fakes import Answer, make_spawner


def squeue_says(*lines: str, rc: int = 0, stderr: str = "") -> Answer:
    def answer(argv: list[str]) -> CommandResult:
        if argv[0] == "squeue":
            return CommandResult(rc, "".join(line + "\n" for line in lines), stderr)
        if argv[0] == "scontrol":
            return CommandResult(
                0, "JobId=25 JobName=x JobState=COMPLETED Reason=None ExitCode=3:0 RunTime=00:00:01\n"
            )
        return CommandResult(0)

    return answer


def test_limits_become_slurm_units() -> None:
    spawner, _ = make_spawner(squeue_says())
    spawner.mem_limit = "4G"
    spawner.cpu_limit = 1.5
    context = spawner.job_context("/home/alice/.batchspawner_x/alice", "/home/alice")
    assert context["memory_mb"] == 4096
    assert context["cpus"] == 2
    assert context["output"] == "/home/alice/.batchspawner_x/alice/job-%j.out"
    assert context["command"][:4] == [
        "/bin/sh",
        "/home/alice/.batchspawner_x/alice/node/start.sh",
        "--env-file",
        "/home/alice/.batchspawner_x/alice/env.json",
    ]


async def test_rendered_script_has_only_the_options_that_are_set() -> None:
    spawner, _ = make_spawner(squeue_says())
    spawner.mem_limit = "4G"
    spawner.cpu_limit = 2
    spawner.partition = "interactive"
    spawner.extra_directives = ["--constraint=skylake"]
    script = await spawner.render_script()
    assert "#SBATCH --mem=4096M\n" in script
    assert "#SBATCH --cpus-per-task=2\n" in script
    assert "#SBATCH --partition=interactive\n" in script
    assert "#SBATCH --constraint=skylake\n" in script
    assert "--account" not in script and "--qos" not in script and "--gpus" not in script


def test_server_keys_are_distinct_for_user_and_server_names() -> None:
    named, _ = make_spawner(squeue_says(), name="alice", server="x")
    other, _ = make_spawner(squeue_says(), name="alice-x")
    assert named.server_key() != other.server_key()
    odd, _ = make_spawner(squeue_says(), name="../Éve $(id)")
    assert "/" not in odd.server_key() and "$" not in odd.server_key()


def test_state_round_trip_and_clear() -> None:
    spawner, _ = make_spawner(squeue_says())
    spawner.load_state({"job_id": "25", "job_dir": "/home/alice/.batchspawner_x/alice", "token_sha256": "ab"})
    state = spawner.get_state()
    assert state["job_id"] == "25" and state["job_dir"].endswith("/alice") and "port" not in state
    spawner.server_host, spawner.server_port = "c1", 8888
    assert spawner.get_state()["port"] == 8888
    spawner.clear_state()
    assert spawner.get_state() == {}


def test_only_the_servers_own_token_is_accepted() -> None:
    spawner, _ = make_spawner(squeue_says())
    spawner.load_state({"job_id": "25", "token_sha256": hashlib.sha256(b"right").hexdigest()})
    assert not spawner.accept_server_report("right", "c1", 8888), "not waiting for a report"
    spawner._awaiting_report = True
    assert not spawner.accept_server_report("wrong", "c1", 8888)
    assert spawner.accept_server_report("right", "c1", 8888)
    spawner._awaiting_report = False
    spawner.server_host, spawner.server_port = "c1", 8888
    assert spawner.accept_server_report("right", "c1", 8888), "a late repeat is fine"
    assert not spawner.accept_server_report("right", "c2", 9999), "nobody moves a running server"


async def test_poll_without_a_job_is_stopped() -> None:
    spawner, transport = make_spawner(squeue_says())
    assert await spawner.poll() == 0
    assert transport.commands == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("25|PENDING|n/a|Priority|N/A", None),
        ("25|RUNNING|localhost|None|2026-11-25T20:09:13", None),
        ("25|COMPLETING|localhost|None|2026-11-25T20:09:13", None),
        ("25|SUSPENDED|localhost|None|2026-11-25T20:09:13", None),
        ("25|FAILED|localhost|NonZeroExitCode|2026-11-25T20:09:13", 3),
    ],
)
async def test_poll_maps_states(line: str, expected: int | None) -> None:
    spawner, _ = make_spawner(squeue_says(line))
    spawner.load_state({"job_id": "25"})
    assert await spawner.poll() == expected


async def test_a_failing_squeue_is_not_a_death() -> None:
    answers = [squeue_says("25|RUNNING|localhost|None|2026-11-25T20:09:13")]
    spawner, transport = make_spawner(lambda argv: answers[-1](argv))
    spawner.status_interval = 0.001  # every poll asks again
    spawner.load_state({"job_id": "25"})
    assert await spawner.poll() is None
    answers.append(
        squeue_says(rc=1, stderr="slurm_load_jobs error: Socket timed out on send/recv operation\n")
    )
    for _ in range(3):
        await asyncio.sleep(0.01)  # older than status_interval: poll asks again
        assert await spawner.poll() is None
    assert sum(1 for c in transport.commands if c[0] == "squeue") >= 2, "the failing squeue was never run"


async def test_purged_job_is_stopped() -> None:
    spawner, _ = make_spawner(squeue_says(rc=1, stderr="slurm_load_jobs error: Invalid job id specified\n"))
    spawner.load_state({"job_id": "25"})
    assert await spawner.poll() == 1


async def test_stop_cancels_once_and_twice_is_harmless() -> None:
    states = iter(["25|COMPLETING|localhost|None|N/A", "25|CANCELLED|localhost|None|N/A"])

    def answer(argv: list[str]) -> CommandResult:
        if argv[0] == "squeue":
            return CommandResult(0, next(states, "25|CANCELLED|localhost|None|N/A") + "\n")
        if argv[0] == "scontrol":
            return CommandResult(0, "JobId=25 JobState=CANCELLED ExitCode=0:15\n")
        return CommandResult(0)

    spawner, transport = make_spawner(answer)
    spawner.load_state({"job_id": "25", "job_dir": "/home/alice/.batchspawner_x/alice"})
    transport.files["/home/alice/.batchspawner_x/alice/env.json"] = b"{}"
    await spawner.stop()
    assert [c for c in transport.commands if c[0] == "scancel"] == [["scancel", "25"]]
    assert "/home/alice/.batchspawner_x/alice/env.json" not in transport.files
    before = len(transport.commands)
    await spawner.stop()
    assert len(transport.commands) == before


async def test_exit_code_is_read_also_when_the_round_was_someone_elses() -> None:
    spawner, transport = make_spawner(squeue_says("25|FAILED|localhost|NonZeroExitCode|N/A"))
    spawner.load_state({"job_id": "25"})
    poller = await spawner.poller()
    poller.track("25")
    # a round run for another caller: the job's answer is fresh in the cache
    await poller.refresh()
    assert await spawner.poll() == 3
    # once for the exit code, once more for how the job ended (its run time, its reason)
    assert [c[0] for c in transport.commands].count("scontrol") == 2
