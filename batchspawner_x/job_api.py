"""The hub's job information endpoints and the user's jobs page.

- ``GET /hub/api/batchspawner_x/job`` with ``Authorization: token <a server's own API
  token>``: that server's job (:class:`~batchspawner_x.job_info.JobInfo` as JSON). Any
  other token is refused (403); a server without a job is a 404. The JupyterLab extension
  asks this from inside the job.
- ``GET /hub/api/batchspawner_x/users/NAME/jobs``: every server of a user that has a job,
  each with ``server_name`` and ``url`` added. It needs ``read:servers`` on that user: the
  user's own cookie or token, or an admin's.
- ``GET /hub/batchspawner_x/jobs``: the page that lists the user's jobs, rendered from the
  package's hub templates (:data:`batchspawner_x.hub_templates`, enabled with
  ``c.JupyterHub.template_paths``).

Nothing here runs a command: every answer is built from the hub's own memory.
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
from .job_info import JobInfo, job_info_json

#: The server's own endpoint, below the hub's API URL.
JOB_PATH = "/batchspawner_x/job"
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


def user_jobs_json(user: Any) -> list[dict[str, Any]]:
    """:func:`user_jobs` as the user-facing API's body."""
    return [
        job_info_json(info, {"server_name": spawner.name, "url": user.server_url(spawner.name)})
        for spawner, info in user_jobs(user)
    ]


class ServerJobHandler(APIHandler):
    """A server's own job, for the server's own token only."""

    async def get(self) -> None:
        token = self.get_auth_token()
        user = self.current_user
        if not token or user is None or not hasattr(user, "spawners"):
            raise web.HTTPError(403, "a server's own API token is required")
        for spawner in list(user.spawners.values()):
            ours = job_spawner(spawner)
            if ours is None or not owns_token(ours, token):
                continue
            info = ours.job_info()
            if info is None:
                raise web.HTTPError(404, "this server has no batch job now")
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            self.write(info.to_json())
            return
        raise web.HTTPError(403, "this token is not a running server's own token")


class UserJobsHandler(APIHandler):
    """A user's jobs: the user's own, or anyone's for an admin (``read:servers``)."""

    @needs_scope("read:servers")  # type: ignore[untyped-decorator]
    async def get(self, user_name: str) -> None:
        user = self.find_user(user_name)
        if user is None:
            raise web.HTTPError(404, f"no such user: {user_name}")
        self.set_header("Cache-Control", "no-store")
        self.write({"jobs": user_jobs_json(user)})


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
    api_routes = [(r"/api" + JOB_PATH, ServerJobHandler), (r"/api" + USER_JOBS_PATH, UserJobsHandler)]
    for route in api_routes:
        if not any(h[1] is route[1] for h in apihandlers.default_handlers):
            apihandlers.default_handlers.append(route)
    if not any(h[1] is JobsPageHandler for h in handlers.default_handlers):
        handlers.default_handlers.append((JOBS_PAGE_PATH, JobsPageHandler))


__all__ = ["HUB_TEMPLATES", "JOB_PATH", "ServerJobHandler", "UserJobsHandler", "register", "user_jobs"]
