"""Exceptions the spawner raises, each naming what a person can act on."""

from __future__ import annotations


class BatchSpawnerError(Exception):
    """Base class of every error batchspawner_x raises on purpose."""


class ConfigError(BatchSpawnerError):
    """A setting or user option has a value that cannot be used.

    ``field`` names the setting or option so that the message can say which.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class TemplateError(BatchSpawnerError):
    """A job script template could not be loaded or rendered."""


class SubmitError(BatchSpawnerError):
    """The scheduler refused the job; ``scheduler_message`` is its own words."""

    def __init__(self, scheduler_message: str, *, returncode: int | None = None) -> None:
        self.scheduler_message = scheduler_message
        self.returncode = returncode
        super().__init__(scheduler_message)


class TransportError(BatchSpawnerError):
    """A command could not be run on the cluster (connection, auth, timeout)."""

    #: False when the error came before anything was sent (no connection, login refused,
    #: an unknown host key): the command certainly did not run.
    maybe_sent: bool = True


class HostKeyError(TransportError):
    """The login node's host key is unknown or has changed."""

    maybe_sent = False


class CommandTimeout(TransportError):
    """A remote command did not finish within its timeout."""


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
