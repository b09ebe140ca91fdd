"""The hub side of the job's news: ``POST /hub/api/batchspawner_x/job/end``.

The node side (:mod:`batchspawner_x.supervise`) posts a warning (the scheduler's early
signal reached the job) or the job's end, with the server's own API token. The body is
checked by :func:`batchspawner_x.job_events.validate_event`; the token must be that very
server's (the one the hub gave the job, compared by its SHA-256 as for the address
report), and the job id that server's job. Then the spawner acts
(:meth:`batchspawner_x.spawner_end.SessionEnd.job_event`): an end only makes the hub ask
the scheduler now, so a post for a job that still runs changes nothing, and nobody can
stop a server this way.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from jupyterhub.apihandlers import default_handlers
from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from .api import token_and_user
from .job_events import EVENT_PATH, validate_event


def _owns(spawner: Any, token: str) -> bool:
    digest = hashlib.sha256(token.encode()).hexdigest()
    expected = getattr(spawner, "token_sha256", "")
    return bool(expected) and hmac.compare_digest(digest, expected)


class JobEventHandler(APIHandler):
    """Accepts a job's warning or end from its server's own token only."""

    async def post(self) -> None:
        token, user = token_and_user(self)
        try:
            event = validate_event(self.get_json_body())
        except ValueError as e:
            self.log.warning("Refused a job event for %s: %s", user.name, e)
            raise web.HTTPError(400, str(e)) from None
        for spawner in list(user.spawners.values()):
            take = getattr(spawner, "job_event", None)
            if take is not None and _owns(spawner, token) and take(event):
                self.set_status(204)
                return
        self.log.warning(
            "Refused a job event for %s: the token is not the server of job %s", user.name, event.job_id
        )
        raise web.HTTPError(403, "this token does not belong to the server of that job")


def register() -> None:
    """Add the handler to JupyterHub's API handlers (once per process), as
    :func:`batchspawner_x.api.register` does."""
    if not any(h[1] is JobEventHandler for h in default_handlers):
        default_handlers.append((r"/api" + EVENT_PATH, JobEventHandler))


__all__ = ["JobEventHandler", "register"]
