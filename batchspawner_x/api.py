"""The hub side of the port handshake: ``POST /hub/api/batchspawner_x/server``.

The node-side command (``batchspawner-x-singleuser``) tells the hub where its
server listens. The request must carry the API token of that very server (the
one the hub gave the job), and its body must be exactly ``{"host": str,
"port": int}``: nothing else on the spawner can be set this way.
"""

from __future__ import annotations

import re
from typing import Any

from jupyterhub.apihandlers import default_handlers
from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from .errors import BatchSpawnerError
from .network import valid_host

#: Path below the hub's API prefix.
REPORT_PATH = "/batchspawner_x/server"


#: A batch job id as any supported scheduler prints it (``123``, ``123.server``, ``7_2``).
_JOB_ID = re.compile(r"[A-Za-z0-9_.\[\]+-]{1,128}")


def validate_report(body: Any) -> tuple[str, int]:
    """Check a handshake body; return (host, port) or raise ValueError saying why.

    The body is ``{"host": str, "port": int}`` and, from node-side commands that know
    it, ``"job_id": str`` (see :func:`report_job_id`); nothing else.
    """
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    extra = set(body) - {"host", "port", "job_id"}
    if extra:
        raise ValueError(f"unexpected fields: {', '.join(sorted(map(str, extra)))}")
    host, port = body.get("host"), body.get("port")
    if not isinstance(host, str) or not valid_host(host):
        raise ValueError(
            "host must be a hostname or an IP address, without an IPv6 scope id or control characters"
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError("port must be an integer from 1 to 65535")
    report_job_id(body)
    return host, port


def report_job_id(body: dict[str, Any]) -> str:
    """The id of the job that sent the report, or "" if it did not say (older node-side
    commands, HTCondor); raises ValueError for anything but a job id."""
    job_id = body.get("job_id", "")
    if not isinstance(job_id, str) or (job_id and not _JOB_ID.fullmatch(job_id)):
        raise ValueError("job_id must be a batch job id")
    return job_id


class ServerReportHandler(APIHandler):
    """Accepts a server's host and port from the server's own token only."""

    async def post(self) -> None:
        token = self.get_auth_token()
        user = self.current_user
        if not token or user is None or not hasattr(user, "spawners"):
            raise web.HTTPError(403, "a server's own API token is required")
        try:
            body = self.get_json_body()
            host, port = validate_report(body)
            job_id = report_job_id(body)
        except ValueError as e:
            self.log.warning("Refused a server address report for %s: %s", user.name, e)
            raise web.HTTPError(400, str(e)) from None
        for spawner in list(user.spawners.values()):
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


def register() -> None:
    """Add the handler to JupyterHub's API handlers (once per process).

    JupyterHub builds its routes from ``jupyterhub.apihandlers.default_handlers``
    after it has loaded the spawner class, so importing the spawner is enough.
    """
    if not any(h[1] is ServerReportHandler for h in default_handlers):
        default_handlers.append((r"/api" + REPORT_PATH, ServerReportHandler))
