"""Looking at the real Slurm and the users' files directly, as the cluster's root."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path


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


def stop_slurmctld() -> None:
    pid = slurmctld_pid()
    assert pid is not None, "slurmctld is not running"
    os.kill(pid, 15)
    for _ in range(150):
        if slurmctld_pid() is None:
            return
        time.sleep(0.1)
    raise AssertionError("slurmctld did not stop")


def start_slurmctld() -> None:
    if slurmctld_pid() is None:
        subprocess.run(["/usr/sbin/slurmctld"], check=True, timeout=60)
    for _ in range(300):
        if run("scontrol", "ping").returncode == 0 and "UP" in run("scontrol", "ping").stdout:
            return
        time.sleep(0.1)
    raise AssertionError("slurmctld did not come back")
