"""What every scheduler backend provides: argv builders and output parsers.

Nothing in this package does I/O. The spawner runs the argv lists a backend
builds and hands the :class:`CommandResult` back to the backend's parser, so
each backend is tested by feeding it recorded scheduler output.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..states import JobState, JobStatus, StatusUnavailable
from .spec import JobSpec

#: Distinct unrecognised lines a backend remembers (for logging, and as known noise).
MAX_REMEMBERED_LINES = 100


@dataclass(frozen=True)
class CommandResult:
    """What one command printed and how it exited."""

    returncode: int
    stdout: str = ""
    stderr: str = ""

    def message(self) -> str:
        """The command's own words for an error: stderr, else stdout, trimmed."""
        text = self.stderr.strip() or self.stdout.strip()
        return text or f"exit status {self.returncode} and no output"


@dataclass(frozen=True)
class PartitionInfo:
    """One partition (queue) as the scheduler lists it, for the spawn form's choices.

    Limits are those of the partition's largest node; None where the scheduler
    sets none (``infinite``).
    """

    name: str
    available: bool = True
    max_walltime_seconds: int | None = None
    cpus: int | None = None
    memory_mb: int | None = None
    gpus: int | None = None
    #: The node features (Slurm ``sinfo %f``) of any of its nodes, for a constraint field.
    features: tuple[str, ...] = ()
    #: The GPU types of its nodes' GRES (``gpu:a100:4`` -> ``a100``), for a GPU type field.
    gpu_types: tuple[str, ...] = ()


class Scheduler(abc.ABC):
    """One batch scheduler's commands and output formats.

    ``commands`` maps a command's role (``submit``, ``status``, ``cancel``) to
    the executable to run, so that a site can point at wrappers or absolute
    paths without subclassing.
    """

    #: Short name used in messages and as the template's stem.
    name: ClassVar[str]
    #: Human name of the scheduler, for messages.
    display_name: ClassVar[str]
    #: The packaged template rendered by default.
    template: ClassVar[str]
    #: Default executables for each role.
    default_commands: ClassVar[Mapping[str, str]]
    #: The job's output file name as written in the script, with the
    #: scheduler's own placeholder for the job id.
    output_pattern: ClassVar[str]
    #: The placeholder in :attr:`output_pattern`, or None if the name is fixed.
    job_id_placeholder: ClassVar[str | None]
    #: Whether the submitted file is a script that must start with ``#!``.
    script_is_shell: ClassVar[bool] = True
    #: Where a job carries its submission's identity, in words (``"comment"``), or None
    #: when this backend cannot find a job by it: :meth:`lookup_argv` then returns None,
    #: and a submission whose answer was lost is never sent again.
    identity_field: ClassVar[str | None] = None

    # -- capabilities: declared here, never probed ------------------------------
    #: Whether the packaged template asks for a quality of service (``qos``).
    supports_qos: ClassVar[bool] = False
    #: Whether the packaged template asks for GPUs (``gpus``).
    supports_gpus: ClassVar[bool] = False
    #: Whether the packaged template puts the job in a reservation (``reservation``).
    supports_reservation: ClassVar[bool] = False
    #: Whether the packaged template asks for node features (``constraint``).
    supports_constraint: ClassVar[bool] = False
    #: Whether the packaged template asks for a GPU type (``gpu_type``, with ``gpus``).
    supports_gpu_type: ClassVar[bool] = False
    #: Whether status answers may carry the expected start of a waiting job.
    reports_expected_start: ClassVar[bool] = False
    #: Whether :meth:`exit_code_argv` asks for the exit code of a job that has left the
    #: status listing without one.
    looks_up_exit_codes: ClassVar[bool] = False
    #: Whether the packaged template asks the scheduler to signal the job (SIGUSR1 to the
    #: batch shell) ``early_signal_seconds`` before its time limit (Slurm's ``--signal``).
    supports_early_signal: ClassVar[bool] = False

    @classmethod
    def scheduling_supported(cls) -> tuple[str, ...]:
        """The scheduling settings a profile may set for this scheduler: ``account`` (an
        account, project or accounting group: every scheduler has one) and those its
        capabilities declare."""
        flags = {
            "qos": cls.supports_qos,
            "reservation": cls.supports_reservation,
            "constraint": cls.supports_constraint,
            "gpu_type": cls.supports_gpu_type,
        }
        return ("account", *(name for name, supported in flags.items() if supported))

    # -- what the cluster reads for one user (see batchspawner_x.profile_scheduling) --------
    def reservations_argv(self) -> list[str] | None:
        """The command that lists the scheduler's reservations; None if not supported."""
        return None

    def parse_reservations(
        self, result: CommandResult, user: str, accounts: Sequence[str] = ()
    ) -> tuple[str, ...]:
        """The reservations in :meth:`reservations_argv`'s output that ``user`` (a member
        of ``accounts``) may use."""
        raise NotImplementedError

    def associations_argv(self, user: str) -> list[str] | None:
        """The command that lists ``user``'s accounts and their QOS; None if not supported."""
        return None

    def parse_associations(self, result: CommandResult) -> dict[str, tuple[str, ...]]:
        """:meth:`associations_argv`'s output as account -> QOS names."""
        raise NotImplementedError

    @classmethod
    def finds_by_identity(cls) -> bool:
        """Whether a job can be found by its submission's identity (:attr:`identity_field`
        is set; :meth:`lookup_argv` then builds the command)."""
        return cls.identity_field is not None

    @classmethod
    def output_name(cls, job_id: str) -> str:
        """The output file name of one job."""
        if cls.job_id_placeholder is None:
            return cls.output_pattern
        return cls.output_pattern.replace(cls.job_id_placeholder, job_id)

    def __init__(self, commands: Mapping[str, str] | None = None, *, all_users: bool = False) -> None:
        merged = dict(self.default_commands)
        merged.update(commands or {})
        self.commands = merged
        #: Whether status commands run as an account that owns none of the jobs asked
        #: about (a status identity), so that a command that lists only the caller's own
        #: jobs by default must be told to list every user's.
        self.all_users = all_users
        #: Lines status answers held that this backend did not recognise (a login shell
        #: that greets on every command), for the poller to log once each.
        self.unrecognised: set[str] = set()
        #: Unrecognised lines seen in a complete answer (one that listed every job asked
        #: about): noise around real answers, so an answer of nothing else is an empty one.
        self.noise: set[str] = set()

    @staticmethod
    def lines_outside(text: str, start: int, end: int) -> list[str]:
        """The lines of ``text`` before ``start`` and after ``end``: what a command printed
        around the document (XML, JSON) that holds its answer."""
        return (text[:start] + "\n" + text[end:]).splitlines()

    def skip_lines(self, lines: Sequence[str], *, complete: bool | None, command: str) -> None:
        """Note the ``lines`` of a status answer that the parser does not recognise.

        They are skipped, never guessed at, and kept in :attr:`unrecognised` for the
        poller to log once each. ``complete``: whether the recognised part of the answer
        accounts for every job asked about, so that no job would be taken as gone only
        because the answer leaves it out; None when the parser needs no help to decide.

        An incomplete answer that also holds unrecognised lines may be a broken one (an
        error printed where the listing should be): it raises
        :class:`~batchspawner_x.states.StatusUnavailable` (a failed query, never "these jobs
        are gone"), unless every one of those lines was seen before in a complete answer.
        Such lines are noise around real answers (a login shell that greets on every
        command), and an answer that holds nothing else is an empty answer.
        """
        lines = [line.strip() for line in lines if line.strip()]
        if not lines:
            return
        for line in lines:
            if len(self.unrecognised) < MAX_REMEMBERED_LINES:
                self.unrecognised.add(line)
        if complete:
            for line in lines:
                if len(self.noise) < MAX_REMEMBERED_LINES:
                    self.noise.add(line)
        elif complete is False and not all(line in self.noise for line in lines):
            raise StatusUnavailable(
                f"{command} printed a line this spawner does not recognise, and does not list "
                f"every job asked about: {next(x for x in lines if x not in self.noise)[:200]!r}"
            )

    def command(self, role: str) -> str:
        return self.commands[role]

    # -- submission --------------------------------------------------------
    @abc.abstractmethod
    def submit_argv(self, identity: str = "", script: str = "") -> list[str]:
        """The command that reads a job script on stdin and submits it.

        ``identity`` (letters, digits and ``-``) names this one submission; a
        backend that can find jobs by it (:meth:`lookup_argv`) attaches it to the
        job, so that a submission whose answer was lost can be found instead of
        being sent again. ``script`` is the job script about to be sent, for a
        backend that must keep a value the script sets where it puts the identity.
        """

    @abc.abstractmethod
    def parse_submit(self, result: CommandResult) -> str:
        """Return the job id, or raise :class:`~batchspawner_x.errors.SubmitError`
        carrying the scheduler's own message."""

    def lookup_argv(self, identity: str) -> list[str] | None:
        """One command that lists the submitting user's jobs with their identities, or
        None if this backend cannot find a job by the ``identity`` given to
        :meth:`submit_argv` (:attr:`identity_field` is None; a lost submission is then
        never sent again)."""
        return None

    def parse_lookup(self, identity: str, result: CommandResult) -> list[str]:
        """The ids of the jobs :meth:`lookup_argv`'s ``result`` shows carrying ``identity``.

        Raises :class:`~batchspawner_x.states.StatusUnavailable` when the result says
        nothing reliable.
        """
        raise NotImplementedError(f"{self.display_name} cannot look up a submission")

    # -- status ------------------------------------------------------------
    @abc.abstractmethod
    def status_argv(self, job_ids: Sequence[str]) -> list[str]:
        """One command that reports the status of all of ``job_ids``."""

    @abc.abstractmethod
    def parse_status(self, job_ids: Sequence[str], result: CommandResult) -> dict[str, JobStatus]:
        """Parse a status command's result into a status for every job id asked.

        Raises :class:`~batchspawner_x.states.StatusUnavailable` when the result
        says nothing reliable (controller down, timeout, unknown format): a
        failed query is never a death.
        """

    @staticmethod
    def unlisted(
        job_ids: Sequence[str],
        found: dict[str, JobStatus],
        state: JobState = JobState.GONE,
        raw_state: str = "not listed",
    ) -> dict[str, JobStatus]:
        """``found``, with every job of ``job_ids`` it does not list as ``state``: by default,
        a job the scheduler no longer lists is gone. Call it only once the answer is known to
        be complete (see :meth:`skip_lines`)."""
        for jid in job_ids:
            if jid not in found:
                found[jid] = JobStatus(jid, state, raw_state=raw_state)
        return found

    def same_job(self, reported: str, known: str) -> bool:
        """Whether two ids, as the scheduler prints them in different places (its submit
        answer, the job's environment, its status listing), name the same job.

        By default: the same id, or the same id up to the first ``.`` (PBS prints ``123`` in
        one place and ``123.server`` in another). Backends with their own id forms override it.
        """
        return reported == known or reported.split(".", 1)[0] == known.split(".", 1)[0]

    # -- exit codes --------------------------------------------------------------
    def exit_code_argv(self, job_id: str) -> list[str] | None:
        """One command that tells the exit code of ``job_id`` once it has left the status
        listing; None (the default) if the scheduler cannot tell
        (:attr:`looks_up_exit_codes`)."""
        return None

    def parse_exit_code(self, text: str) -> int | None:
        """The exit code :meth:`exit_code_argv`'s output shows; None if it shows none."""
        return None

    # -- cancellation ------------------------------------------------------
    def cancel_argv(self, job_id: str) -> list[str]:
        """The command that cancels ``job_id``; harmless on a finished job. By default the
        ``cancel`` command followed by the job id."""
        return [self.command("cancel"), job_id]

    def cancel_failed(self, result: CommandResult) -> str | None:
        """Return an error message if a cancel command really failed, else None."""
        return None if result.returncode == 0 else result.message()

    # -- extending a job's time limit --------------------------------------------
    #: Whether this backend can raise a running job's time limit (:meth:`extend_argv`).
    extends_time_limit: ClassVar[bool] = False

    @classmethod
    def extend_unavailable(cls) -> str | None:
        """Why a running job's time limit cannot be raised from the hub, in words; None
        where it can (:attr:`extends_time_limit`)."""
        if cls.extends_time_limit:
            return None
        return (
            f"Extending a session is not available on {cls.display_name}: its jobs' time limits "
            "cannot be raised from the hub."
        )

    def extend_argv(self, job_id: str, time_limit_seconds: int) -> list[str] | None:
        """The command that sets running job ``job_id``'s time limit to ``time_limit_seconds``
        in all (run as the site's operator account); None where the backend cannot."""
        return None

    def extend_failed(self, result: CommandResult) -> str | None:
        """Why :meth:`extend_argv`'s command did not change the limit, in words with the
        scheduler's own; None if it did."""
        return None if result.returncode == 0 else result.message()

    # -- partitions ----------------------------------------------------------
    def partitions_argv(self) -> list[str] | None:
        """The command that lists partitions and their limits; None if not supported."""
        return None

    def parse_partitions(self, result: CommandResult) -> dict[str, PartitionInfo]:
        """Parse :meth:`partitions_argv`'s output, by partition name."""
        raise NotImplementedError

    # -- messages ----------------------------------------------------------
    def describe_reason(self, reason: str) -> str:
        """Turn a scheduler's pending reason code into words for a researcher."""
        return reason

    def describe_gpu_reason(self, reason: str) -> str:
        """Like :meth:`describe_reason`, for a job that asks for GPUs."""
        return self.describe_reason(reason)

    # -- the job script ------------------------------------------------------
    #: The spawner settings :meth:`job_context_extra` reads from ``spec.options``, by name
    #: (traits the scheduler's spawner class declares, such as ``gpu_resource``).
    context_settings: ClassVar[tuple[str, ...]] = ()

    def job_context_extra(self, spec: JobSpec) -> dict[str, Any]:
        """This scheduler's own template values for ``spec``, beside the shared ones.

        Pure: no I/O. Raises :class:`~batchspawner_x.errors.ConfigError` for a
        setting this scheduler cannot honour (a QOS where there is none). The
        default adds nothing.
        """
        return {}
