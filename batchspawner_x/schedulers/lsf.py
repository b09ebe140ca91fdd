"""IBM Spectrum LSF: ``bsub`` (script on stdin), one batched ``bjobs``, ``bkill``.

Formats and states are those of IBM's bsub(1), bjobs(1) and bkill(1) manuals
(see ``shared/scheduler-formats.md``); error texts are LSF's library messages
(``lsb_errmsg``: "No such queue", "Job has already finished", ...), which bsub
prints as ``<subject>: <message>. Job not submitted.``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, SubmitError
from ..states import JobState, JobStatus, StatusUnavailable
from .base import CommandResult, Scheduler
from .spec import JobSpec

#: Every LSF job state (bjobs(1) "JOB STATUS"), mapped to what the spawner does with it.
#: The predecessor spelt PSUSP as "PUSP" and took suspended jobs for dead ones.
LSF_STATES: dict[str, JobState] = {
    "PEND": JobState.PENDING,
    "WAIT": JobState.PENDING,  # a chunk job member waiting for its chunk to start
    "PSUSP": JobState.HELD,  # suspended by its owner or an admin while pending
    "RUN": JobState.RUNNING,
    "USUSP": JobState.SUSPENDED,  # suspended by its owner or an admin while running
    "SSUSP": JobState.SUSPENDED,  # suspended by LSF (load, preemption, run window)
    "ZOMBI": JobState.FINISHING,  # killed while its host was unreachable: going away
    "DONE": JobState.FINISHED,
    "EXIT": JobState.FINISHED,
    "POST_DONE": JobState.FINISHED,
    "POST_ERR": JobState.FINISHED,
    "PDONE": JobState.FINISHED,  # POST_DONE in bjobs' 5-column STAT field
    "PERR": JobState.FINISHED,  # POST_ERR likewise
    "UNKWN": JobState.UNKNOWN,  # mbatchd lost contact with the job's host: still alive
}

#: States that mean the job exited successfully when bjobs shows no exit code.
_SUCCESS_STATES = frozenset({"DONE", "POST_DONE", "PDONE"})

#: Pending reasons (bjobs ``pend_reason``, bjobs -p) in plainer words, matched by prefix.
LSF_REASONS: dict[str, str] = {
    "New job is waiting for scheduling": "the scheduler has not looked at it yet",
    "Job's requirements for resource reservation not satisfied": (
        "waiting for the memory or other resources it asked for"
    ),
    "Job's resource requirements not satisfied": "no host has the resources it asked for free",
    "Not enough job slot(s)": "waiting for free cores",
    "Not enough processors to meet the job's spanning requirement": (
        "waiting for a host with enough free cores"
    ),
    "Not enough hosts to meet the job's spanning requirement": "waiting for a host with enough free cores",
    "The user has reached his/her job slot limit": "you are at your limit of running jobs",
    "The user has reached his/her job slot limit in the queue": (
        "you are at your limit of running jobs in this queue"
    ),
    "The queue has reached its job slot limit": "the queue is full",
    "The queue is inactivated by the administrator": "the queue is closed by an administrator",
    "The queue is inactivated by its time windows": "the queue is outside its opening hours",
    "Job dependency condition not satisfied": "waiting for another job to finish",
    "The job was suspended by the user while pending": "held by you (release it with bresume)",
    "Job was suspended by the user while pending": "held by you (release it with bresume)",
    "The job was suspended by LSF admin or root while pending": "held by an administrator",
    "Job was suspended by LSF admin or root while pending": "held by an administrator",
    "The job's specified begin time has not been reached": "waiting for its requested start time",
    "Job's specified begin time has not been reached": "waiting for its requested start time",
}

#: bjobs output field separator; pend_reason and job_description are free text, so each
#: comes last and is never split.
SEP = "|"
BJOBS_FIELDS = ("jobid", "stat", "exec_host", "exit_code", "pend_reason")
BJOBS_FORMAT = " ".join(BJOBS_FIELDS) + f" delimiter='{SEP}'"

#: The lookup's fields: the job description, free text, comes last.
LOOKUP_FORMAT = f"jobid job_description delimiter='{SEP}'"
#: What bjobs says, on stderr, when the user has no job to list.
_NO_JOB = re.compile(r"^No (?:unfinished |matching )?job found\.?$")

_SUBMITTED = re.compile(r"Job <(\d+)> is submitted to (?:default )?queue <([^>]*)>")
_NOT_FOUND = re.compile(r"^Job <([^>]+)> is not found\s*$")
#: bkill answers that mean the job is gone or going: nothing to worry about.
_BKILL_HARMLESS = re.compile(
    r"^Job <[^>]+>(?:: Job has already finished| is being terminated| is being signaled"
    r"|: No matching job found)\.?\s*$"
)


class LsfScheduler(Scheduler):
    """LSF's bsub / bjobs / bkill (bhist is the ``info`` command, for sites' wrappers)."""

    name = "lsf"
    display_name = "LSF"
    template = "lsf.sh.j2"
    output_pattern = "job-%J.out"
    job_id_placeholder = "%J"
    default_commands = {
        "submit": "bsub",
        "status": "bjobs",
        "cancel": "bkill",
        "info": "bhist",
    }
    identity_field = "job description (bsub -Jd)"
    supports_gpus = True
    supports_reservation = True  # bsub -U

    context_settings = ("memory_request", "lsf_unit_for_limits")

    def job_context_extra(self, spec: JobSpec) -> dict[str, Any]:
        """``time_limit`` (as ``-W`` takes it), ``lsf_resources`` and ``lsf_memory_limit``;
        LSF has no QOS."""
        if spec.qos:
            raise ConfigError(
                "qos", "LSF has no quality of service; leave it empty (service classes: extra_directives)"
            )
        values: dict[str, Any] = lsf_template_values(
            walltime_seconds=spec.walltime_seconds,
            memory_mb=spec.memory_mb,
            memory_request=spec.options["memory_request"],
            unit=spec.options["lsf_unit_for_limits"],
        )
        values["time_limit"] = values.pop("lsf_walltime")
        return values

    def submit_argv(self, identity: str = "", script: str = "") -> list[str]:
        # bsub without a command reads the job script, #BSUB lines included, from stdin.
        if identity:
            return [self.command("submit"), "-Jd", identity]
        return [self.command("submit")]

    def lookup_argv(self, identity: str) -> list[str] | None:
        # The user's own jobs (never "-u all": a lookup runs as the user), finished ones too.
        return [self.command("status"), "-a", "-noheader", "-o", LOOKUP_FORMAT]

    def parse_lookup(self, identity: str, result: CommandResult) -> list[str]:
        problems = [
            line.strip()
            for line in result.stderr.splitlines()
            if line.strip() and not _NO_JOB.match(line.strip())
        ]
        if problems or (result.returncode != 0 and not result.stderr.strip()):
            # "LSF is down. Please wait...", a bad field name on an old LSF, ...
            raise StatusUnavailable.of("bjobs", result, f"bjobs failed: {result.message()[:300]}")
        found = set()
        for line in result.stdout.splitlines():
            job_id, sep, description = line.strip().partition(SEP)
            if sep and job_id.isdigit() and identity in description.split():
                found.add(job_id)  # (other lines: the user's other jobs, a login shell's greeting)
        return sorted(found, key=int)

    def parse_submit(self, result: CommandResult) -> str:
        match = _SUBMITTED.search(result.stdout)
        if result.returncode != 0 or match is None:
            # esub messages go to stdout and the refusal to stderr: show both, verbatim.
            words = "\n".join(t for t in (result.stdout.strip(), result.stderr.strip()) if t)
            if result.returncode == 0:
                words = f"bsub printed no job id: {words or 'no output'}"
            raise SubmitError.of("bsub", result, words or result.message())
        return match.group(1)

    def status_argv(self, job_ids: Sequence[str]) -> list[str]:
        # -a: finished jobs (DONE, EXIT) stay listed until CLEAN_PERIOD has passed.
        # bjobs shows the caller's own jobs by default; a status identity asks for
        # everybody's ("-u all"), which LSF lets any user see in this summary form.
        everybody = ["-u", "all"] if self.all_users else []
        return [self.command("status"), "-a", "-noheader", "-o", BJOBS_FORMAT, *everybody, *job_ids]

    def parse_status(self, job_ids: Sequence[str], result: CommandResult) -> dict[str, JobStatus]:
        wanted = set(job_ids)
        found: dict[str, JobStatus] = {}
        not_found: set[str] = set()
        unexplained: list[str] = []
        for line in result.stderr.splitlines():
            if not line.strip():
                continue
            gone = _NOT_FOUND.match(line.strip())
            if gone:
                not_found.add(gone.group(1))
            else:
                unexplained.append(line.strip())
        skipped: list[str] = []
        for line in result.stdout.splitlines():
            if not line.strip():
                continue
            gone = _NOT_FOUND.match(line.strip())
            if gone:
                not_found.add(gone.group(1))
                continue
            try:
                status = parse_bjobs_line(line)
            except StatusUnavailable:
                skipped.append(line)  # a login shell's greeting, say: logged once
                continue
            if status.job_id in wanted:
                found[status.job_id] = status
        if unexplained and (result.returncode != 0 or wanted - found.keys() - not_found):
            # "LSF is down. Please wait...", "Cannot connect to LSF", ...: nothing reliable.
            raise StatusUnavailable.of("bjobs", result, f"bjobs failed: {' '.join(unexplained)[:300]}")
        self.skip_lines(skipped, complete=not wanted - found.keys() - not_found, command="bjobs")
        missing = wanted - found.keys() - not_found
        if missing:
            raise StatusUnavailable.of(
                "bjobs",
                result,
                f"bjobs neither listed nor reported job(s) {', '.join(sorted(missing))} "
                f"(exit status {result.returncode})",
            )
        for jid in wanted & not_found - found.keys():
            # Purged after CLEAN_PERIOD: LSF no longer knows the job.
            found[jid] = JobStatus(jid, JobState.GONE, raw_state="not found")
        return found

    def cancel_failed(self, result: CommandResult) -> str | None:
        lines = [line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines() if line.strip()]
        if all(_BKILL_HARMLESS.match(line) for line in lines) and (lines or result.returncode == 0):
            return None
        return result.message()

    def describe_reason(self, reason: str) -> str:
        return describe_lsf_reason(reason)


def parse_bjobs_line(line: str) -> JobStatus:
    """Parse one line of ``bjobs -o "jobid stat exec_host exit_code pend_reason delimiter='|'"``.

    >>> parse_bjobs_line("1815|RUN|2*node01|-|-").host
    'node01'
    """
    parts = line.strip().split(SEP, len(BJOBS_FIELDS) - 1)
    if len(parts) != len(BJOBS_FIELDS) or not parts[0].strip()[:1].isdigit():
        raise StatusUnavailable(f"unexpected bjobs line: {line!r}")
    job_id, raw_state, exec_host, exit_code, reason = (p.strip() for p in parts)
    state = LSF_STATES.get(raw_state, JobState.UNKNOWN)
    code: int | None = int(exit_code) if exit_code.isdigit() else None
    if code is None and raw_state in _SUCCESS_STATES:
        code = 0
    reason = reason.rstrip(";").strip()
    return JobStatus(
        job_id=job_id,
        state=state,
        raw_state=raw_state,
        host=lsf_exec_host(exec_host),
        reason=reason if state.queued and reason not in ("", "-") else None,
        exit_code=code if state is JobState.FINISHED else None,
    )


_SLOTS_PREFIX = re.compile(r"^\d+\*")


def lsf_exec_host(text: str) -> str | None:
    """The first execution host: ``node01``, ``node01:node01``, ``2*node01`` all give node01."""
    first = text.strip().split(":")[0].split()[0] if text.strip() else ""
    first = _SLOTS_PREFIX.sub("", first)
    return None if first in ("", "-") else first


def describe_lsf_reason(reason: str) -> str:
    """LSF's pending reason in plainer words; unknown reasons are returned as they are."""
    text = reason.strip().rstrip(";").strip()
    for prefix, words in LSF_REASONS.items():
        if text.startswith(prefix):
            return words
    return text


# -- walltime and memory, for the template --------------------------------------------


def format_lsf_walltime(seconds: int | None) -> str:
    """Seconds as bsub's ``-W [hour:]minute``, rounded up to a minute; "" when unset or 0.

    >>> format_lsf_walltime(129600), format_lsf_walltime(61)
    ('36:00', '00:02')
    """
    if not seconds:
        return ""
    minutes = math.ceil(seconds / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


#: Multiples of a MiB for each LSF_UNIT_FOR_LIMITS.
_UNIT_PER_MB = {"KB": 1024.0, "MB": 1.0, "GB": 1 / 1024, "TB": 1 / 1024**2, "PB": 1 / 1024**3}


def lsf_memory(memory_mb: int | None, unit: str) -> int | None:
    """MiB in the cluster's LSF_UNIT_FOR_LIMITS, rounded up (at least 1)."""
    if not memory_mb:
        return None
    return max(1, math.ceil(memory_mb * _UNIT_PER_MB[unit]))


LSF_MEMORY_REQUESTS = ("rusage", "limit", "both")


def lsf_template_values(
    *, walltime_seconds: int | None, memory_mb: int | None, memory_request: str, unit: str
) -> dict[str, str | int | None]:
    """The LSF-specific template values: ``lsf_walltime`` (-W), ``lsf_resources`` (-R) and
    ``lsf_memory_limit`` (-M)."""
    if memory_request not in LSF_MEMORY_REQUESTS:
        raise ValueError(f"memory_request must be one of {LSF_MEMORY_REQUESTS}, not {memory_request!r}")
    memory = lsf_memory(memory_mb, unit)
    resources = []
    if memory and memory_request in ("rusage", "both"):
        resources.append(f"rusage[mem={memory}]")
    resources.append("span[hosts=1]")  # all cores of the server on one host
    return {
        "lsf_walltime": format_lsf_walltime(walltime_seconds),
        "lsf_resources": " ".join(resources),
        "lsf_memory_limit": memory if memory_request in ("limit", "both") else None,
    }
