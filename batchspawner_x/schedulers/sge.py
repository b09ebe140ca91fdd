"""Grid Engine (Son of Grid Engine, Univa/Altair GE): ``qsub``, ``qstat -xml``, ``qdel``, ``qacct``.

Formats and state letters are those of sge_status(5), qstat(1) and
accounting(5), as printed by Son of Grid Engine 8.1.9 (Debian 12; see
``shared/scheduler-formats.md`` and ``shared/cluster.md``).

Status is one ``qstat -xml -s prsz -u $user`` for all of a user's jobs
(``$user`` is expanded by qstat itself, not by a shell): ``-s prsz`` lists
pending, running, suspended and *zombie* (finished, remembered for the
``finished_jobs`` setting) jobs, so a job that just ended is seen as
finished and its exit status is read once with ``qacct -j``.

Pending reasons: Grid Engine gives them only in ``qstat -j ID`` ("scheduling
info"), one command per job and only when the scheduler's
``schedd_job_info`` is on (often off on large sites, as it is costly). The
poller asks one batched command per interval, so the reason is taken from
the state letters alone: held (``h``) and error (``E``) states.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, SubmitError
from ..states import JobState, JobStatus, StatusUnavailable
from ..units import format_clock, walltime_seconds
from .base import CommandResult, PartitionInfo, Scheduler
from .sge_queues import parse_queues
from .spec import JobSpec

#: Every state sge_status(5) lists, as qstat prints it, mapped to what the
#: spawner does with it. ``z`` (zombie) is what ``-s z`` shows for a finished job.
SGE_STATES: dict[str, JobState] = {
    # pending
    "qw": JobState.PENDING,
    "Rq": JobState.PENDING,  # rescheduled, queued again
    "hqw": JobState.HELD,  # on hold (qhold, -h, or a job dependency)
    "hRwq": JobState.HELD,  # rescheduled and on hold
    # running
    "r": JobState.RUNNING,
    "t": JobState.RUNNING,  # being transferred to the execution host
    "Rr": JobState.RUNNING,  # rescheduled, running again
    "Rt": JobState.RUNNING,
    # suspended (by the user or admin: s; by the queue: S; by a load threshold: T)
    "s": JobState.SUSPENDED,
    "ts": JobState.SUSPENDED,
    "S": JobState.SUSPENDED,
    "tS": JobState.SUSPENDED,
    "T": JobState.SUSPENDED,
    "tT": JobState.SUSPENDED,
    "Rs": JobState.SUSPENDED,
    "Rts": JobState.SUSPENDED,
    "RS": JobState.SUSPENDED,
    "RtS": JobState.SUSPENDED,
    "RT": JobState.SUSPENDED,
    "RtT": JobState.SUSPENDED,
    # error: the job waits, held, until someone clears the error (qmod -cj)
    "Eqw": JobState.HELD,
    "Ehqw": JobState.HELD,
    "EhRqw": JobState.HELD,
    # deleting: qdel was accepted, the job is being ended
    "dr": JobState.FINISHING,
    "dt": JobState.FINISHING,
    "dRr": JobState.FINISHING,
    "dRt": JobState.FINISHING,
    "ds": JobState.FINISHING,
    "dS": JobState.FINISHING,
    "dT": JobState.FINISHING,
    "dRs": JobState.FINISHING,
    "dRS": JobState.FINISHING,
    "dRT": JobState.FINISHING,
    # finished (qstat -s z)
    "z": JobState.FINISHED,
}

#: What each letter of a state means (sge_status(5)), for combinations not in
#: :data:`SGE_STATES`; the first matching rule wins.
_LETTER_RULES: tuple[tuple[str, JobState], ...] = (
    ("z", JobState.FINISHED),
    ("d", JobState.FINISHING),
    ("E", JobState.HELD),
    ("sST", JobState.SUSPENDED),
    ("rt", JobState.RUNNING),
    ("h", JobState.HELD),
    ("qwR", JobState.PENDING),
)
_STATE_LETTERS = frozenset("dEhrRsStTwqz")

#: Reason codes this backend derives from the state, in words for a researcher.
SGE_REASONS: dict[str, str] = {
    "hold": "on hold: it waits for a release (qrls) or for a job it depends on",
    "error": (
        "in error state: Grid Engine could not start it, and it waits until the error is "
        "cleared by an administrator (qmod -cj); see qstat -j for the cause"
    ),
}

_SUBMITTED = re.compile(r"Your job(?:-array)? (\d+)(?:\.\S+)? \(\"[^\n]*\"\) has been submitted")
_TERSE_ID = re.compile(r"^(\d+)(?:\.\S+)?$")
_UNABLE = re.compile(r"^Unable to run job: ", re.MULTILINE)
_UNKNOWN_JOBS = re.compile(r"Following jobs do not exist:\s*(.*)", re.S)
#: A DTD or entity declaration: never in qstat's own output, refused before parsing.
_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
#: qstat -xml's document, without what a login shell may print around it.
_DOCUMENT = re.compile(r"(?:<\?xml[^>]*\?>\s*)?<job_info\b.*</job_info>", re.DOTALL)

#: The job context variable that carries a submission's identity (qsub -ac).
CONTEXT_VARIABLE = "bsx_submission"
# $1: qstat. The user's own pending, running and suspended jobs ("$user" is qstat's own
# placeholder, not the shell's), then "qstat -j" on those ids only: one user's details,
# not every user's. No job: nothing printed, exit 0. A failed listing passes its exit code on.
LOOKUP_SCRIPT = r"""q=$1
l=$("$q" -u '$user' -s prs) || exit
ids=$(printf '%s\n' "$l" | awk '$1 ~ /^[0-9]+$/ { printf "%s%s", s, $1; s = "," }')
[ -n "$ids" ] || exit 0
exec "$q" -j "$ids"
"""
_JOB_NUMBER = re.compile(r"^job_number:\s+(\d+)\s*$")
_CONTEXT = re.compile(r"^context:\s+(.*)$")


class GridengineScheduler(Scheduler):
    """Grid Engine's qsub / qstat / qdel / qacct."""

    name = "sge"
    display_name = "Grid Engine"
    template = "sge.sh.j2"
    #: ``-o`` could name ``$JOB_ID``, but a job script's paths are checked to
    #: hold no ``$``; one job per server at a time makes a fixed name enough.
    output_pattern = "job.out"
    job_id_placeholder = None
    supports_reservation = True  # qsub -ar: an advance reservation's id
    default_commands = {
        "submit": "qsub",
        "status": "qstat",
        "cancel": "qdel",
        "info": "qacct",
        "partitions": "qconf",
    }
    identity_field = f"job context ({CONTEXT_VARIABLE})"
    looks_up_exit_codes = True

    context_settings = ("parallel_environment", "memory_resources", "memory_per_slot", "gpu_resource")

    def job_context_extra(self, spec: JobSpec) -> dict[str, Any]:
        """``time_limit`` (as ``-l h_rt`` takes it), the slots and their parallel
        environment, the memory and GPU requests.

        Grid Engine has no QOS, and more than one core needs a parallel environment.
        """
        if spec.qos:
            raise ConfigError(
                "qos", "Grid Engine has no quality of service; leave it empty (priorities: extra_directives)"
            )
        options = spec.options
        slots = spec.cpus or 1
        pe = check_complex_name("parallel_environment", options["parallel_environment"])
        if slots > 1 and not pe:
            raise ConfigError("parallel_environment", "cpu_limit above 1 needs a parallel environment")
        resources = [check_complex_name("memory_resources", r) for r in options["memory_resources"]]
        gpu = check_complex_name("gpu_resource", options["gpu_resource"])
        if spec.gpus and not gpu:
            raise ConfigError("gpu_resource", "gpus is set but no GPU complex is configured")
        return {
            "time_limit": format_sge_walltime(spec.walltime_seconds),
            "slots": slots,
            "parallel_environment": pe,
            "memory_requests": memory_requests(spec.memory_mb, resources, slots, options["memory_per_slot"]),
            "gpu_request": f"{gpu}={spec.gpus}" if spec.gpus else "",
        }

    def partitions_argv(self) -> list[str]:
        """Every cluster queue's configuration (any user may read it)."""
        return [self.command("partitions"), "-sq", "*"]

    def parse_partitions(self, result: CommandResult) -> dict[str, PartitionInfo]:
        return parse_queues(result)

    def submit_argv(self, identity: str = "", script: str = "") -> list[str]:
        # -ac adds to the context a script's own "#$ -ac" sets (only -sc would replace it).
        if identity:
            return [self.command("submit"), "-ac", f"{CONTEXT_VARIABLE}={identity}"]
        return [self.command("submit")]

    def lookup_argv(self, identity: str) -> list[str] | None:
        return ["/bin/sh", "-c", LOOKUP_SCRIPT, "batchspawner-x-lookup", self.command("status")]

    def parse_lookup(self, identity: str, result: CommandResult) -> list[str]:
        return parse_context_lookup(identity, result)

    def parse_submit(self, result: CommandResult) -> str:
        if result.returncode != 0:
            raise SubmitError.of("qsub", result, submit_error_message(result))
        match = _SUBMITTED.search(result.stdout)
        if match:
            return match.group(1)
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        terse = _TERSE_ID.match(lines[-1]) if lines else None
        if terse:
            return terse.group(1)
        raise SubmitError.of("qsub", result, f"qsub printed no job id: {result.message()}")

    def status_argv(self, job_ids: Sequence[str]) -> list[str]:
        # qstat cannot select jobs by id in its list form; one listing of the
        # user's jobs answers for all of them. "$user" is qstat's own placeholder.
        # A status identity owns none of the jobs: it lists every user's, or each
        # job would look gone.
        # -r: each job's hard requests too, among them its time limit (h_rt).
        return [self.command("status"), "-xml", "-r", "-s", "prsz", "-u", "*" if self.all_users else "$user"]

    def parse_status(self, job_ids: Sequence[str], result: CommandResult) -> dict[str, JobStatus]:
        wanted = set(job_ids)
        if result.returncode != 0:
            unknown = _unknown_jobs(result.message())
            if unknown is not None and wanted <= unknown:
                return {jid: JobStatus(jid, JobState.GONE, raw_state="unknown to qstat") for jid in wanted}
            raise StatusUnavailable.of("qstat", result, f"qstat failed: {result.message()}")
        found: dict[str, JobStatus] = {}
        stdout = result.stdout
        if _DTD.search(stdout):
            parse_qstat_xml(stdout)  # refuses it, with the reason
        document = _DOCUMENT.search(stdout)
        for status in parse_qstat_xml(document.group(0) if document else stdout):
            if status.job_id in wanted and status.job_id not in found:
                found[status.job_id] = status
        if document is not None:
            around = self.lines_outside(stdout, document.start(), document.end())
            self.skip_lines(around, complete=wanted <= found.keys(), command="qstat")
        return self.unlisted(job_ids, found)

    def cancel_failed(self, result: CommandResult) -> str | None:
        if result.returncode == 0:
            return None
        message = result.message()
        if "does not exist" in message:
            return None  # already finished and forgotten: nothing to cancel
        return message

    def exit_code_argv(self, job_id: str) -> list[str]:
        """``qacct -j``: the accounting record, written when the job ends."""
        return [self.command("info"), "-j", job_id]

    def parse_exit_code(self, text: str) -> int | None:
        return exit_code_from_qacct(text)

    def describe_reason(self, reason: str) -> str:
        return SGE_REASONS.get(reason, reason)


def parse_context_lookup(identity: str, result: CommandResult) -> list[str]:
    """The jobs that :data:`LOOKUP_SCRIPT`'s ``result`` (``qstat -j`` text) shows carrying
    ``identity`` in their context, lowest first.

    Lines it does not know (a login shell's greeting) are skipped. ``Following jobs do not
    exist`` means the jobs just listed ended meanwhile: none. Any other failure raises
    :class:`~batchspawner_x.states.StatusUnavailable`.

    >>> text = "job_number:   7\\ncontext:      site=x,bsx_submission=bsx-1\\n"
    >>> parse_context_lookup("bsx-1", CommandResult(0, text))
    ['7']
    """
    if result.returncode != 0:
        if result.returncode == 1 and _unknown_jobs(result.message()) is not None:
            return []
        raise StatusUnavailable.of("qstat", result, f"qstat failed: {result.message()}")
    wanted = f"{CONTEXT_VARIABLE}={identity}"
    found: set[str] = set()
    job: str | None = None
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("====="):
            job = None  # qstat -j's separator between two jobs
        elif match := _JOB_NUMBER.match(line):
            job = match.group(1)
        elif (match := _CONTEXT.match(line)) and job is not None:
            items = {item.strip() for item in match.group(1).split(",")}
            if wanted in items:
                found.add(job)
    return sorted(found, key=int)


def submit_error_message(result: CommandResult) -> str:
    """qsub's own words, without the "Unable to run job:" prefix and the "Exiting." line."""
    text = result.stderr.strip() or result.stdout.strip()
    lines = [line for line in text.splitlines() if line.strip() and line.strip() != "Exiting."]
    message = _UNABLE.sub("", "\n".join(lines)).strip()
    return message or result.message()


def _unknown_jobs(message: str) -> set[str] | None:
    """The ids named by ``Following jobs do not exist: ...`` (qstat -j), or None."""
    match = _UNKNOWN_JOBS.search(message)
    if match is None:
        return None
    return set(re.findall(r"\d+", match.group(1)))


def sge_state(raw: str) -> JobState:
    """Map one qstat state (``qw``, ``dr``, ``Eqw`` ...) to a :class:`JobState`.

    >>> sge_state("hqw")
    <JobState.HELD: 'held'>
    """
    state = SGE_STATES.get(raw)
    if state is not None:
        return state
    if not raw or not set(raw) <= _STATE_LETTERS:
        return JobState.UNKNOWN
    for letters, mapped in _LETTER_RULES:
        if any(letter in raw for letter in letters):
            return mapped
    return JobState.UNKNOWN


def state_reason(raw: str) -> str | None:
    """The reason code a state implies: ``error`` for E, ``hold`` for h."""
    if "E" in raw:
        return "error"
    if "h" in raw:
        return "hold"
    return None


def parse_qstat_xml(text: str) -> list[JobStatus]:
    """Every job in ``qstat -xml`` output, in the order listed (running first).

    Raises :class:`StatusUnavailable` for anything that is not qstat's XML.
    Documents with a DTD or entity declarations are refused before parsing.
    """
    if _DTD.search(text):
        raise StatusUnavailable("qstat printed XML with a DTD or entity declaration; refusing to parse it")
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as e:
        raise StatusUnavailable(f"qstat printed no XML we can read ({e}): {text[:200]!r}") from None
    if root.tag != "job_info":
        raise StatusUnavailable(f"unexpected qstat XML: root element <{root.tag}>")
    statuses = []
    for job in root.iter("job_list"):
        job_id = (job.findtext("JB_job_number") or "").strip()
        if not job_id:
            raise StatusUnavailable("qstat XML lists a job without JB_job_number")
        raw = (job.findtext("state") or "").strip()
        state = sge_state(raw)
        queue = (job.findtext("queue_name") or "").strip()
        host = queue.partition("@")[2] or None
        statuses.append(
            JobStatus(
                job_id=job_id,
                state=state,
                raw_state=raw,
                host=host if state in (JobState.RUNNING, JobState.SUSPENDED, JobState.FINISHING) else None,
                reason=state_reason(raw) if state.queued else None,
                start_time=(job.findtext("JAT_start_time") or "").strip() or None,
                time_limit_seconds=_hard_runtime(job),
            )
        )
    return statuses


def _hard_runtime(job: ET.Element) -> int | None:
    """The job's ``h_rt`` from ``qstat -r``'s ``<hard_request name="h_rt">`` (seconds, or
    ``H:M:S``); None if it asked for none."""
    for request in job.iter("hard_request"):
        if request.get("name") != "h_rt":
            continue
        text = (request.text or "").strip()
        try:
            return int(text) if text.isdigit() else walltime_seconds("h_rt", text)
        except ConfigError:
            return None
    return None


_QACCT_FIELD = re.compile(r"^(failed|exit_status)\s+(\d+)", re.MULTILINE)


def exit_code_from_qacct(text: str) -> int | None:
    """The job's exit code from ``qacct -j`` output (the last record if there are several).

    ``exit_status`` is the job script's exit code (128 + signal when killed,
    ``137`` after qdel). A record with ``exit_status 0`` but a non-zero
    ``failed`` code (the job could not be started, for example its output file
    could not be opened) gives 1: the job did not succeed.
    """
    failed: int | None = None
    exit_status: int | None = None
    for match in _QACCT_FIELD.finditer(text):
        if match.group(1) == "failed":
            failed, exit_status = int(match.group(2)), None
        else:
            exit_status = int(match.group(2))
    if exit_status is None:
        return None
    if exit_status == 0 and failed:
        return 1
    return exit_status


# -- values for the job script, computed by GridengineSpawner.job_context ----------

#: Names of complexes and parallel environments: no spaces, "=", "," or "@".
_COMPLEX_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def check_complex_name(field: str, value: str) -> str:
    """A complex (resource) or parallel environment name; may be empty."""
    if value and not _COMPLEX_NAME.fullmatch(value):
        raise ConfigError(field, f"{value[:80]!r} is not a Grid Engine name (letters, digits and _ . -)")
    return value


def format_sge_walltime(seconds: int | None) -> str:
    """Seconds as Grid Engine's ``-l h_rt=HH:MM:SS``, hours going past 24; "" when unset.

    >>> format_sge_walltime(129600)
    '36:00:00'
    """
    return "" if seconds is None else format_clock(seconds)


def memory_requests(memory_mb: int | None, resources: Sequence[str], slots: int, per_slot: bool) -> list[str]:
    """``-l`` requests for ``memory_mb``, one per resource: ``["h_vmem=2048M"]``.

    Grid Engine multiplies a per-slot request by the job's slots on the host
    (``-pe smp 4 -l h_vmem=1G`` allows 4G), so with ``per_slot`` the total is
    divided by ``slots``, rounded up to whole MiB.
    """
    if not memory_mb:
        return []
    value = math.ceil(memory_mb / slots) if per_slot and slots > 1 else memory_mb
    return [f"{resource}={value}M" for resource in resources]
