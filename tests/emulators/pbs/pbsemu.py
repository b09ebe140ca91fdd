"""qsub, qstat and qdel of PBS Pro / OpenPBS and of Torque, emulated (test fixture).

Which of the two is emulated depends on how the commands are installed: the
file ``emulator.json`` beside them names the flavour (``pbspro`` or
``torque``) and the spool directory. The output follows the formats listed
in ``shared/scheduler-formats.md``: PBS Pro's ``qstat -f -F json`` and
``qstat -f``, Torque's single-line ``qstat -x`` XML, their error lines and
exit codes, ``F`` with ``Exit_status`` for finished PBS Pro jobs and ``C``
until ``keep_completed`` for Torque.
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
import time
from typing import Any
from xml.sax.saxutils import escape

import jobspool
from jobspool import Spool, fmt_ctime, hms, now, runner_alive

HERE = os.path.dirname(os.path.realpath(__file__))

# Exit codes: PBS error numbers modulo 256, as the real commands exit.
RC_UNKNOWN_JOB = 153  # PBSE_UNKJOBID 15001
RC_UNKNOWN_QUEUE = 174
RC_TORQUE_UNKNOWN_QUEUE = 170
RC_HISTORY = 35  # PBSE_HISTJOBID: the job has finished
RC_BAD_STATE = 168
RC_EXCEEDS = 188
RC_PERM = 159
RC_USAGE = 2

PBSPRO_QSUB_OPTS = "a:A:c:C:e:fhIj:J:k:l:m:M:N:o:p:P:q:r:RS:u:v:VW:Xz"
TORQUE_QSUB_OPTS = "a:A:b:c:C:d:D:e:fF:hIj:k:l:m:M:nN:o:p:P:q:r:S:t:u:v:VW:w:Xxz"
PBSPRO_QSTAT_OPTS = "aB:D:EfF:GHiJMmn1pQqrsTtu:wx"
TORQUE_QSTAT_OPTS = "aeE:fGilMn1qQRrsu:tW:x"

CHUNK_RESOURCES = {"ncpus", "mem", "ngpus", "mpiprocs", "ompthreads", "vmem", "host", "vnode", "arch"}
PBSPRO_RESOURCES = {
    "select",
    "place",
    "walltime",
    "ncpus",
    "mem",
    "ngpus",
    "nodes",
    "cput",
    "vmem",
    "software",
}
TORQUE_RESOURCES = {
    "nodes",
    "ppn",
    "walltime",
    "mem",
    "pmem",
    "vmem",
    "pvmem",
    "ncpus",
    "cput",
    "gres",
    "procs",
}

_MEM = re.compile(r"^(\d+)([kmgt]?)([bw]?)$", re.IGNORECASE)
_WALLTIME = re.compile(r"^(?:(?:(\d+):)?(\d+):)?(\d+)(?:\.\d+)?$")


class Flavour:
    def __init__(self) -> None:
        try:
            with open(os.path.join(HERE, "emulator.json"), encoding="utf-8") as f:
                settings = json.load(f)
        except OSError:
            settings = {}
        self.name: str = settings.get("flavour", "pbspro")
        self.spool = Spool(settings.get("spool", f"/var/tmp/bsx-emulator/{self.name}"))
        self.torque = self.name == "torque"
        self.server: str = settings.get("server", "torque-server" if self.torque else "pbs-server")
        self.default_queue: str = settings.get("default_queue", "batch" if self.torque else "workq")

    def job_id(self, seq: int) -> str:
        return f"{seq}.{self.server}"

    def unknown_job(self, command: str, job_id: str) -> str:
        if self.torque:
            return f"{command}: Unknown Job Id Error {job_id}"
        return f"{command}: Unknown Job Id {job_id}"


def user_name() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def err(text: str) -> None:
    print(text, file=sys.stderr)


def mem_mb(value: str) -> int | None:
    match = _MEM.match(value.strip())
    if match is None:
        return None
    number, prefix, unit = int(match.group(1)), match.group(2).lower(), (match.group(3) or "b").lower()
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[prefix] * (8 if unit == "w" else 1)
    return -(-number * factor // 2**20)


def walltime_seconds(value: str) -> int | None:
    match = _WALLTIME.match(value.strip())
    if match is None:
        return None
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


# ---------------------------------------------------------------------------
# qsub


def directives(script: str, prefix: str) -> list[str]:
    """Options from the ``#PBS`` lines before the first command of the script."""
    args: list[str] = []
    for number, line in enumerate(script.splitlines()):
        stripped = line.strip()
        if number == 0 and stripped.startswith("#!"):
            continue
        if stripped.startswith(prefix):
            args += shlex.split(stripped[len(prefix) :])
        elif stripped == "" or stripped.startswith("#"):
            continue
        else:
            break  # the first command ends the directives
    return args


def usage_qsub(flav: Flavour, option: str) -> int:
    err(f"qsub: invalid option -- '{option}'")
    if flav.torque:
        err("usage: qsub [-a date_time] [-A account_string] [-b secs]")
        err("      [-c [ none | { enabled | periodic | shutdown |")
        err("      depth=<int> | dir=<path> | interval=<minutes>}... ]")
        err("      [-C directive_prefix] [-d path] [-D path]")
        err("      [-e path] [-h] [-I] [-j oe|eo|n] [-k {oe}] [-l resource_list] [-m n|{abe}]")
        err("      [-M user_list] [-N jobname] [-o path] [-p priority] [-P proxy_user [-J <jobid]]")
        err("      [-q queue] [-r y|n] [-S path] [-t number_to_submit] [-T type]  [-u user_list]")
        err("      [-w] path [-W otherattributes=value...] [-v variable_list] [-V] [-x] [-X] [-z] [script]")
    else:
        err("usage: qsub [-a date_time] [-A account_string] [-c interval]")
        err("	[-C directive_prefix] [-e path] [-f ] [-h ] [-I [-X]] [-j o|e|n] [-J X-Y[:Z]]")
        err("	[-k keep] [-l resource_list] [-m mail_options] [-M user_list]")
        err("	[-N jobname] [-o path] [-p priority] [-P project] [-q queue] [-r y|n]")
        err("	[-R o|e|oe] [-S path] [-u user_list] [-W otherattributes=value...]")
        err("	[-v variable_list] [-V ] [-z] [script | -- command [arg1 ...]]")
        err("       qsub --version")
    return RC_USAGE


def parse_resources(values: list[str]) -> dict[str, str]:
    resources: dict[str, str] = {}
    for value in values:
        for item in value.split(","):
            key, _, val = item.partition("=")
            if key.strip():
                resources[key.strip()] = val.strip()
    return resources


def reject(flav: Flavour, pbspro: str, torque: str, rc: int) -> int:
    err(f"qsub: submit error ({torque})" if flav.torque else f"qsub: {pbspro}")
    return rc


def qsub(flav: Flavour, argv: list[str]) -> int:
    opts_spec = TORQUE_QSUB_OPTS if flav.torque else PBSPRO_QSUB_OPTS
    try:
        cli, operands = getopt.getopt(argv, opts_spec)
    except getopt.GetoptError as e:
        return usage_qsub(flav, e.opt)
    if operands:
        try:
            with open(operands[0], encoding="utf-8") as f:
                script = f.read()
        except OSError as e:
            err(f"qsub: could not open script file {operands[0]}: {e.strerror}")
            return 1
        default_name = os.path.basename(operands[0])
    else:
        script = sys.stdin.read()
        default_name = "STDIN"
    if not script.strip():
        err("qsub: script file is empty" if not flav.torque else "qsub: file must be an ascii script")
        return 1
    prefix = dict(cli).get("-C", "#PBS")
    try:
        from_script = getopt.getopt(directives(script, prefix), opts_spec)[0]
    except getopt.GetoptError as e:
        return usage_qsub(flav, e.opt)
    except ValueError as e:
        err(f"qsub: directive error: {e}")
        return 1

    options: dict[str, str] = {}
    resource_args: list[str] = []
    variables: list[str] = []
    flags: set[str] = set()
    for opt, value in [*from_script, *cli]:
        if opt == "-l":
            resource_args.append(value)
        elif opt == "-v":
            variables.append(value)
        elif opt in ("-h", "-V", "-f", "-z", "-I", "-X", "-x", "-n"):
            flags.add(opt)
        else:
            options[opt] = value
    resources = parse_resources(resource_args)

    queue = options.get("-q", flav.default_queue).split("@")[0]
    if queue not in flav.spool.queues():
        if flav.torque:
            return reject(flav, "", "Unknown queue MSG=requested queue not found", RC_TORQUE_UNKNOWN_QUEUE)
        return reject(flav, "Unknown queue", "", RC_UNKNOWN_QUEUE)

    known = TORQUE_RESOURCES if flav.torque else PBSPRO_RESOURCES
    for key in resources:
        if key not in known:
            return reject(
                flav,
                f"Unknown resource Resource_List.{key}",
                f"Unknown resource type  MSG=Unknown resource: {key}",
                2,
            )
    if "walltime" in resources and walltime_seconds(resources["walltime"]) is None:
        return reject(
            flav,
            "Illegal attribute or resource value Resource_List.walltime",
            "Illegal attribute or resource value MSG=illegal walltime",
            2,
        )
    for key in ("mem", "pmem", "vmem"):
        if key in resources and mem_mb(resources[key]) is None:
            return reject(
                flav,
                f"Illegal attribute or resource value Resource_List.{key}",
                f"Illegal attribute or resource value MSG=illegal {key}",
                2,
            )

    node_cpus = int(flav.spool.setting("BSX_EMULATOR_NODE_CPUS"))
    ncpus, memory, gpus = 1, None, 0
    if flav.torque:
        nodes = resources.get("nodes", "1")
        parts = nodes.split(":")
        for part in parts[1:]:
            key, _, val = part.partition("=")
            if key == "ppn" and val.isdigit():
                ncpus = int(val)
            elif key == "gpus" and val.isdigit():
                gpus = int(val)
        memory = mem_mb(resources["mem"]) if "mem" in resources else None
        if "pmem" in resources:
            memory = (mem_mb(resources["pmem"]) or 0) * ncpus
        if not parts[0].isdigit() or ncpus > node_cpus:
            return reject(
                flav,
                "",
                "Job exceeds queue resource limits MSG=cannot locate feasible nodes "
                "(nodes file is empty or all systems are busy)",
                RC_EXCEEDS,
            )
    else:
        select = resources.get("select")
        if select is None:
            ncpus = int(resources.get("ncpus", "1") or 1)
            select = f"1:ncpus={ncpus}"
            resources["select"] = select
        ncpus, total_mem = 0, 0
        for chunk in select.split("+"):
            pieces = chunk.split(":")
            count = int(pieces[0]) if pieces[0].isdigit() else 1
            chunk_cpus = 1
            for piece in pieces[1:] if pieces[0].isdigit() else pieces:
                key, _, val = piece.partition("=")
                if key not in CHUNK_RESOURCES:
                    return reject(flav, f"Unknown resource Resource_List.{key}", "", 2)
                if key == "ncpus":
                    chunk_cpus = int(val) if val.isdigit() else -1
                elif key == "mem":
                    size = mem_mb(val)
                    if size is None:
                        return reject(flav, "Illegal attribute or resource value Resource_List.select", "", 2)
                    total_mem += size * count
                elif key == "ngpus" and val.isdigit():
                    gpus += int(val) * count
            if chunk_cpus < 0:
                return reject(flav, "Illegal attribute or resource value Resource_List.select", "", 2)
            ncpus += chunk_cpus * count
        memory = total_mem or None
        if ncpus > node_cpus:
            return reject(flav, "Job violates queue and/or server resource limits", "", RC_EXCEEDS)
        resources.setdefault("ncpus", str(ncpus))
        if memory:
            resources.setdefault("mem", f"{memory}mb")
        resources.setdefault("place", "pack")

    user = pwd.getpwuid(os.getuid())
    host = socket.gethostname()
    cwd = os.getcwd()
    name = options.get("-N", default_name)
    join = options.get("-j", "n")

    def path_of(opt: str, suffix: str) -> str:
        value = options.get(opt, "")
        value = value.split(":", 1)[1] if ":" in value and not value.startswith("/") else value
        if not value:
            return os.path.join(cwd, f"{name}.{suffix}")
        if not value.startswith("/"):
            value = os.path.join(cwd, value)
        if os.path.isdir(value):
            return os.path.join(value, f"{name}.{suffix}")
        return value

    record: dict[str, Any] = {
        "flavour": flav.name,
        "name": name,
        "owner": user.pw_name,
        "queue": queue,
        "account": options.get("-A", ""),
        "resources": resources,
        "ncpus": ncpus,
        "memory_mb": memory,
        "gpus": gpus,
        "join": join,
        "hold": "-h" in flags,
        "shell": options.get("-S", user.pw_shell or "/bin/sh"),
        "home": user.pw_dir,
        "cwd": options.get("-d", options.get("-w", user.pw_dir)) if flav.torque else user.pw_dir,
        "submit_dir": cwd,
        "submit_host": host,
        "submit_args": " ".join(shlex.quote(a) for a in argv),
        "ctime": now(),
        "state": "H" if "-h" in flags else "Q",
        "states": {
            "running": "R",
            "finished": "C" if flav.torque else "F",
            "removed": "C" if flav.torque else "F",
        },
        "deleted": False,
    }
    seq = flav.spool.create(record)
    job_id = flav.job_id(seq)
    script_path = os.path.join(flav.spool.path, f"{seq}.sh")
    fd = os.open(script_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(script)
    nodefile = os.path.join(flav.spool.path, f"{seq}.nodes")
    node = flav.spool.setting("BSX_EMULATOR_NODE")
    with open(nodefile, "w", encoding="utf-8") as f:
        f.write("".join(f"{node}\n" for _ in range(max(ncpus, 1))))

    stdout_path = path_of("-o", f"o{seq}")
    stderr_path = path_of("-e", f"e{seq}")
    if join == "eo":
        stdout_path = stderr_path
    variables_o = {
        "PBS_O_HOME": user.pw_dir,
        "PBS_O_LANG": os.environ.get("LANG", "C.UTF-8"),
        "PBS_O_LOGNAME": user.pw_name,
        "PBS_O_PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PBS_O_SHELL": user.pw_shell,
        "PBS_O_SYSTEM": "Linux",
        "PBS_O_WORKDIR": cwd,
        "PBS_O_HOST": host,
        "PBS_O_QUEUE": queue,
    }
    env = dict(os.environ) if "-V" in flags else {}
    env.update(
        HOME=user.pw_dir,
        USER=user.pw_name,
        LOGNAME=user.pw_name,
        SHELL=record["shell"],
        PATH="/usr/local/bin:/usr/bin:/bin",
        LANG=os.environ.get("LANG", "C.UTF-8"),
        PBS_JOBID=job_id,
        PBS_JOBNAME=name,
        PBS_QUEUE=queue,
        PBS_ENVIRONMENT="PBS_BATCH",
        PBS_NODEFILE=nodefile,
        PBS_TASKNUM="1",
        PBS_MOMPORT="15003",
        PBS_JOBDIR=user.pw_dir,
        NCPUS=str(ncpus),
        OMP_NUM_THREADS=str(ncpus),
        **variables_o,
    )
    if flav.torque:
        env.update(PBS_NUM_NODES="1", PBS_NUM_PPN=str(ncpus), PBS_NP=str(ncpus), PBS_SERVER=flav.server)
    for item in variables:
        for pair in item.split(","):
            key, sep, value = pair.partition("=")
            if key:
                env[key] = value if sep else os.environ.get(key, "")
    exec_host = (
        "+".join(f"{node}/{i}" for i in range(max(ncpus, 1))) if flav.torque else f"{node}/0*{max(ncpus, 1)}"
    )
    with flav.spool.update(seq) as job:
        job.update(
            id=job_id,
            script_path=script_path,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
            env=env,
            variables=variables_o,
            planned_exec_host=exec_host,
            node=node,
        )
        job["join"] = join in ("oe", "eo")
        job["join_path"] = join
    jobspool.start_runner(flav.spool, seq)
    print(job_id)
    return 0


# ---------------------------------------------------------------------------
# the state qstat shows


def seq_of(flav: Flavour, operand: str) -> int | None:
    number, _, server = operand.partition(".")
    if not number.isdigit():
        return None
    if server and not (server == flav.server or server.startswith(flav.server + ".")):
        return None
    return int(number)


def full_id(flav: Flavour, operand: str) -> str:
    return operand if "." in operand else f"{operand}.{flav.server}"


def view(flav: Flavour, job: dict[str, Any]) -> dict[str, Any]:
    """The job as the server reports it now: the file, corrected by whether its processes live."""
    job = dict(job)
    state = job["state"]
    final = job["states"]["finished"]
    if state != final:
        if not runner_alive(job):
            # The runner died without recording an end: the job is over.
            job.update(state=final, end_time=job.get("end_time") or now())
        elif job.get("deleted") and state == "R":
            job["state"] = "E"
    return job


def visible(flav: Flavour, job: dict[str, Any]) -> bool:
    """False once the server has forgotten a finished job."""
    if job["state"] != job["states"]["finished"]:
        return True
    keep = float(flav.spool.setting("BSX_EMULATOR_KEEP_COMPLETED")) if flav.torque else 14 * 86400.0
    return now() - float(job.get("end_time") or 0) <= keep


def find(flav: Flavour, operand: str) -> dict[str, Any] | None:
    seq = seq_of(flav, operand)
    if seq is None:
        return None
    job = flav.spool.load(seq)
    if job is None or "id" not in job:
        return None
    job = view(flav, job)
    return job if visible(flav, job) else None


# ---------------------------------------------------------------------------
# qstat


def pbspro_attrs(flav: Flavour, job: dict[str, Any]) -> dict[str, Any]:
    """One job's attributes in the order PBS Pro prints them."""
    state = job["state"]
    t = now()
    started = job.get("start_time")
    ended = job.get("end_time") if state == "F" else None
    host = job["submit_host"]
    attrs: dict[str, Any] = {"Job_Name": job["name"], "Job_Owner": f"{job['owner']}@{host}"}
    if started:
        elapsed = (ended or t) - started
        attrs["resources_used"] = {
            "cpupercent": 0,
            "cput": "00:00:00",
            "mem": "0kb",
            "ncpus": job["ncpus"],
            "vmem": "0kb",
            "walltime": hms(elapsed),
        }
    attrs["job_state"] = state
    attrs["queue"] = job["queue"]
    attrs["server"] = flav.server
    if job.get("account"):
        attrs["Account_Name"] = job["account"]
    attrs["Checkpoint"] = "u"
    attrs["ctime"] = fmt_ctime(job["ctime"])
    attrs["Error_Path"] = f"{host}:{job['stderr_path']}"
    if (started and state in ("R", "E", "S", "U")) or (state == "F" and started):
        attrs["exec_host"] = job["planned_exec_host"]
        vnode = f"{job['node']}:ncpus={job['ncpus']}"
        if job.get("memory_mb"):
            vnode += f":mem={job['memory_mb'] * 1024}kb"
        attrs["exec_vnode"] = f"({vnode})"
    attrs["Hold_Types"] = "u" if state == "H" else "n"
    attrs["Join_Path"] = job.get("join_path", "n")
    attrs["Keep_Files"] = "n"
    attrs["Mail_Points"] = "a"
    attrs["mtime"] = fmt_ctime(ended or started or job["ctime"])
    attrs["Output_Path"] = f"{host}:{job['stdout_path']}"
    attrs["Priority"] = 0
    attrs["qtime"] = fmt_ctime(job["ctime"])
    attrs["Rerunable"] = "True"
    resource_list: dict[str, Any] = {}
    for key, value in sorted(job["resources"].items()):
        resource_list[key] = int(value) if key in ("ncpus", "ngpus") and str(value).isdigit() else value
    resource_list["nodect"] = 1
    attrs["Resource_List"] = dict(sorted(resource_list.items()))
    if started:
        attrs["stime"] = fmt_ctime(started)
    if ended:
        attrs["obittime"] = fmt_ctime(ended)
    if job.get("session_id"):
        attrs["session_id"] = job["session_id"]
    attrs["jobdir"] = job["home"]
    attrs["substate"] = {"Q": 10, "H": 20, "R": 42, "E": 50, "F": 92 if not job.get("deleted") else 91}.get(
        state, 0
    )
    attrs["Variable_List"] = job["variables"]
    if state == "Q":
        attrs["comment"] = (
            f"Not Running: Insufficient amount of resource: ncpus (R: {job['ncpus']} A: 0 "
            f"T: {flav.spool.setting('BSX_EMULATOR_NODE_CPUS')})"
        )
    elif state == "H":
        attrs["comment"] = f"Job held by {job['owner']} on {fmt_ctime(job['ctime'])}"
    elif started:
        when = time.strftime("%a %b %d at %H:%M", time.localtime(started))
        attrs["comment"] = f"Job run at {when} on {attrs.get('exec_vnode', '')}"
        if state == "F":
            attrs["comment"] += " and finished"
    elif state == "F":
        attrs["comment"] = "Job deleted before it ran" if job.get("deleted") else "Job finished"
    attrs["etime"] = fmt_ctime(job["ctime"])
    attrs["run_count"] = job.get("run_count", 0)
    if state == "F" and job.get("exit_status") is not None:
        attrs["Exit_status"] = job["exit_status"]
    attrs["Submit_arguments"] = job["submit_args"]
    if state == "F":
        attrs["history_timestamp"] = int(ended or t)
    attrs["project"] = "_pbs_project_default"
    attrs["Submit_Host"] = host
    if state == "Q":
        queue_seconds = float(flav.spool.setting("BSX_EMULATOR_QUEUE_SECONDS"))
        attrs["estimated"] = {
            "exec_vnode": f"({job['node']}:ncpus={job['ncpus']})",
            "start_time": fmt_ctime(job["ctime"] + queue_seconds),
        }
    return attrs


def pbspro_text(job_id: str, attrs: dict[str, Any]) -> str:
    """``qstat -f``: ``Job Id:`` and indented ``name = value`` lines, long ones wrapped."""
    lines = [f"Job Id: {job_id}"]
    for key, value in attrs.items():
        if isinstance(value, dict):
            if key == "Variable_List":
                items = [(key, ",".join(f"{k}={v}" for k, v in value.items()))]
            else:
                items = [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            items = [(key, value)]
        for name, item in items:
            line = f"    {name} = {item}"
            first, rest = line[:79], line[79:]
            lines.append(first)
            while rest:
                lines.append("\t" + rest[:70])
                rest = rest[70:]
    return "\n".join(lines) + "\n\n"


def torque_xml(flav: Flavour, job: dict[str, Any]) -> str:
    state = job["state"]
    started = job.get("start_time")
    ended = job.get("end_time") if state == "C" else None
    host = job["submit_host"]

    def el(tag: str, value: Any) -> str:
        return f"<{tag}>{escape(str(value))}</{tag}>"

    parts = [el("Job_Id", job["id"]), el("Job_Name", job["name"]), el("Job_Owner", f"{job['owner']}@{host}")]
    if started:
        used = (ended or now()) - started
        parts.append(
            "<resources_used>"
            + el("cput", "00:00:00")
            + el("energy_used", 0)
            + el("mem", "0kb")
            + el("vmem", "0kb")
            + el("walltime", hms(used))
            + "</resources_used>"
        )
    parts += [el("job_state", state), el("queue", job["queue"]), el("server", flav.server)]
    if job.get("account"):
        parts.append(el("Account_Name", job["account"]))
    parts += [
        el("Checkpoint", "u"),
        el("ctime", int(job["ctime"])),
        el("Error_Path", f"{host}:{job['stderr_path']}"),
    ]
    if started and state in ("R", "E", "S", "C"):
        parts.append(el("exec_host", job["planned_exec_host"]))
    parts += [
        el("Hold_Types", "u" if state == "H" else "n"),
        el("Join_Path", job.get("join_path", "n")),
        el("Keep_Files", "n"),
        el("Mail_Points", "a"),
        el("mtime", int(ended or started or job["ctime"])),
        el("Output_Path", f"{host}:{job['stdout_path']}"),
        el("Priority", 0),
        el("qtime", int(job["ctime"])),
        el("Rerunable", "True"),
    ]
    resources = dict(job["resources"])
    resources.setdefault("nodes", "1")
    resources["nodect"] = "1"
    parts.append(
        "<Resource_List>" + "".join(el(k, v) for k, v in sorted(resources.items())) + "</Resource_List>"
    )
    if job.get("session_id"):
        parts.append(el("session_id", job["session_id"]))
    parts += [
        el("Shell_Path_List", job["shell"]),
        el("euser", job["owner"]),
        el("egroup", job["owner"]),
        el("queue_type", "E"),
    ]
    if state in ("Q", "H") and job.get("comment"):
        parts.append(el("comment", job["comment"]))
    parts.append(el("etime", int(job["ctime"])))
    if state == "C" and job.get("exit_status") is not None:
        parts.append(el("exit_status", job["exit_status"]))
    parts.append(el("submit_args", job["submit_args"]))
    if started:
        parts += [el("start_time", int(started)), el("start_count", job.get("run_count", 1))]
    parts.append(el("fault_tolerant", "False"))
    if ended:
        parts.append(el("comp_time", int(ended)))
    parts += [
        el("job_radix", 0),
        el("submit_host", host),
        el("init_work_dir", job["submit_dir"]),
        el("Variable_List", ",".join(f"{k}={v}" for k, v in job["variables"].items())),
    ]
    return "<Job>" + "".join(parts) + "</Job>"


def table(flav: Flavour, jobs: list[dict[str, Any]]) -> str:
    if not jobs:
        return ""
    if flav.torque:
        header = (
            "Job ID                    Name             User            Time Use S Queue\n"
            "------------------------- ---------------- --------------- -------- - -----\n"
        )
        rows = [
            f"{job['id'][:25]:<25} {job['name'][:16]:<16} {job['owner'][:15]:<15} "
            f"{'00:00:00' if job.get('start_time') else '0':>8} {job['state']} {job['queue']}\n"
            for job in jobs
        ]
    else:
        header = (
            "Job id            Name             User              Time Use S Queue\n"
            "----------------  ---------------- ----------------  -------- - -----\n"
        )
        rows = [
            f"{job['id'][:16]:<16}  {job['name'][:16]:<16} {job['owner'][:16]:<16}  "
            f"{'00:00:00' if job.get('start_time') else '0':>8} {job['state']} {job['queue']:<16}\n"
            for job in jobs
        ]
    return header + "".join(rows)


def usage_qstat(flav: Flavour, option: str) -> int:
    err(f"qstat: invalid option -- '{option}'")
    if flav.torque:
        err("usage: qstat [-f [-1]] [-W site_specific] [-x] [ job_identifier... | destination... ]")
        err("       qstat [-a|-i|-r|-e] [-u user] [-n [-1]] [-s] [-t] [-G|-M] [-R]")
        err("             [job_id... | destination...]")
        err("       qstat -Q [-f [-1]] [-W site_specific] [ destination... ]")
        err("       qstat -q [-G|-M] [ destination... ]")
        err("       qstat -B [-f [-1]] [-W site_specific] [ server_name... ]")
        err("       qstat -t")
    else:
        err("usage:")
        err("qstat [-f] [-J] [-p] [-t] [-x] [-E] [-F format] [-D delim]")
        err("	[ job_identifier... | destination... ]")
        err("qstat [-a|-i|-r|-H|-T] [-J] [-t] [-u user] [-n] [-s] [-G|-M] [-1] [-w]")
        err("	[ job_identifier... | destination... ]")
        err("qstat -Q [-f] [-F format] [-D delim] [ destination... ]")
        err("qstat -q [-G|-M] [ destination... ]")
        err("qstat -B [-f] [-F format] [-D delim] [ server_name... ]")
        err("qstat --version")
    return RC_USAGE


def qstat(flav: Flavour, argv: list[str]) -> int:
    try:
        opts, operands = getopt.getopt(argv, TORQUE_QSTAT_OPTS if flav.torque else PBSPRO_QSTAT_OPTS)
    except getopt.GetoptError as e:
        return usage_qstat(flav, e.opt)
    flags = {opt for opt, _ in opts}
    values = dict(opts)
    fmt = values.get("-F", "")
    if fmt and fmt not in ("json", "dsv"):
        err(f"qstat: invalid output format {fmt}")  # PBS Pro accepts json and dsv
        return RC_USAGE
    history = "-x" in flags or "-H" in flags
    rc = 0
    jobs: list[dict[str, Any]] = []
    if operands:
        for operand in operands:
            if seq_of(flav, operand) is None and not operand.split(".")[0].isdigit():
                err(f"qstat: illegally formed job identifier: {operand}")
                rc = 1
                continue
            job = find(flav, operand)
            if job is None:
                err(flav.unknown_job("qstat", full_id(flav, operand)))
                rc = RC_UNKNOWN_JOB
            elif not flav.torque and job["state"] == "F" and not history:
                err(f"qstat: {job['id']} Job has finished, use -x or -H to obtain historical job information")
                rc = RC_HISTORY
            else:
                jobs.append(job)
    else:
        for job in flav.spool.jobs():
            if "id" not in job:
                continue
            job = view(flav, job)
            if not visible(flav, job):
                continue
            if not flav.torque and job["state"] == "F" and not history:
                continue
            if "-u" in values and job["owner"] not in values["-u"].split(","):
                continue
            jobs.append(job)

    if flav.torque:
        if "-x" in flags:
            if jobs:
                sys.stdout.write("<Data>" + "".join(torque_xml(flav, job) for job in jobs) + "</Data>\n")
        elif "-f" in flags:
            for job in jobs:
                sys.stdout.write(torque_text(flav, job))
        else:
            sys.stdout.write(table(flav, jobs))
        return rc
    if "-f" in flags and fmt == "json":
        document: dict[str, Any] = {
            "timestamp": int(now()),
            "pbs_version": "23.06.06",
            "pbs_server": flav.server,
        }
        if jobs:
            document["Jobs"] = {job["id"]: pbspro_attrs(flav, job) for job in jobs}
        sys.stdout.write(json.dumps(document, indent=4, separators=(",", ":")) + "\n")
    elif "-f" in flags:
        for job in jobs:
            sys.stdout.write(pbspro_text(job["id"], pbspro_attrs(flav, job)))
    else:
        sys.stdout.write(table(flav, jobs))
    return rc


def torque_text(flav: Flavour, job: dict[str, Any]) -> str:
    """Torque's ``qstat -f``, built from the same fields as its XML."""
    attrs = {"job_state": job["state"], "queue": job["queue"], "server": flav.server}
    if job.get("start_time"):
        attrs["exec_host"] = job["planned_exec_host"]
    if job["state"] == "C" and job.get("exit_status") is not None:
        attrs["exit_status"] = job["exit_status"]
    for key, value in sorted(job["resources"].items()):
        attrs[f"Resource_List.{key}"] = value
    body = "".join(f"    {k} = {v}\n" for k, v in attrs.items())
    owner = f"{job['owner']}@{job['submit_host']}"
    return f"Job Id: {job['id']}\n    Job_Name = {job['name']}\n    Job_Owner = {owner}\n{body}\n"


# ---------------------------------------------------------------------------
# qdel


def qdel(flav: Flavour, argv: list[str]) -> int:
    try:
        _, operands = getopt.getopt(argv, "W:pxtm:" if not flav.torque else "W:pm:at:c:b:")
    except getopt.GetoptError as e:
        err(f"qdel: invalid option -- '{e.opt}'")
        err("usage: qdel [-W force|suppress_email=X] [-x] [-p] job_identifier...")
        return RC_USAGE
    if not operands:
        err("usage: qdel [-W force|suppress_email=X] [-x] [-p] job_identifier...")
        return RC_USAGE
    rc = 0
    me = user_name()
    for operand in operands:
        job = find(flav, operand)
        job_id = full_id(flav, operand)
        if job is None:
            err(flav.unknown_job("qdel", job_id))
            rc = RC_UNKNOWN_JOB
            continue
        if me != "root" and me != job["owner"]:
            err(f"qdel: Unauthorized Request  {job_id}")
            rc = RC_PERM
            continue
        if job["state"] == job["states"]["finished"]:
            if flav.torque:
                err(f"qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE {job_id}")
                rc = RC_BAD_STATE
            else:
                err(f"qdel: Job has finished {job_id}")
                rc = RC_HISTORY
            continue
        jobspool.delete(flav.spool, int(job["seq"]))
    return rc


COMMANDS = {"qsub": qsub, "qstat": qstat, "qdel": qdel}


def main(command: str, argv: list[str]) -> int:
    flav = Flavour()
    if not os.path.isdir(flav.spool.path):
        err(f"{command}: cannot connect to server {flav.server} (errno=15010)")
        return 2
    return COMMANDS[command](flav, argv)


__all__ = ["main"]
