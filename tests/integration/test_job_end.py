"""The job tells the hub when it ends, and the hub says why (issue 17, points 2, 4 and 5).

On the real Slurm, with the node side carried in the job script (``node_command = []``, so
the job runs this checkout's node side):

- a running server's job is ``scancel``led by root: the hub's API shows the server stopped
  within 5 s, because the node side posted the end (its log line shows it); JupyterHub's
  own polls come only every :data:`INTERVAL` seconds. With the node side's way to the hub
  blocked (a firewall rule for the user's packets to the hub's port, added once the server
  runs), polling notices within two intervals. Both record "cancelled": "by an
  administrator" where ``sacct`` answers (slurmdbd, which says who cancelled), plain
  "cancelled" where it does not (``scontrol`` cannot tell who);
- a server that exits with code 3 is reported with that code and its last lines;
- a job with a one-minute walltime and ``walltime_warnings = [40]`` gets Slurm's early
  signal: a warning line in its events file about 40 s before the end, which the hub hears
  of too; after Slurm ends the job, the hub records "time limit" within 5 s.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import cluster
from .hub import Hub

USER = "grace"  # nobody else's tests spawn as grace
#: JupyterHub's poll interval and the spawner's status interval, in seconds: the safety net.
INTERVAL = 12
#: How soon the hub must know of an end the node side told it of.
PUSHED = 5.0

BASE = f"""
c.BatchSpawnerBase.node_command = []
c.Spawner.poll_interval = {INTERVAL}
c.Spawner.poll_jitter = 0
c.BatchSpawnerBase.status_interval = {INTERVAL}
"""


def accounting() -> bool:
    """Whether sacct answers here (slurmdbd runs): then it says who cancelled a job."""
    return cluster.run("sacct", "--noheader", "--allocations", "--jobs=1").returncode == 0


def running(hub: Hub) -> str:
    """Spawn USER's server, wait until it is ready; its job id."""
    result = hub.spawn(USER)
    assert result.ready, (result, hub.log_tail())
    job_id = str(hub.state(USER)["job_id"])
    assert cluster.job_state(job_id) == "RUNNING"
    return job_id


def stopped_state(hub: Hub) -> dict[str, Any]:
    """The state JupyterHub keeps for USER's stopped server (admin token)."""
    r = hub.request("GET", f"/users/{USER}?include_stopped_servers")
    r.raise_for_status()
    state: dict[str, Any] = r.json()["servers"][""].get("state") or {}
    return state


def seconds_until_stopped(hub: Hub, since: float, timeout: float) -> float:
    hub.wait_for(lambda: hub.server_model(USER) is None, timeout, f"{USER}'s server to be seen stopped")
    return time.monotonic() - since


@contextlib.contextmanager
def hub_unreachable_for(user: str, hub: Hub) -> Iterator[None]:
    """Refuse every TCP connection ``user``'s processes open to the hub's own port (the
    node side's way to the hub), and only those: the proxy and the tests are root."""
    rule = [
        "OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", str(hub.hub_port),
        "-m", "owner", "--uid-owner", user, "-j", "REJECT", "--reject-with", "tcp-reset",
    ]  # fmt: skip
    subprocess.run(["iptables", "-I", *rule], check=True, timeout=30)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-D", *rule], check=False, timeout=30)


@pytest.fixture
def job_end_hub(make_hub: Callable[..., Hub]) -> Callable[[str], Hub]:
    return lambda extra="": make_hub(BASE + extra)


def test_an_admins_scancel_is_known_within_seconds_and_without_the_push_within_two_intervals(
    job_end_hub: Callable[[str], Hub],
) -> None:
    hub = job_end_hub("")
    by_admin = accounting()
    expected = "cancelled by an administrator" if by_admin else "cancelled"

    # with the push
    job_id = running(hub)
    since = time.monotonic()
    assert cluster.run("scancel", job_id).returncode == 0
    took = seconds_until_stopped(hub, since, 3 * INTERVAL)
    assert took < PUSHED, (took, hub.log_tail())
    assert f"job {job_id}] its node side says the job ends (term)" in hub.log_text()
    end = stopped_state(hub)["last_end"]
    assert (end["kind"], end["job_id"]) == ("cancelled", job_id), end
    assert end["summary"].startswith(expected + " after "), end

    # without it: the node side cannot reach the hub, polling notices
    job_id = running(hub)
    with hub_unreachable_for(USER, hub):
        since = time.monotonic()
        assert cluster.run("scancel", job_id).returncode == 0
        took = seconds_until_stopped(hub, since, 4 * INTERVAL)
    assert took < 2 * INTERVAL + 2, (took, hub.log_tail())
    assert f"job {job_id}] its node side says the job ends" not in hub.log_text()
    end = stopped_state(hub)["last_end"]
    assert (end["kind"], end["job_id"]) == ("cancelled", job_id), end
    assert end["summary"].startswith(expected + " after "), end


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the job's user can read (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="bsx-job-end-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_server_that_exits_with_code_3_is_reported_with_its_code_and_last_lines(
    job_end_hub: Callable[[str], Hub], shared_dir: Path
) -> None:
    venv = cluster.cluster_env()["BSX_VENV"]
    trigger = shared_dir / "exit-now"
    script = shared_dir / "server-then-exit-3.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'{venv}/bin/jupyterhub-singleuser "$@" &\n'
        "server=$!\n"
        f"while [ ! -e {trigger} ]; do sleep 0.5; done\n"
        'kill "$server"; wait "$server"\n'
        "echo 'my server: giving up with code 3'\n"
        "exit 3\n"
    )
    script.chmod(0o755)
    hub = job_end_hub(f'c.Spawner.cmd = ["{script}"]')
    job_id = running(hub)
    since = time.monotonic()
    trigger.touch()
    took = seconds_until_stopped(hub, since, 3 * INTERVAL)
    assert took < PUSHED + 5, (took, hub.log_tail())  # (the server's own shutdown takes a moment)
    assert f"job {job_id}] its node side says the job ends (exit)" in hub.log_text()
    end = stopped_state(hub)["last_end"]
    assert (end["kind"], end["exit_code"], end["state"]) == ("failed", 3, "FAILED"), end
    assert end["summary"].startswith("the server exited with code 3 after "), end
    assert end["output_tail"].splitlines()[-1] == "my server: giving up with code 3", end
    assert "the server exited with code 3" in hub.log_text()


@pytest.mark.newest_hub_only  # a minute of walltime: once is enough
def test_the_early_signal_warns_in_the_events_file_and_the_time_limit_is_known_within_seconds(
    job_end_hub: Callable[[str], Hub],
) -> None:
    hub = job_end_hub(
        """
c.BatchSpawnerBase.walltime = "00:01:00"
c.BatchSpawnerBase.walltime_warnings = [40]
"""
    )
    job_id = running(hub)
    info = cluster.job_info(job_id)
    start = time.mktime(time.strptime(info["StartTime"], "%Y-%m-%dT%H:%M:%S"))
    events = Path(hub.state(USER)["job_dir"]) / "events.jsonl"
    assert stat.S_IMODE(os.stat(events).st_mode) == 0o600 and events.stat().st_uid != 0
    hub.wait_for(lambda: events.read_text().strip() != "", 90, "the warning line")
    [line] = events.read_text().splitlines()
    warning = json.loads(line)
    assert (warning["event"], warning["seconds_left"], warning["source"]) == ("warning", 40, "scheduler")
    # Slurm sends the signal "up to 60 seconds earlier than specified" (sbatch(1), from the
    # resolution of its event handling), and its controller looks for due signals only every
    # few tens of seconds, so it can come late too: seen 58, 42 and 30 s before the end of a
    # one-minute job. What holds: it comes while the job runs, before its limit.
    assert start - 1 <= warning["time"] < start + 60, (warning, start)
    assert f"job {job_id}] the scheduler warns: the job ends in about 40 s" in hub.log_text()
    # Slurm ends the job at its limit (checked every few tens of seconds): from the moment
    # it no longer runs, the hub knows within PUSHED seconds, and why
    hub.wait_for(lambda: cluster.job_state(job_id) not in ("RUNNING", ""), 120, "Slurm to end the job")
    since = time.monotonic()
    took = seconds_until_stopped(hub, since, 3 * INTERVAL)
    assert took < PUSHED, (took, hub.log_tail())
    end = stopped_state(hub)["last_end"]
    assert (end["kind"], end["state"]) == ("time_limit", "TIMEOUT"), end
    assert end["summary"].startswith("time limit reached after 1 min"), end
