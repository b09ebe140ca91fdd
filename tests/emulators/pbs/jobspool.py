"""The job spool and job runner behind the PBS, Torque and Moab emulators.

Test fixture only (never shipped). Standard library only: it runs under
Debian's /usr/bin/python3 as the cluster user.

Each job is one JSON file, ``<spool>/<seq>.json``, read and written under
``flock``. Submission writes the file and starts a detached runner (double
fork, new session, stdin from /dev/null) that waits the queue time, runs the
job script with the scheduler's environment in a process group of its own,
and records how it ended. The command emulators derive what they print from
the file and from whether the runner still lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

#: Seconds a deleted job's processes get between SIGTERM and SIGKILL (PBS's kill_delay).
KILL_DELAY = 5.0

DEFAULTS = {
    "BSX_EMULATOR_QUEUE_SECONDS": "2",
    # Torque: how long a completed job stays visible (keep_completed); Moab: the same for mdiag.
    "BSX_EMULATOR_KEEP_COMPLETED": "300",
    "BSX_EMULATOR_QUEUES": "workq,batch,debug,interactive,gpu",
    "BSX_EMULATOR_NODE": "localhost",
    "BSX_EMULATOR_NODE_CPUS": "64",
}


class Spool:
    """A directory of job files."""

    def __init__(self, path: str) -> None:
        self.path = path

    # -- configuration ---------------------------------------------------------
    def config(self) -> dict[str, str]:
        """``KEY=VALUE`` lines of ``<spool>/config`` over :data:`DEFAULTS`."""
        values = dict(DEFAULTS)
        with contextlib.suppress(OSError), open(os.path.join(self.path, "config"), encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep and not key.startswith("#"):
                    values[key.strip()] = value.strip()
        return values

    def setting(self, key: str) -> str:
        return self.config()[key]

    def queues(self) -> list[str]:
        return [q.strip() for q in self.setting("BSX_EMULATOR_QUEUES").split(",") if q.strip()]

    # -- job files -------------------------------------------------------------
    def job_path(self, seq: int) -> str:
        return os.path.join(self.path, f"{seq}.json")

    def create(self, record: dict[str, Any]) -> int:
        """Store a new job; returns its sequence number (the next free one)."""
        seq = max(self.sequence_numbers(), default=0) + 1
        while True:
            try:
                fd = os.open(self.job_path(seq), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                seq += 1
                continue
            break
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            record["seq"] = seq
            json.dump(record, f, indent=1, sort_keys=True)
        return seq

    def sequence_numbers(self) -> list[int]:
        numbers = []
        for name in os.listdir(self.path):
            stem, dot, ext = name.partition(".")
            if dot and ext == "json" and stem.isdigit():
                numbers.append(int(stem))
        return sorted(numbers)

    def load(self, seq: int) -> dict[str, Any] | None:
        try:
            with open(self.job_path(seq), encoding="utf-8") as f:
                fcntl.flock(f, fcntl.LOCK_SH)
                text = f.read()
        except OSError:
            return None
        if not text:
            return None  # being created
        data: dict[str, Any] = json.loads(text)
        return data

    def jobs(self) -> list[dict[str, Any]]:
        return [job for seq in self.sequence_numbers() if (job := self.load(seq)) is not None]

    @contextlib.contextmanager
    def update(self, seq: int) -> Iterator[dict[str, Any]]:
        """Read, change and write back one job file under an exclusive lock."""
        with open(self.job_path(seq), "r+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            job: dict[str, Any] = json.loads(f.read())
            yield job
            f.seek(0)
            f.truncate()
            json.dump(job, f, indent=1, sort_keys=True)
            f.flush()


# -- processes -------------------------------------------------------------------
def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid: int | None, start_time: int | None) -> bool:
    """True if the process recorded as (pid, start_time) still runs."""
    return bool(pid) and start_time is not None and process_start_time(int(pid or 0)) == start_time


def runner_alive(job: dict[str, Any]) -> bool:
    return alive(job.get("runner_pid"), job.get("runner_start"))


def session_alive(job: dict[str, Any]) -> bool:
    return alive(job.get("session_id"), job.get("session_start"))


def now() -> float:
    return time.time()


def start_runner(spool: Spool, seq: int) -> None:
    """Start the job's runner, detached from the caller (and from its SSH channel).

    Returns once the runner has recorded its pid in the job file.
    """
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            os.closerange(3, write_end)
            os.closerange(write_end + 1, 4096)
            pid = os.getpid()
            with spool.update(seq) as job:
                job["runner_pid"] = pid
                job["runner_start"] = process_start_time(pid)
            os.write(write_end, b"1")
            os.close(write_end)
            run_job(spool, seq)
        except BaseException:
            os._exit(1)
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    os.read(read_end, 1)
    os.close(read_end)


def _open_output(path: str) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return os.open(os.devnull, os.O_WRONLY)


def run_job(spool: Spool, seq: int) -> None:
    """The runner: queue wait, then the script, then the record of how it ended."""
    job = spool.load(seq) or {}
    states = job["states"]
    deadline = now() + float(spool.setting("BSX_EMULATOR_QUEUE_SECONDS"))
    while True:
        job = spool.load(seq) or {}
        if job.get("deleted"):
            with spool.update(seq) as job:
                job.update(state=states["removed"], end_time=now())
            return
        if not job.get("hold") and not job.get("start_after", 0) > now() and now() >= deadline:
            break
        time.sleep(0.1)

    out_fd = _open_output(job["stdout_path"])
    err_fd = out_fd if job.get("join") else _open_output(job["stderr_path"])
    with spool.update(seq) as job:
        if job.get("deleted"):
            job.update(state=states["removed"], end_time=now())
            return
        job.update(state=states["running"], start_time=now(), exec_host=job["planned_exec_host"])
        job["run_count"] = job.get("run_count", 0) + 1
    try:
        proc = subprocess.Popen(
            [job["shell"], job["script_path"]],
            cwd=job["cwd"] if os.path.isdir(job["cwd"]) else job["home"],
            env=job["env"],
            stdin=subprocess.DEVNULL,
            stdout=out_fd,
            stderr=err_fd,
            start_new_session=True,  # a process group of its own, as a PBS session
            close_fds=True,
        )
    except OSError as e:
        os.write(err_fd, f"{job['shell']}: {e}\n".encode())
        with spool.update(seq) as job:
            job.update(state=states["finished"], exit_status=-1, end_time=now())
        return
    with spool.update(seq) as job:
        job["session_id"] = proc.pid
        job["session_start"] = process_start_time(proc.pid)

    deleted_at: float | None = None
    while True:
        try:
            rc = proc.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        job = spool.load(seq) or {}
        if job.get("deleted"):
            deleted_at = deleted_at or now()
            if now() - deleted_at > KILL_DELAY:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
    # Like a MOM at the end of a job: nothing of the session survives it.
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    exit_status = rc if rc >= 0 else 256 + (-rc)
    with spool.update(seq) as job:
        final = states["removed"] if job.get("deleted") else states["finished"]
        job.update(state=final, exit_status=exit_status, end_time=now())


def delete(spool: Spool, seq: int) -> None:
    """Mark a job deleted and send SIGTERM to its session; the runner does the rest."""
    with spool.update(seq) as job:
        job["deleted"] = True
        job["deleted_at"] = now()
        session = job.get("session_id") if session_alive(job) else None
    if session:
        with contextlib.suppress(OSError):
            os.killpg(int(session), signal.SIGTERM)


def fmt_ctime(stamp: float | None) -> str:
    """PBS's time format: ``Tue Nov 25 20:41:03 2025``."""
    return time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(stamp or 0))


def hms(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
