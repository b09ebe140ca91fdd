"""poll_interval is obeyed: a site that sets only ``c.Spawner.poll_interval = 10`` has its
jobs' ends noticed within two intervals, and a failing or hanging squeue asked again
within them, on the real Slurm, sshd, hub and proxy.

Runs as heidi (and dave for the login shell that greets), whom few other suites use, and
cancels only the job of the spawn under test.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import cluster
from .hub import Hub
from .test_slurm_e2e import assert_server_answers, job_id_of

#: The scheduler backend, not the hub, is under test here: run against the newest hub only.
pytestmark = pytest.mark.newest_hub_only

USER = "heidi"

#: The base configuration of tests/integration/hub.py sets poll_interval = 5 and
#: status_interval = 2; a site that sets poll_interval = 10 and nothing else:
ONLY_POLL_INTERVAL_10 = """
c.Spawner.poll_interval = 10
c.BatchSpawnerBase.pop("status_interval", None)
"""


@pytest.fixture
def world_tmp() -> Iterator[Path]:
    """A directory the cluster users can read (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="bsx-interval-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def seconds_until_gone(hub: Hub, user: str, limit: float) -> float:
    """scancel the user's job behind the hub's back; seconds until the hub shows no server."""
    job_id = job_id_of(hub, user)
    cancelled = time.monotonic()
    assert cluster.run("scancel", job_id).returncode == 0
    while time.monotonic() - cancelled < limit:
        if hub.server_model(user) is None:
            took = time.monotonic() - cancelled
            print(f"scancel {job_id} noticed after {took:.1f}s")
            return took
        time.sleep(0.25)
    raise AssertionError(f"the hub still shows {user}'s server {limit:g}s after scancel {job_id}")


def test_an_out_of_band_scancel_is_noticed_within_two_poll_intervals(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(ONLY_POLL_INTERVAL_10)
    assert hub.spawn(USER).ready
    assert seconds_until_gone(hub, USER, 20) < 20
    assert cluster.alive_jobs(USER) == []


def status_wrapper(tmp: Path, fault: str) -> tuple[Path, Path, Path]:
    """A squeue that fails (or hangs) while its marker exists, else runs the real one; each
    call appends its time to a log. Returns the wrapper, its marker and its log."""
    tmp.mkdir(mode=0o755)
    shutil.chown(tmp, USER)
    marker, calls, wrapper = tmp / "fault", tmp / "calls", tmp / "squeue"
    squeue = shutil.which("squeue")
    if fault == "fails":
        during = 'echo "squeue: error: slurm_load_jobs error: Socket timed out" >&2; exit 1'
    else:
        during = f"while [ -e {marker} ]; do sleep 0.2; done"
    wrapper.write_text(
        f'#!/bin/sh\ndate +%s.%N >> {calls}\nif [ -e {marker} ]; then {during}; fi\nexec {squeue} "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, marker, calls


def call_times(calls: Path) -> list[float]:
    return [float(line) for line in calls.read_text().split()] if calls.exists() else []


@pytest.mark.parametrize("fault", ["fails", "hangs"])
def test_a_failing_or_hanging_squeue_is_asked_again_within_the_window_and_the_server_kept(
    make_hub: Callable[..., Hub], world_tmp: Path, fault: str
) -> None:
    wrapper, marker, calls = status_wrapper(world_tmp / fault, fault)
    hub = make_hub(
        ONLY_POLL_INTERVAL_10 + f'c.BatchSpawnerBase.scheduler_commands = {{"status": "{wrapper}"}}\n'
    )
    assert hub.spawn(USER).ready
    job_id = job_id_of(hub, USER)
    marker.touch()
    began = time.time()
    time.sleep(20)
    during = [t for t in call_times(calls) if began <= t <= began + 20]
    marker.unlink()
    # status_timeout is 30 s: a hanging query must not stop the next one going out
    assert len(during) >= 2, f"squeue was asked {len(during)} time(s) in the 20 s it {fault}"
    model = hub.server_model(USER)
    assert model is not None and model["ready"], f"a squeue that {fault} must not stop the server"
    assert cluster.job_state(job_id) == "RUNNING"
    assert_server_answers(hub, USER)
    # and once squeue answers again, the job's end is noticed as before
    assert seconds_until_gone(hub, USER, 25) < 25
    assert "keeping last known states" in hub.log_text() or fault == "hangs"


GREETING = "Welcome to the batchspawner-x test cluster"


@pytest.fixture
def greeting_login_shell() -> Iterator[str]:
    """dave's ~/.bashrc prints a line on every command, before Debian's "not interactive:
    return". bash sources ~/.bashrc for a command sshd runs; OpenSSH also starts the SFTP
    server through it, so, as a site that wants a working SFTP must, the greeting spares it."""
    user = "dave"
    bashrc = Path(f"/home/{user}/.bashrc")
    saved = bashrc.read_bytes()
    greeting = f'case "$BASH_EXECUTION_STRING" in *sftp-server*) ;; *) echo "{GREETING}" ;; esac\n'
    try:
        bashrc.write_bytes(greeting.encode() + saved)
        probe = cluster.run(
            "ssh", "-n", "-p", "2222", "-i", f"/etc/batchspawner-x-test/keys/{user}",
            "-o", "UserKnownHostsFile=/etc/batchspawner-x-test/ssh_known_hosts",
            "-o", "BatchMode=yes", f"{user}@127.0.0.1", "true",
        )  # fmt: skip
        assert probe.stdout.strip() == GREETING, ("the login shell does not greet", probe)
        yield user
    finally:
        bashrc.write_bytes(saved)


def test_a_login_shell_that_greets_on_every_command_does_not_hide_a_jobs_end(
    make_hub: Callable[..., Hub], greeting_login_shell: str
) -> None:
    user = greeting_login_shell
    hub = make_hub()
    assert hub.spawn(user).ready
    assert_server_answers(hub, user)
    # poll_interval 5 s and status_interval 2 s (the harness's): noticed in seconds
    seconds_until_gone(hub, user, 30)
    assert cluster.alive_jobs(user) == []
    log = hub.log_text()
    assert log.count(GREETING) == 1, "the greeting is logged once, not every round"
    assert "does not recognise" in log
