"""Settings that are refused, or worth a word, when a spawner is built.

Every numeric setting carries its bounds in its trait (``min=``/``max=``), so
traitlets refuses a bad value with a :class:`~traitlets.TraitError` naming the
setting as soon as the configuration is applied: when JupyterHub builds the
spawner for a spawn, or when ``batchspawner-x check``/``render`` build it.
:class:`InvalidSetting` carries that refusal to the user (the REST answer and
the spawn page) and to the hub's log, without a traceback.
"""

from __future__ import annotations

from typing import Any

from tornado import web
from traitlets import TraitError


class InvalidSetting(web.HTTPError, TraitError):
    """A setting of the hub's configuration has a value the spawner refuses.

    A :class:`~traitlets.TraitError` (code that expects one still catches it) and an
    HTTP 500 whose message JupyterHub shows to the user as it is.
    """

    def __init__(self, message: str) -> None:
        #: The refusal as traitlets worded it (it names the setting); ``str()`` gives it.
        self.message = message
        #: What the user sees: the spawn page and the REST answer.
        self.jupyterhub_message = f"The hub's configuration has an invalid setting: {message}"
        web.HTTPError.__init__(self, 500, "%s", self.jupyterhub_message)

    def __str__(self) -> str:
        return self.message


def invalid_setting(error: TraitError) -> InvalidSetting:
    """The refusal of a bad setting, in words for the user and the hub's administrators."""
    if isinstance(error, InvalidSetting):
        return error
    return InvalidSetting(str(error))


def interval_note(spawner: Any) -> str | None:
    """A note when status queries run at another pace than JupyterHub's polls, else None.

    ``poll()`` answers from the shared status queries, so a job's end is noticed within about
    ``status_interval + poll_interval`` seconds.
    """
    status, poll = float(spawner.status_interval), float(spawner.poll_interval)
    if poll <= 0 or status == poll:
        return None
    return (
        f"status_interval is {status:g} s but poll_interval is {poll:g} s: a job's end (an "
        f"out-of-band cancel, a node failure) is noticed within about {status + poll:g} s. "
        "Leave status_interval unset to follow poll_interval"
    )
