"""The hub's job information endpoints and the user's jobs page.

- ``GET /hub/api/batchspawner_x/job`` with ``Authorization: token <a server's own API
  token>``: that server's job (:class:`~batchspawner_x.job_info.JobInfo` as JSON). Any
  other token is refused (403); a server without a job is a 404. The JupyterLab extension
  asks this from inside the job.
- ``GET /hub/api/batchspawner_x/users/NAME/jobs``: every server of a user that has a job,
  each with ``server_name`` and ``url`` added (``jobs``), and why the last session of each
  server that is not running ended (``ended``). It needs ``read:servers`` on that user: the
  user's own cookie or token, or an admin's.
- ``POST /hub/api/batchspawner_x/job/extend`` with a server's own token: extend that
  server's job by one step (see :mod:`batchspawner_x.extension`); the JupyterLab extension
  asks this. ``POST /hub/api/batchspawner_x/users/NAME/server/extend`` (the default
  server) or ``.../users/NAME/servers/SERVER/extend``: the same for a user's server; it
  needs ``servers`` on that server (the user's own cookie or token, or an admin's). Either
  answers 200 with the job's new information, or ``{"message": ...}`` in words: 501 when
  the site or the scheduler does not offer extending, 409 when it was refused (cap reached,
  job not running, the scheduler's own refusal), 503 when the cluster cannot be reached.
- ``GET /hub/batchspawner_x/jobs``: the page that lists the user's jobs, rendered from the
  package's hub templates (:data:`batchspawner_x.hub_templates`, enabled with
  ``c.JupyterHub.template_paths``).

Nothing here runs a command but an extension: every other answer is built from the hub's
own memory.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from jinja2 import TemplateNotFound
from jupyterhub import apihandlers, handlers
from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.scopes import needs_scope
from tornado import web

from . import hub_templates
from .api import spawners_of
from .end_reasons import EndReason
from .errors import ExtendRefused
from .job_info import JobInfo, job_info_json

#: The server's own endpoint, below the hub's API URL.
JOB_PATH = "/batchspawner_x/job"
#: The server's own extension, below the hub's API URL.
EXTEND_PATH = "/batchspawner_x/job/extend"
#: A user's default server's extension, and a named server's, below the hub's API URL.
USER_EXTEND_PATHS = (
    r"/batchspawner_x/users/([^/]+)/server/extend",
    r"/batchspawner_x/users/([^/]+)/servers/([^/]+)/extend",
)
#: The answer to each kind of refusal (:attr:`.ExtendRefused.reason`).
REFUSAL_STATUS = {"unavailable": 501, "connection": 503}
#: A user's jobs, below the hub's API URL.
USER_JOBS_PATH = r"/batchspawner_x/users/([^/]+)/jobs"
#: The jobs page, below the hub's URL.
JOBS_PAGE_PATH = "/batchspawner_x/jobs"
#: The jobs page's template, in :data:`HUB_TEMPLATES`.
JOBS_TEMPLATE = "batchspawner_x/jobs.html"
#: The package's hub templates: a site adds this to ``c.JupyterHub.template_paths``.
HUB_TEMPLATES = hub_templates


def job_spawner(spawner: Any) -> Any:
    """The spawner that runs the job: ``spawner`` itself, or the child of a wrapping
    spawner (wrapspawner's ``child_spawner``); None if it is not one of ours."""
    for candidate in (spawner, getattr(spawner, "child_spawner", None)):
        if candidate is not None and callable(getattr(candidate, "job_info", None)):
            return candidate
    return None


def owns_token(spawner: Any, token: str) -> bool:
    """Whether ``token`` is the API token the hub gave this spawner's server (compared by
    the digest saved in its state, which survives a hub restart)."""
    saved = getattr(spawner, "token_sha256", "")
    if not saved or not token:
        return False
    return hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), saved)


def user_jobs(user: Any) -> list[tuple[Any, JobInfo]]:
    """Each of ``user``'s servers that has a job, with its job: the default server first,
    then named servers by name."""
    found = []
    for spawner in user.all_spawners(include_default=True):
        ours = job_spawner(spawner)
        info = ours.job_info() if ours is not None else None
        if info is not None:
            found.append((spawner, info))
    return found


def last_end_of(spawner: Any) -> EndReason | None:
    """Why the last session of a server that is not running now ended, or None (running,
    or no end recorded). A job whose end is recorded counts as ended at once, before
    JupyterHub has stopped its server. ``spawner`` is what ``user.all_spawners()`` yields: a live spawner
    (or a wrapping spawner's), or JupyterHub's database row of a stopped server, whose
    saved state (wrapspawner's: its child's) holds the reason. The home page's template
    reads it the same way."""
    ours = job_spawner(spawner)
    if ours is not None:
        info = ours.job_info()
        end: EndReason | None = getattr(ours, "last_end", None)
        # the job JupyterHub has not stopped yet, whose end the hub has already recorded
        ended = end is not None and info is not None and end.job_id == info.job_id
        return end if info is None or ended else None
    state = getattr(getattr(spawner, "orm_spawner", spawner), "state", None)
    if not isinstance(state, dict):
        return None
    child = state.get("child_state")
    return EndReason.from_state(state.get("last_end")) or EndReason.from_state(
        child.get("last_end") if isinstance(child, dict) else None
    )


def user_ended_json(user: Any) -> list[dict[str, Any]]:
    """Each of ``user``'s servers that is not running and whose last session's end is
    known: ``server_name`` with the reason's ``job_id``, ``kind``, ``message`` (the words
    the home page shows), ``failure``, ``exit_code``, ``when`` and ``output_tail``."""
    ended = []
    for spawner in user.all_spawners(include_default=True):
        end = last_end_of(spawner)
        if end is not None:
            keys = ("job_id", "kind", "message", "failure", "exit_code", "when", "output_tail")
            state = end.to_state()
            ended.append({"server_name": spawner.name, **{k: state[k] for k in keys}})
    return ended


def user_jobs_json(user: Any) -> list[dict[str, Any]]:
    """:func:`user_jobs` as the user-facing API's body."""
    return [
        job_info_json(info, {"server_name": spawner.name, "url": user.server_url(spawner.name)})
        for spawner, info in user_jobs(user)
    ]


class ServerJobHandler(APIHandler):
    """A server's own job, for the server's own token only."""

    async def get(self) -> None:
        info = own_job_spawner(self).job_info()
        if info is None:
            raise web.HTTPError(404, "this server has no batch job now")
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(info.to_json())


def own_job_spawner(handler: APIHandler) -> Any:
    """The spawner of ours whose server's own API token ``handler``'s request carries
    (through wrapspawner's child); 403 for any other token."""
    token = handler.get_auth_token()
    user = handler.current_user
    if not token or user is None or not hasattr(user, "spawners"):
        raise web.HTTPError(403, "a server's own API token is required")
    for spawner in spawners_of(user):
        ours = job_spawner(spawner)
        if ours is not None and owns_token(ours, token):
            return ours
    raise web.HTTPError(403, "this token is not a running server's own token")


async def extend_answer(handler: APIHandler, spawner: Any) -> None:
    """Extend ``spawner``'s job by one step and write the answer: the job's new
    information, or the refusal in words (see the module's docstring)."""
    handler.set_header("Cache-Control", "no-store")
    try:
        info = await spawner.extend_walltime()
    except ExtendRefused as e:
        status = REFUSAL_STATUS.get(e.reason, 409)
        handler.set_status(status)
        handler.write({"status": status, "message": str(e), "reason": e.reason})
        return
    handler.write(info.to_json())


class ServerJobExtendHandler(APIHandler):
    """Extend a server's own job, for the server's own token only."""

    async def post(self) -> None:
        await extend_answer(self, own_job_spawner(self))


class UserServerExtendHandler(APIHandler):
    """Extend a user's server's job: the user's own, or anyone's for an admin (``servers``)."""

    @needs_scope("servers")  # type: ignore[untyped-decorator]
    async def post(self, user_name: str, server_name: str = "") -> None:
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404, f"no such user: {user_name}")
        spawner = user.spawners[server_name] if server_name in user.orm_spawners else None
        ours = job_spawner(spawner) if spawner is not None else None
        if ours is None:
            raise web.HTTPError(404, f"{user_name} has no batch server {server_name!r}")
        await extend_answer(self, ours)


class UserJobsHandler(APIHandler):
    """A user's jobs: the user's own, or anyone's for an admin (``read:servers``)."""

    @needs_scope("read:servers")  # type: ignore[untyped-decorator]
    async def get(self, user_name: str) -> None:
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404, f"no such user: {user_name}")
        self.set_header("Cache-Control", "no-store")
        self.write({"jobs": user_jobs_json(user), "ended": user_ended_json(user)})


class JobsPageHandler(BaseHandler):
    """The page that lists the logged-in user's jobs."""

    @web.authenticated
    async def get(self) -> None:
        user = self.current_user
        try:
            html = await self.render_template(JOBS_TEMPLATE, user=user, jobs=user_jobs(user))
        except TemplateNotFound:
            raise web.HTTPError(
                404,
                "the jobs page is not enabled: add batchspawner_x.hub_templates to "
                "c.JupyterHub.template_paths",
            ) from None
        self.write(html)


def register() -> None:
    """Add the endpoints and the page to JupyterHub's handlers (once per process); as
    :func:`batchspawner_x.api.register`, importing the spawner is enough."""
    api_routes = [
        (r"/api" + JOB_PATH, ServerJobHandler),
        (r"/api" + USER_JOBS_PATH, UserJobsHandler),
        (r"/api" + EXTEND_PATH, ServerJobExtendHandler),
        *((r"/api" + path, UserServerExtendHandler) for path in USER_EXTEND_PATHS),
    ]
    for route in api_routes:
        if route not in apihandlers.default_handlers:
            apihandlers.default_handlers.append(route)
    if not any(h[1] is JobsPageHandler for h in handlers.default_handlers):
        handlers.default_handlers.append((JOBS_PAGE_PATH, JobsPageHandler))


__all__ = [
    "EXTEND_PATH",
    "HUB_TEMPLATES",
    "JOB_PATH",
    "USER_EXTEND_PATHS",
    "ServerJobExtendHandler",
    "ServerJobHandler",
    "UserJobsHandler",
    "UserServerExtendHandler",
    "last_end_of",
    "register",
    "user_ended_json",
    "user_jobs",
]
