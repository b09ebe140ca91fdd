"""The spawner's side of a session's end: the reason recorded, kept and shown; the job's news.

The login node answers with output recorded on the test cluster (``recorded/slurm-end``).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from batchspawner_x import SlurmSpawner
from batchspawner_x.job_events import JobEvent
from batchspawner_x.schedulers.base import CommandResult

from .fakes import make_spawner

RECORDED = Path(__file__).parent / "recorded" / "slurm-end"
JOB_DIR = "/home/alice/.batchspawner_x/alice"
PROFILES = [{"name": "small", "display_name": "Small", "partition": "debug", "walltime": "02:00:00"}]


def slurm(squeue: str, *, sacct: str | None = None, scontrol: str = "") -> Any:
    """A login node whose squeue prints ``squeue``; sacct ``sacct`` (None: accounting is
    disabled, as without slurmdbd), scontrol ``scontrol``."""

    def answer(argv: list[str]) -> CommandResult:
        if argv[0] == "squeue":
            return CommandResult(0, squeue)
        if argv[0] == "sacct":
            if sacct is None:
                return CommandResult(1, "", (RECORDED / "sacct-disabled.stderr").read_text())
            return CommandResult(0, sacct)
        if argv[0] == "scontrol":
            return CommandResult(0, scontrol)
        return CommandResult(0)

    return answer


def spawner_for(answer: Any, **traits: Any) -> tuple[SlurmSpawner, Any]:
    spawner, transport = make_spawner(answer, ssh_host=f"h-{uuid.uuid4().hex}", **traits)
    spawner.load_state({"job_id": "5742", "job_dir": JOB_DIR, "token_sha256": "x", "host": "n1", "port": 9})
    transport.files[f"{JOB_DIR}/job-5742.out"] = b"starting\nthe kernel said: bye\n"
    return spawner, transport


async def test_poll_records_the_time_limit_from_scontrol_without_accounting() -> None:
    answer = slurm(
        (RECORDED / "squeue-timeout.txt").read_text(),
        scontrol=(RECORDED / "scontrol-timeout.txt").read_text(),
    )
    spawner, transport = spawner_for(answer)
    assert await spawner.poll() == 143
    end = spawner.last_end
    assert end is not None
    assert (end.kind, end.summary, end.job_id) == ("time_limit", "time limit reached after 1 min", "5742")
    assert end.output_tail == "starting\nthe kernel said: bye"
    assert [c[0] for c in transport.commands].count("sacct") == 1  # tried once, then scontrol


async def test_poll_records_who_cancelled_from_sacct() -> None:
    answer = slurm(
        "5742|CANCELLED|localhost|None|2026-12-04T16:40:14\n",
        sacct="5742|CANCELLED by 0|0:0|2|1007\n",
    )
    spawner, _ = spawner_for(answer)
    assert await spawner.poll() is not None
    assert spawner.last_end is not None
    assert spawner.last_end.summary == "cancelled by an administrator after 2 s"


async def test_the_reason_outlives_the_job_and_a_hub_restart() -> None:
    answer = slurm(
        (RECORDED / "squeue-timeout.txt").read_text(),
        scontrol=(RECORDED / "scontrol-timeout.txt").read_text(),
    )
    spawner, _ = spawner_for(answer)
    await spawner.poll()
    spawner.clear_state()  # JupyterHub, once poll() found the server gone
    state = spawner.get_state()
    assert "job_id" not in state and state["last_end"]["kind"] == "time_limit"
    restarted, _ = make_spawner(answer)
    restarted.load_state(state)
    assert restarted.last_end == spawner.last_end


async def test_the_spawn_forms_top_line_says_why_the_last_session_ended() -> None:
    answer = slurm(
        (RECORDED / "squeue-failed.txt").read_text(),
        scontrol=(RECORDED / "scontrol-failed-exit3.txt").read_text(),
    )
    spawner, _ = make_spawner(answer, ssh_host=f"h-{uuid.uuid4().hex}", profiles=PROFILES)
    assert "Your last session ended" not in await spawner.get_options_form()
    spawner.load_state({"job_id": "5668", "job_dir": JOB_DIR})
    assert await spawner.poll() == 3
    form = await spawner.get_options_form()
    assert form.startswith(
        '<p class="bsx-last-end alert alert-info">'
        "Your last session ended: the server exited with code 3 after 0 s.</p>"
    )
    assert "Small" in form


async def test_stop_records_that_the_hub_stopped_it() -> None:
    spawner, _ = spawner_for(slurm("5742|CANCELLED|localhost|None|2026-12-04T16:40:14\n"))
    await spawner.stop(now=True)
    assert spawner.last_end is not None
    assert (spawner.last_end.kind, spawner.last_end.summary) == ("stopped", "stopped from the hub")


async def test_a_warning_is_kept_and_an_end_for_another_job_is_refused() -> None:
    spawner, _ = spawner_for(slurm("5742|RUNNING|localhost|None|2026-12-04T16:40:14\n"))
    assert spawner.job_event(JobEvent("5742", "warning", seconds_left=300))
    assert spawner.last_warning is not None
    assert (spawner.last_warning["seconds_left"], spawner.last_warning["source"]) == (300, "scheduler")
    assert not spawner.job_event(JobEvent("9999", "term"))


async def test_an_end_post_for_a_running_job_changes_nothing() -> None:
    spawner, transport = spawner_for(slurm("5742|RUNNING|localhost|None|2026-12-04T16:40:14\n"))
    notified: list[bool] = []
    spawner._callbacks = [lambda: notified.append(True)]  # what JupyterHub watches with
    import batchspawner_x.spawner_end as spawner_end

    old, spawner_end.PUSH_WATCH = spawner_end.PUSH_WATCH, 1.5
    try:
        assert spawner.job_event(JobEvent("5742", "term"))
        assert spawner._push_watch is not None
        await asyncio.wait_for(spawner._push_watch, 10)
    finally:
        spawner_end.PUSH_WATCH = old
    assert notified == [] and spawner.last_end is None and spawner.job_id == "5742"
    assert [c[0] for c in transport.commands].count("squeue") >= 2  # it did look, more than once


async def test_an_end_post_makes_jupyterhub_notice_at_once() -> None:
    answer = slurm(
        (RECORDED / "squeue-timeout.txt").read_text(),
        scontrol=(RECORDED / "scontrol-timeout.txt").read_text(),
    )
    spawner, _ = spawner_for(answer)
    notified: list[bool] = []
    spawner._callbacks = [lambda: notified.append(True)]
    assert spawner.job_event(JobEvent("5742", "term"))
    assert spawner._push_watch is not None
    await asyncio.wait_for(spawner._push_watch, 10)
    assert notified == [True]
    assert spawner.last_end is not None and spawner.last_end.kind == "time_limit"
