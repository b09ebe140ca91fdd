"""The hub side of the port handshake: ``POST /hub/api/batchspawner_x/server``.

The node-side command (``batchspawner-x-singleuser``) tells the hub where its
server listens. The request must carry the API token of that very server (the
one the hub gave the job), and its body must be exactly ``{"host": str,
"port": int}`` (plus the job's id): nothing else on the spawner can be set this
way. The path, the body and its checks are the protocol's, in
:mod:`batchspawner_x.handshake`; this module is the JupyterHub handler that
applies them.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.apihandlers import default_handlers
from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from .errors import BatchSpawnerError
from .handshake import REPORT_PATH, report_job_id, validate_report


def token_and_user(handler: APIHandler) -> tuple[str, Any]:
    """The request's token and its user (who has spawners); a 403 for anything else (no
    token, a service's). Which server the token is, each handler checks."""
    token = handler.get_auth_token()
    user = handler.current_user
    if not token or user is None or not hasattr(user, "spawners"):
        raise web.HTTPError(403, "a server's own API token is required")
    return token, user


class ServerReportHandler(APIHandler):
    """Accepts a server's host and port from the server's own token only."""

    async def post(self) -> None:
        token, user = token_and_user(self)
        try:
            body = self.get_json_body()
            host, port = validate_report(body)
            job_id = report_job_id(body)
        except ValueError as e:
            self.log.warning("Refused a server address report for %s: %s", user.name, e)
            raise web.HTTPError(400, str(e)) from None
        for spawner in spawners_of(user):
            accept = getattr(spawner, "accept_server_report", None)
            if accept is not None and accept(token, host, port, job_id):
                await self._check_host(spawner, user.name, host)
                self.set_status(204)
                return
        self.log.warning(
            "Refused a server address report for %s: the token is not a pending server's", user.name
        )
        raise web.HTTPError(403, "this token does not belong to a server that is starting")

    async def _check_host(self, spawner: Any, name: str, host: str) -> None:
        """A 400 if ``host`` is not the job's own node (the spawn then fails too: the spawner
        makes the same check on the report it has just taken)."""
        check = getattr(spawner, "check_reported_host", None)
        if check is None or not getattr(spawner, "job_id", ""):
            return  # the job id is not known yet: the spawner checks once it is
        try:
            await check(host)
        except BatchSpawnerError as e:
            self.log.warning("Refused a server address report for %s: %s", name, e)
            raise web.HTTPError(400, str(e)) from None


def spawners_of(user: Any) -> list[Any]:
    """The user's spawners, each wrapper's current child in its place.

    Under wrapspawner (``ProfilesSpawner``, ``DockerProfilesSpawner``) JupyterHub holds the
    wrapper; the spawner of ours that started the job is its ``child_spawner``, built at
    start. A wrapper without a child yet is kept as it is (it has nothing to report to).
    """
    found = []
    for spawner in list(user.spawners.values()):
        child = getattr(spawner, "child_spawner", None)
        found.append(child if child is not None else spawner)
    return found


def register() -> None:
    """Add the handler to JupyterHub's API handlers (once per process).

    JupyterHub builds its routes from ``jupyterhub.apihandlers.default_handlers``
    after it has loaded the spawner class, so importing the spawner is enough.
    """
    if not any(h[1] is ServerReportHandler for h in default_handlers):
        default_handlers.append((r"/api" + REPORT_PATH, ServerReportHandler))
