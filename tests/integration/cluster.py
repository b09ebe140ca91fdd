"""Looking at the real Slurm and the users' files directly, as the cluster's root."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from batchspawner_x.transport import SSHTarget, SSHTransport

from .facts import cluster_env


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def job_info(job_id: str) -> dict[str, str]:
    """``scontrol show job`` as a dict (empty once the job is purged)."""
    out = run("scontrol", "--oneliner", "show", "job", job_id)
    if out.returncode != 0:
        return {}
    info: dict[str, str] = {}
    for match in re.finditer(r"(\S+?)=(\S*)", out.stdout):
        info.setdefault(match.group(1), match.group(2))
    return info


def job_state(job_id: str) -> str:
    return job_info(job_id).get("JobState", "")


def alive_jobs(user: str) -> list[str]:
    """Ids of the user's jobs that are pending, running or completing."""
    out = run("squeue", "--noheader", "--user", user, "--format=%i")
    return out.stdout.split()


def cancel_all(user: str) -> None:
    run("scancel", "--user", user)


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def owner(path: str) -> int:
    return os.stat(path).st_uid


SLURMCTLD_PIDFILE = "/run/slurm/slurmctld.pid"


def slurmctld_pid() -> int | None:
    """The live slurmctld started by ci/cluster/up.sh, from its pidfile."""
    try:
        pid = int(Path(SLURMCTLD_PIDFILE).read_text().strip())
        exe = os.readlink(f"/proc/{pid}/exe")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError):
        return None
    if state in ("Z", "X") or not exe.startswith(os.path.realpath("/usr/sbin/slurmctld")):
        return None
    return pid


def _wait(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {seconds:g}s")
        time.sleep(0.1)


def stop_slurmctld() -> None:
    pid = slurmctld_pid()
    assert pid is not None, "slurmctld is not running"
    os.kill(pid, 15)
    _wait(lambda: slurmctld_pid() is None, 15, "slurmctld did not stop")


def start_slurmctld() -> None:
    if slurmctld_pid() is None:
        subprocess.run(["/usr/sbin/slurmctld"], check=True, timeout=60)
    _wait(lambda: "UP" in run("scontrol", "ping").stdout, 30, "slurmctld did not come back")


# -- the login node's sshd (started by ci/cluster/up.sh) ----------------------------------

SSHD_PIDFILE = "/run/batchspawner-x-test-sshd.pid"
SSHD_CONFIG = "/etc/batchspawner-x-test/sshd_config"
SSHD_LOG = "/var/log/batchspawner-x-test-sshd.log"


def _ppid_and_cmdline(pid: int) -> tuple[int, str]:
    stat_fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return int(stat_fields[1]), cmdline.strip()


def _live(pid: int, exe_path: str) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X") and os.readlink(f"/proc/{pid}/exe") == exe_path
    except (OSError, ValueError):
        return False


def sshd_pid(pidfile: str = SSHD_PIDFILE) -> int | None:
    """The listening sshd of the test login node (or of the one ``pidfile`` names)."""
    try:
        pid = int(Path(pidfile).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _live(pid, "/usr/sbin/sshd") else None


def ssh_sessions(user: str | None = None, *, pidfile: str = SSHD_PIDFILE) -> list[int]:
    """The per-connection sshd processes (children of the test sshd, or of the one
    ``pidfile`` names), of ``user`` or all."""
    parent = sshd_pid(pidfile)
    if parent is None:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid, cmdline = _ppid_and_cmdline(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and (user is None or cmdline.startswith(f"sshd: {user} ")):
            found.append(int(entry.name))
    return found


def process_start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), or None if there is no such live process:
    with the pid, it names one process even after the pid is reused."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, parents first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                children.setdefault(_ppid_and_cmdline(int(entry.name))[0], []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def drop_ssh_connections(user: str | None = None, *, commands: bool = True) -> int:
    """Cut the test sshd's connections (of ``user``, or all) as a network fault would:
    each connection's sshd processes (the privileged monitor and the unprivileged one that
    holds the socket) die, and with them the commands they ran. With ``commands=False``
    the commands go on running, as they do on a real login node when the network drops:
    sshd sends no SIGHUP to a command without a terminal."""
    sessions = ssh_sessions(user)
    for session in sessions:
        for pid in descendants(session):
            if not commands and not _live(pid, "/usr/sbin/sshd"):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return len(sessions)


def stop_sshd() -> None:
    """Stop the login node's sshd and every connection it serves, as a reboot would."""
    pid = sshd_pid()
    assert pid is not None, "the test sshd is not running"
    drop_ssh_connections()
    os.kill(pid, signal.SIGTERM)
    _wait(lambda: sshd_pid() is None, 10, "sshd did not stop")


def start_sshd() -> None:
    if sshd_pid() is None:
        subprocess.run(["/usr/sbin/sshd", "-f", SSHD_CONFIG, "-E", SSHD_LOG], check=True, timeout=30)
    _wait(lambda: sshd_pid() is not None, 10, "sshd did not come back")


# -- the second login node (login-node failover), also started by ci/cluster/up.sh ----------


@dataclass(frozen=True)
class LoginSshd:
    """One login node's sshd: its port, pidfile, config and log."""

    port: int
    pidfile: str
    config: str
    log: str


def login_sshd(port: int) -> LoginSshd:
    """The sshd of the test cluster's login node on ``port`` (the first or the second)."""
    env = cluster_env()
    if port == int(env["BSX_SSH_PORT"]):
        return LoginSshd(port, SSHD_PIDFILE, SSHD_CONFIG, SSHD_LOG)
    assert port == int(env["BSX_SSH_PORT2"]), f"no test login node on port {port}"
    return LoginSshd(port, env["BSX_SSHD2_PIDFILE"], env["BSX_SSHD2_CONFIG"], env["BSX_SSHD2_LOG"])


def stop_login_sshd(port: int) -> None:
    """Stop one login node's sshd and every connection it serves (with the commands they
    run), by the pids below the one in its pidfile, as that node's reboot would."""
    sshd = login_sshd(port)
    pid = sshd_pid(sshd.pidfile)
    assert pid is not None, f"the login sshd on port {port} is not running"
    for session in ssh_sessions(pidfile=sshd.pidfile):
        for child in descendants(session):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
    os.kill(pid, signal.SIGTERM)
    _wait(lambda: sshd_pid(sshd.pidfile) is None, 10, f"the login sshd on port {port} did not stop")


def start_login_sshd(port: int) -> None:
    """Start one login node's sshd again (nothing if it runs)."""
    sshd = login_sshd(port)
    if sshd_pid(sshd.pidfile) is None:
        subprocess.run(["/usr/sbin/sshd", "-f", sshd.config, "-E", sshd.log], check=True, timeout=30)
    _wait(lambda: sshd_pid(sshd.pidfile) is not None, 10, f"the login sshd on port {port} did not come back")


def login(user: str) -> SSHTransport:
    """``user``'s own SSH login to the test login node (127.0.0.1:2222), as a spawner makes it.
    Close with ``await SSHPool.close_all()``."""
    env = cluster_env()
    target = SSHTarget(
        host=env["BSX_SSH_HOST"],
        port=int(env["BSX_SSH_PORT"]),
        username=user,
        keys=(f"{env['BSX_KEYS_DIR']}/{user}",),
        known_hosts=env["BSX_KNOWN_HOSTS"],
    )
    return SSHTransport(target)
