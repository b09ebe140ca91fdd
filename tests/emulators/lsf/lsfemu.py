"""An emulator of IBM Spectrum LSF's bsub, bjobs and bkill, for the integration tests.

Not shipped, not a scheduler: one spool directory of JSON job records and, for
every job, a detached runner process that keeps the job pending for
BSX_EMULATOR_QUEUE_SECONDS, then really runs the script with bash, as the submitting
user, and records how it ended. The commands print what LSF 10.1 prints
(formats from IBM's manuals; error texts from LSF's ``lsb_errmsg`` table as
bsub prints them: ``<subject>: <message>. Job not submitted.``).

Standard library only; run by ``/usr/bin/python3`` as the cluster's users.

Spool (``BSX_LSF_SPOOL``, default ``/var/tmp/bsx-emulator/lsf``, mode 1777):
``config.json`` (written by the test fixture), ``lock``, ``next_id`` and
``jobs/<id>.json`` plus ``jobs/<id>.sh`` / ``jobs/<id>.env`` (0600).

config.json keys: ``BSX_EMULATOR_QUEUE_SECONDS`` (how long a job stays pending,
default 2; the environment variable of that name overrides it), ``queues`` (default ["normal"]),
``default_queue`` ("normal"), ``max_slots`` (64), ``clean_period`` (3600 s,
after which finished jobs are "not found"), ``down`` (true: every command
fails as when mbatchd cannot be reached), ``cluster`` ("bsx"),
``terminate_interval`` (10 s between SIGTERM and SIGKILL, as LSF's
JOB_TERMINATE_INTERVAL).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

SPOOL = os.environ.get("BSX_LSF_SPOOL", "/var/tmp/bsx-emulator/lsf")
FINISHED = ("DONE", "EXIT")
POLL = 0.2


# -- spool ----------------------------------------------------------------------------
def config() -> dict[str, Any]:
    try:
        with open(os.path.join(SPOOL, "config.json"), encoding="utf-8") as f:
            data: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        data = {}
    data.setdefault("BSX_EMULATOR_QUEUE_SECONDS", 2.0)
    if os.environ.get("BSX_EMULATOR_QUEUE_SECONDS"):
        data["BSX_EMULATOR_QUEUE_SECONDS"] = float(os.environ["BSX_EMULATOR_QUEUE_SECONDS"])
    data.setdefault("queues", ["normal"])
    data.setdefault("default_queue", "normal")
    data.setdefault("max_slots", 64)
    data.setdefault("clean_period", 3600)
    data.setdefault("down", False)
    data.setdefault("cluster", "bsx")
    data.setdefault("terminate_interval", 10)
    return data


def _open_shared(path: str) -> int:
    """Open (creating) a file every user of the 1777 spool may write."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    with contextlib.suppress(PermissionError):
        os.fchmod(fd, 0o666)
    return fd


@contextlib.contextmanager
def locked() -> Iterator[None]:
    os.makedirs(os.path.join(SPOOL, "jobs"), exist_ok=True)
    fd = _open_shared(os.path.join(SPOOL, "lock"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def job_path(job_id: str, ext: str = "json") -> str:
    return os.path.join(SPOOL, "jobs", f"{job_id}.{ext}")


def load(job_id: str) -> dict[str, Any] | None:
    if not re.fullmatch(r"\d+", job_id):
        return None
    try:
        with open(job_path(job_id), encoding="utf-8") as f:
            record: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        return None
    return record


def save(record: dict[str, Any]) -> None:
    path = job_path(str(record["id"]))
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def update(job_id: str, **changes: Any) -> dict[str, Any] | None:
    with locked():
        record = load(job_id)
        if record is None:
            return None
        record.update(changes)
        save(record)
        return record


def next_id() -> int:
    fd = _open_shared(os.path.join(SPOOL, "next_id"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.read(fd, 64).decode().strip()
        value = int(text) if text.isdigit() else 1001
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(value + 1).encode())
        return value
    finally:
        os.close(fd)


def write_private(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(data)


def user_name() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def host_name() -> str:
    return socket.gethostname().split(".")[0]


def down_message() -> str:
    return "LSF is down. Please wait...\n"


# -- bsub -------------------------------------------------------------------------------
class Rejected(Exception):
    """bsub refuses the job; the message is printed as LSF prints it."""


#: bsub options that take a value, and flags that do not (LSF 10.1 bsub(1)).
VALUE_OPTIONS = {
    "-J",
    "-o",
    "-oo",
    "-e",
    "-eo",
    "-q",
    "-P",
    "-W",
    "-We",
    "-n",
    "-R",
    "-M",
    "-gpu",
    "-cwd",
    "-G",
    "-app",
    "-L",
    "-sp",
    "-b",
    "-t",
    "-u",
    "-m",
    "-w",
    "-c",
    "-v",
    "-Jd",
    "-g",
    "-sla",
    "-U",
    "-E",
    "-Ep",
    "-i",
    "-is",
    "-F",
    "-D",
    "-S",
    "-C",
    "-T",
    "-p",
    "-k",
    "-Q",
}
FLAG_OPTIONS = {"-B", "-N", "-r", "-rn", "-ul", "-H", "-K", "-I", "-Is", "-Ip", "-x"}

_TIME = re.compile(r"^(?:(\d+):)?(\d+)$")
_RUSAGE = re.compile(r"rusage\[([^\]]*)\]")
_RUSAGE_ITEM = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=\s*\d+(?:\.\d+)?\s*(?:[KMGTPEZ]B?)?\s*$")


def parse_directives(script: str) -> list[str]:
    """The options of the #BSUB lines that precede the first command."""
    args: list[str] = []
    for raw in script.splitlines():
        line = raw.strip()
        if not line or line.startswith("#!"):
            continue
        if line.startswith("#BSUB"):
            try:
                args += shlex.split(line[len("#BSUB") :], comments=False)
            except ValueError as e:
                raise Rejected(f"{line}: {e}. Job not submitted.") from None
            continue
        if line.startswith("#"):
            continue
        break
    return args


def has_command(script: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in script.splitlines())


def parse_options(args: list[str]) -> dict[str, list[str]]:
    options: dict[str, list[str]] = {}
    i = 0
    while i < len(args):
        opt = args[i]
        if opt in FLAG_OPTIONS:
            options.setdefault(opt, []).append("")
            i += 1
        elif opt in VALUE_OPTIONS:
            if i + 1 >= len(args):
                raise Rejected(f"bsub: option requires an argument -- {opt.lstrip('-')}")
            options.setdefault(opt, []).append(args[i + 1])
            i += 2
        else:
            raise Rejected(f"bsub: illegal option -- {opt.lstrip('-')}")
    return options


def minutes(text: str) -> int:
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise Rejected(f"{text}: Bad RUNLIMIT specification. Job not submitted.")
    hours, mins = match.groups()
    return int(hours or 0) * 60 + int(mins)


def check_resources(requirements: list[str]) -> None:
    for text in requirements:
        for body in _RUSAGE.findall(text):
            for item in body.split(","):
                if not _RUSAGE_ITEM.match(item):
                    raise Rejected("Error in rusage section. Job not submitted.")


def bsub(argv: list[str], stdin: str) -> int:
    cfg = config()
    if cfg["down"]:
        sys.stderr.write(down_message())
        return 255
    try:
        directives = parse_directives(stdin)
        options = parse_options(argv + directives)  # the command line wins: it comes first
        if not has_command(stdin):
            raise Rejected("No command is specified in the script file. Job not submitted.")
        queue = (options.get("-q") or [cfg["default_queue"]])[0]
        if queue not in cfg["queues"]:
            raise Rejected(f"{queue}: No such queue. Job not submitted.")
        slots = int((options.get("-n") or ["1"])[0].split(",")[0])
        if slots > int(cfg["max_slots"]):
            raise Rejected("Too many processors requested. Job not submitted.")
        walltime = (options.get("-W") or [""])[0]
        limit_minutes = minutes(walltime) if walltime else None
        requirements = options.get("-R", [])
        check_resources(requirements)
    except (Rejected, ValueError) as e:
        sys.stderr.write(f"{e}\n")
        return 255

    with locked():
        job_id = next_id()
        name = (options.get("-J") or [""])[0] or "STDIN"
        cwd = (options.get("-cwd") or [os.getcwd()])[0]
        record: dict[str, Any] = {
            "id": job_id,
            "user": user_name(),
            "uid": os.getuid(),
            "name": name,
            "description": (options.get("-Jd") or [None])[0],
            "queue": queue,
            "project": (options.get("-P") or ["default"])[0],
            "slots": slots,
            "resource_requirements": requirements,
            "memory_limit": (options.get("-M") or [None])[0],
            "run_limit": walltime or None,
            "run_limit_minutes": limit_minutes,
            "gpu": (options.get("-gpu") or [None])[0],
            "cwd": cwd,
            "output": (options.get("-o") or options.get("-oo") or [None])[0],
            "error": (options.get("-e") or options.get("-eo") or [None])[0],
            "options": options,
            "state": "PEND",
            "pend_reason": "New job is waiting for scheduling",
            "submit_time": time.time(),
            "submit_host": host_name(),
            "start_time": None,
            "end_time": None,
            "exec_host": None,
            "exit_code": None,
            "kill_requested": False,
            "runner_pid": None,
            "pgid": None,
            "term_reason": None,
        }
        save(record)
    write_private(job_path(str(job_id), "sh"), stdin)
    write_private(job_path(str(job_id), "env"), json.dumps(dict(os.environ)))
    start_runner(str(job_id))
    default = "default " if not options.get("-q") else ""
    sys.stdout.write(f"Job <{job_id}> is submitted to {default}queue <{queue}>.\n")
    return 0


def start_runner(job_id: str) -> None:
    """Run the job in a detached process: setsid, double fork, no inherited descriptors."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, 4096)
        run(job_id)
    finally:
        os._exit(0)


# -- the runner -----------------------------------------------------------------------
def job_env(record: dict[str, Any], submit_env: dict[str, str]) -> dict[str, str]:
    """The submission environment plus what LSF sets for a batch job."""
    host = record["exec_host_name"]
    env = dict(submit_env)
    env.update(
        LSB_JOBID=str(record["id"]),
        LSB_JOBNAME=record["name"],
        LSB_QUEUE=record["queue"],
        LSB_HOSTS=" ".join([host] * record["slots"]),
        LSB_MCPU_HOSTS=f"{host} {record['slots']}",
        LSB_MAX_NUM_PROCESSORS=str(record["slots"]),
        LSB_DJOB_NUMPROC=str(record["slots"]),
        LSB_JOBFILENAME=job_path(str(record["id"]), "sh"),
        LSB_SUB_HOST=record["submit_host"],
        LS_SUBCWD=record["cwd"],
        LSFUSER=record["user"],
    )
    return env


def output_path(path: str | None, job_id: str, cwd: str) -> str | None:
    """-o/-e file name with %J (job id) and %I (array index) replaced, relative to cwd."""
    if not path:
        return None
    path = path.replace("%J", job_id).replace("%I", "0")
    return path if os.path.isabs(path) else os.path.join(cwd, path)


def open_append(path: str | None) -> int:
    if path is None:
        return os.open(os.devnull, os.O_WRONLY)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def run(job_id: str) -> None:
    cfg = config()
    deadline = time.time() + float(cfg["BSX_EMULATOR_QUEUE_SECONDS"])
    while time.time() < deadline:
        record = load(job_id)
        if record is None:
            return
        if record["kill_requested"]:
            update(job_id, state="EXIT", end_time=time.time(), pend_reason=None, term_reason="TERM_OWNER")
            return
        time.sleep(POLL)

    with locked():
        record = load(job_id)
        if record is None:
            return
        if record["kill_requested"]:
            record.update(state="EXIT", end_time=time.time(), pend_reason=None, term_reason="TERM_OWNER")
            save(record)
            return
        host = host_name()
        record["exec_host_name"] = host
        record["exec_host"] = host if record["slots"] == 1 else f"{record['slots']}*{host}"
        with open(job_path(job_id, "env"), encoding="utf-8") as f:
            env = job_env(record, json.load(f))
        cwd = record["cwd"] if os.path.isdir(record["cwd"]) else os.path.expanduser("~")
        out_path = output_path(record["output"], job_id, cwd)
        out = open_append(out_path)
        # Without -e, stderr goes to the -o file too.
        err = open_append(output_path(record["error"], job_id, cwd)) if record["error"] else out
        child = subprocess.Popen(
            ["/bin/bash", job_path(job_id, "sh")],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        for fd in {out, err}:
            os.close(fd)
        record.update(
            state="RUN",
            pend_reason=None,
            start_time=time.time(),
            runner_pid=os.getpid(),
            pgid=child.pid,
        )
        save(record)

    killed_at: float | None = None
    signalled: int | None = None
    limit = record["run_limit_minutes"]
    while child.poll() is None:
        time.sleep(POLL)
        current = load(job_id) or {}
        now = time.time()
        over_limit = limit is not None and now - record["start_time"] > limit * 60
        if (current.get("kill_requested") or over_limit) and killed_at is None:
            killed_at = now
            signalled = signal.SIGUSR2 if over_limit and not current.get("kill_requested") else signal.SIGTERM
            if signalled == signal.SIGTERM:
                _killpg(child.pid, signal.SIGINT)
            _killpg(child.pid, signalled)
            update(job_id, term_reason="TERM_OWNER" if signalled == signal.SIGTERM else "TERM_RUNLIMIT")
        elif killed_at is not None and now - killed_at > float(cfg["terminate_interval"]):
            _killpg(child.pid, signal.SIGKILL)
    _killpg(child.pid, signal.SIGKILL)  # what the job left behind goes with it
    rc = child.returncode
    code = rc if rc >= 0 else 128 - rc
    if killed_at is not None and signalled == signal.SIGUSR2:
        code = 140  # TERM_RUNLIMIT
    state = "DONE" if code == 0 and killed_at is None else "EXIT"
    final = update(job_id, state=state, exit_code=None if state == "DONE" else code, end_time=time.time())
    if final is not None and out_path:
        _write_report(final, out_path)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _write_report(record: dict[str, Any], path: str) -> None:
    """The job report LSF appends to the output file."""
    cfg = config()
    ended = "Done" if record["state"] == "DONE" else "Exited"
    lines = [
        "",
        "------------------------------------------------------------",
        f"Sender: LSF System <lsfadmin@{record['exec_host_name']}>",
        f"Subject: Job {record['id']}: <{record['name']}> in cluster <{cfg['cluster']}> {ended}",
        "",
        f"Job <{record['name']}> was submitted from host <{record['submit_host']}> by user "
        f"<{record['user']}> in cluster <{cfg['cluster']}> at {time.ctime(record['submit_time'])}",
        f"Job was executed on host(s) <{record['exec_host']}>, in queue <{record['queue']}>, "
        f"as user <{record['user']}> in cluster <{cfg['cluster']}> at {time.ctime(record['start_time'])}",
        f"Results reported at {time.ctime(record['end_time'])}",
        "",
    ]
    if record["state"] == "DONE":
        lines.append("Successfully completed.")
    else:
        if record.get("term_reason") == "TERM_RUNLIMIT":
            lines.append("TERM_RUNLIMIT: job killed after reaching LSF run time limit.")
        elif record.get("term_reason") == "TERM_OWNER":
            lines.append("TERM_OWNER: job killed by owner.")
        lines.append(f"Exited with exit code {record['exit_code']}.")
    with contextlib.suppress(OSError), open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# -- bjobs ------------------------------------------------------------------------------
FIELDS = {
    "jobid": lambda r: str(r["id"]),
    "id": lambda r: str(r["id"]),
    "stat": lambda r: r["state"],
    "user": lambda r: r["user"],
    "queue": lambda r: r["queue"],
    "job_name": lambda r: r["name"],
    "job_description": lambda r: r.get("description") or "-",
    "name": lambda r: r["name"],
    "exec_host": lambda r: r["exec_host"] or "-",
    "from_host": lambda r: r["submit_host"],
    "exit_code": lambda r: "-" if r["exit_code"] in (None, 0) else str(r["exit_code"]),
    "pend_reason": lambda r: r["pend_reason"] if r["state"] == "PEND" and r["pend_reason"] else "-",
    "slots": lambda r: str(r["slots"]),
    "nalloc_slot": lambda r: str(r["slots"]) if r["state"] == "RUN" else "-",
    "proj_name": lambda r: r["project"],
    "project": lambda r: r["project"],
    "runtimelimit": lambda r: (
        f"{r['run_limit_minutes']}.0/{r['exec_host_name']}"
        if r.get("run_limit_minutes") and r.get("exec_host_name")
        else "-"
    ),
    "combined_resreq": lambda r: " ".join(r["resource_requirements"]) or "-",
}
_FORMAT_DELIMITER = re.compile(r"\bdelimiter\s*=\s*'(.)'")


def format_line(record: dict[str, Any], spec: str) -> str:
    delimiter = " "
    match = _FORMAT_DELIMITER.search(spec)
    if match:
        delimiter = match.group(1)
        spec = spec[: match.start()] + spec[match.end() :]
    values = []
    for field in spec.split():
        name = field.split(":")[0].lower()
        getter = FIELDS.get(name)
        if getter is None:
            raise KeyError(name)
        values.append(getter(record))
    return delimiter.join(values)


DEFAULT_HEADER = "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME"


def bjobs(argv: list[str]) -> int:
    cfg = config()
    if cfg["down"]:
        sys.stderr.write(down_message())
        return 255
    show_all = False
    noheader = False
    valued: dict[str, str] = {}  # -o FORMAT, -u USER|all
    ids: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-a":
            show_all = True
        elif arg in ("-o", "-u"):
            if i + 1 >= len(argv):
                sys.stderr.write(f"bjobs: option requires an argument -- {arg[1]}\n")
                return 255
            valued[arg] = argv[i + 1]
            i += 1
        elif arg == "-noheader":
            noheader = True
        elif arg in ("-w", "-l"):
            pass
        elif arg.startswith("-"):
            sys.stderr.write(f"bjobs: illegal option -- {arg.lstrip('-')}\n")
            return 255
        else:
            ids.append(arg)
        i += 1
    spec, owner = valued.get("-o"), valued.get("-u")

    now = time.time()
    records: list[dict[str, Any]] = []
    missing: list[str] = []
    if ids:
        for job_id in ids:
            record = load(job_id)
            if record is None or _purged(record, now, cfg) or owner not in (None, "all", record["user"]):
                missing.append(job_id)
            else:
                records.append(record)
    else:
        me = owner or user_name()
        jobs_dir = os.path.join(SPOOL, "jobs")
        names = os.listdir(jobs_dir) if os.path.isdir(jobs_dir) else []  # no job submitted yet
        for name in sorted(names, key=_numeric):
            if not name.endswith(".json"):
                continue
            record = load(name[:-5])
            if record is None or me not in ("all", record["user"]) or _purged(record, now, cfg):
                continue
            if record["state"] in FINISHED and not show_all:
                continue
            records.append(record)
    out = []
    for record in records:
        if spec is not None:
            try:
                out.append(format_line(record, spec))
            except KeyError as e:
                sys.stderr.write(f"{e.args[0]}: Illegal field name\n")
                return 255
        else:
            out.append(
                f"{record['id']:<7} {record['user']:<7} {record['state']:<5} {record['queue']:<10} "
                f"{record['submit_host']:<11} {record['exec_host'] or '':<11} {record['name']:<10} "
                f"{time.strftime('%b %d %H:%M', time.localtime(record['submit_time']))}"
            )
    if out and spec is None and not noheader:
        sys.stdout.write(DEFAULT_HEADER + "\n")
    if out:
        sys.stdout.write("\n".join(out) + "\n")
    for job_id in missing:
        sys.stderr.write(f"Job <{job_id}> is not found\n")
    if not ids and not records:
        sys.stderr.write("No job found\n" if show_all else "No unfinished job found\n")
    # Seen on LSF: 255 when some of the ids asked are unknown and others listed; 0 otherwise.
    return 255 if missing and records else 0


def _numeric(name: str) -> int:
    stem = name.split(".")[0]
    return int(stem) if stem.isdigit() else 0


def _purged(record: dict[str, Any], now: float, cfg: dict[str, Any]) -> bool:
    end = record.get("end_time")
    return bool(record["state"] in FINISHED and end and now - end > float(cfg["clean_period"]))


# -- bkill ------------------------------------------------------------------------------
def bkill(argv: list[str]) -> int:
    cfg = config()
    if cfg["down"]:
        sys.stderr.write(down_message())
        return 255
    ids = [a for a in argv if not a.startswith("-")]
    if not ids:
        sys.stderr.write("Usage: bkill [-l] [-b] [-app application_profile_name] ... [job_ID ...]\n")
        return 255
    failed = False
    now = time.time()
    for job_id in ids:
        with locked():
            record = load(job_id)
            if record is None or _purged(record, now, cfg):
                sys.stderr.write(f"Job <{job_id}>: No matching job found\n")
                failed = True
                continue
            if record["uid"] != os.getuid() and os.getuid() != 0:
                sys.stderr.write(f"Job <{job_id}>: User permission denied\n")
                failed = True
                continue
            if record["state"] in FINISHED:
                sys.stderr.write(f"Job <{job_id}>: Job has already finished\n")
                failed = True
                continue
            record["kill_requested"] = True
            save(record)
        sys.stdout.write(f"Job <{job_id}> is being terminated\n")
    return 255 if failed else 0
