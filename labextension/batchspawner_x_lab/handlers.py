"""``GET {base_url}batchspawner-x/job``: the job answer (:mod:`.jobinfo`) for the front end;
``POST {base_url}batchspawner-x/job/extend``: extend the job by one step through the hub.

Only the server's own user reaches it (jupyter_server's authentication and the
``servers`` permission); the answer is always 200 JSON so that JupyterLab never shows
an error page for it: a missing hub is ``{"available": false, "reason": ...}``.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .jobinfo import extend_answer, job_answer


class JobHandler(APIHandler):
    """This server's batch job: time left, warning thresholds, and the job's own warnings."""

    auth_resource = "server"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        answer = await job_answer()
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(answer))


class ExtendHandler(APIHandler):
    """Extend this server's job by one step, through the hub, with the server's own token."""

    auth_resource = "server"

    @web.authenticated
    @authorized
    async def post(self) -> None:
        answer = await extend_answer()
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(answer))


def setup_handlers(web_app: Any) -> None:
    """Route ``{base_url}batchspawner-x/job`` to :class:`JobHandler` and
    ``{base_url}batchspawner-x/job/extend`` to :class:`ExtendHandler`."""
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, "batchspawner-x", "job"), JobHandler),
            (url_path_join(base_url, "batchspawner-x", "job", "extend"), ExtendHandler),
        ],
    )
