"""PBSSpawner, TorqueSpawner and MoabSpawner end to end, against emulated schedulers.

No PBS Pro, Torque or Moab can be installed here (shared/cluster.md), so
their commands are emulated (tests/emulators/pbs and tests/emulators/moab):
the emulators print the schedulers' documented formats and really run the
submitted script, as the user, in a session of its own. They are installed
root-owned and world-readable, and the spawner reaches them as a site reaches
wrappers, through ``scheduler_commands``: every command goes through the real
sshd as carol, and the hub and proxy are real.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .hub import Hub

#: The scheduler backend, not the hub, is under test here: run against the newest hub only.
pytestmark = pytest.mark.newest_hub_only

USER = "carol"
SOURCE = Path(__file__).resolve().parents[1] / "emulators"
INSTALL = Path("/opt/batchspawner-x/emulators")
SPOOLS = Path("/var/tmp/bsx-emulator")
SPOOL_CONFIG = "BSX_EMULATOR_QUEUE_SECONDS=2\nBSX_EMULATOR_KEEP_COMPLETED=300\n"


@dataclass(frozen=True)
class Flavour:
    name: str
    spawner: str
    display: str
    source: str
    commands: dict[str, str]
    #: resources the spool records for mem_limit=1G, cpu_limit=2, walltime 01:00:00
    resources: dict[str, str]
    #: state after the hub stopped the job, and after the job exited by itself
    stopped_state: str
    exited_state: str
    rejection: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return INSTALL / self.name / "bin"

    @property
    def spool(self) -> Path:
        return SPOOLS / self.name

    def config(self, extra: str = "") -> str:
        commands = {role: str(self.bin / exe) for role, exe in self.commands.items()}
        return f"c.BatchSpawnerBase.scheduler_commands = {commands!r}\n{extra}"


FLAVOURS = [
    Flavour(
        name="pbspro",
        spawner="batchspawner_x.PBSSpawner",
        display="PBS Pro",
        source="pbs",
        commands={"submit": "qsub", "status": "qstat", "cancel": "qdel"},
        resources={"select": "1:ncpus=2:mem=1024mb", "walltime": "01:00:00"},
        stopped_state="F",
        exited_state="F",
        rejection="PBS Pro rejected the job: Unknown queue",
    ),
    Flavour(
        name="torque",
        spawner="batchspawner_x.TorqueSpawner",
        display="Torque",
        source="pbs",
        commands={"submit": "qsub", "status": "qstat", "cancel": "qdel"},
        resources={"nodes": "1:ppn=2", "mem": "1024mb", "walltime": "01:00:00"},
        stopped_state="C",
        exited_state="C",
        rejection="Torque rejected the job: submit error (Unknown queue MSG=requested queue not found)",
    ),
    Flavour(
        name="moab",
        spawner="batchspawner_x.MoabSpawner",
        display="Moab",
        source="moab",
        commands={"submit": "msub", "status": "mdiag", "cancel": "mjobctl"},
        resources={"nodes": "1:ppn=2", "mem": "1024mb", "walltime": "01:00:00"},
        stopped_state="Removed",
        exited_state="Completed",
        rejection="Moab rejected the job: cannot submit job - class 'reject' does not exist",
    ),
]


# ---------------------------------------------------------------------------
# installing the emulators and looking into their spools


def install(flavour: Flavour) -> None:
    """Copy the emulator to a root-owned, world-readable place and give it a fresh spool."""
    target = flavour.bin
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for directory in (INSTALL, INSTALL / flavour.name, target):
        directory.chmod(0o755)
    files = list((SOURCE / flavour.source).iterdir())
    if flavour.source == "moab":
        files.append(SOURCE / "pbs" / "jobspool.py")  # Moab's resource manager is the PBS runner
    for path in files:
        if path.is_file() and path.suffix != ".pyc":
            shutil.copy(path, target / path.name)
            (target / path.name).chmod(0o755 if os.access(path, os.X_OK) else 0o644)
    settings = {"flavour": flavour.name, "spool": str(flavour.spool)}
    (target / "emulator.json").write_text(json.dumps(settings))
    (target / "emulator.json").chmod(0o644)

    SPOOLS.mkdir(exist_ok=True)
    SPOOLS.chmod(0o755)
    if flavour.spool.exists():
        kill_live_jobs(flavour)
        shutil.rmtree(flavour.spool)
    flavour.spool.mkdir()
    flavour.spool.chmod(0o1777)
    (flavour.spool / "config").write_text(SPOOL_CONFIG)
    (flavour.spool / "config").chmod(0o644)


def spool_jobs(flavour: Flavour) -> list[dict[str, Any]]:
    jobs = []
    for path in sorted(flavour.spool.glob("*.json")):
        with contextlib.suppress(ValueError, OSError):
            jobs.append(json.loads(path.read_text()))
    return jobs


def spool_job(flavour: Flavour, job_id: str) -> dict[str, Any]:
    seq = int(re.match(r"\d+", job_id).group(0))  # type: ignore[union-attr]
    data: dict[str, Any] = json.loads((flavour.spool / f"{seq}.json").read_text())
    return data


def start_time(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def process_alive(job: dict[str, Any], pid_key: str, start_key: str) -> bool:
    pid = job.get(pid_key)
    return bool(pid) and start_time(int(pid)) == job.get(start_key)


def kill_live_jobs(flavour: Flavour) -> None:
    """Kill what the emulated jobs of these tests left running (their recorded processes only)."""
    for job in spool_jobs(flavour):
        if process_alive(job, "session_id", "session_start"):
            with contextlib.suppress(OSError):
                os.killpg(int(job["session_id"]), signal.SIGKILL)
        if process_alive(job, "runner_pid", "runner_start"):
            with contextlib.suppress(OSError):
                os.kill(int(job["runner_pid"]), signal.SIGKILL)


def as_user(*argv: str) -> subprocess.CompletedProcess[str]:
    """A command run as the test user, as the hub runs it over SSH."""
    return subprocess.run(
        ["runuser", "-u", USER, "--", *argv], capture_output=True, text=True, timeout=30, cwd="/", check=False
    )


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


@pytest.fixture(scope="session")
def emulators() -> Iterator[None]:
    for flavour in FLAVOURS:
        install(flavour)
    yield
    for flavour in FLAVOURS:
        kill_live_jobs(flavour)


@pytest.fixture(params=FLAVOURS, ids=[f.name for f in FLAVOURS])
def flavour(request: pytest.FixtureRequest, emulators: None) -> Iterator[Flavour]:
    flav: Flavour = request.param
    yield flav
    kill_live_jobs(flav)


def assert_server_answers(hub: Hub) -> None:
    r = hub.get_through_proxy(f"/user/{USER}/api/status")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "started" in r.json()


# ---------------------------------------------------------------------------
# the tests


def test_spawn_queue_run_stop(make_hub: Callable[..., Hub], flavour: Flavour) -> None:
    hub = make_hub(flavour.config(), spawner=flavour.spawner)
    result = hub.spawn(USER)
    assert result.ready, result
    text = "\n".join(result.messages)
    job_id = str(hub.state(USER)["job_id"])
    assert f"Submitted {flavour.display} job {job_id} to partition debug" in text, text
    assert f"Job {job_id} is waiting in the queue" in text, text
    assert f"Job {job_id} is running on localhost" in text, text
    assert text.index("waiting in the queue") < text.index("is running on localhost")
    if flavour.name == "pbspro":
        # PBS Pro's scheduler comment and estimated start reach the user in words
        assert "waiting for the requested resources to become free" in text, text
        assert "expected start" in text, text
    assert_server_answers(hub)

    # the job asked the scheduler for exactly what the spawner was configured with
    job = spool_job(flavour, job_id)
    assert job["owner"] == USER
    assert job["queue"] == "debug"
    for key, value in flavour.resources.items():
        assert job["resources"].get(key) == value, (key, job["resources"])
    assert job["ncpus"] == 2 and job["memory_mb"] == 1024
    assert job["stdout_path"] == f"{hub.state(USER)['job_dir']}/job.out"
    assert process_alive(job, "session_id", "session_start")
    assert uid_of(int(job["session_id"])) == Path(f"/home/{USER}").stat().st_uid
    # the same status answer gives the job's start and walltime: its server learns its time left
    info = hub.started_job(USER)
    assert info["time_limit_seconds"] == 3600 and 3500 < info["seconds_left"] <= 3600, info

    hub.stop(USER)
    job = spool_job(flavour, job_id)
    assert job["state"] == flavour.stopped_state
    assert job.get("deleted") is True
    assert not process_alive(job, "session_id", "session_start")
    assert not process_alive(job, "runner_pid", "runner_start")

    # the scheduler's own status command, run as the user, says the job is over
    status = os.path.join(flavour.bin, flavour.commands["status"])
    if flavour.name == "pbspro":
        out = as_user(status, "-x", "-f", "-F", "json", job_id)
        assert out.returncode == 0, out.stderr
        attrs = json.loads(out.stdout)["Jobs"][job_id]
        assert attrs["job_state"] == "F" and "Exit_status" in attrs
        finished = as_user(status, job_id)
        assert finished.returncode == 35
        assert finished.stderr.strip() == (
            f"qstat: {job_id} Job has finished, use -x or -H to obtain historical job information"
        )
    elif flavour.name == "torque":
        out = as_user(status, "-x", job_id)
        assert out.returncode == 0, out.stderr
        assert "<job_state>C</job_state>" in out.stdout and "<exit_status>" in out.stdout
    else:
        out = as_user(status, "-j", job_id, "--xml")
        assert out.returncode == 0, out.stderr
        assert 'State="Removed"' in out.stdout and "CompletionCode=" in out.stdout


def test_rejected_submission_shows_the_schedulers_words(
    make_hub: Callable[..., Hub], flavour: Flavour
) -> None:
    before = len(spool_jobs(flavour))
    hub = make_hub(flavour.config('c.BatchSpawnerBase.partition = "reject"\n'), spawner=flavour.spawner)
    result = hub.spawn(USER)
    assert result.failed, result
    assert any(flavour.rejection in m for m in result.messages), result.messages
    assert hub.server_model(USER) is None
    assert len(spool_jobs(flavour)) == before, "a rejected job must not be queued"
    assert not Path(f"/home/{USER}/.batchspawner_x/{USER}/env.json").exists()


def test_job_that_ends_early_reports_its_exit_code_and_output(
    make_hub: Callable[..., Hub], flavour: Flavour
) -> None:
    broken = '["/bin/sh", "-c", "echo the node command is broken >&2; exit 3"]'
    hub = make_hub(flavour.config(f"c.BatchSpawnerBase.node_command = {broken}\n"), spawner=flavour.spawner)
    result = hub.spawn(USER)
    assert result.failed, result
    text = "\n".join(result.messages)
    assert f"({flavour.exited_state}, exit code 3)" in text, text
    assert "the node command is broken" in text, text
    job = max(spool_jobs(flavour), key=lambda j: int(j["seq"]))
    assert job["owner"] == USER and job["state"] == flavour.exited_state and job["exit_status"] == 3
