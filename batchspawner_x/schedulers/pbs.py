"""PBS Pro / OpenPBS and Torque: ``qsub``, one batched ``qstat``, ``qdel``.

Both descend from the same PBS and share submission and cancellation; their
status output differs. PBS Pro 19 and later answer ``qstat -x -f -F json``
with one JSON document for every job asked (``-x`` keeps finished jobs, state
``F`` with ``Exit_status``); Torque answers ``qstat -x`` with XML (a finished
job is ``C`` with ``exit_status`` until ``keep_completed`` passes). Job ids
are kept as qsub printed them (``123.server``). See
``shared/scheduler-formats.md``.

No identity lookup (``identity_field`` is None): a submission whose answer was lost and
whose submit command died without an exit code is never sent again, and the error names
the job. Neither PBS has a free-text job attribute a user sets and ``qstat`` lists but the
job's environment does not get: ``-N`` is the job's name (the template sets it), ``-A``
and PBS Pro's ``-P`` feed accounting, and ``-v NAME=ID`` would work (``Variable_List``)
only by putting the identity in the job's environment. Listing it would also take ``qstat
-f`` over every user's jobs (``-u`` does not combine with ``-f``), history included.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..errors import ConfigError, SubmitError
from ..states import JobState, JobStatus, StatusUnavailable
from ..units import format_clock, walltime_seconds
from .base import CommandResult, Scheduler
from .spec import JobSpec

#: Every PBS Pro job state (PBS Reference Guide, "Job States").
PBSPRO_STATES: dict[str, JobState] = {
    "B": JobState.RUNNING,  # an array job has begun (at least one subjob runs)
    "E": JobState.FINISHING,  # exiting after having run
    "F": JobState.FINISHED,  # finished (shown with qstat -x)
    "H": JobState.HELD,
    "M": JobState.PENDING,  # moved to another server; it waits there
    "Q": JobState.PENDING,
    "R": JobState.RUNNING,
    "S": JobState.SUSPENDED,
    "T": JobState.PENDING,  # in transit to its execution host or another server
    "U": JobState.SUSPENDED,  # suspended because its workstation became busy
    "W": JobState.PENDING,  # waiting for its start time (-a) or after a stage-in failure
    "X": JobState.FINISHED,  # a subjob that has finished
}

#: Every Torque job state (qstat(1B) of Torque 4-6).
TORQUE_STATES: dict[str, JobState] = {
    "C": JobState.FINISHED,  # completed; shown until keep_completed passes
    "E": JobState.FINISHING,
    "H": JobState.HELD,
    "Q": JobState.PENDING,
    "R": JobState.RUNNING,
    "T": JobState.PENDING,  # being moved to a new location
    "W": JobState.PENDING,  # waiting for its execution time
    "S": JobState.SUSPENDED,
}

#: What a researcher is told for PBS Pro's "Not Running: ..." comments, by prefix.
PBS_REASONS: tuple[tuple[str, str], ...] = (
    ("Insufficient amount of resource", "waiting for the requested resources to become free"),
    ("Insufficient amount of queue resource", "waiting for resources the queue has to become free"),
    ("Insufficient amount of server resource", "waiting for resources the server has to become free"),
    ("Not enough free nodes available", "waiting for nodes to become free"),
    ("Not enough total nodes available", "the cluster has fewer nodes than the job asks for"),
    ("User has reached server running job limit", "you are at the server's limit of running jobs"),
    ("User has reached queue", "you are at the queue's limit of running jobs"),
    ("Group has reached", "your group is at its limit of running jobs"),
    ("Project has reached", "your project is at its limit of running jobs"),
    ("Server job limit has been reached", "the server is at its limit of running jobs"),
    ("Queue ", "the queue is at its limit of jobs"),
    (
        "Job would conflict with reservation or top job",
        "waiting behind a reservation or a higher-priority job",
    ),
    ("Draining system to allow top job to run", "the system is draining to let a larger job start"),
    ("Job is requesting an exclusive node and node is in use", "waiting for a node it can have alone"),
    ("Job held", "held by you or an administrator (release it with qrls)"),
    ("Job will never run", "the job can never run as requested"),
)

_QSUB_PREFIX = re.compile(r"^qsub: ", re.MULTILINE)
_JOB_ID = re.compile(r"^\d+(?:\[\d*\])?(?:\.[A-Za-z0-9_][A-Za-z0-9_.-]*)?$")
_UNKNOWN = re.compile(r"^(?:qstat|qdel): Unknown Job Id(?: Error)? (\S+)$")
_FINISHED = re.compile(r"^qstat: (\S+) Job has finished, use -x or -H to obtain historical job information$")
#: qdel messages that mean "already gone": deleting a finished job is not a failure.
_GONE_ON_CANCEL = re.compile(
    r"^qdel: (?:Unknown Job Id|Job has finished|Request invalid for state of job|"
    r"Invalid state for job|Job has already finished)"
)


def format_pbs_walltime(seconds: int | None) -> str:
    """Seconds as PBS's ``walltime=HH:MM:SS``, hours going past 24; "" when unset.

    >>> format_pbs_walltime(129600)
    '36:00:00'
    """
    return "" if seconds is None else format_clock(seconds)


#: A PBS resource name (``ngpus``), safe inside ``-l select=...``.
RESOURCE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def per_process_mb(memory_mb: int | None, cpus: int | None, directive: str) -> int | None:
    """The memory request for ``directive``: ``pmem`` is per process (the job's
    memory divided by its cores, rounded up), ``mem`` is the whole job's."""
    if not memory_mb or directive != "pmem":
        return memory_mb
    return -(-memory_mb // (cpus or 1))


def pbs_memory_values(spec: JobSpec) -> dict[str, Any]:
    """Torque's and Moab's template values: ``time_limit`` as ``HH:MM:SS``, and the memory
    request under the ``memory_directive`` setting (``mem`` or ``pmem``)."""
    directive = spec.options["memory_directive"]
    return {
        "time_limit": format_pbs_walltime(spec.walltime_seconds),
        "memory_directive": directive,
        "memory_request_mb": per_process_mb(spec.memory_mb, spec.cpus, directive),
    }


def exit_code_from_pbs(value: object) -> int | None:
    """PBS's exit status as a shell would report it.

    Above 256 the job was killed by signal ``value - 256`` (qdel gives 271):
    that is ``128 + signal``. Negative values are PBS's own codes for a job
    that could not start, kept as they are.
    """
    try:
        code = int(str(value).strip())
    except ValueError:
        return None
    if code > 256:
        return 128 + (code - 256)
    return code


def first_exec_host(exec_host: str | None) -> str | None:
    """The first host of ``exec_host``: ``node01/0*4+node02/0*4`` and
    ``node01/0+node01/1`` both give ``node01``."""
    if not exec_host:
        return None
    host = exec_host.strip().split("+")[0].split("/")[0].strip()
    return host or None


def same_job(asked: str, reported: str) -> bool:
    """True if two PBS job ids name the same job.

    The server part may be written with or without its domain
    (``123.srv`` and ``123.srv.example.edu``), or left out (``123``).
    """
    if asked == reported:
        return True
    asked_seq, _, asked_server = asked.partition(".")
    seq, _, server = reported.partition(".")
    if asked_seq != seq:
        return False
    if not asked_server or not server:
        return True
    return server.startswith(asked_server + ".") or asked_server.startswith(server + ".")


def _lookup(job_id: str, found: Mapping[str, JobStatus]) -> JobStatus | None:
    status = found.get(job_id)
    if status is not None:
        return status
    for reported, candidate in found.items():
        if same_job(job_id, reported):
            return candidate
    return None


def _matches_any(job_id: str, ids: Iterable[str]) -> bool:
    return any(same_job(job_id, other) for other in ids)


class _PBSFamily(Scheduler):
    """What PBS Pro, OpenPBS and Torque share: qsub, qstat's errors, qdel."""

    output_pattern = "job.out"
    job_id_placeholder = None  # PBS does not expand the job id in -o
    default_commands = {"submit": "qsub", "status": "qstat", "cancel": "qdel"}
    supports_gpus = True

    #: Job states of this flavour.
    states: Mapping[str, JobState]

    def same_job(self, reported: str, known: str) -> bool:
        """The same sequence number on the same server, written with or without its
        domain, or without the server (see :func:`same_job`)."""
        return same_job(known, reported)

    def submit_argv(self, identity: str = "", script: str = "") -> list[str]:
        return [self.command("submit")]

    def parse_submit(self, result: CommandResult) -> str:
        if result.returncode != 0:
            raise SubmitError.of("qsub", result, _QSUB_PREFIX.sub("", result.message()))
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        job_id = lines[-1] if lines else ""
        if not _JOB_ID.match(job_id):
            raise SubmitError.of("qsub", result, f"qsub printed no job id: {result.message()}")
        return job_id

    def cancel_failed(self, result: CommandResult) -> str | None:
        if result.returncode == 0:
            return None
        lines = [line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines() if line.strip()]
        if lines and all(_GONE_ON_CANCEL.match(line) for line in lines):
            return None  # the job had already finished or was forgotten
        return result.message()

    def _collect(
        self, job_ids: Sequence[str], result: CommandResult, found: dict[str, JobStatus]
    ) -> dict[str, JobStatus]:
        """Every asked id's status, from the parsed jobs and qstat's error lines."""
        unknown: list[str] = []
        finished: list[str] = []
        problems: list[str] = []
        for line in result.stderr.splitlines():
            line = line.strip()
            if not line:
                continue
            if match := _UNKNOWN.match(line):
                unknown.append(match.group(1))
            elif match := _FINISHED.match(line):
                finished.append(match.group(1))
            else:
                problems.append(line)
        if problems and result.returncode != 0:
            raise StatusUnavailable.of("qstat", result, f"qstat failed: {' '.join(problems)}")
        statuses: dict[str, JobStatus] = {}
        for jid in job_ids:
            status = _lookup(jid, found)
            if status is not None:
                statuses[jid] = replace(status, job_id=jid)
            elif _matches_any(jid, unknown):
                # The server has forgotten the job: it finished and was purged.
                statuses[jid] = JobStatus(jid, JobState.GONE, raw_state="unknown to the server")
            elif _matches_any(jid, finished):
                statuses[jid] = JobStatus(jid, JobState.FINISHED, raw_state="F")
            else:
                # qstat reports on every job it is asked about; silence is not an answer.
                raise StatusUnavailable.of(
                    "qstat", result, f"qstat said nothing about job {jid}: {result.message()}"
                )
        return statuses

    def describe_reason(self, reason: str) -> str:
        """PBS Pro's scheduler comment (``Not Running: ...``) in plain words."""
        text = reason.strip()
        if text.startswith("Can Never Run: "):
            return "the job can never run as requested: " + text[len("Can Never Run: ") :]
        text = text.removeprefix("Not Running: ")
        for start, words in PBS_REASONS:
            if text.startswith(start):
                return words
        return reason


class PBSProScheduler(_PBSFamily):
    """PBS Pro and OpenPBS (19 and later): ``qstat -x -f -F json``."""

    name = "pbs"
    display_name = "PBS Pro"
    template = "pbs.sh.j2"
    states = PBSPRO_STATES
    reports_expected_start = True

    context_settings = ("gpu_resource",)

    def job_context_extra(self, spec: JobSpec) -> dict[str, Any]:
        """``time_limit`` as ``HH:MM:SS`` and the chunk resource that counts GPUs."""
        return {
            "time_limit": format_pbs_walltime(spec.walltime_seconds),
            "gpu_resource": spec.options["gpu_resource"],
        }

    def status_argv(self, job_ids: Sequence[str]) -> list[str]:
        return [self.command("status"), "-x", "-f", "-F", "json", *job_ids]

    def parse_status(self, job_ids: Sequence[str], result: CommandResult) -> dict[str, JobStatus]:
        found: dict[str, JobStatus] = {}
        text = result.stdout
        start = _JSON_START.search(text)
        if start is None:
            # nothing but lines we do not know: every job must be accounted for on stderr
            self.skip_lines(text.splitlines(), complete=None, command="qstat")
        else:
            try:
                # strict=False: PBS does not escape control characters in Variable_List
                data, end = json.JSONDecoder(strict=False).raw_decode(text, start.end() - 1)
            except ValueError as e:
                raise StatusUnavailable(f"qstat printed JSON that cannot be read: {e}") from None
            self.skip_lines(self.lines_outside(text, start.start(), end), complete=None, command="qstat")
            jobs = data.get("Jobs", {}) if isinstance(data, dict) else None
            if not isinstance(jobs, dict):
                raise StatusUnavailable("qstat printed JSON without a Jobs object")
            for jid, attrs in jobs.items():
                if isinstance(attrs, dict):
                    found[jid] = parse_pbspro_job(jid, attrs)
        return self._collect(job_ids, result, found)


def parse_pbspro_job(job_id: str, attrs: Mapping[str, Any]) -> JobStatus:
    """One job of ``qstat -f -F json``."""
    raw_state = str(attrs.get("job_state", "")).strip()
    state = PBSPRO_STATES.get(raw_state, JobState.UNKNOWN)
    reason = None
    start_time = None
    if state.queued:
        comment = str(attrs.get("comment", "")).strip()
        reason = comment or None
        estimated = attrs.get("estimated")
        if isinstance(estimated, dict) and estimated.get("start_time"):
            start_time = str(estimated["start_time"])
    elif attrs.get("stime"):
        start_time = str(attrs["stime"])  # when it started: "Tue Nov 25 20:14:03 2025"
    exit_code = exit_code_from_pbs(attrs["Exit_status"]) if "Exit_status" in attrs else None
    extra = {key: str(attrs[key]) for key in ("queue", "substate", "Exit_status") if key in attrs}
    resources = attrs.get("Resource_List")
    return JobStatus(
        job_id=job_id,
        state=state,
        raw_state=raw_state,
        host=first_exec_host(str(attrs.get("exec_host", "")) or None),
        reason=reason,
        exit_code=exit_code,
        start_time=start_time,
        time_limit_seconds=pbs_walltime_seconds(
            resources.get("walltime") if isinstance(resources, dict) else None
        ),
        extra=extra,
    )


def pbs_walltime_seconds(value: object) -> int | None:
    """``Resource_List.walltime`` (``08:00:00``, hours past 24 allowed) in seconds; None if
    the job has none or it is not a walltime.

    >>> pbs_walltime_seconds("36:00:00"), pbs_walltime_seconds(None)
    (129600, None)
    """
    if value is None or not str(value).strip():
        return None
    try:
        return walltime_seconds("Resource_List.walltime", str(value))
    except ConfigError:
        return None


_XML_JOB = re.compile(r"<Job>.*?</Job>", re.DOTALL)
_XML_DATA = re.compile(r"<Data\b.*</Data>|<Data\s*/>", re.DOTALL)
_JSON_START = re.compile(r"^\s*\{", re.MULTILINE)


class TorqueScheduler(_PBSFamily):
    """Torque (4 to 6): ``qstat -x`` prints XML."""

    name = "torque"
    display_name = "Torque"
    template = "torque.sh.j2"
    states = TORQUE_STATES

    context_settings = ("memory_directive",)

    def job_context_extra(self, spec: JobSpec) -> dict[str, Any]:
        """``time_limit`` as ``HH:MM:SS``, and the memory as the job's total or per process."""
        return pbs_memory_values(spec)

    def status_argv(self, job_ids: Sequence[str]) -> list[str]:
        return [self.command("status"), "-x", *job_ids]

    def parse_status(self, job_ids: Sequence[str], result: CommandResult) -> dict[str, JobStatus]:
        found: dict[str, JobStatus] = {}
        text = result.stdout
        chunks = _XML_JOB.findall(text)
        # what is printed around the XML (a login shell's greeting) is skipped; a job the XML
        # does not hold must be accounted for on stderr, or the answer counts as failed
        data = _XML_DATA.search(text)
        if data is not None:
            around = self.lines_outside(text, data.start(), data.end())
        else:
            around = _XML_JOB.sub("\n", text).splitlines()
        self.skip_lines(around, complete=None, command="qstat")
        # Torque prints one <Data> per operand on some versions: read every <Job>.
        for chunk in chunks:
            try:
                element = ET.fromstring(chunk)
            except ET.ParseError as e:
                raise StatusUnavailable(f"qstat printed XML that cannot be read: {e}") from None
            status = parse_torque_job(element)
            found[status.job_id] = status
        return self._collect(job_ids, result, found)


def parse_torque_job(job: ET.Element) -> JobStatus:
    """One ``<Job>`` element of Torque's ``qstat -x``."""

    def text(tag: str) -> str:
        return (job.findtext(tag) or "").strip()

    raw_state = text("job_state")
    state = TORQUE_STATES.get(raw_state, JobState.UNKNOWN)
    exit_text = text("exit_status")
    comment = text("comment")
    started = text("start_time")  # seconds since the epoch, once it has started
    return JobStatus(
        job_id=text("Job_Id"),
        state=state,
        raw_state=raw_state,
        host=first_exec_host(text("exec_host")),
        reason=comment if comment and state.queued else None,
        exit_code=exit_code_from_pbs(exit_text) if exit_text else None,
        start_time=started if started.isdigit() and not state.queued else None,
        time_limit_seconds=pbs_walltime_seconds(text("Resource_List/walltime")),
        extra={key: text(key) for key in ("queue", "exit_status") if text(key)},
    )


__all__ = [
    "PBSPRO_STATES",
    "RESOURCE_NAME",
    "TORQUE_STATES",
    "PBSProScheduler",
    "TorqueScheduler",
    "exit_code_from_pbs",
    "first_exec_host",
    "format_pbs_walltime",
    "parse_pbspro_job",
    "parse_torque_job",
    "pbs_walltime_seconds",
    "per_process_mb",
    "same_job",
]
