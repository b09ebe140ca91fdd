"""Why a job ended, in words, from the scheduler's own answer. No I/O.

The hub asks once, when it sees a job end (see :mod:`batchspawner_x.spawner_end`):

- Slurm: ``sacct`` when the site keeps accounting (it alone says *who* cancelled a job:
  ``CANCELLED by 0``), else ``scontrol show job`` (the state, the exit code and the run
  time, while slurmctld still remembers the job), else what the status poller last saw
  (``squeue --states=all``);
- the other schedulers: what the status poller last saw (their state word and exit code).

:func:`classify` turns those facts into an :class:`EndReason`: a kind (time limit, out of
memory, preempted, node failure, cancelled, failed, completed ...), a sentence for the user
("time limit reached after 2 h"), and whether it counts as a failure (logged as a warning).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: Slurm's final states and the kind of end each means.
SLURM_END_KINDS: Mapping[str, str] = {
    "TIMEOUT": "time_limit",
    "OUT_OF_MEMORY": "out_of_memory",
    "PREEMPTED": "preempted",
    "NODE_FAIL": "node_failure",
    "BOOT_FAIL": "boot_failure",
    "DEADLINE": "deadline",
    "CANCELLED": "cancelled",
    "REVOKED": "cancelled",  # a federated sibling started elsewhere
    "FAILED": "failed",
    "COMPLETED": "completed",
}

#: Final state words of the other schedulers (scheduler-formats.md) and their kinds; a
#: word not here gives the exit code's kind.
OTHER_END_KINDS: Mapping[str, str] = {
    "EXIT": "failed",  # LSF: exited non-zero or killed
    "DONE": "completed",  # LSF
    "3": "cancelled",  # HTCondor JobStatus 3: removed
    "4": "completed",  # HTCondor JobStatus 4: completed
}

#: Kinds whose sentence does not depend on the exit code.
_SENTENCES: Mapping[str, str] = {
    "time_limit": "time limit reached",
    "out_of_memory": "the job ran out of memory",
    "preempted": "preempted by the scheduler for another job",
    "node_failure": "the node it ran on failed",
    "boot_failure": "its node failed to boot",
    "deadline": "the job reached its deadline",
    "stopped": "stopped from the hub",
}

#: Kinds that are not the user's or the hub's doing: logged as warnings.
FAILURES = frozenset({"out_of_memory", "node_failure", "boot_failure", "failed", "preempted", "deadline"})

#: Accounts whose cancel is an administrator's: root, and Slurm's own user.
ADMIN_UIDS = frozenset({0})


@dataclass(frozen=True)
class JobEndFacts:
    """What the scheduler said about a finished job. Unknown fields are None."""

    state: str = ""
    exit_code: int | None = None
    #: The signal that ended the job's batch script, if one did (``ExitCode=0:15``).
    signal: int | None = None
    elapsed_seconds: int | None = None
    #: Who cancelled it (sacct's ``CANCELLED by UID``), and whose job it was.
    cancelled_by_uid: int | None = None
    owner_uid: int | None = None
    #: Where the facts came from: ``sacct``, ``scontrol`` or ``status``.
    source: str = ""


@dataclass(frozen=True)
class EndReason:
    """Why a job ended, as the hub keeps, logs and shows it.

    ``summary`` is the sentence for the user ("time limit reached after 2 h");
    ``output_tail`` the last lines of the job's output (for failures).
    """

    kind: str
    summary: str
    job_id: str = ""
    state: str = ""
    exit_code: int | None = None
    elapsed_seconds: int | None = None
    #: ``you``, ``an administrator``, ``another account``, ``the hub``, or "" when unknown.
    cancelled_by: str = ""
    output_tail: str = field(default="", compare=False)
    #: When (epoch seconds) the hub recorded it.
    when: float = field(default=0.0, compare=False)

    @property
    def failure(self) -> bool:
        return self.kind in FAILURES

    @property
    def message(self) -> str:
        """The user's line on the home page and the spawn form: ``Your last session ended:
        ...``; a failure's exit code where the summary does not already say it."""
        code = (
            f" (exit code {self.exit_code})"
            if self.failure and self.exit_code and self.kind != "failed"
            else ""
        )
        return f"Your last session ended: {self.summary}{code}."

    def to_state(self) -> dict[str, Any]:
        """The fields, and ``message`` and ``failure`` as words for the hub's home page
        (which reads a stopped server's state without a spawner; :meth:`from_state`
        ignores them)."""
        return {**asdict(self), "message": self.message, "failure": self.failure}

    @classmethod
    def from_state(cls, data: Any) -> EndReason | None:
        """The reason kept in a spawner's state, or None for none (or an unreadable one)."""
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            return None
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            return cls(**known)
        except TypeError:
            return None


def duration(seconds: int) -> str:
    """A run time in words, to the minute beyond a minute.

    >>> [duration(s) for s in (42, 60, 4320, 7200, 90061)]
    ['42 s', '1 min', '1 h 12 min', '2 h', '1 d 1 h 1 min']
    """
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes else []
    return " ".join(parts)


def classify(facts: JobEndFacts, *, job_id: str = "", output_tail: str = "", when: float = 0.0) -> EndReason:
    """The reason for a job's end from the scheduler's ``facts``.

    >>> classify(JobEndFacts("TIMEOUT", 0, 15, 7200)).summary
    'time limit reached after 2 h'
    >>> classify(JobEndFacts("CANCELLED", 0, 15, 5, cancelled_by_uid=0, owner_uid=1007)).summary
    'cancelled by an administrator after 5 s'
    """
    state = facts.state.split()[0].upper() if facts.state else ""
    kind = SLURM_END_KINDS.get(state) or OTHER_END_KINDS.get(state, "")
    code = facts.exit_code
    if not kind:
        kind = "ended" if code is None else "completed" if code == 0 else "failed"
    if kind == "completed" and code:
        kind = "failed"  # (LSF DONE, HTCondor 4 with a non-zero code)
    by = ""
    if kind == "cancelled":
        by = _canceller(facts.cancelled_by_uid, facts.owner_uid)
        sentence = f"cancelled by {by}" if by else "cancelled"
    elif kind == "failed":
        sentence = f"the server exited with code {code}" if code is not None else "the job failed"
    elif kind == "completed":
        sentence = "the server exited normally"
    elif kind == "ended":
        sentence = "the job ended"
    else:
        sentence = _SENTENCES[kind]
    if facts.elapsed_seconds is not None:
        sentence += f" after {duration(facts.elapsed_seconds)}"
    return EndReason(
        kind=kind,
        summary=sentence,
        job_id=job_id,
        state=state,
        exit_code=code,
        elapsed_seconds=facts.elapsed_seconds,
        cancelled_by=by,
        output_tail=output_tail,
        when=when,
    )


def stopped_from_the_hub(job_id: str, when: float = 0.0) -> EndReason:
    """The reason the hub records when it cancels the job itself (its stop)."""
    return EndReason(
        kind="stopped", summary=_SENTENCES["stopped"], job_id=job_id, cancelled_by="the hub", when=when
    )


def _canceller(by: int | None, owner: int | None) -> str:
    if by is None:
        return ""
    if owner is not None and by == owner:
        return "you"
    if by in ADMIN_UIDS:
        return "an administrator"
    return f"another account (uid {by})"


# -- Slurm: the queries and their answers -----------------------------------------------

#: ``sacct`` fields asked for, in order (``--parsable2``: split by ``|``, none at the end).
SACCT_FIELDS = ("JobID", "State", "ExitCode", "ElapsedRaw", "UID")


def slurm_end_argvs(job_id: str, commands: Mapping[str, str]) -> list[tuple[str, list[str]]]:
    """The commands that tell how a Slurm job ended, best first, each with its name:
    ``sacct`` (the command ``accounting``, default ``sacct``), then ``scontrol``
    (the command ``info``)."""
    sacct = commands.get("accounting", "sacct")
    scontrol = commands.get("info", "scontrol")
    return [
        (
            "sacct",
            [
                sacct,
                "--noheader",
                "--parsable2",
                "--allocations",
                f"--jobs={job_id}",
                "--format=" + ",".join(SACCT_FIELDS),
            ],
        ),
        ("scontrol", [scontrol, "--oneliner", "show", "job", job_id]),
    ]


_CODE = re.compile(r"^(\d+):(\d+)$")
_CANCELLED_BY = re.compile(r"^CANCELLED\s+by\s+(\d+)$")
_RUNTIME = re.compile(r"^(?:(\d+)-)?(\d+):(\d\d):(\d\d)$")


def _exit_code(text: str) -> tuple[int | None, int | None]:
    """``rc:signal`` as (exit code, signal); a killed job's code is 128 + the signal."""
    match = _CODE.match(text.strip())
    if match is None:
        return None, None
    rc, sig = int(match.group(1)), int(match.group(2))
    if rc == 0 and sig:
        return 128 + sig, sig
    return rc, sig or None


def parse_sacct(text: str, job_id: str) -> JobEndFacts | None:
    """The facts from ``sacct`` output for ``job_id`` (see :data:`SACCT_FIELDS`), or None
    if it holds no finished line for it.

    >>> parse_sacct("5670|CANCELLED by 0|0:15|4|1007\\n", "5670").cancelled_by_uid
    0
    """
    for line in text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != len(SACCT_FIELDS) or parts[0] != job_id:
            continue
        _, state, code, elapsed, uid = parts
        by = _CANCELLED_BY.match(state)
        word = state.split()[0] if state else ""
        if word not in SLURM_END_KINDS:
            return None  # still running, or a state that is not an end
        rc, sig = _exit_code(code)
        return JobEndFacts(
            state=word,
            exit_code=rc,
            signal=sig,
            elapsed_seconds=int(elapsed) if elapsed.isdigit() else None,
            cancelled_by_uid=int(by.group(1)) if by else None,
            owner_uid=int(uid) if uid.isdigit() else None,
            source="sacct",
        )
    return None


def parse_scontrol(text: str) -> JobEndFacts | None:
    """The facts from ``scontrol --oneliner show job ID``, or None if it does not show a
    finished job (it never says who cancelled one).

    >>> parse_scontrol("UserId=grace(1007) JobState=TIMEOUT ExitCode=0:15 RunTime=00:01:02").elapsed_seconds
    62
    """
    fields = dict(word.split("=", 1) for word in text.split() if "=" in word)
    state = fields.get("JobState", "")
    if state not in SLURM_END_KINDS:
        return None
    rc, sig = _exit_code(fields.get("ExitCode", ""))
    owner = re.search(r"\((\d+)\)$", fields.get("UserId", ""))
    return JobEndFacts(
        state=state,
        exit_code=rc,
        signal=sig,
        elapsed_seconds=_runtime_seconds(fields.get("RunTime", "")),
        owner_uid=int(owner.group(1)) if owner else None,
        source="scontrol",
    )


def _runtime_seconds(text: str) -> int | None:
    match = _RUNTIME.match(text)
    if match is None:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


__all__ = [
    "ADMIN_UIDS",
    "FAILURES",
    "OTHER_END_KINDS",
    "SACCT_FIELDS",
    "SLURM_END_KINDS",
    "EndReason",
    "JobEndFacts",
    "classify",
    "duration",
    "parse_sacct",
    "parse_scontrol",
    "slurm_end_argvs",
    "stopped_from_the_hub",
]
