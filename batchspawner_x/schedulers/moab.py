"""Moab: ``msub``, one batched ``mdiag -j ID,ID --xml``, ``mjobctl -c``.

``mdiag -j`` takes a comma-separated list of job ids and, because the jobs
are named, also reports completed ones (with ``CompletionCode``) for as
long as Moab remembers them; a job it no longer lists has been purged. The
node a job runs on is the ``AllocNodeList`` of its ``<req>``. The state names
come from Moab's documentation (see ``shared/scheduler-formats.md``).

No identity lookup (``identity_field`` is None), as for PBS and Torque, whose job
attributes msub takes: the job name (``-N``) is the template's, ``-A`` is accounting, and
``-v`` would put the identity in the job's environment. A submission whose answer was
lost and whose submit command died without an exit code is never sent again.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ..errors import SubmitError
from ..states import JobState, JobStatus, StatusUnavailable
from .base import CommandResult, Scheduler
from .pbs import exit_code_from_pbs, pbs_memory_values
from .spec import JobSpec

#: Every Moab job state, mapped to what the spawner does with it.
MOAB_STATES: dict[str, JobState] = {
    "Idle": JobState.PENDING,  # eligible, waiting for resources
    "Starting": JobState.PENDING,  # being started on its nodes
    "Staging": JobState.PENDING,
    "Staged": JobState.PENDING,
    "AllocatingResources": JobState.PENDING,
    "Blocked": JobState.PENDING,  # not eligible now (policy, dependency); see BlockReason
    "NotQueued": JobState.HELD,  # known to the resource manager but not yet queued by Moab
    "Hold": JobState.HELD,
    "BatchHold": JobState.HELD,  # held by Moab after repeated failures to start
    "SystemHold": JobState.HELD,
    "UserHold": JobState.HELD,
    "Deferred": JobState.HELD,  # held for a while by Moab, then retried
    "Running": JobState.RUNNING,
    "Suspended": JobState.SUSPENDED,
    "Completed": JobState.FINISHED,
    "Removed": JobState.FINISHED,  # cancelled before it completed
    "Vacated": JobState.FINISHED,  # stopped by the resource manager (preempted, node failure)
    "SubmitErr": JobState.FINISHED,  # the resource manager refused it
    "NotRun": JobState.FINISHED,
}

#: BlockReason codes in words a researcher understands. Codes not listed are shown as-is.
MOAB_REASONS: dict[str, str] = {
    "NoResources": "waiting for the requested resources to become free",
    "Priority": "other jobs have higher priority",
    "IdlePolicy": "you are at a limit on queued jobs",
    "ActivePolicy": "you are at a limit on running jobs",
    "SysLimits": "the job is above a system limit",
    "Depend": "waiting for another job to finish",
    "StartTime": "waiting for its requested start time",
    "Reservation": "waiting for its reservation to start",
    "PartitionAccess": "the job may not use the requested partition",
    "RMReject": "the resource manager refused to start the job",
    "Hold": "the job is on hold",
    "User": "held by you (release it with mjobctl -u)",
    "System": "held by an administrator",
    "Batch": "held by Moab because it could not be started; ask your administrators",
    "Defer": "deferred by Moab after a failed start; it will be retried",
}

_ERROR_PREFIX = re.compile(r"^ERROR:\s+", re.MULTILINE)
_JOB_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\[\]-]*$")
_DATA = re.compile(r"<Data\b.*</Data>|<Data\s*/>", re.DOTALL)
#: mjobctl's answer for a job Moab does not know (any more): cancelling it is not a failure.
_GONE_ON_CANCEL = re.compile(r"invalid job specified|cannot locate job", re.IGNORECASE)


class MoabScheduler(Scheduler):
    """Moab Workload Manager (usually over Torque)."""

    name = "moab"
    supports_gpus = True
    supports_reservation = True  # msub -l advres=
    display_name = "Moab"
    template = "moab.sh.j2"
    output_pattern = "job.out"
    job_id_placeholder = None
    default_commands = {"submit": "msub", "status": "mdiag", "cancel": "mjobctl"}

    context_settings = ("memory_directive",)

    def job_context_extra(self, spec: JobSpec) -> dict[str, Any]:
        """``time_limit`` as ``HH:MM:SS``, and the memory as the job's total or per process."""
        return pbs_memory_values(spec)

    def submit_argv(self, identity: str = "", script: str = "") -> list[str]:
        return [self.command("submit")]

    def parse_submit(self, result: CommandResult) -> str:
        if result.returncode != 0 or "ERROR:" in result.stdout or "ERROR:" in result.stderr:
            raise SubmitError.of("msub", result, _ERROR_PREFIX.sub("", result.message()))
        # msub prints the id after an empty line.
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        job_id = lines[-1] if lines else ""
        if not _JOB_ID.match(job_id):
            raise SubmitError.of("msub", result, f"msub printed no job id: {result.message()}")
        return job_id

    def status_argv(self, job_ids: Sequence[str]) -> list[str]:
        return [self.command("status"), "-j", ",".join(job_ids), "--xml"]

    def parse_status(self, job_ids: Sequence[str], result: CommandResult) -> dict[str, JobStatus]:
        if result.returncode != 0 or "ERROR:" in result.stderr:
            raise StatusUnavailable.of(
                "mdiag", result, f"mdiag failed: {_ERROR_PREFIX.sub('', result.message())}"
            )
        match = _DATA.search(result.stdout)
        if match is None:
            raise StatusUnavailable.of(
                "mdiag", result, f"mdiag printed no <Data> document: {result.message()[:200]!r}"
            )
        around = self.lines_outside(result.stdout, match.start(), match.end())
        try:
            root = ET.fromstring(match.group(0))
        except ET.ParseError as e:
            raise StatusUnavailable(f"mdiag printed XML that cannot be read: {e}") from None
        found: dict[str, JobStatus] = {}
        for element in root.iter("job"):
            parsed = parse_moab_job(element)
            found[parsed.job_id] = parsed
        statuses: dict[str, JobStatus] = {}
        for jid in job_ids:
            status = found.get(jid) or _by_number(jid, found)
            if status is None:
                # Named jobs are listed even when completed: an absent one was purged.
                statuses[jid] = JobStatus(jid, JobState.GONE, raw_state="not listed")
            else:
                statuses[jid] = replace(status, job_id=jid)
        complete = all(status.state is not JobState.GONE for status in statuses.values())
        self.skip_lines(around, complete=complete, command="mdiag")
        return statuses

    def same_job(self, reported: str, known: str) -> bool:
        """The same job number, however written (``Moab.12``, ``12``): the default, the
        text before the first ``.``, is ``Moab`` for every job."""
        return reported == known or _number(reported) == _number(known)

    def cancel_argv(self, job_id: str) -> list[str]:
        return [self.command("cancel"), "-c", job_id]

    def cancel_failed(self, result: CommandResult) -> str | None:
        if result.returncode == 0 and "ERROR:" not in result.stdout + result.stderr:
            return None
        if _GONE_ON_CANCEL.search(result.stdout + result.stderr):
            return None
        return _ERROR_PREFIX.sub("", result.message())

    def describe_reason(self, reason: str) -> str:
        return MOAB_REASONS.get(reason, reason)


def _number(job_id: str) -> str:
    """``Moab.12``, ``12.srv`` and ``12`` all have the number ``12``."""
    digits = re.search(r"\d+", job_id)
    return digits.group(0) if digits else job_id


def _by_number(job_id: str, found: dict[str, JobStatus]) -> JobStatus | None:
    matches = [status for reported, status in found.items() if _number(reported) == _number(job_id)]
    return matches[0] if len(matches) == 1 else None


def parse_moab_job(job: ET.Element) -> JobStatus:
    """One ``<job>`` element of ``mdiag -j --xml``."""
    raw_state = (job.get("State") or "").strip()
    state = MOAB_STATES.get(raw_state, JobState.UNKNOWN)
    hold = (job.get("Hold") or "").strip()
    if state is JobState.PENDING and hold:
        state = JobState.HELD  # Moab may keep State="Idle" and name the hold separately
    host = job.get("AllocNodeList")
    if not host:
        for element in job.iter():
            if element.get("AllocNodeList"):
                host = element.get("AllocNodeList")
                break
    if host:
        host = re.split(r"[,:\s]", host.strip())[0] or None
    reason = None
    if state.queued:
        reason = (job.get("BlockReason") or "").strip() or (hold.split(",")[0] if hold else None)
    code = job.get("CompletionCode")
    exit_code = None
    if code is not None and code.strip():
        exit_code = exit_code_from_pbs(code)
        if exit_code is None and (number := re.search(r"-?\d+", code)):
            exit_code = exit_code_from_pbs(number.group(0))  # such as CNCLD(271)
    return JobStatus(
        job_id=(job.get("JobID") or "").strip(),
        state=state,
        raw_state=raw_state,
        host=host or None,
        reason=reason,
        exit_code=exit_code,
        start_time=_started(job.get("StartTime"), state),
        time_limit_seconds=_seconds(job.get("ReqAWDuration")),
        extra={key: str(job.get(key)) for key in ("Class", "Hold", "CompletionCode") if job.get(key)},
    )


def _started(value: str | None, state: JobState) -> str | None:
    """``StartTime`` (seconds since the epoch; ``0`` before the job starts), once it has."""
    text = (value or "").strip()
    return text if text.isdigit() and int(text) > 0 and not state.queued else None


def _seconds(value: str | None) -> int | None:
    """``ReqAWDuration``, the requested walltime in seconds; None if absent or zero."""
    text = (value or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


__all__ = ["MOAB_REASONS", "MOAB_STATES", "MoabScheduler", "parse_moab_job"]
