"""An emulator of HTCondor's condor_submit, condor_q, condor_rm and condor_history, for the
integration tests.

Not shipped, not a scheduler: one spool directory of JSON job records and, for every
job, a detached runner process that keeps the job Idle for BSX_EMULATOR_QUEUE_SECONDS, then
really runs the executable with its arguments, as the submitting user, in
``initialdir``, with the environment ``getenv``/``environment`` give, and records how
it ended. Like HTCondor, a completed or removed job leaves the queue (condor_q) and
is then only known to condor_history, with its ExitCode.

What the commands print follows the HTCondor sources (condor_submit.V6/submit.cpp,
condor_tools/tool.cpp) and manual: "Submitting job(s)." then "1 job(s) submitted to
cluster N.", "\\nERROR: I don't know about the 'x' universe." with exit status 1, the
new-syntax ``arguments`` quoting ("" and ''), macro expansion ($(Cluster),
$(DOLLAR), $ENV(...)), ``condor_q -af[:jt,]`` and ``-format``.

Standard library only; run by ``/usr/bin/python3`` as the cluster's users.

Spool (``BSX_CONDOR_SPOOL``, default ``/var/tmp/bsx-emulator/condor``, mode 1777):
``config.json`` (written by the test fixture), ``lock``, ``next_id`` and
``jobs/<cluster>.json`` plus ``jobs/<cluster>.env`` (0600).

config.json keys: ``BSX_EMULATOR_QUEUE_SECONDS`` (how long a job stays pending,
default 2; the environment variable of that name overrides it), ``down`` (true: the schedd cannot be
reached), ``kill_timeout`` (5 s between SIGTERM and SIGKILL after condor_rm).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

SPOOL = os.environ.get("BSX_CONDOR_SPOOL", "/var/tmp/bsx-emulator/condor")
POLL = 0.2
UNIVERSES = {
    "vanilla",
    "standard",
    "scheduler",
    "local",
    "grid",
    "java",
    "vm",
    "parallel",
    "docker",
    "container",
}
STATUS_LETTER = {0: "U", 1: "I", 2: "R", 3: "X", 4: "C", 5: "H", 6: ">", 7: "S"}


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
    data.setdefault("down", False)
    data.setdefault("kill_timeout", 5)
    return data


def _open_shared(path: str) -> int:
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


def job_path(cluster: int | str, ext: str = "json") -> str:
    return os.path.join(SPOOL, "jobs", f"{cluster}.{ext}")


def load(cluster: int | str) -> dict[str, Any] | None:
    if not re.fullmatch(r"\d+", str(cluster)):
        return None
    try:
        with open(job_path(cluster), encoding="utf-8") as f:
            record: dict[str, Any] = json.load(f)
    except (OSError, ValueError):
        return None
    return record


def save(record: dict[str, Any]) -> None:
    path = job_path(record["ClusterId"])
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def update(cluster: int | str, **changes: Any) -> dict[str, Any] | None:
    with locked():
        record = load(cluster)
        if record is None:
            return None
        record.update(changes)
        save(record)
        return record


def all_records() -> list[dict[str, Any]]:
    try:
        names = os.listdir(os.path.join(SPOOL, "jobs"))
    except FileNotFoundError:
        return []
    records = []
    for name in names:
        if name.endswith(".json") and name[:-5].isdigit():
            record = load(name[:-5])
            if record is not None:
                records.append(record)
    return sorted(records, key=lambda r: int(r["ClusterId"]))


def next_id() -> int:
    fd = _open_shared(os.path.join(SPOOL, "next_id"))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        text = os.read(fd, 64).decode().strip()
        value = int(text) if text.isdigit() else 1
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, str(value + 1).encode())
        return value
    finally:
        os.close(fd)


def user_name() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def host_name() -> str:
    return socket.getfqdn()


def sinful() -> str:
    return f"<127.0.0.1:9618?addrs=127.0.0.1-9618&alias={host_name()}>"


def schedd_down() -> None:
    sys.stderr.write(
        f"\n-- Failed to fetch ads from: {sinful()} : {host_name()}\n"
        "CEDAR:6001:Failed to connect to <127.0.0.1:9618>\n"
    )


# -- the submit language ----------------------------------------------------------------
class SubmitError(Exception):
    """condor_submit fails; the message is printed after "ERROR: "."""


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with backslash continuations joined, and their (first) line numbers."""
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


_MACRO = re.compile(r"\$(?:\(([A-Za-z0-9_.+]+)(?::([^)]*))?\)|ENV\(([A-Za-z0-9_]+)(?::([^)]*))?\))")


def expand(value: str, macros: dict[str, str], depth: int = 0) -> str:
    """HTCondor macro expansion: $(name), $(name:default), $ENV(name); $(DOLLAR) last."""
    if depth > 20:
        raise SubmitError("Macro expansion is too deeply nested")

    def one(match: re.Match[str]) -> str:
        name, default, env_name, env_default = match.groups()
        if env_name is not None:
            return os.environ.get(env_name, env_default or "")
        if name.upper() == "DOLLAR":
            return match.group(0)  # kept for the final pass
        found = macros.get(name.lower())
        if found is None:
            return default or ""
        return expand(found, macros, depth + 1)

    expanded = _MACRO.sub(one, value)
    return expanded.replace("$(DOLLAR)", "$").replace("$(dollar)", "$") if depth == 0 else expanded


def parse_new_arguments(text: str) -> list[str]:
    """The new syntax: the whole value in double quotes ("" is a literal "), white space
    separates arguments, single quotes group ('' is a literal ' inside them)."""
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        raise SubmitError(f"Found illegal unescaped double-quote: {text}")
    body = text[1:-1]
    args: list[str] = []
    current: list[str] = []
    in_word = False
    quoted = False
    i = 0
    while i < len(body):
        char = body[i]
        if char == '"':
            if body[i : i + 2] != '""':
                raise SubmitError(f"Found illegal unescaped double-quote: {text}")
            current.append('"')
            in_word = True
            i += 2
            continue
        if quoted:
            if char == "'":
                if body[i : i + 2] == "''":
                    current.append("'")
                    i += 2
                    continue
                quoted = False
            else:
                current.append(char)
            i += 1
            continue
        if char == "'":
            quoted = True
            in_word = True
        elif char in " \t":
            if in_word:
                args.append("".join(current))
                current, in_word = [], False
        else:
            current.append(char)
            in_word = True
        i += 1
    if quoted:
        raise SubmitError(f"Unterminated single-quote in arguments: {text}")
    if in_word:
        args.append("".join(current))
    return args


def parse_arguments(value: str) -> list[str]:
    value = value.strip()
    if value.startswith('"'):
        return parse_new_arguments(value)
    return [a.replace('\\"', '"') for a in value.split()]


def parse_environment(value: str) -> dict[str, str]:
    value = value.strip()
    if not value:
        return {}
    pairs = parse_new_arguments(value) if value.startswith('"') else [p for p in value.split(";") if p]
    env = {}
    for pair in pairs:
        name, sep, val = pair.partition("=")
        if not sep:
            raise SubmitError(f"Missing '=' after environment variable '{name}'.")
        env[name] = val
    return env


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]B?)?\s*$", re.IGNORECASE)
_MEMORY_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


def memory_mb(value: str) -> int:
    match = _MEMORY.match(value)
    if match is None:
        raise SubmitError(f"request_memory = {value} is invalid, must eval to a non-negative integer.")
    number, unit = match.groups()
    return int(float(number) * _MEMORY_UNITS[(unit or "M")[0].upper()] + 0.999)


def parse_submit(text: str) -> tuple[dict[str, str], dict[str, str], int]:
    """(submit commands, +attributes, number of jobs queued)."""
    commands: dict[str, str] = {}
    attributes: dict[str, str] = {}
    queued = -1
    for number, line in logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        word = stripped.split()[0].lower()
        if word == "queue" and "=" not in stripped:
            rest = stripped[len("queue") :].strip()
            if rest and not rest.isdigit():
                raise SubmitError(f"Failed to parse command file (line {number}).")
            queued = max(queued, 0) + (int(rest) if rest else 1)
            continue
        name, sep, value = stripped.partition("=")
        if not sep or not name.strip():
            raise SubmitError(f"Failed to parse command file (line {number}).")
        name, value = name.strip(), value.strip()
        if name.startswith("+"):
            attributes[name[1:]] = value
        elif name.lower().startswith("my."):
            attributes[name[3:]] = value
        elif not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
            raise SubmitError(f"Failed to parse command file (line {number}).")
        else:
            commands[name.lower()] = value
    return commands, attributes, queued


def condor_submit(argv: list[str], stdin: str) -> int:
    terse = "-terse" in argv
    verbose = "-verbose" in argv
    appended: list[str] = []  # -append/-a COMMAND: as if written just before the queue command
    files: list[str] = []
    rest = iter(argv)
    for arg in rest:
        if arg in ("-append", "-a"):
            command = next(rest, None)
            if command is None:
                sys.stderr.write(f"condor_submit: {arg} requires another argument\n")
                return 1
            appended.append(command)
        elif not arg.startswith("-") or arg == "-":
            files.append(arg)
    from_stdin_dash = files == ["-"]
    if files and not from_stdin_dash:
        try:
            with open(files[0], encoding="utf-8") as f:
                stdin = f.read()
        except OSError as e:
            sys.stderr.write(f"\nERROR: Failed to open command file ({files[0]}) ({e.strerror})\n")
            return 1
    if from_stdin_dash and not terse:
        verbose = True
    cfg = config()
    if cfg["down"]:
        sys.stderr.write("\nERROR: Can't find address of local schedd\n")
        return 1
    if not from_stdin_dash and not terse:
        sys.stdout.write("Submitting job(s)")
        sys.stdout.flush()
    try:
        commands, attributes, queued = parse_submit(with_appended(stdin, appended))
        if queued < 0:
            name = "(stdin)" if from_stdin_dash else (files[0] if files else "(null)")
            sys.stderr.write(f'\nERROR: "{name}" doesn\'t contain any "queue" commands -- no jobs queued\n')
            return 1
        with locked():
            cluster = next_id()
            macros = dict(commands)
            macros.update(cluster=str(cluster), clusterid=str(cluster), process="0", procid="0")
            record = make_record(cluster, commands, attributes, macros)
            save(record)
        with open(
            os.open(job_path(cluster, "env"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            "w",
            encoding="utf-8",
        ) as f:
            json.dump(dict(os.environ), f)
    except SubmitError as e:
        sys.stderr.write(f"\nERROR: {e}\n")
        return 1
    write_event(record, "000", f"Job submitted from host: {sinful()}")
    start_runner(str(cluster))
    if terse:
        sys.stdout.write(f"{cluster}.0 - {cluster}.0\n")
    elif verbose:
        sys.stdout.write(f"\n** Proc {cluster}.0:\n")
        for key in sorted(k for k in record if k[0].isupper()):
            sys.stdout.write(f"{key} = {format_value(record[key], raw=True)}\n")
        sys.stdout.write("\n")
    else:
        sys.stdout.write(".\n")
        sys.stdout.write(f"1 job(s) submitted to cluster {cluster}.\n")
    return 0


def with_appended(text: str, commands: list[str]) -> str:
    """The submit description with ``commands`` inserted before its first queue command."""
    if not commands:
        return text
    lines = text.splitlines()
    for i, line in enumerate(lines):
        words = line.strip().split()
        if words and words[0].lower() == "queue" and "=" not in line:
            return "\n".join([*lines[:i], *commands, *lines[i:]]) + "\n"
    return "\n".join([*lines, *commands]) + "\n"


def make_record(
    cluster: int, commands: dict[str, str], attributes: dict[str, str], macros: dict[str, str]
) -> dict[str, Any]:
    def get(name: str, default: str = "") -> str:
        return expand(commands[name], macros) if name in commands else default

    universe = get("universe", "vanilla").lower()
    if universe not in UNIVERSES:
        raise SubmitError(f"I don't know about the '{get('universe')}' universe.")
    executable = get("executable")
    if not executable:
        raise SubmitError("No 'executable' parameter was provided")
    iwd = get("initialdir", os.getcwd())
    args_text = get("arguments")
    arguments = parse_arguments(args_text) if args_text else []
    getenv = get("getenv", "false").lower() in ("true", "yes", "1", "t")
    now = int(time.time())

    def path(name: str) -> str | None:
        value = get(name)
        if not value:
            return None
        return value if os.path.isabs(value) else os.path.join(iwd, value)

    record: dict[str, Any] = {
        "ClusterId": cluster,
        "ProcId": 0,
        "Owner": user_name(),
        "uid": os.getuid(),
        "JobUniverse": universe,
        "Cmd": executable,
        "Arguments": " ".join(arguments),
        "argv": arguments,
        "Iwd": iwd,
        "Out": path("output"),
        "Err": path("error"),
        "UserLog": path("log"),
        "GetEnv": getenv,
        "environment": parse_environment(get("environment")),
        "RequestCpus": int(get("request_cpus", "1")),
        "RequestMemory": memory_mb(get("request_memory")) if get("request_memory") else None,
        "RequestGPUs": int(get("request_gpus")) if get("request_gpus") else None,
        "AcctGroup": get("accounting_group") or None,
        "JobBatchName": get("batch_name") or None,
        "PeriodicRemove": get("periodic_remove") or None,
        "ShouldTransferFiles": get("should_transfer_files", "IF_NEEDED").upper(),
        "MY": {name: expand(value, macros) for name, value in attributes.items()},
        "JobStatus": 1,
        "EnteredCurrentStatus": now,
        "QDate": now,
        "RemoteHost": None,
        "LastRemoteHost": None,
        "HoldReason": None,
        "ExitCode": None,
        "ExitBySignal": None,
        "ExitSignal": None,
        "CompletionDate": 0,
        "in_queue": True,
        "remove_requested": False,
        "pgid": None,
        "submit_description": commands,
    }
    return record


# -- the runner -----------------------------------------------------------------------
def start_runner(cluster: str) -> None:
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
        run(cluster)
    finally:
        os._exit(0)


def write_event(record: dict[str, Any], code: str, text: str, *details: str) -> None:
    """An event in the job event log (``log = ...``), as HTCondor writes it."""
    if not record.get("UserLog"):
        return
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"{code} ({int(record['ClusterId']):03d}.000.000) {stamp} {text}", *details, "..."]
    with contextlib.suppress(OSError), open(record["UserLog"], "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def job_env(record: dict[str, Any], submit_env: dict[str, str], scratch: str) -> dict[str, str]:
    env = dict(submit_env) if record["GetEnv"] else {}
    env.update(record["environment"])
    cpus = str(record["RequestCpus"])
    env.update(
        _CONDOR_SCRATCH_DIR=scratch,
        _CONDOR_SLOT="slot1",
        _CONDOR_JOB_IWD=record["Iwd"],
        _CONDOR_JOB_AD=os.path.join(scratch, ".job.ad"),
        _CONDOR_MACHINE_AD=os.path.join(scratch, ".machine.ad"),
        BATCH_SYSTEM="HTCondor",
        TMPDIR=scratch,
        TMP=scratch,
        TEMP=scratch,
        OMP_NUM_THREADS=cpus,
        MKL_NUM_THREADS=cpus,
    )
    if record.get("RequestGPUs"):
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(int(record["RequestGPUs"])))
    return env


def leave_queue(cluster: str, **changes: Any) -> dict[str, Any] | None:
    now = int(time.time())
    return update(cluster, in_queue=False, EnteredCurrentStatus=now, CompletionDate=now, **changes)


def run(cluster: str) -> None:
    cfg = config()
    deadline = time.time() + float(cfg["BSX_EMULATOR_QUEUE_SECONDS"])
    while time.time() < deadline:
        record = load(cluster)
        if record is None:
            return
        if record["remove_requested"]:
            final = leave_queue(cluster, JobStatus=3)
            if final:
                write_event(final, "009", "Job was aborted.", f"\tvia condor_rm (by user {final['Owner']})")
            return
        time.sleep(POLL)

    slot = f"slot1@{host_name()}"
    scratch = os.path.join("/tmp", f"condor-emu-{cluster}-{os.getpid()}")
    with locked():
        record = load(cluster)
        if record is None:
            return
        if record["remove_requested"]:
            record.update(JobStatus=3, in_queue=False, EnteredCurrentStatus=int(time.time()))
            save(record)
            return
        os.makedirs(scratch, mode=0o700, exist_ok=True)
        with open(job_path(cluster, "env"), encoding="utf-8") as f:
            env = job_env(record, json.load(f), scratch)
        out = _open_truncate(record["Out"])
        err = out if record["Err"] == record["Out"] else _open_truncate(record["Err"])
        try:
            child = subprocess.Popen(
                [record["Cmd"], *record["argv"]],
                cwd=record["Iwd"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except OSError as e:
            record.update(
                JobStatus=5,
                EnteredCurrentStatus=int(time.time()),
                HoldReason=f"Error from {slot}: Failed to execute '{record['Cmd']}': "
                f"(errno={e.errno}: '{e.strerror}')",
                HoldReasonCode=6,
            )
            save(record)
            child = None
        finally:
            for fd in {out, err}:
                os.close(fd)
        if child is not None:
            record.update(
                JobStatus=2,
                EnteredCurrentStatus=int(time.time()),
                RemoteHost=slot,
                LastRemoteHost=slot,
                JobCurrentStartDate=int(time.time()),
                pgid=child.pid,
            )
            save(record)
    if child is None:
        write_event(record, "012", "Job was held.", f"\t{record['HoldReason']}")
        while True:  # held until removed
            time.sleep(POLL)
            current = load(cluster)
            if current is None or current["remove_requested"]:
                final = leave_queue(cluster, JobStatus=3)
                if final:
                    write_event(
                        final, "009", "Job was aborted.", f"\tvia condor_rm (by user {final['Owner']})"
                    )
                return
    write_event(record, "001", f"Job executing on host: {sinful()}")

    removing_since: float | None = None
    while child.poll() is None:
        time.sleep(POLL)
        current = load(cluster) or {}
        if current.get("remove_requested") and removing_since is None:
            removing_since = time.time()
            _killpg(child.pid, signal.SIGTERM)
        elif removing_since is not None and time.time() - removing_since > float(cfg["kill_timeout"]):
            _killpg(child.pid, signal.SIGKILL)
    _killpg(child.pid, signal.SIGKILL)  # the job's leftovers go with it
    rc = child.returncode
    if removing_since is not None or (load(cluster) or {}).get("remove_requested"):
        final = leave_queue(cluster, JobStatus=3, RemoteHost=None)
        if final:
            write_event(final, "009", "Job was aborted.", f"\tvia condor_rm (by user {final['Owner']})")
        return
    if rc >= 0:
        final = leave_queue(cluster, JobStatus=4, RemoteHost=None, ExitCode=rc, ExitBySignal=False)
        detail = f"\t(1) Normal termination (return value {rc})"
    else:
        final = leave_queue(cluster, JobStatus=4, RemoteHost=None, ExitBySignal=True, ExitSignal=-rc)
        detail = f"\t(0) Abnormal termination (signal {-rc})"
    if final:
        write_event(final, "005", "Job terminated.", detail)


def _open_truncate(path: str | None) -> int:
    if not path:
        return os.open(os.devnull, os.O_WRONLY)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# -- condor_q / condor_history --------------------------------------------------------------
def attribute(record: dict[str, Any], name: str) -> Any:
    key = name.lower()
    if key == "true":
        return True
    if key == "false":
        return False
    for k, v in record.items():
        if k.lower() == key and k[0].isupper():
            return v
    for k, v in record.get("MY", {}).items():
        if k.lower() == key:
            return _literal(v)
    return None


def _literal(text: str) -> Any:
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def format_value(value: Any, raw: bool = False) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and raw:
        return '"' + value.replace('"', '\\"') + '"'
    return str(value)


Query = tuple[list[str], list[tuple[str, Any]], int | None, str | None]


def parse_query(argv: list[str], tool: str) -> Query | None:
    """(job ids, output spec, limit, constraint): spec items are ("af", (flags, [attrs])) or
    ("format", (fmt, attr))."""
    ids: list[str] = []
    spec: list[tuple[str, Any]] = []
    limit: int | None = None
    constraint: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("-constraint", "-const"):
            if i + 1 >= len(argv):
                sys.stderr.write(f"Error: Argument {arg} requires another argument\n")
                return None
            constraint = argv[i + 1]
            if _conditions(constraint) is None:
                sys.stderr.write(f"Error: Invalid constraint expression: {constraint}\n")
                return None
            i += 2
            continue
        if arg.startswith("-af") or arg.startswith("-autoformat"):
            flags = arg.partition(":")[2]
            attrs = []
            while i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                attrs.append(argv[i + 1])
                i += 1
            spec.append(("af", (flags, attrs)))
        elif arg in ("-format", "-f"):
            if i + 2 >= len(argv):
                sys.stderr.write(f"{tool}: -format requires format and attribute parameters\n")
                return None
            spec.append(("format", (argv[i + 1], argv[i + 2])))
            i += 2
        elif arg in ("-limit", "-match"):
            if i + 1 >= len(argv) or not argv[i + 1].isdigit():
                sys.stderr.write(f"{tool}: {arg} requires a number\n")
                return None
            limit = int(argv[i + 1])
            i += 1
        elif arg in ("-nobatch", "-allusers", "-all", "-wide", "-totals", "-run", "-held", "-idle"):
            pass
        elif re.fullmatch(r"\d+(?:\.\d+)?", arg):
            ids.append(arg)
        elif not arg.startswith("-"):
            pass  # an owner name
        else:
            sys.stderr.write(f"Error: unrecognized option {arg}\n")
            return None
        i += 1
    return ids, spec, limit, constraint


_CONDITION = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(==|=\?=)\s*(\"[^\"]*\"|-?\d+|true|false)\s*", re.I)


def _conditions(constraint: str) -> list[tuple[str, str, Any]] | None:
    """``Attr == literal`` conditions joined by ``&&``: the part of the ClassAd language the
    tests use. None for anything else."""
    found = []
    for part in constraint.split("&&"):
        match = _CONDITION.fullmatch(part)
        if match is None:
            return None
        found.append((match.group(1), match.group(2), _literal(match.group(3))))
    return found


def _satisfies(record: dict[str, Any], constraint: str | None) -> bool:
    """Whether the job ClassAd satisfies ``constraint``. As in ClassAds, ``==`` compares
    strings without regard to case and is never true for an undefined attribute; ``=?=``
    is exact."""
    if constraint is None:
        return True
    for name, op, want in _conditions(constraint) or []:
        have = attribute(record, name)
        if have is None:
            return False
        if op == "==" and isinstance(have, str) and isinstance(want, str):
            if have.lower() != want.lower():
                return False
        elif have != want or type(have) is not type(want):
            return False
    return True


def _c_format(fmt: str, value: Any) -> str:
    fmt = fmt.encode().decode("unicode_escape")
    match = re.search(r"%[-0-9.]*([sdvVfi])", fmt)
    if match is None:
        return fmt
    conv = match.group(1)
    if conv in "di":
        text = str(int(value)) if isinstance(value, (int, bool)) or str(value).isdigit() else "0"
    elif conv == "V":
        text = format_value(value, raw=True)
    else:
        text = format_value(value)
    return fmt[: match.start()] + text + fmt[match.end() :]


def render(record: dict[str, Any], spec: list[tuple[str, Any]]) -> str:
    out = []
    for kind, item in spec:
        if kind == "af":
            flags, attrs = item
            separator = "\t" if "t" in flags else (", " if "," in flags else " ")
            values = [format_value(attribute(record, a), raw="r" in flags or "V" in flags) for a in attrs]
            if "j" in flags:
                values.insert(0, f"{record['ClusterId']}.{record['ProcId']}")
            out.append(separator.join(values) + "\n")
        else:
            fmt, attr = item
            value = attribute(record, attr)
            if value is not None:  # -format prints nothing for an undefined attribute
                out.append(_c_format(fmt, value))
    return "".join(out)


def _matches(record: dict[str, Any], ids: list[str]) -> bool:
    if not ids:
        return record["Owner"] == user_name()
    for job in ids:
        cluster, _, proc = job.partition(".")
        if int(cluster) == int(record["ClusterId"]) and (not proc or int(proc) == record["ProcId"]):
            return True
    return False


def condor_q(argv: list[str]) -> int:
    if config()["down"]:
        schedd_down()
        return 1
    parsed = parse_query(argv, "condor_q")
    if parsed is None:
        return 1
    ids, spec, _limit, constraint = parsed
    records = [r for r in all_records() if r["in_queue"] and _matches(r, ids) and _satisfies(r, constraint)]
    if spec:
        sys.stdout.write("".join(render(r, spec) for r in records))
        return 0
    sys.stdout.write(f"\n\n-- Schedd: {host_name()} : {sinful()} @ {time.strftime('%m/%d/%y %H:%M:%S')}\n")
    sys.stdout.write(" ID      OWNER            SUBMITTED     RUN_TIME ST PRI SIZE CMD\n")
    for r in records:
        submitted = time.strftime("%m/%d %H:%M", time.localtime(r["QDate"]))
        sys.stdout.write(
            f"{r['ClusterId']:>4}.{r['ProcId']:<3} {r['Owner']:<14} {submitted:>11}   0+00:00:00 "
            f"{STATUS_LETTER[r['JobStatus']]}  0    0.0 {os.path.basename(r['Cmd'])}\n"
        )
    counts = {s: sum(1 for r in records if r["JobStatus"] == s) for s in range(8)}
    sys.stdout.write(
        f"\nTotal for query: {len(records)} jobs; {counts[4]} completed, {counts[3]} removed, "
        f"{counts[1]} idle, {counts[2]} running, {counts[5]} held, {counts[7]} suspended \n"
    )
    return 0


def condor_history(argv: list[str]) -> int:
    parsed = parse_query(argv, "condor_history")
    if parsed is None:
        return 1
    ids, spec, limit, constraint = parsed
    records = [
        r
        for r in reversed(all_records())
        if not r["in_queue"] and _matches(r, ids) and _satisfies(r, constraint)
    ]
    if limit is not None:
        records = records[:limit]
    if spec:
        sys.stdout.write("".join(render(r, spec) for r in records))
        return 0
    sys.stdout.write(" ID     OWNER          SUBMITTED   RUN_TIME     ST COMPLETED   CMD\n")
    for r in records:
        submitted = time.strftime("%m/%d %H:%M", time.localtime(r["QDate"]))
        completed = time.strftime("%m/%d %H:%M", time.localtime(r["CompletionDate"] or r["QDate"]))
        sys.stdout.write(
            f"{r['ClusterId']:>4}.{r['ProcId']:<3} {r['Owner']:<14} {submitted} 0+00:00:00 "
            f"{STATUS_LETTER[r['JobStatus']]}  {completed} {r['Cmd']} {r['Arguments'][:40]}\n"
        )
    return 0


# -- condor_rm ------------------------------------------------------------------------------
def condor_rm(argv: list[str]) -> int:
    if config()["down"]:
        sys.stderr.write(
            f"Failed to connect to local queue manager\nCEDAR:6001:Failed to connect to {sinful()}\n"
        )
        return 1
    ids = [a for a in argv if not a.startswith("-")]
    if not ids:
        sys.stderr.write("Usage: condor_rm [general-opts] [restriction-list] [options]\n")
        return 1
    failed = False
    for job in ids:
        if not re.fullmatch(r"\d+(?:\.\d+)?", job):
            sys.stderr.write(f'Warning: unrecognized "{job}" skipped.\n')
            continue
        cluster, _, proc = job.partition(".")
        with locked():
            record = load(cluster)
            ok = (
                record is not None
                and record["in_queue"]
                and (not proc or int(proc) == record["ProcId"])
                and (record["uid"] == os.getuid() or os.getuid() == 0)
            )
            if ok and record is not None and record["JobStatus"] != 3:
                record.update(remove_requested=True, JobStatus=3, EnteredCurrentStatus=int(time.time()))
                save(record)
        if not ok:
            failed = True
            if proc:
                sys.stderr.write(f"Couldn't find/remove job {job}.\n")
            else:
                sys.stderr.write(f"Couldn't find/remove all jobs in cluster {cluster}.\n")
        elif proc:
            sys.stdout.write(f"Job {job} marked for removal\n")
        else:
            sys.stdout.write(f"Cluster {cluster} has been marked for removal.\n")
    return 1 if failed else 0
