"""Slurm: ``sbatch --parsable``, one batched ``squeue``, ``scancel``.

Formats and states are those in Slurm's squeue(1) and sbatch(1) manuals, as
seen on Slurm 22.05 (see ``shared/scheduler-formats.md``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import ConfigError, SubmitError
from ..states import JobState, JobStatus, StatusUnavailable
from ..units import format_walltime, walltime_seconds
from ..validation import check_name
from .base import CommandResult, PartitionInfo, Scheduler

#: Every Slurm job state, long name, mapped to what the spawner does with it.
SLURM_STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,  # nodes are booting for the job
    "REQUEUED": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING,
    "REQUEUE_HOLD": JobState.HELD,
    "RESV_DEL_HOLD": JobState.HELD,
    "SPECIAL_EXIT": JobState.HELD,  # requeued in a held state
    "RUNNING": JobState.RUNNING,
    "RESIZING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "SUSPENDED": JobState.SUSPENDED,
    "STOPPED": JobState.SUSPENDED,
    "COMPLETING": JobState.FINISHING,
    "STAGE_OUT": JobState.FINISHING,
    "COMPLETED": JobState.FINISHED,
    "CANCELLED": JobState.FINISHED,
    "FAILED": JobState.FINISHED,
    "TIMEOUT": JobState.FINISHED,
    "NODE_FAIL": JobState.FINISHED,
    "BOOT_FAIL": JobState.FINISHED,
    "DEADLINE": JobState.FINISHED,
    "OUT_OF_MEMORY": JobState.FINISHED,
    "PREEMPTED": JobState.FINISHED,
    "REVOKED": JobState.FINISHED,
}

#: squeue's compact codes, for parsers of ``%t`` output and for documentation.
SLURM_STATE_CODES: dict[str, str] = {
    "BF": "BOOT_FAIL",
    "CA": "CANCELLED",
    "CD": "COMPLETED",
    "CF": "CONFIGURING",
    "CG": "COMPLETING",
    "DL": "DEADLINE",
    "F": "FAILED",
    "NF": "NODE_FAIL",
    "OOM": "OUT_OF_MEMORY",
    "PD": "PENDING",
    "PR": "PREEMPTED",
    "R": "RUNNING",
    "RD": "RESV_DEL_HOLD",
    "RF": "REQUEUE_FED",
    "RH": "REQUEUE_HOLD",
    "RQ": "REQUEUED",
    "RS": "RESIZING",
    "RV": "REVOKED",
    "SI": "SIGNALING",
    "SE": "SPECIAL_EXIT",
    "SO": "STAGE_OUT",
    "ST": "STOPPED",
    "S": "SUSPENDED",
    "TO": "TIMEOUT",
}

#: Pending reasons in words a researcher understands. Codes not listed are shown as-is.
SLURM_REASONS: dict[str, str] = {
    "None": "",
    "Priority": "other jobs have higher priority",
    "Resources": "waiting for the requested resources to become free",
    "Dependency": "waiting for another job to finish",
    "DependencyNeverSatisfied": "a job it depends on failed; it will never start",
    "BeginTime": "waiting for its requested start time",
    "JobHeldUser": "held by you (release it with scontrol release)",
    "JobHeldAdmin": "held by an administrator",
    "ReqNodeNotAvail": "the requested nodes are not available (down, drained or reserved)",
    "PartitionTimeLimit": "the requested time is above the partition's limit",
    "PartitionNodeLimit": "the request is above the partition's node limit",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "NodeDown": "a node it needs is down",
    "Reservation": "waiting for its reservation to start",
    "InvalidAccount": "the account is not valid",
    "InvalidQOS": "the QOS is not valid",
    "QOSMaxJobsPerUserLimit": "you are at your QOS's limit of running jobs",
    "QOSMaxCpuPerUserLimit": "you are at your QOS's limit of CPUs",
    "QOSMaxMemoryPerUser": "you are at your QOS's memory limit",
    "QOSMaxGRESPerUser": "you are at your QOS's limit of GPUs",
    "AssocMaxJobsLimit": "your account is at its job limit",
    "AssocGrpCpuLimit": "your group is at its CPU limit",
    "AssocGrpMemLimit": "your group is at its memory limit",
    "AssocGrpJobsLimit": "your group is at its job limit",
    "AssocGrpGRES": "your group is at its GPU limit",
    "launch failed requeued held": "the job failed to launch and is held",
    "PartitionConfig": "the request does not fit the partition's configuration",
    "BadConstraints": "no node has the features the job asks for",
    "Licenses": "waiting for a software license",
    "QOSGrpCpuLimit": "your QOS is at its CPU limit",
    "QOSGrpMemLimit": "your QOS is at its memory limit",
    "QOSGrpGRES": "your QOS is at its GPU limit",
    "QOSGrpJobsLimit": "your QOS is at its job limit",
    "QOSMaxWallDurationPerJobLimit": "the requested time is above your QOS's limit",
    "AssocGrpCPUMinutesLimit": "your group has used up its CPU time",
    "AssocGrpGRESMinutes": "your group has used up its GPU time",
    "AssocMaxWallDurationPerJobLimit": "the requested time is above your account's limit",
    "MaxJobsPerAccount": "your account is at its job limit",
    "Prolog": "the node is running its start-up script",
    "NodeNotAvail": "the node it needs is not available",
}

#: Reasons worded for a job that asks for GPUs, where the general words would hide
#: what it waits for.
SLURM_GPU_REASONS: dict[str, str] = {
    "Resources": "waiting for a free GPU node",
    "Priority": "other jobs have higher priority for the GPU nodes",
}

_JOB_ID = re.compile(r"^\d+(?:_\d+)?$")
_ERROR_PREFIX = re.compile(r"^sbatch: (?:error: )?", re.MULTILINE)
#: Error lines that mean "I could not ask", never "the job is gone".
_PURGED = "Invalid job id specified"
#: ``scontrol update``'s refusals (what Slurm 22.05 printed on stderr, exit 1), in words.
SCONTROL_UPDATE_REFUSALS: dict[str, str] = {
    "Access/permission denied": "the operator account may not change this job's time limit"
    " (it needs AdminLevel=Operator in Slurm's accounting)",
    "Job has already finished": "the job has already ended",
    "Invalid job id specified": "Slurm no longer knows the job",
    "Invalid TimeLimit value": "Slurm did not accept the new time limit",
}
_SCONTROL_PREFIX = re.compile(r"^scontrol: (?:error: )?", re.MULTILINE)

#: Field separator for squeue output; no field we ask for can contain it.
SEP = "|"
#: Job id, state, batch host, reason, start (expected, while it waits), time limit, end
#: (expected while it runs; ``NONE`` without a limit): every job's times in the one query.
SQUEUE_FORMAT = SEP.join(["%i", "%T", "%B", "%r", "%S", "%l", "%e"])
#: What squeue prints for a time it does not know or a limit that does not exist.
_NO_TIME = frozenset({"", "N/A", "NONE", "None", "Unknown", "(null)", "UNLIMITED", "INVALID", "NOT_SET"})


class SlurmScheduler(Scheduler):
    """Slurm's sbatch / squeue / scancel / scontrol."""

    name = "slurm"
    display_name = "Slurm"
    template = "slurm.sh.j2"
    output_pattern = "job-%j.out"
    job_id_placeholder = "%j"
    identity_field = "comment"
    supports_qos = True
    supports_gpus = True
    supports_reservation = True
    supports_constraint = True
    supports_gpu_type = True
    reports_expected_start = True
    looks_up_exit_codes = True
    supports_early_signal = True
    extends_time_limit = True
    default_commands = {
        "submit": "sbatch",
        "status": "squeue",
        "cancel": "scancel",
        "info": "scontrol",
        "partitions": "sinfo",
    }

    def __init__(self, commands: Mapping[str, str] | None = None, *, all_users: bool = False) -> None:
        super().__init__(commands, all_users=all_users)
        #: Each line of the latest squeue answer, and what it meant.
        self._lines: dict[str, JobStatus] = {}

    def submit_argv(self, identity: str = "", script: str = "") -> list[str]:
        # The identity goes in the job's comment, on the command line so that no site
        # template can drop it; a comment the script sets is kept in front of it.
        argv = [self.command("submit"), "--parsable"]
        if identity:
            site = script_comment(script)
            argv.append(f"--comment={site} {identity}" if site else f"--comment={identity}")
        return argv

    def lookup_argv(self, identity: str) -> list[str] | None:
        # --states=all: a job that already ended (within MinJobAge) was still submitted.
        return [self.command("status"), "--me", "--noheader", "--states=all", f"--format=%i{SEP}%k"]

    def parse_lookup(self, identity: str, result: CommandResult) -> list[str]:
        if result.returncode != 0:
            raise StatusUnavailable.of("squeue", result, result.message())
        found = []
        for line in result.stdout.splitlines():
            job_id, sep, comment = line.strip().partition(SEP)
            if identity not in comment.split():
                continue  # another job of the user's: an array (1234_[1-9]) or a het job (12+0)
            if not sep or not _JOB_ID.match(job_id):
                raise StatusUnavailable(f"unexpected squeue output: {line.strip()!r}")
            found.append(job_id)
        return found

    def parse_submit(self, result: CommandResult) -> str:
        if result.returncode != 0:
            raise SubmitError.of("sbatch", result, _ERROR_PREFIX.sub("", result.message()))
        lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
        job_id = lines[-1].split(";")[0] if lines else ""
        if not _JOB_ID.match(job_id):
            raise SubmitError.of("sbatch", result, f"sbatch printed no job id: {result.message()}")
        return job_id

    def status_argv(self, job_ids: Sequence[str]) -> list[str]:
        return [
            self.command("status"),
            "--noheader",
            "--states=all",
            "--jobs=" + ",".join(job_ids),
            "--format=" + SQUEUE_FORMAT,
        ]

    def parse_status(self, job_ids: Sequence[str], result: CommandResult) -> dict[str, JobStatus]:
        wanted = set(job_ids)
        if result.returncode != 0:
            if _PURGED in result.stderr:
                # Every asked id is unknown to the controller: finished and purged.
                return {jid: JobStatus(jid, JobState.GONE, raw_state="purged") for jid in wanted}
            raise StatusUnavailable.of("squeue", result, f"squeue failed: {result.message()}")
        # Between two rounds most jobs' lines do not change: those are looked up in what the
        # previous answer meant instead of being parsed again (a thousand jobs' statuses
        # cost about a millisecond instead of seven). Statuses are immutable, so sharing
        # them is safe. The memo holds only the lines of the latest answer, so it never
        # outgrows one answer; when a poller splits a very long id list over several
        # commands, each part's lines replace the other's and are parsed afresh.
        previous = self._lines
        lines: dict[str, JobStatus] = {}
        found: dict[str, JobStatus] = {}
        skipped: list[str] = []
        for line in result.stdout.splitlines():
            status = previous.get(line)
            if status is None:
                if not line.strip():
                    continue
                try:
                    status = parse_squeue_line(line)
                except StatusUnavailable:
                    skipped.append(line)  # a login shell's greeting, say: logged once
                    continue
            lines[line] = status
            if status.job_id in wanted:
                found[status.job_id] = status
        self._lines = lines
        self.skip_lines(skipped, complete=wanted <= found.keys(), command="squeue")
        return self.unlisted(job_ids, found)

    def exit_code_argv(self, job_id: str) -> list[str]:
        """``scontrol show job`` on one line: the only place ExitCode lives without slurmdbd."""
        return [self.command("info"), "--oneliner", "show", "job", job_id]

    def parse_exit_code(self, text: str) -> int | None:
        return exit_code_from_scontrol(text)

    def extend_argv(self, job_id: str, time_limit_seconds: int) -> list[str]:
        """``scontrol update JobId=N TimeLimit=D-HH:MM:SS``. Slurm counts limits in whole
        minutes: the seconds are dropped, so the limit never passes the one asked for."""
        minutes = max(1, time_limit_seconds // 60)
        return [
            self.command("info"),
            "update",
            f"JobId={job_id}",
            f"TimeLimit={format_walltime(minutes * 60)}",
        ]

    def extend_failed(self, result: CommandResult) -> str | None:
        if result.returncode == 0:
            return None
        own = _SCONTROL_PREFIX.sub("", result.message()).strip()
        words = next((w for key, w in SCONTROL_UPDATE_REFUSALS.items() if key in own), "")
        return f"Slurm refused: {words} ({own})" if words else f"Slurm refused: {own}"

    def describe_reason(self, reason: str) -> str:
        return SLURM_REASONS.get(reason, reason)

    def describe_gpu_reason(self, reason: str) -> str:
        return SLURM_GPU_REASONS.get(reason) or self.describe_reason(reason)

    def partitions_argv(self) -> list[str]:
        return [self.command("partitions"), "--noheader", "--format=" + SINFO_FORMAT]

    def parse_partitions(self, result: CommandResult) -> dict[str, PartitionInfo]:
        if result.returncode != 0:
            raise StatusUnavailable.of("sinfo", result, f"sinfo failed: {result.message()}")
        return parse_sinfo(result.stdout)

    def reservations_argv(self) -> list[str]:
        return [self.command("info"), "--oneliner", "show", "reservation"]

    def parse_reservations(
        self, result: CommandResult, user: str, accounts: Sequence[str] = ()
    ) -> tuple[str, ...]:
        if result.returncode != 0:
            raise StatusUnavailable.of(
                "scontrol", result, f"scontrol show reservation failed: {result.message()}"
            )
        return tuple(r.name for r in parse_scontrol_reservations(result.stdout) if r.admits(user, accounts))

    def associations_argv(self, user: str) -> list[str]:
        # -P: fields split by "|", none at the end; -n: no header (sacctmgr(1)). Not a
        # default command: only a profile with a cluster-read account or QOS runs it (and
        # `batchspawner-x check` does not ask for it on sites without slurmdbd).
        return [
            self.commands.get("associations", "sacctmgr"),
            "--noheader",
            "--parsable2",
            "show",
            "associations",
            f"user={check_name('user', user)}",
            "format=account,qos",
        ]

    def parse_associations(self, result: CommandResult) -> dict[str, tuple[str, ...]]:
        if result.returncode != 0:
            raise StatusUnavailable.of("sacctmgr", result, f"sacctmgr failed: {result.message()}")
        return parse_sacctmgr_associations(result.stdout)


def parse_squeue_line(line: str) -> JobStatus:
    """Parse one line of :data:`SQUEUE_FORMAT` output.

    >>> parse_squeue_line("25|PENDING|n/a|Priority|2026-11-25T21:00:00|1:00:00|N/A").state
    <JobState.PENDING: 'pending'>
    >>> parse_squeue_line("25|RUNNING|c1|None|2026-12-04T16:28:24|3:00|N/A").time_limit_seconds
    180

    A line of the five fields asked before the time limit and end were (a recorded answer,
    a site's status wrapper written for it) is read too, without them.
    """
    parts = line.strip().split(SEP)
    if len(parts) not in (5, 7) or not parts[0].strip()[:1].isdigit():
        raise StatusUnavailable(f"unexpected squeue line: {line!r}")
    job_id, raw_state, host, reason, start, limit, end = (p.strip() for p in [*parts, "", ""][:7])
    # A state may carry a suffix such as "CANCELLED by 1000".
    raw_state = raw_state.split()[0] if raw_state else ""
    state = SLURM_STATES.get(raw_state)
    if state is None:
        state = SLURM_STATES.get(SLURM_STATE_CODES.get(raw_state, ""), JobState.UNKNOWN)
    if state is JobState.PENDING and reason.startswith("JobHeld"):
        state = JobState.HELD  # held by the user or an admin: it waits for a release
    return JobStatus(
        job_id=job_id,
        state=state,
        raw_state=raw_state,
        host=None if host in ("", "n/a", "(null)") else host,
        reason=None if reason in ("", "None", "(null)") else reason,
        start_time=None if start in _NO_TIME else start,
        time_limit_seconds=_limit_seconds(limit),
        end_time=None if end in _NO_TIME else end,
    )


def _limit_seconds(text: str) -> int | None:
    """squeue's ``%l`` (``3:00``, ``1-02:00:00``) in seconds; None for none or unknown."""
    if text in _NO_TIME:
        return None
    try:
        return walltime_seconds("TimeLimit", text)
    except ConfigError:
        return None


_EXIT_CODE = re.compile(r"(?:^|\s)ExitCode=(\d+):(\d+)(?:\s|$)")


def exit_code_from_scontrol(text: str) -> int | None:
    """Exit code from ``scontrol show job`` output (``ExitCode=rc:signal``).

    A job killed by a signal reports 128 + the signal number, as a shell would.
    """
    match = _EXIT_CODE.search(text)
    if match is None:
        return None
    rc, sig = int(match.group(1)), int(match.group(2))
    if rc == 0 and sig:
        return 128 + sig
    return rc


def script_comment(script: str) -> str:
    """The comment a job script sets with ``#SBATCH --comment``, or "".

    Read as sbatch reads directives: ``#SBATCH`` lines before the first line that
    is neither blank nor a comment; the last one wins.
    """
    comment = ""
    for line in script.splitlines()[1:]:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        if not stripped.startswith("#SBATCH"):
            continue
        try:
            words = shlex.split(stripped[len("#SBATCH") :], comments=True)
        except ValueError:
            continue
        for i, word in enumerate(words):
            if word.startswith("--comment="):
                comment = word.split("=", 1)[1]
            elif word == "--comment" and i + 1 < len(words):
                comment = words[i + 1]
    return comment


#: Partition, time limit, CPUs, memory (MiB) and GRES per node, availability, node features.
SINFO_FORMAT = SEP.join(["%R", "%l", "%c", "%m", "%G", "%a", "%f"])
_GPU_GRES = re.compile(r"(?:^|,)gpu(?::[^:,(]+)?:(\d+)")
_GPU_TYPE = re.compile(r"(?:^|,)gpu:([^:,(]+):\d+")
_FEATURE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,63}$")
_UNLIMITED = ("infinite", "UNLIMITED", "n/a", "")


def parse_sinfo(text: str) -> dict[str, PartitionInfo]:
    """Partitions from ``sinfo --noheader --format=SINFO_FORMAT`` output.

    A partition with several kinds of node has one line each; its limits are those of
    its largest node, its features and GPU types those of any node. Lines that do not
    parse are skipped, never guessed at; so are features and GPU types that are not plain
    names. Output without the features column (an older format) is read too.

    >>> parse_sinfo("gpu|2-00:00:00|32|192000|gpu:a100:4(S:0-1)|up")["gpu"].gpus
    4
    """
    found: dict[str, PartitionInfo] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(SEP)]
        if len(parts) == 6:
            parts.append("")
        if len(parts) != 7:
            continue
        name, limit, cpus, memory, gres, avail, features = parts
        name = name.rstrip("*")  # sinfo marks the default partition (%P does; %R not)
        try:
            check_name("partition", name)
            seconds = None if limit in _UNLIMITED else walltime_seconds("MaxTime", limit)
        except ConfigError:
            continue
        gpus = sum(int(m.group(1)) for m in _GPU_GRES.finditer(gres))
        info = PartitionInfo(
            name=name,
            available=avail == "up",
            max_walltime_seconds=seconds,
            cpus=_leading_int(cpus),
            memory_mb=_leading_int(memory),
            gpus=gpus,
            features=tuple(f for f in features.split(",") if _FEATURE.fullmatch(f)),
            gpu_types=tuple(t for t in _GPU_TYPE.findall(gres) if _FEATURE.fullmatch(t)),
        )
        old = found.get(name)
        if old is not None:
            info = PartitionInfo(
                name=name,
                available=old.available or info.available,
                max_walltime_seconds=info.max_walltime_seconds,
                cpus=_larger(old.cpus, info.cpus),
                memory_mb=_larger(old.memory_mb, info.memory_mb),
                gpus=_larger(old.gpus, info.gpus),
                features=tuple(dict.fromkeys((*old.features, *info.features))),
                gpu_types=tuple(dict.fromkeys((*old.gpu_types, *info.gpu_types))),
            )
        found[name] = info
    return found


def _leading_int(text: str) -> int | None:
    match = re.match(r"\d+", text)  # "32+" on mixed nodes
    return int(match.group()) if match else None


def _larger(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass(frozen=True)
class Reservation:
    """One reservation as ``scontrol show reservation`` prints it.

    ``users`` and ``accounts`` are the lists of its ``Users=`` and ``Accounts=`` fields; a
    name that starts with ``-`` is denied (scontrol(1): "all but these"). ``state`` is
    ``ACTIVE`` or ``INACTIVE`` (not started yet).
    """

    name: str
    state: str = ""
    users: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()

    def admits(self, user: str, accounts: Sequence[str] = ()) -> bool:
        """Whether ``user`` (a member of ``accounts``) may run jobs in it: named among its
        users or (with one of ``accounts``) among its accounts, and not denied."""
        if f"-{user}" in self.users or any(f"-{a}" in self.accounts for a in accounts):
            return False
        allowed_users = [u for u in self.users if not u.startswith("-")]
        allowed_accounts = [a for a in self.accounts if not a.startswith("-")]
        denying_only = (self.users or self.accounts) and not (allowed_users or allowed_accounts)
        return bool(user in allowed_users or any(a in allowed_accounts for a in accounts) or denying_only)


def _field_list(value: str) -> tuple[str, ...]:
    return () if value in ("", "(null)") else tuple(v for v in value.split(",") if v)


def parse_scontrol_reservations(text: str) -> list[Reservation]:
    """Reservations from ``scontrol --oneliner show reservation`` (one per line; without
    ``--oneliner`` a record spans lines and starts with ``ReservationName=``, read too).

    ``No reservations in the system`` and lines that hold no ``ReservationName`` give
    none; a reservation whose name is not a plain name is skipped.

    >>> [r.name for r in parse_scontrol_reservations(
    ...     "ReservationName=class StartTime=2026-12-04T09:00:00 Users=alice Accounts=(null) State=ACTIVE")]
    ['class']
    """
    found = []
    records = re.split(r"(?=\bReservationName=)", text)
    for record in records:
        fields: dict[str, str] = {}
        key = ""
        for word in record.split():
            name, eq, value = word.partition("=")
            if eq and re.fullmatch(r"[A-Za-z]+", name):
                key = name
                fields[key] = value
            elif key:  # a value with spaces (a comment): keep it whole
                fields[key] += " " + word
        name = fields.get("ReservationName", "")
        if not _FEATURE.fullmatch(name):
            continue
        found.append(
            Reservation(
                name=name,
                state=fields.get("State", ""),
                users=_field_list(fields.get("Users", "")),
                accounts=_field_list(fields.get("Accounts", "")),
            )
        )
    return found


def parse_sacctmgr_associations(text: str) -> dict[str, tuple[str, ...]]:
    """A user's accounts and the QOS each may use, from ``sacctmgr --noheader --parsable2
    show associations user=NAME format=account,qos`` (``physics|normal,high``; one line
    per association, so an account may appear once per partition). Names are lower case,
    as slurmdbd keeps them; lines that are not two plain fields are skipped.

    >>> parse_sacctmgr_associations("physics|high,normal\\nteaching|normal\\n")
    {'physics': ('high', 'normal'), 'teaching': ('normal',)}
    """
    found: dict[str, tuple[str, ...]] = {}
    for line in text.splitlines():
        parts = [p.strip() for p in line.strip().split(SEP)]
        if len(parts) != 2 or not _FEATURE.fullmatch(parts[0]):
            continue
        account, qos = parts
        names = tuple(q for q in qos.split(",") if _FEATURE.fullmatch(q))
        found[account] = tuple(dict.fromkeys((*found.get(account, ()), *names)))
    return found
