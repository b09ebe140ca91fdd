"""msub, mdiag and mjobctl of Moab, emulated (test fixture).

Moab schedules and a resource manager (usually Torque) runs the jobs; here
the job spool and runner of the PBS emulator (``jobspool.py``) play the
resource manager. ``emulator.json`` beside the commands names the spool.
Formats follow ``shared/scheduler-formats.md``: ``msub`` prints the job id
after an empty line; ``mdiag -j ID,ID --xml`` prints one ``<job>`` element
per job inside ``<Data>``, with ``State``, ``CompletionCode`` and a ``<req>``
whose ``AllocNodeList`` names the node; named jobs are listed even when
completed, for as long as Moab keeps them.
"""

from __future__ import annotations

import getopt
import json
import os
import pwd
import re
import shlex
import socket
import sys
from typing import Any
from xml.sax.saxutils import quoteattr

import jobspool
from jobspool import Spool, now, runner_alive

HERE = os.path.dirname(os.path.realpath(__file__))
MSUB_OPTS = "a:A:c:C:d:e:E:F:hIj:k:K:l:m:M:N:o:p:P:q:r:S:t:u:v:VW:z"
FINAL = ("Completed", "Removed", "Vacated")
_WALLTIME = re.compile(r"^(?:(?:(?:(\d+):)?(\d+):)?(\d+):)?(\d+)$")
_MEM = re.compile(r"^(\d+)([kmgt]?)(b?)$", re.IGNORECASE)


def settings() -> tuple[Spool, str]:
    try:
        with open(os.path.join(HERE, "emulator.json"), encoding="utf-8") as f:
            data = json.load(f)
    except OSError:
        data = {}
    return Spool(data.get("spool", "/var/tmp/bsx-emulator/moab")), data.get("default_class", "batch")


def err(text: str) -> None:
    print(text, file=sys.stderr)


def walltime_seconds(value: str) -> int | None:
    match = _WALLTIME.match(value.strip())
    if match is None:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


def mem_mb(value: str) -> int | None:
    match = _MEM.match(value.strip())
    if match is None:
        return None
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[match.group(2).lower()]
    return -(-int(match.group(1)) * factor // 2**20)


def directives(script: str) -> list[str]:
    args: list[str] = []
    for number, line in enumerate(script.splitlines()):
        stripped = line.strip()
        if number == 0 and stripped.startswith("#!"):
            continue
        for prefix in ("#MSUB", "#PBS"):
            if stripped.startswith(prefix):
                args += shlex.split(stripped[len(prefix) :])
                break
        else:
            if stripped and not stripped.startswith("#"):
                break
    return args


def fail(message: str) -> int:
    err(f"ERROR:    {message}")
    return 1


def msub(spool: Spool, default_class: str, argv: list[str]) -> int:
    try:
        cli, operands = getopt.getopt(argv, MSUB_OPTS)
    except getopt.GetoptError as e:
        err(f"msub: invalid option -- '{e.opt}'")
        err("Usage: msub [FLAGS] [<SCRIPT>]")
        return 1
    if operands:
        with open(operands[0], encoding="utf-8") as f:
            script = f.read()
        default_name = os.path.basename(operands[0])
    else:
        script = sys.stdin.read()
        default_name = "STDIN"
    if not script.strip():
        return fail("cannot submit job - empty job script")
    try:
        from_script = getopt.getopt(directives(script), MSUB_OPTS)[0]
    except (getopt.GetoptError, ValueError) as e:
        return fail(f"cannot submit job - invalid directive ({e})")
    options: dict[str, str] = {}
    resource_args: list[str] = []
    hold = False
    for opt, value in [*from_script, *cli]:
        if opt == "-l":
            resource_args.append(value)
        elif opt == "-h":
            hold = True
        else:
            options[opt] = value
    resources: dict[str, str] = {}
    for value in resource_args:
        for item in value.split(","):
            key, _, val = item.partition("=")
            if key.strip():
                resources[key.strip()] = val.strip()

    job_class = options.get("-q", default_class).split("@")[0]
    if job_class not in spool.queues():
        return fail(f"cannot submit job - class '{job_class}' does not exist")
    if "walltime" in resources and walltime_seconds(resources["walltime"]) is None:
        return fail(f"cannot submit job - invalid wallclock limit '{resources['walltime']}'")
    ncpus, gpus = 1, 0
    nodes = resources.get("nodes", "1")
    for part in nodes.split(":")[1:]:
        key, _, val = part.partition("=")
        if key == "ppn" and val.isdigit():
            ncpus = int(val)
        elif key == "gpus" and val.isdigit():
            gpus = int(val)
    memory = None
    for key in ("mem", "pmem"):
        if key in resources:
            size = mem_mb(resources[key])
            if size is None:
                return fail(f"cannot submit job - invalid {key} specification '{resources[key]}'")
            memory = size if key == "mem" else size * ncpus
    node_cpus = int(spool.setting("BSX_EMULATOR_NODE_CPUS"))
    if ncpus > node_cpus:
        return fail(
            f"cannot submit job - job requests {ncpus} procs per node but no node has more than {node_cpus}"
        )

    user = pwd.getpwuid(os.getuid())
    cwd = os.getcwd()
    name = options.get("-N", default_name)
    node = spool.setting("BSX_EMULATOR_NODE")

    def path_of(opt: str, suffix: str) -> str:
        value = options.get(opt, "")
        if not value:
            return os.path.join(cwd, f"{name}.{suffix}")
        return value if value.startswith("/") else os.path.join(cwd, value)

    record: dict[str, Any] = {
        "flavour": "moab",
        "name": name,
        "owner": user.pw_name,
        "queue": job_class,
        "account": options.get("-A", ""),
        "resources": resources,
        "ncpus": ncpus,
        "memory_mb": memory,
        "gpus": gpus,
        "hold": hold,
        "shell": options.get("-S", user.pw_shell or "/bin/sh"),
        "home": user.pw_dir,
        "cwd": options.get("-d", user.pw_dir),
        "submit_dir": cwd,
        "submit_host": socket.gethostname(),
        "ctime": now(),
        "state": "UserHold" if hold else "Idle",
        "states": {"running": "Running", "finished": "Completed", "removed": "Removed"},
        "deleted": False,
    }
    seq = spool.create(record)
    job_id = str(seq)
    script_path = os.path.join(spool.path, f"{seq}.sh")
    fd = os.open(script_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(script)
    join = options.get("-j", "n")
    stdout_path = path_of("-o", f"o{seq}")
    stderr_path = path_of("-e", f"e{seq}")
    if join == "eo":
        stdout_path = stderr_path
    env = {
        "HOME": user.pw_dir,
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "SHELL": record["shell"],
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "MOAB_JOBID": job_id,
        "MOAB_JOBNAME": name,
        "MOAB_CLASS": job_class,
        "MOAB_USER": user.pw_name,
        "MOAB_ACCOUNT": record["account"],
        "MOAB_NODELIST": node,
        "MOAB_PROCCOUNT": str(ncpus),
        # The resource manager's own variables; Torque under Moab uses the same number.
        "PBS_JOBID": job_id,
        "PBS_JOBNAME": name,
        "PBS_O_WORKDIR": cwd,
        "PBS_QUEUE": job_class,
        "PBS_ENVIRONMENT": "PBS_BATCH",
    }
    with spool.update(seq) as job:
        job.update(
            id=job_id,
            script_path=script_path,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
            env=env,
            planned_exec_host=node,
            node=node,
            join=join in ("oe", "eo"),
            join_path=join,
        )
    jobspool.start_runner(spool, seq)
    print()
    print(job_id)
    return 0


def view(job: dict[str, Any]) -> dict[str, Any]:
    job = dict(job)
    if job["state"] not in FINAL and not runner_alive(job):
        job["state"] = "Vacated" if job["state"] == "Running" else "Removed"
        job["end_time"] = job.get("end_time") or now()
    return job


def visible(spool: Spool, job: dict[str, Any], completed: bool) -> bool:
    if job["state"] not in FINAL:
        return True
    if not completed:
        return False
    return now() - float(job.get("end_time") or 0) <= float(spool.setting("BSX_EMULATOR_KEEP_COMPLETED"))


def find(spool: Spool, job_id: str) -> dict[str, Any] | None:
    digits = re.search(r"\d+", job_id)
    if digits is None or job_id.strip() not in (digits.group(0), f"Moab.{digits.group(0)}"):
        return None
    job = spool.load(int(digits.group(0)))
    return view(job) if job is not None and "id" in job else None


def job_xml(job: dict[str, Any]) -> str:
    state = job["state"]
    started = job.get("start_time")
    ended = job.get("end_time") if state in FINAL else None
    walltime = jobspool_walltime(job["resources"].get("walltime", ""))
    attrs: list[tuple[str, Any]] = [
        ("AWDuration", int((ended or now()) - started) if started else 0),
        ("Account", job.get("account") or None),
        ("Class", job["queue"]),
        ("CmdFile", job["script_path"]),
        (
            "CompletionCode",
            job.get("exit_status") if state in FINAL and job.get("exit_status") is not None else None,
        ),
        ("CompletionTime", int(ended) if ended else None),
        ("EEWDuration", int(now() - job["ctime"])),
        ("EFile", job["stderr_path"]),
        ("EState", state),
        ("Group", job["owner"]),
        ("Hold", "User" if job.get("hold") and state not in FINAL else None),
        ("IWD", job["cwd"]),
        ("JobID", job["id"]),
        ("JobName", job["name"]),
        ("OFile", job["stdout_path"]),
        ("PAL", "local"),
        (
            "QueueStatus",
            "completed"
            if state in FINAL
            else "active"
            if state == "Running"
            else "blocked"
            if job.get("hold")
            else "eligible",
        ),
        ("ReqAWDuration", walltime),
        ("ReqProcs", job["ncpus"]),
        ("StartCount", job.get("run_count", 0)),
        ("StartTime", int(started) if started else 0),
        ("State", state),
        ("StatPSDed", 0),
        ("StdErr", job["stderr_path"]),
        ("StdOut", job["stdout_path"]),
        ("SubmitTime", int(job["ctime"])),
        ("SysPrio", 0),
        ("User", job["owner"]),
        ("UserPrio", 0),
    ]
    req: list[tuple[str, Any]] = [
        ("AllocNodeList", job["node"] if started else None),
        ("AllocPartition", "local" if started else None),
        ("GRes", f"gpu:{job['gpus']}" if job.get("gpus") else None),
        ("Index", 0),
        ("NodeAccess", "SHARED"),
        ("ReqMemPerTask", (job["memory_mb"] // max(job["ncpus"], 1)) if job.get("memory_mb") else None),
        ("ReqNodeProc", job["ncpus"]),
        ("ReqPartition", "local"),
        ("ReqProcPerTask", 1),
        ("TCReqMin", job["ncpus"]),
        ("TPN", job["ncpus"]),
    ]

    def render(pairs: list[tuple[str, Any]]) -> str:
        return "".join(f" {k}={quoteattr(str(v))}" for k, v in pairs if v is not None)

    return f"<job{render(attrs)}><req{render(req)}></req></job>"


def jobspool_walltime(value: str) -> int | None:
    return walltime_seconds(value) if value else None


def mdiag(spool: Spool, argv: list[str]) -> int:
    xml = "--xml" in argv
    args = [a for a in argv if a != "--xml"]
    if not args or args[0] != "-j":
        err("ERROR:    this emulator only supports 'mdiag -j [JOBID[,JOBID...]] [--xml]'")
        return 1
    wanted = args[1].split(",") if len(args) > 1 and not args[1].startswith("-") else []
    if wanted in ([], ["ALL"]):
        jobs = [view(job) for job in spool.jobs() if "id" in job]
        jobs = [job for job in jobs if visible(spool, job, completed=False)]
    else:
        jobs = []
        for job_id in wanted:
            job = find(spool, job_id)
            if job is not None and visible(spool, job, completed=True):
                jobs.append(job)
    if xml:
        sys.stdout.write("<Data>" + "".join(job_xml(job) for job in jobs) + "</Data>\n")
        return 0
    sys.stdout.write("JobID              State Proc     WCLimit     User  Opsys  Class Features\n\n")
    for job in jobs:
        wall = job["resources"].get("walltime", "-")
        row = f"{job['id']:<18} {job['state'][:8]:>8} {job['ncpus']:>4} {wall:>11} {job['owner']:>8}"
        print(f"{row} {'-':>6} {job['queue']:>6} -")
    print(f"\n\nTotal Jobs: {len(jobs)}  Active Jobs: {sum(1 for j in jobs if j['state'] == 'Running')}")
    return 0


def mjobctl(spool: Spool, argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("-c", "-u"):
        err("ERROR:    this emulator only supports 'mjobctl -c JOBID' and 'mjobctl -u JOBID'")
        return 1
    action, job_id = argv
    job = find(spool, job_id)
    me = pwd.getpwuid(os.getuid()).pw_name
    if job is None or job["state"] in FINAL:
        err(f"ERROR:  invalid job specified ({job_id})")
        return 1
    if me not in ("root", job["owner"]):
        err(f"ERROR:  user '{me}' is not authorized to perform operation on job '{job_id}'")
        return 1
    if action == "-u":
        with spool.update(int(job["seq"])) as record:
            record["hold"] = False
            if record["state"] == "UserHold":
                record["state"] = "Idle"
        print(f"holds modified for job {job_id}")
        return 0
    jobspool.delete(spool, int(job["seq"]))
    print(f"job '{job_id}' cancelled")
    return 0


def main(command: str, argv: list[str]) -> int:
    spool, default_class = settings()
    if not os.path.isdir(spool.path):
        err("ERROR:    cannot connect to Moab server 'localhost' port 42559 (server may not be running)")
        return 1
    if command == "msub":
        return msub(spool, default_class, argv)
    if command == "mdiag":
        return mdiag(spool, argv)
    return mjobctl(spool, argv)
