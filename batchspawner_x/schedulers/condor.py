"""HTCondor: ``condor_submit`` (submit description on stdin), one batched ``condor_q``,
``condor_rm``, and ``condor_history`` for the exit code of a job that left the queue.

The submitted file is a submit description, not a shell script: the job runs
``/bin/bash -c`` with the shell lines of the template in the ``arguments``
command, quoted with :func:`condor_arguments` and :func:`bash_eval`. States
are the ``JobStatus`` codes of the HTCondor manual (see
``shared/scheduler-formats.md``); a job that completes or is removed leaves
``condor_q`` and appears in ``condor_history``.

Identity: ``condor_submit -append '+BsxSubmission = "ID"'`` adds a custom attribute to
the job's ClassAd (condor_submit(1) ``-append``, a ``+`` line of the submit language;
never in the job's environment), and ``condor_q -constraint 'BsxSubmission == "ID"' -af
ClusterId ProcId BsxSubmission`` lists the user's own jobs that carry it (condor_q shows only the
caller's jobs unless asked for ``-allusers``). Jobs still in the queue are found: idle,
running, held, and removed or completed ones until they leave it. A job that has already
left the queue is not looked for in ``condor_history`` (which lists every user's jobs and
reads the whole history file): it has ended, so sending the submission again cannot
leave two jobs running.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError, SubmitError
from ..states import JobState, JobStatus, StatusUnavailable
from ..validation import check_path
from .base import CommandResult, Scheduler
from .spec import JobSpec

#: JobStatus codes: (name, what the spawner does with a job still in condor_q).
CONDOR_JOB_STATUS: dict[str, tuple[str, JobState]] = {
    "0": ("Unexpanded", JobState.PENDING),
    "1": ("Idle", JobState.PENDING),
    "2": ("Running", JobState.RUNNING),
    # condor_rm was called: the job stays in the queue until its processes are gone.
    "3": ("Removed", JobState.FINISHING),
    "4": ("Completed", JobState.FINISHED),  # still in the queue (leave_in_queue)
    "5": ("Held", JobState.HELD),
    "6": ("Transferring Output", JobState.FINISHING),
    "7": ("Suspended", JobState.SUSPENDED),
}

#: The job ClassAd attribute that carries a submission's identity.
IDENTITY_ATTRIBUTE = "BsxSubmission"

#: The attributes asked of condor_q; HoldReason is free text with spaces, so it comes last.
#: JobCurrentStartDate (seconds since the epoch) is when the job's current run started;
#: MaxRuntime (seconds) is the walltime the job description sets (``condor_max_runtime``).
CONDOR_Q_ATTRIBUTES = (
    "JobStatus",
    "RemoteHost",
    "ExitCode",
    "JobCurrentStartDate",
    "MaxRuntime",
    "HoldReason",
)

_SUBMITTED = re.compile(r"(\d+) job\(s\) submitted to cluster (\d+)\.")
_ERROR_PREFIX = re.compile(r"^ERROR: ", re.MULTILINE)
_RM_GONE = re.compile(r"^Couldn't find/remove all jobs in cluster \d+\.?$")
_UNDEFINED = ("", "undefined", "UNDEFINED")


class CondorScheduler(Scheduler):
    """HTCondor's condor_submit / condor_q / condor_rm / condor_history."""

    name = "condor"
    display_name = "HTCondor"
    template = "condor.sub.j2"
    # The job id ($(Cluster)) is not a valid character of a checked path: a fixed name.
    output_pattern = "job.out"
    job_id_placeholder = None
    script_is_shell = False
    default_commands = {
        "submit": "condor_submit",
        "status": "condor_q",
        "cancel": "condor_rm",
        "info": "condor_history",
    }
    identity_field = f"job ClassAd attribute {IDENTITY_ATTRIBUTE}"
    supports_gpus = True
    looks_up_exit_codes = True

    context_settings = ("walltime_directive",)

    def job_context_extra(self, spec: JobSpec) -> dict[str, Any]:
        """The walltime commands (``time_limit`` in seconds), log, error file and
        environment of the submit description; HTCondor has no queues and no QOS."""
        for name, value in (("partition", spec.partition), ("qos", spec.qos)):
            if value:
                raise ConfigError(
                    name, "HTCondor has no queues or QOS; leave it empty (requirements: extra_directives)"
                )
        values = condor_template_values(
            job_dir=spec.job_dir,
            home=check_path("home", spec.home),
            walltime_directive=spec.options["walltime_directive"],
        )
        values["time_limit"] = str(spec.walltime_seconds) if spec.walltime_seconds else ""
        return values

    def submit_argv(self, identity: str = "", script: str = "") -> list[str]:
        # No file argument: condor_submit reads the description from stdin and prints the
        # usual "N job(s) submitted to cluster C." ("-" would imply -verbose and print the
        # whole job ClassAd instead). -append adds a line before the description's queue.
        if identity:
            return [self.command("submit"), "-append", f'+{IDENTITY_ATTRIBUTE} = "{identity}"']
        return [self.command("submit")]

    def lookup_argv(self, identity: str) -> list[str] | None:
        # (the identity is letters, digits and "-": safe inside the string literal)
        constraint = f'{IDENTITY_ATTRIBUTE} == "{identity}"'
        af = ["-af", "ClusterId", "ProcId", IDENTITY_ATTRIBUTE]
        return [self.command("status"), "-constraint", constraint, *af]

    def parse_lookup(self, identity: str, result: CommandResult) -> list[str]:
        if result.returncode != 0:
            raise StatusUnavailable.of("condor_q", result, f"condor_q failed: {result.message()[:300]}")
        found = set()
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() and parts[2] == identity:
                found.add(parts[0])  # a job is its cluster here (one process per cluster)
        return sorted(found, key=int)

    def parse_submit(self, result: CommandResult) -> str:
        match = _SUBMITTED.search(result.stdout)
        if result.returncode != 0 or match is None:
            words = _ERROR_PREFIX.sub("", result.stderr.strip())
            if not words:
                words = result.stdout.replace("Submitting job(s)", "").strip(" .\n")
            if result.returncode == 0:
                words = f"condor_submit printed no cluster id: {words or 'no output'}"
            words = words or f"exit status {result.returncode} and no output"
            raise SubmitError.of("condor_submit", result, words)
        return match.group(2)

    def status_argv(self, job_ids: Sequence[str]) -> list[str]:
        return [self.command("status"), *job_ids, "-af:j", *CONDOR_Q_ATTRIBUTES]

    def parse_status(self, job_ids: Sequence[str], result: CommandResult) -> dict[str, JobStatus]:
        if result.returncode != 0:
            # "-- Failed to fetch ads from: <...>", "Can't find address of local schedd", ...
            raise StatusUnavailable.of("condor_q", result, f"condor_q failed: {result.message()[:300]}")
        wanted = set(job_ids)
        found: dict[str, JobStatus] = {}
        skipped: list[str] = []
        for line in result.stdout.splitlines():
            if not line.strip():
                continue
            try:
                status = parse_condor_q_line(line)
            except StatusUnavailable:
                skipped.append(line)  # a login shell's greeting, say: logged once
                continue
            if status.job_id in wanted and status.job_id not in found:
                found[status.job_id] = status
        # a job left out beside lines never seen in a complete answer: not "it left the queue"
        self.skip_lines(skipped, complete=wanted <= found.keys(), command="condor_q")
        # Completed or removed jobs leave the queue for the history; condor_history
        # gives the exit code (exit_code_argv).
        return self.unlisted(job_ids, found, JobState.FINISHED, "left the queue")

    def cancel_failed(self, result: CommandResult) -> str | None:
        if result.returncode == 0:
            return None
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        if lines and all(_RM_GONE.match(line) for line in lines):
            return None  # already out of the queue
        return result.message()

    def exit_code_argv(self, job_id: str) -> list[str]:
        """The history record of a job that left the queue."""
        return [
            self.command("info"),
            job_id,
            "-limit",
            "1",
            "-af",
            "ExitBySignal",
            "ExitCode",
            "ExitSignal",
        ]

    def parse_exit_code(self, text: str) -> int | None:
        return exit_code_from_history(text)

    def describe_reason(self, reason: str) -> str:
        return f"held by HTCondor: {reason}"


def split_job_id(text: str) -> tuple[str, str]:
    """``19.0`` gives (``19``, ``0``); a bare cluster id is process 0."""
    cluster, _, proc = text.partition(".")
    return cluster, proc or "0"


def parse_condor_q_line(line: str) -> JobStatus:
    """Parse one line of ``condor_q IDS -af:j`` with :data:`CONDOR_Q_ATTRIBUTES`.

    >>> parse_condor_q_line("19.0 2 slot1@node01.example.org undefined 1796401800 180 undefined").host
    'node01.example.org'
    """
    parts = line.strip().split(None, len(CONDOR_Q_ATTRIBUTES))
    if len(parts) != len(CONDOR_Q_ATTRIBUTES) + 1:
        raise StatusUnavailable(f"unexpected condor_q line: {line!r}")
    job, code, remote_host, exit_code, started, max_runtime, hold_reason = parts
    cluster, _proc = split_job_id(job)
    if not cluster.isdigit():
        raise StatusUnavailable(f"unexpected condor_q line: {line!r}")
    name, state = CONDOR_JOB_STATUS.get(code, (code, JobState.UNKNOWN))
    return JobStatus(
        job_id=cluster,
        state=state,
        raw_state=name,
        host=condor_host(remote_host),
        reason=None if hold_reason in _UNDEFINED or state is not JobState.HELD else hold_reason,
        exit_code=int(exit_code) if exit_code.isdigit() and state is JobState.FINISHED else None,
        start_time=started if started.isdigit() and int(started) > 0 and not state.queued else None,
        time_limit_seconds=int(max_runtime) if max_runtime.isdigit() and int(max_runtime) > 0 else None,
    )


def condor_host(remote_host: str) -> str | None:
    """``slot1@node01.example.org`` (or ``slot1_1@...``) gives ``node01.example.org``."""
    if remote_host in _UNDEFINED:
        return None
    return remote_host.rpartition("@")[2] or None


def exit_code_from_history(text: str) -> int | None:
    """Exit code from ``condor_history ID -limit 1 -af ExitBySignal ExitCode ExitSignal``.

    A job killed by a signal reports 128 + the signal number, as a shell would; a removed
    job has neither and gives None.
    """
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or parts[0].lower() not in ("true", "false", "undefined"):
            continue  # not a record (a login shell's greeting, say)
        by_signal, code, signal = parts
        if by_signal.lower() == "true" and signal.isdigit():
            return 128 + int(signal)
        if code.isdigit():
            return int(code)
        return None
    return None


# -- quoting for the submit description ------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A "$" that HTCondor's macro expansion would act on: $(name), $$(attr), $ENV(...), $INT(...).
_MACRO_START = re.compile(r"\$(?=[($A-Za-z_])")


def condor_arguments(argv: Sequence[str]) -> str:
    """The value of an ``arguments`` submit command (new syntax) that gives exactly ``argv``.

    The whole value is in double quotes, with ``"`` doubled; an argument with white space
    or a single quote (or an empty one) is put in single quotes, with ``'`` doubled. A ``$``
    that would start a submit macro becomes ``$(DOLLAR)``. Line breaks and other control
    characters cannot be written on a submit line and are refused.

    >>> print(condor_arguments(["one", 'two "x"', "it's"]))
    "one 'two ""x""' 'it''s'"
    """
    words = []
    for arg in argv:
        if _CONTROL.search(arg):
            raise ValueError(f"argument {arg[:60]!r} contains a line break or control character")
        word = arg.replace('"', '""')
        if not word or any(c in word for c in " '"):
            word = "'" + word.replace("'", "''") + "'"
        words.append(word)
    return _MACRO_START.sub("$(DOLLAR)", '"' + " ".join(words) + '"')


_BASH_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r", "$": "\\x24"}


def bash_eval(script: str) -> str:
    """A one-line bash command that runs the (multi-line) ``script``: ``eval $'...'``.

    ANSI-C quoting carries line breaks as ``\\n``; ``$`` is written ``\\x24`` so that no
    HTCondor macro can appear in the text.

    >>> print(bash_eval("set -eu\\nexec jupyterhub-singleuser"))
    eval $'set -eu\\nexec jupyterhub-singleuser'
    """
    out = []
    for char in script:
        if char in _BASH_ESCAPES:
            out.append(_BASH_ESCAPES[char])
        elif _CONTROL.match(char):
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "eval $'" + "".join(out) + "'"


def condor_job_arguments(script: str) -> str:
    """``arguments`` for ``executable = /bin/bash`` that runs ``script``."""
    return condor_arguments(["-c", bash_eval(script)])


CONDOR_WALLTIME_DIRECTIVES = ("periodic_remove", "max_runtime", "both")


def condor_template_values(*, job_dir: str, home: str, walltime_directive: str) -> dict[str, object]:
    """The HTCondor-specific template values: which commands carry the job's
    ``walltime_seconds`` (HTCondor counts seconds: the number goes in as it is), the
    job event log, the error file, the job's environment (``HOME``, which HTCondor
    does not set with ``getenv = false``) and the quoting function for ``arguments``."""
    if walltime_directive not in CONDOR_WALLTIME_DIRECTIVES:
        raise ValueError(
            f"walltime_directive must be one of {CONDOR_WALLTIME_DIRECTIVES}, not {walltime_directive!r}"
        )
    return {
        "condor_periodic_remove": walltime_directive in ("periodic_remove", "both"),
        "condor_max_runtime": walltime_directive in ("max_runtime", "both"),
        "condor_log": job_dir.rstrip("/") + "/job.log",
        "condor_error": job_dir.rstrip("/") + "/job.err",
        "condor_environment": condor_arguments([f"HOME={home}"]),
        "condor_job_arguments": condor_job_arguments,
    }
