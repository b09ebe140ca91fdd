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
