"""LsfSpawner end to end, against an emulated LSF (bsub, bjobs, bkill).

No LSF can be installed here, so its commands are emulated
(tests/emulators/lsf): they print LSF's documented formats and really run
the job script with bash, as the user, in a session of its own. The emulator
is installed root-owned and world-readable and reached through
``scheduler_commands``, as a site reaches wrappers: every command goes through
the real sshd as dave, and the hub and proxy are real.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batchspawner_x.schedulers.lsf import LsfScheduler
from batchspawner_x.submission import find, new_identity
from batchspawner_x.transport import SSHPool

from . import cluster
from .hub import Hub

#: The scheduler backend, not the hub, is under test here: run against the newest hub only.
pytestmark = pytest.mark.newest_hub_only

USER = "dave"
SOURCE = Path(__file__).resolve().parents[1] / "emulators" / "lsf"
BIN = Path("/opt/batchspawner-x/emulators/lsf/bin")
SPOOL = Path("/var/tmp/bsx-emulator/lsf")
CONFIG = {
    "BSX_EMULATOR_QUEUE_SECONDS": 3,
    "queues": ["normal", "debug"],
    "default_queue": "normal",
    "terminate_interval": 5,
}
BJOBS_FORMAT = "jobid stat exec_host exit_code pend_reason delimiter='|'"


def write_config(**changes: Any) -> None:
    (SPOOL / "config.json").write_text(json.dumps({**CONFIG, **changes}))
    (SPOOL / "config.json").chmod(0o644)


@pytest.fixture(scope="session")
def lsf_bin() -> Iterator[Path]:
    """The emulator in a root-owned, world-readable place, with a fresh 1777 spool."""
    if BIN.exists():
        shutil.rmtree(BIN)
    BIN.mkdir(parents=True)
    for directory in (BIN.parent.parent, BIN.parent, BIN):
        directory.chmod(0o755)
    for path in SOURCE.iterdir():
        if path.is_file() and path.suffix != ".pyc":
            shutil.copy(path, BIN / path.name)
            (BIN / path.name).chmod(0o755 if os.access(path, os.X_OK) else 0o644)
    kill_jobs()
    if SPOOL.exists():
        shutil.rmtree(SPOOL)
    SPOOL.mkdir(parents=True)
    SPOOL.chmod(0o1777)
    write_config()
    yield BIN
    kill_jobs()


@pytest.fixture(autouse=True)
def _clean(lsf_bin: Path) -> Iterator[None]:
    write_config()
    yield
    write_config()
    kill_jobs()


def records() -> list[dict[str, Any]]:
    jobs = SPOOL / "jobs"
    if not jobs.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(jobs.glob("*.json"))]


def record(job_id: str) -> dict[str, Any]:
    return json.loads((SPOOL / "jobs" / f"{job_id}.json").read_text())


def alive(pid: int | None) -> bool:
    """True while the process runs (a zombie nobody reaped has ended)."""
    if not pid:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def group_alive(pgid: int | None) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_jobs() -> None:
    """Kill what this suite's jobs left running, by the pids the emulator recorded."""
    for rec in records():
        if rec.get("user") != USER or rec.get("state") in ("DONE", "EXIT"):
            continue
        for pid, killer in ((rec.get("pgid"), os.killpg), (rec.get("runner_pid"), os.kill)):
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    killer(pid, signal.SIGKILL)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=30)


def hub_config(extra: str = "") -> str:
    commands = {
        role: str(BIN / exe)
        for role, exe in {"submit": "bsub", "status": "bjobs", "cancel": "bkill", "info": "bhist"}.items()
    }
    return f"c.BatchSpawnerBase.scheduler_commands = {commands!r}\n{extra}"


def job_id_of(hub: Hub) -> str:
    job_id = hub.state(USER).get("job_id")
    assert job_id, "no job id in the spawner state"
    return str(job_id)


def assert_server_answers(hub: Hub) -> None:
    r = hub.get_through_proxy(f"/user/{USER}/api/status")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "started" in r.json()


def bjobs_line(job_id: str) -> str:
    out = run("bjobs", "-a", "-noheader", "-o", BJOBS_FORMAT, job_id)
    return out.stdout.strip()


def test_spawn_queue_run_proxy_stop(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(hub_config(), spawner="batchspawner_x.LsfSpawner")
    result = hub.spawn(USER)
    assert result.ready, result
    job_id = job_id_of(hub)
    text = "\n".join(result.messages)
    assert f"Submitted LSF job {job_id} to partition debug" in text, text
    queued = (
        f"Job {job_id} is waiting in the queue: the scheduler has not looked at it yet "
        "(New job is waiting for scheduling)"
    )
    assert queued in text, text
    running = f"Job {job_id} is running on {os.uname().nodename.split('.')[0]}"
    assert running in text, text
    assert text.index(queued) < text.index(running)
    assert_server_answers(hub)

    # the resource request, as bsub parsed it from the #BSUB lines
    rec = record(job_id)
    assert rec["user"] == USER and rec["state"] == "RUN"
    assert rec["queue"] == "debug"
    assert rec["slots"] == 2
    assert rec["resource_requirements"] == ["rusage[mem=1024] span[hosts=1]"]
    assert rec["memory_limit"] == "1024"
    assert rec["run_limit"] == "01:00"
    assert rec["name"] == f"jupyter-{USER}"
    assert rec["cwd"] == f"/home/{USER}"
    job_dir = hub.state(USER)["job_dir"]
    assert rec["output"] == f"{job_dir}/job-%J.out"
    assert bjobs_line(job_id) == f"{job_id}|RUN|2*{os.uname().nodename.split('.')[0]}|-|-"
    token = json.loads(Path(job_dir, "env.json").read_text())["env"]["JUPYTERHUB_API_TOKEN"]
    assert token not in (SPOOL / "jobs" / f"{job_id}.sh").read_text()

    hub.stop(USER)
    Hub.wait_for(lambda: record(job_id)["state"] == "EXIT", 30, "the job to exit")
    rec = record(job_id)
    assert rec["term_reason"] == "TERM_OWNER"
    Hub.wait_for(lambda: not alive(rec["runner_pid"]), 10, "the job's runner to end")
    assert not group_alive(rec["pgid"])
    assert bjobs_line(job_id).startswith(f"{job_id}|EXIT|")
    assert not Path(job_dir, "env.json").exists()
    output = Path(job_dir, f"job-{job_id}.out").read_text()
    assert "TERM_OWNER: job killed by owner." in output


def test_unknown_queue_fails_with_lsfs_words(make_hub: Callable[..., Hub]) -> None:
    before = len(records())
    hub = make_hub(
        hub_config('c.BatchSpawnerBase.partition = "nosuchqueue"\n'), spawner="batchspawner_x.LsfSpawner"
    )
    result = hub.spawn(USER)
    assert result.failed
    assert any(
        "LSF rejected the job: nosuchqueue: No such queue. Job not submitted." in m for m in result.messages
    ), result.messages
    assert hub.server_model(USER) is None
    assert len(records()) == before, "a rejected job must not be in the spool"
    assert not Path(f"/home/{USER}/.batchspawner_x/{USER}/env.json").exists()


def test_job_that_exits_early_shows_exit_code_and_output(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(
        hub_config("c.BatchSpawnerBase.node_command = ['/bin/sh', '-c', 'echo boom-lsf; exit 3', 'x']\n"),
        spawner="batchspawner_x.LsfSpawner",
    )
    result = hub.spawn(USER)
    assert result.failed
    text = "\n".join(result.messages)
    assert "ended before its notebook server started (EXIT, exit code 3)" in text, text
    assert "boom-lsf" in text and "Exited with exit code 3." in text, text


def test_status_outage_is_not_a_death(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(hub_config(), spawner="batchspawner_x.LsfSpawner")
    assert hub.spawn(USER).ready
    job_id = job_id_of(hub)
    write_config(down=True)
    assert run("bjobs", "-a", "-noheader", job_id).stderr == "LSF is down. Please wait...\n"
    # several status intervals (2 s) and a poll (5 s) pass while bjobs fails
    time.sleep(12)
    assert "bjobs failed: LSF is down. Please wait..." in hub.log_text()
    assert (hub.server_model(USER) or {}).get("ready") is True
    assert_server_answers(hub)
    assert record(job_id)["state"] == "RUN"
    write_config(down=False)
    hub.stop(USER)
    Hub.wait_for(lambda: record(job_id)["state"] == "EXIT", 30, "the job to exit")


def test_bkill_from_outside_is_noticed(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(hub_config(), spawner="batchspawner_x.LsfSpawner")
    assert hub.spawn(USER).ready
    job_id = job_id_of(hub)
    out = run("bkill", job_id)
    assert out.stdout == f"Job <{job_id}> is being terminated\n"
    Hub.wait_for(lambda: hub.server_model(USER) is None, 60, "the hub to notice the killed job")
    assert record(job_id)["state"] == "EXIT"
    again = run("bkill", job_id)
    assert (again.returncode, again.stderr) == (255, f"Job <{job_id}>: Job has already finished\n")


async def test_lookup_finds_a_submitted_job_by_its_identity(lsf_bin: Path) -> None:
    """bsub -Jd and bjobs -o job_description over the real sshd, as the spawner runs them."""
    login = cluster.login(USER)
    lsf = LsfScheduler(
        {
            role: str(lsf_bin / exe)
            for role, exe in (("submit", "bsub"), ("status", "bjobs"), ("cancel", "bkill"))
        }
    )
    identity, script = new_identity(), "#!/bin/bash\nsleep 300\n"
    ids: list[str] = []
    try:
        assert await find(login, lsf, identity, timeout=0, command_timeout=30) == []
        for ident in (identity, new_identity(), identity):
            result = await login.run(lsf.submit_argv(ident, script), input=script, timeout=30)
            ids.append(lsf.parse_submit(result))
        assert record(ids[0])["description"] == identity
        assert await find(login, lsf, identity, timeout=0, command_timeout=30) == [ids[0], ids[2]]
        assert await find(login, lsf, new_identity(), timeout=0, command_timeout=30) == []
    finally:
        # killed while pending, so that no runner outlives the suite (and its spool)
        for job_id in ids:
            await login.run(lsf.cancel_argv(job_id), timeout=30)
        Hub.wait_for(lambda: all(record(j)["state"] in ("DONE", "EXIT") for j in ids), 30, "the jobs to end")
        await SSHPool.close_all()
