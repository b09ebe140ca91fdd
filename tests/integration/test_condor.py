"""CondorSpawner end to end, against an emulated HTCondor (condor_submit, condor_q,
condor_rm, condor_history).

No HTCondor pool can be installed here, so its commands are emulated
(tests/emulators/condor): they parse the submit description as condor_submit
does (new-syntax arguments, macros), print HTCondor's formats, really run the
executable with its arguments as the user, and move a finished job from the
queue to the history. The emulator is installed root-owned and
world-readable and reached through ``scheduler_commands``: every command goes
through the real sshd as dave, and the hub and proxy are real.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batchspawner_x.schedulers.condor import CondorScheduler
from batchspawner_x.submission import find, new_identity
from batchspawner_x.transport import SSHPool

from . import cluster
from .hub import Hub

#: The scheduler backend, not the hub, is under test here: run against the newest hub only.
pytestmark = pytest.mark.newest_hub_only

USER = "dave"
SOURCE = Path(__file__).resolve().parents[1] / "emulators" / "condor"
BIN = Path("/opt/batchspawner-x/emulators/condor/bin")
SPOOL = Path("/var/tmp/bsx-emulator/condor")
CONFIG = {"BSX_EMULATOR_QUEUE_SECONDS": 3, "kill_timeout": 5}
COMMANDS = {"submit": "condor_submit", "status": "condor_q", "cancel": "condor_rm", "info": "condor_history"}
SPAWNER = "batchspawner_x.CondorSpawner"


def write_config(**changes: Any) -> None:
    (SPOOL / "config.json").write_text(json.dumps({**CONFIG, **changes}))
    (SPOOL / "config.json").chmod(0o644)


@pytest.fixture(scope="session")
def condor_bin() -> Iterator[Path]:
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
def _clean(condor_bin: Path) -> Iterator[None]:
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


def group_alive(pgid: int | None) -> bool:
    if not pgid:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_jobs() -> None:
    """Kill what this suite's jobs left running, by the process groups the emulator recorded."""
    for rec in records():
        if rec.get("Owner") == USER and rec.get("in_queue") and rec.get("pgid"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(rec["pgid"], signal.SIGKILL)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=30)


def hub_config(extra: str = "") -> str:
    commands = {role: str(BIN / exe) for role, exe in COMMANDS.items()}
    # HTCondor has no queues: the hub's default partition must go
    return f'c.BatchSpawnerBase.scheduler_commands = {commands!r}\nc.BatchSpawnerBase.partition = ""\n{extra}'


def job_id_of(hub: Hub) -> str:
    job_id = hub.state(USER).get("job_id")
    assert job_id, "no job id in the spawner state"
    return str(job_id)


def assert_server_answers(hub: Hub) -> None:
    r = hub.get_through_proxy(f"/user/{USER}/api/status")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "started" in r.json()


def condor_q(job_id: str) -> str:
    return run("condor_q", job_id, "-af:j", "JobStatus", "RemoteHost", "ExitCode", "HoldReason").stdout


def test_spawn_queue_run_proxy_stop(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(hub_config(), spawner=SPAWNER)
    result = hub.spawn(USER)
    assert result.ready, result
    job_id = job_id_of(hub)
    text = "\n".join(result.messages)
    assert f"Submitted HTCondor job {job_id}\n" in text + "\n", text
    queued = f"Job {job_id} is waiting in the queue"
    host = socket.getfqdn()
    running = f"Job {job_id} is running on {host}"
    assert queued in text and running in text, text
    assert text.index(queued) < text.index(running)
    assert_server_answers(hub)

    # the resource request, as condor_submit parsed it from the submit description
    rec = record(job_id)
    assert rec["Owner"] == USER and rec["JobStatus"] == 2
    assert rec["JobUniverse"] == "vanilla" and rec["Cmd"] == "/bin/bash"
    assert rec["argv"][0] == "-c" and rec["argv"][1].startswith("eval $'exec 2>&1\\nset -eu\\n")
    assert rec["RequestCpus"] == 2
    assert rec["RequestMemory"] == 1024
    assert rec["MY"].pop("MaxRuntime") == "3600"
    # the submission's identity, appended on the command line, beside the description's own
    assert re.fullmatch(r'"bsx-[0-9a-f]{16}"', rec["MY"].pop("BsxSubmission"))
    assert rec["MY"] == {}
    assert rec["PeriodicRemove"] == "(JobStatus == 2) && (time() - EnteredCurrentStatus > 3600)"
    assert rec["GetEnv"] is False and rec["environment"] == {"HOME": f"/home/{USER}"}
    assert rec["JobBatchName"] == f"jupyter-{USER}"
    job_dir = hub.state(USER)["job_dir"]
    assert (rec["Iwd"], rec["Out"], rec["Err"]) == (
        f"/home/{USER}",
        f"{job_dir}/job.out",
        f"{job_dir}/job.err",
    )
    assert condor_q(job_id) == f"{job_id}.0 2 slot1@{host} undefined undefined\n"
    token = json.loads(Path(job_dir, "env.json").read_text())["env"]["JUPYTERHUB_API_TOKEN"]
    assert token not in json.dumps(rec)
    # condor_q's JobCurrentStartDate and MaxRuntime: its server learns its time left
    job = hub.started_job(USER)
    assert job["time_limit_seconds"] == 3600 and 3500 < job["seconds_left"] <= 3600, job

    hub.stop(USER)
    # the job left the queue for the history, as removed, and its processes are gone
    assert condor_q(job_id) == ""
    history = run("condor_history", job_id, "-limit", "1", "-af", "JobStatus", "ExitCode")
    assert history.stdout == "3 undefined\n"
    assert not group_alive(record(job_id)["pgid"])
    assert not Path(job_dir, "env.json").exists()
    log = Path(job_dir, "job.log").read_text()
    assert "Job executing on host" in log and f"via condor_rm (by user {USER})" in log


def test_invalid_submit_description_fails_with_htcondors_words(make_hub: Callable[..., Hub]) -> None:
    before = len(records())
    hub = make_hub(
        hub_config('c.BatchSpawnerBase.extra_directives = ["universe = nosuchuniverse"]\n'), spawner=SPAWNER
    )
    result = hub.spawn(USER)
    assert result.failed
    assert any(
        "HTCondor rejected the job: I don't know about the 'nosuchuniverse' universe." in m
        for m in result.messages
    ), result.messages
    assert hub.server_model(USER) is None
    assert not [r for r in records()[before:] if r["Owner"] == USER], "a rejected job must not be queued"
    assert not Path(f"/home/{USER}/.batchspawner_x/{USER}/env.json").exists()


def test_partition_is_refused(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(hub_config('c.BatchSpawnerBase.partition = "debug"\n'), spawner=SPAWNER)
    result = hub.spawn(USER)
    assert result.failed
    assert any("partition: HTCondor has no queues" in m for m in result.messages), result.messages


def test_job_that_exits_early_shows_exit_code_from_history(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(
        hub_config("c.BatchSpawnerBase.node_command = ['/bin/sh', '-c', 'echo boom-condor; exit 3', 'x']\n"),
        spawner=SPAWNER,
    )
    result = hub.spawn(USER)
    assert result.failed
    text = "\n".join(result.messages)
    # The exit code comes from condor_history. Core poller: StatusPoller.status() returns a
    # status the background round cached without the one-off exit-code lookup, so the
    # message may lack it (reported); when it is there, it must be the job's.
    assert re.search(r"ended before its notebook server started \(left the queue(, exit code 3)?\)", text), (
        text
    )
    assert "boom-condor" in text, text
    job_id = re.search(r"Submitted HTCondor job (\d+)", text).group(1)  # type: ignore[union-attr]
    history = run("condor_history", job_id, "-limit", "1", "-af", "ExitBySignal", "ExitCode", "ExitSignal")
    assert history.stdout == "false 3 undefined\n"


def test_schedd_outage_is_not_a_death(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(hub_config(), spawner=SPAWNER)
    assert hub.spawn(USER).ready
    job_id = job_id_of(hub)
    write_config(down=True)
    assert run("condor_q", job_id).returncode == 1
    time.sleep(12)  # several status intervals (2 s) and a poll (5 s)
    assert "condor_q failed: -- Failed to fetch ads from:" in hub.log_text()
    assert (hub.server_model(USER) or {}).get("ready") is True
    assert_server_answers(hub)
    write_config(down=False)
    hub.stop(USER)
    assert condor_q(job_id) == ""


def test_condor_rm_from_outside_is_noticed(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(hub_config(), spawner=SPAWNER)
    assert hub.spawn(USER).ready
    job_id = job_id_of(hub)
    out = run("condor_rm", job_id)
    assert out.stdout == f"Cluster {job_id} has been marked for removal.\n"
    Hub.wait_for(lambda: hub.server_model(USER) is None, 60, "the hub to notice the removed job")
    again = run("condor_rm", job_id)
    assert (again.returncode, again.stderr) == (1, f"Couldn't find/remove all jobs in cluster {job_id}.\n")


async def test_lookup_finds_a_submitted_job_by_its_identity(condor_bin: Path) -> None:
    """condor_submit -append and condor_q -constraint over the real sshd, as the spawner runs them."""
    login = cluster.login(USER)
    condor = CondorScheduler({role: str(condor_bin / exe) for role, exe in COMMANDS.items()})
    identity = new_identity()
    ids: list[str] = []
    description = "universe = vanilla\nexecutable = /bin/sleep\narguments = 300\nqueue\n"
    try:
        assert await find(login, condor, identity, timeout=0, command_timeout=30) == []
        for ident in (identity, new_identity(), identity):
            result = await login.run(condor.submit_argv(ident, description), input=description, timeout=30)
            ids.append(condor.parse_submit(result))
        assert record(ids[0])["MY"] == {"BsxSubmission": f'"{identity}"'}
        assert await find(login, condor, identity, timeout=0, command_timeout=30) == [ids[0], ids[2]]
        assert await find(login, condor, new_identity(), timeout=0, command_timeout=30) == []
    finally:
        # removed while idle, so that no runner outlives the suite (and its spool)
        for job_id in ids:
            await login.run(condor.cancel_argv(job_id), timeout=30)
        Hub.wait_for(lambda: not any(record(j)["in_queue"] for j in ids), 30, "the jobs to leave the queue")
        await SSHPool.close_all()
