"""Every exception batchspawner_x raises on purpose, under one root.

Each class names what a person can act on, and carries it in typed attributes, so that
callers decide by the class and its fields, never by the words of the message. The
message (``str(error)``) is for people: the spawn page, the REST answer, the hub's log.

The tree::

    BatchSpawnerError
    ├── ConfigError                 field
    │   ├── OptionError             field (a user's choice)
    │   └── AccountRefused          field (a cluster account)
    ├── SettingIgnored              field (a predecessor's setting)
    ├── TemplateError
    ├── CliError
    ├── SchedulerCommandError       command, returncode, stderr
    │   ├── SubmitError             + scheduler_message
    │   └── StatusUnavailable
    ├── TransportError              host, port, maybe_sent
    │   ├── ConnectFailed           + retry_at
    │   ├── HostKeyError
    │   ├── LoginRefused
    │   ├── KeyFileError            + path
    │   ├── CommandTimeout          + command, timeout
    │   ├── FileOperationFailed     + operation, path
    │   ├── SubmissionUnknown       + identity
    │   └── ClaimFailed             + identity
    ├── ClaimUnreadable             returncode, answer
    ├── CancelFailed                job_id, permanent
    ├── ServerUnreachable           host, port
    ├── ServerHostRefused           host
    └── JobEndedError               job_id, state, exit_code, output_tail

Two exceptions of the package sit outside the tree on purpose:
:class:`~batchspawner_x.singleuser.ReportRefused` (the node side imports only the standard
library, not this module) and :class:`~batchspawner_x.settings.InvalidSetting` (JupyterHub
and traitlets need it to be their own ``HTTPError`` and ``TraitError``).

This module imports only the standard library, so every layer may import it.
"""

from __future__ import annotations

from typing import Protocol, TypeVar


class BatchSpawnerError(Exception):
    """Base class of every error batchspawner_x raises on purpose."""


# -- settings, options, templates ------------------------------------------------------------
class ConfigError(BatchSpawnerError):
    """A setting or user option has a value that cannot be used.

    ``field`` names the setting or option so that the message can say which; ``message``
    says what is wrong with it.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class OptionError(ConfigError):
    """A user's choice is not allowed; ``field`` names the form field or option."""


class AccountRefused(ConfigError):
    """A cluster account the hub will not act as; ``field`` is the setting that named it."""


class SettingIgnored(BatchSpawnerError):
    """A setting of the predecessor, ``field``, that cannot be carried over: it is ignored
    with a warning, and the message says why (it is whole: it does not start with ``field``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class TemplateError(BatchSpawnerError):
    """A job script template could not be loaded or rendered."""


class CliError(BatchSpawnerError):
    """Something that stops an admin command (``batchspawner-x check``/``render``) before it
    starts; the message says what."""


# -- scheduler commands ----------------------------------------------------------------------
_E = TypeVar("_E", bound="SchedulerCommandError")


class CommandAnswer(Protocol):
    """How a command ended, as :class:`~batchspawner_x.schedulers.base.CommandResult` holds it."""

    @property
    def returncode(self) -> int: ...

    @property
    def stderr(self) -> str: ...


class SchedulerCommandError(BatchSpawnerError):
    """A scheduler command failed, or printed what cannot be read.

    ``command`` is the command's usual name (``sbatch``, ``qstat``, also when
    ``scheduler_commands`` names another executable), None when the error is not about one
    command's answer (XML that cannot be read, say); ``returncode`` is its exit status and
    ``stderr`` what it printed there, None and "" when not known.
    """

    def __init__(
        self,
        message: str,
        *,
        command: str | None = None,
        returncode: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message)
        self.command = command
        self.returncode = returncode
        self.stderr = stderr

    @classmethod
    def of(cls: type[_E], command: str, answer: CommandAnswer, message: str) -> _E:
        """The error for ``command`` that ended as ``answer`` says, worded as ``message``."""
        return cls(message, command=command, returncode=answer.returncode, stderr=answer.stderr)


class SubmitError(SchedulerCommandError):
    """The scheduler refused the job; ``scheduler_message`` is its own words."""

    def __init__(
        self,
        scheduler_message: str,
        *,
        returncode: int | None = None,
        command: str | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(scheduler_message, command=command, returncode=returncode, stderr=stderr)
        self.scheduler_message = scheduler_message


class StatusUnavailable(SchedulerCommandError):
    """The scheduler could not be asked, or did not answer in a form we know.

    This never means the job is dead: callers keep the last known state.
    """


# -- reaching the cluster --------------------------------------------------------------------
class TransportError(BatchSpawnerError):
    """A command could not be run on the cluster (connection, auth, timeout).

    ``host`` and ``port`` name the login node when the error is about one (None otherwise,
    and for a local transport).
    """

    #: False when the error came before anything was sent (no connection, login refused,
    #: an unknown host key): the command certainly did not run.
    maybe_sent: bool = True

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        port: int | None = None,
        maybe_sent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.host = host
        self.port = port
        if maybe_sent is not None:
            self.maybe_sent = maybe_sent


class ConnectFailed(TransportError):
    """No connection could be opened (network, sshd down), so nothing was sent:
    any command, even a submission, may be tried again. ``retry_at`` is the
    monotonic time before which the pool will not try to connect again."""

    maybe_sent = False

    def __init__(
        self,
        message: str,
        retry_at: float = 0.0,
        *,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(message, host=host, port=port)
        self.retry_at = retry_at


class HostKeyError(TransportError):
    """The login node's host key is unknown or has changed."""

    maybe_sent = False


class LoginRefused(TransportError):
    """The login node refused the login (no accepted key or certificate for the account).
    Nothing was sent."""

    maybe_sent = False


class KeyFileError(TransportError):
    """An SSH key file of ``ssh_keys`` cannot be read (missing, unreadable, not a key);
    ``path`` names it. Nothing was sent."""

    maybe_sent = False

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class CommandTimeout(TransportError):
    """A remote command did not finish within its timeout.

    ``command`` is the command's name (``sbatch``), ``timeout`` the seconds it was given;
    None when not known.
    """

    def __init__(
        self,
        message: str,
        *,
        command: str | None = None,
        timeout: float | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(message, host=host, port=port)
        self.command = command
        self.timeout = timeout


class FileOperationFailed(TransportError):
    """The login node's SFTP server refused or failed a file operation (permission denied,
    no space left, a missing directory). The request reached the node, so part of it may
    have been done (a file half written, some of several files removed).

    ``operation`` says what was asked (``write``, ``remove``), ``path`` on which file.
    """

    maybe_sent = True

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        path: str | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(message, host=host, port=port)
        self.operation = operation
        self.path = path


class SubmissionUnknown(TransportError):
    """A submission's answer was lost and the scheduler could not be asked whether it
    arrived; the job, if any, carries the submission's identity, ``identity``."""

    def __init__(self, message: str, *, identity: str | None = None) -> None:
        super().__init__(message)
        self.identity = identity


class ClaimFailed(TransportError):
    """The submit command could not take its claim on the login node: nothing was sent.
    ``identity`` is the submission's."""

    maybe_sent = False

    def __init__(self, message: str, *, identity: str | None = None) -> None:
        super().__init__(message)
        self.identity = identity


class ClaimUnreadable(BatchSpawnerError):
    """The answer about a submission claim is not one of the claim script's answers (a login
    shell that printed words of its own instead, say). ``returncode`` is how the script
    exited and ``answer`` the words that could not be read."""

    def __init__(self, message: str, *, returncode: int, answer: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.answer = answer


# -- stopping a job --------------------------------------------------------------------------
class CancelFailed(BatchSpawnerError):
    """The scheduler did not accept the cancel of job ``job_id`` before the deadline, or
    could not be asked for a reason that waiting does not cure (then ``permanent`` is true)."""

    def __init__(self, message: str, *, permanent: bool = False, job_id: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.job_id = job_id


# -- extending a job's time limit ------------------------------------------------------------
class ExtendRefused(BatchSpawnerError):
    """A request to extend a job's time limit that was not carried out.

    ``reason`` is a word for callers (``unavailable``: the site or scheduler does not offer
    it; ``cap``: the cap is reached; ``state``: the job is not running or its limit cannot be
    read now; ``scheduler``: the scheduler refused, its own words in ``scheduler_message``;
    ``connection``: the cluster could not be reached). The message says it for the user.
    """

    def __init__(self, message: str, *, reason: str, scheduler_message: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.scheduler_message = scheduler_message


# -- reaching the notebook server ------------------------------------------------------------
class ServerUnreachable(BatchSpawnerError):
    """The hub cannot open a connection to a server that is (or may be) running at
    ``host``:``port``."""

    def __init__(self, message: str, *, host: str | None = None, port: int | None = None) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class ServerHostRefused(BatchSpawnerError):
    """A job reported a host, ``host``, that is not its own node (see
    :meth:`~batchspawner_x.reach.ReachMixin.check_reported_host`)."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class JobEndedError(BatchSpawnerError):
    """The job ended while its notebook server was starting: before it reported its address,
    or after that and before the server answered (a server command that exits at once).

    ``job_id`` names the job; ``state`` is the scheduler's own word for how it ended
    (``FAILED``, ``COMPLETED``, ``TIMEOUT``); ``exit_code`` is the job's exit code, None when
    the scheduler did not say; ``output_tail`` holds the last lines of the job's output, ""
    when there were none or they could not be read. The message names all four, as the user
    sees it on the spawn page and in the REST answer.
    """

    def __init__(self, job_id: str, state: str, exit_code: int | None, output_tail: str) -> None:
        self.job_id = job_id
        self.state = state
        self.exit_code = exit_code
        self.output_tail = output_tail
        how = state if exit_code is None else f"{state}, exit code {exit_code}"
        message = f"Job {job_id} ended before its notebook server started ({how})."
        if output_tail:
            message += f" Last lines of its output:\n{output_tail}"
        super().__init__(message)


__all__ = [
    "AccountRefused",
    "BatchSpawnerError",
    "CancelFailed",
    "ClaimFailed",
    "ClaimUnreadable",
    "CliError",
    "CommandAnswer",
    "CommandTimeout",
    "ConfigError",
    "ConnectFailed",
    "ExtendRefused",
    "FileOperationFailed",
    "HostKeyError",
    "JobEndedError",
    "KeyFileError",
    "LoginRefused",
    "OptionError",
    "SchedulerCommandError",
    "ServerHostRefused",
    "ServerUnreachable",
    "SettingIgnored",
    "StatusUnavailable",
    "SubmissionUnknown",
    "SubmitError",
    "TemplateError",
    "TransportError",
]
