"""The JupyterLab extension's server part (``labextension/batchspawner_x_lab``).

A real tornado HTTP server stands in for the hub's job API and answers the JSON of
``tests/unit/recorded/lab`` (the contract of ``GET {hub api}/batchspawner_x/job``), or a
refusal; the answer of ``GET batchspawner-x/job`` is checked for each, and once through a
real ``jupyter server`` process with the extension enabled. The package is tested from its
source tree, as a site would install it beside (not inside) batchspawner_x.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "labextension"
RECORDED = Path(__file__).parent / "recorded" / "lab"
sys.path.insert(0, str(LAB))

from batchspawner_x_lab import jobinfo  # noqa: E402

TOKEN = "hub-token-for-this-server-0123456789"


def recorded(name: str) -> bytes:
    return (RECORDED / name).read_bytes()


class FakeHubJob(RequestHandler):
    """The hub's ``GET /hub/api/batchspawner_x/job``: the recorded answer for this token."""

    def initialize(self, hub: dict[str, Any]) -> None:
        self.hub = hub

    def get(self) -> None:
        self.hub["seen"].append(dict(self.request.headers))
        if self.request.headers.get("Authorization") != f"token {TOKEN}":
            self.set_status(403)
            self.finish({"status": 403, "message": "Forbidden"})
            return
        self.set_status(self.hub["status"])
        self.set_header("Content-Type", "application/json")
        self.finish(self.hub["body"])


class FakeHubExtend(RequestHandler):
    """The hub's ``POST /hub/api/batchspawner_x/job/extend``: ``extend_status`` and
    ``extend_body`` for this server's token, 403 for any other."""

    def initialize(self, hub: dict[str, Any]) -> None:
        self.hub = hub

    def post(self) -> None:
        self.hub["seen"].append({"method": self.request.method, **dict(self.request.headers)})
        if self.request.headers.get("Authorization") != f"token {TOKEN}":
            self.set_status(403)
            self.finish({"status": 403, "message": "this token is not a running server's own token"})
            return
        self.set_status(self.hub["extend_status"])
        self.set_header("Content-Type", "application/json")
        self.finish(self.hub["extend_body"])


def extended_job() -> bytes:
    """The running job after one step: as the hub answers an extension (its shape)."""
    job = json.loads(recorded("hub-job-running.json"))
    job.update(time_limit_seconds=10800, end="2026-12-04T18:00:00Z", seconds_left=7920)
    job["extend"] = {"available": True, "step_seconds": 3600, "max_seconds": 14400, "reason": None}
    return json.dumps(job).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def hub() -> AsyncIterator[dict[str, Any]]:
    """A real HTTP server on loopback answering as the hub's job API; change ``status`` and
    ``body`` to change its answer."""
    state: dict[str, Any] = {"status": 200, "body": recorded("hub-job-running.json"), "seen": []}
    state.update(extend_status=200, extend_body=extended_job())
    app = Application(
        [
            (r"/hub/api/batchspawner_x/job", FakeHubJob, {"hub": state}),
            (r"/hub/api/batchspawner_x/job/extend", FakeHubExtend, {"hub": state}),
        ]
    )
    port = free_port()
    server = HTTPServer(app)
    server.listen(port, "127.0.0.1")
    state["api_url"] = f"http://127.0.0.1:{port}/hub/api"
    yield state
    server.stop()
    await server.close_all_connections()


def env_for(hub: dict[str, Any], **more: str) -> dict[str, str]:
    return {"JUPYTERHUB_API_URL": hub["api_url"], "JUPYTERHUB_API_TOKEN": TOKEN, **more}


async def test_the_hubs_job_passes_through_with_warnings_largest_first(hub: dict[str, Any]) -> None:
    answer = await jobinfo.job_answer(env_for(hub))
    assert answer == {
        "available": True,
        "job": {
            "job_id": "1234",
            "cluster": "bsx",
            "node": "localhost",
            "state": "RUNNING",
            "profile": "small",
            "start": "2026-12-04T15:00:00Z",
            "time_limit_seconds": 7200,
            "end": "2026-12-04T17:00:00Z",
            "seconds_left": 4320,
            "elapsed_seconds": 2880,
            "warnings_seconds": [900, 300],
            "now": "2026-12-04T15:48:00Z",
            "extend": jobinfo.NO_EXTEND,  # a hub older than extending says nothing of it
        },
        "events": [],
    }
    # the server's own token, in the header only
    assert hub["seen"][-1]["Authorization"] == f"token {TOKEN}"


async def test_extending_posts_to_the_hub_with_the_servers_token_and_gives_the_new_limit(
    hub: dict[str, Any],
) -> None:
    answer = await jobinfo.extend_answer(env_for(hub))
    assert answer["extended"] is True, answer
    assert answer["job"]["time_limit_seconds"] == 10800
    assert answer["job"]["extend"] == {
        "available": True,
        "step_seconds": 3600,
        "max_seconds": 14400,
        "reason": None,
    }
    assert hub["seen"][-1]["method"] == "POST" and hub["seen"][-1]["Authorization"] == f"token {TOKEN}"


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (409, b'{"status": 409, "message": "Cap reached: this session may run at most 4 h in all."}',
         "Cap reached: this session may run at most 4 h in all."),
        (501, b'{"status": 501, "message": "Extending a session is not enabled on this hub."}',
         "Extending a session is not enabled on this hub."),
        (404, b"<html>no such page</html>", "the hub has no job for this server"),
    ],
)  # fmt: skip
async def test_a_refused_extension_gives_the_hubs_own_words(
    hub: dict[str, Any], status: int, body: bytes, message: str
) -> None:
    hub["extend_status"], hub["extend_body"] = status, body
    answer = await jobinfo.extend_answer(env_for(hub))
    assert answer["extended"] is False and answer["message"].startswith(message), answer
    wrong = await jobinfo.extend_answer(env_for(hub, JUPYTERHUB_API_TOKEN="another-token-abcdef"))
    assert wrong == {"extended": False, "message": "this token is not a running server's own token"}
    assert "another-token-abcdef" not in json.dumps(wrong)


def test_a_malformed_offer_is_no_offer() -> None:
    assert jobinfo.parse_extend({"available": "yes"}) == jobinfo.NO_EXTEND
    assert jobinfo.parse_extend({"available": True, "step_seconds": None}) == jobinfo.NO_EXTEND
    assert jobinfo.parse_extend({"available": False, "step_seconds": 3600, "max_seconds": 7200,
                                 "reason": "Cap reached"})["reason"] == "Cap reached"  # fmt: skip


async def test_a_pending_job_has_no_time_left_yet(hub: dict[str, Any]) -> None:
    hub["body"] = recorded("hub-job-pending.json")
    answer = await jobinfo.job_answer(env_for(hub))
    assert answer["available"] is True
    assert (answer["job"]["state"], answer["job"]["seconds_left"]) == ("PENDING", None)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (404, b'{"status": 404}', "the hub has no job for this server (not spawned by batchspawner_x"),
        (500, b"oops", "the hub answered HTTP 500"),
        (200, b"<html>not json</html>", "the hub's answer is not a batchspawner_x job"),
        (200, b'{"job_id": 1234}', "the hub's answer is not a batchspawner_x job"),
    ],
)
async def test_a_hub_without_a_job_gives_a_reason_not_an_error(
    hub: dict[str, Any], status: int, body: bytes, reason: str
) -> None:
    hub["status"], hub["body"] = status, body
    answer = await jobinfo.job_answer(env_for(hub))
    assert answer["available"] is False
    assert answer["reason"].startswith(reason), answer
    assert TOKEN not in json.dumps(answer)


async def test_a_refused_token_is_named_and_never_repeated(hub: dict[str, Any]) -> None:
    env = env_for(hub, JUPYTERHUB_API_TOKEN="some-other-token-abcdef")
    answer = await jobinfo.job_answer(env)
    assert answer == {
        "available": False,
        "reason": "the hub refused this server's token (HTTP 403)",
        "events": [],
    }
    assert "some-other-token-abcdef" not in json.dumps(answer)


async def test_an_unreachable_hub_is_unavailable_within_the_timeout() -> None:
    env = {"JUPYTERHUB_API_URL": f"http://127.0.0.1:{free_port()}/hub/api", "JUPYTERHUB_API_TOKEN": TOKEN}
    answer = await jobinfo.job_answer(env)
    assert answer["available"] is False
    assert answer["reason"].startswith("the hub could not be reached"), answer
    assert TOKEN not in json.dumps(answer)


async def test_outside_jupyterhub_there_is_nothing_to_ask() -> None:
    assert await jobinfo.job_answer({}) == {
        "available": False,
        "reason": "not running under JupyterHub (no hub API URL or token)",
        "events": [],
    }


def write_events(path: Path, *lines: str) -> None:
    path.write_text("".join(line + "\n" for line in lines))


async def test_the_jobs_own_warnings_are_added_even_when_the_hub_is_unreachable(
    hub: dict[str, Any], tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    write_events(
        events,
        '{"event": "warning", "seconds_left": 300, "time": 1765000000.0, "source": "scheduler"}',
        '{"event": "ended", "time": 1765000300.0}',
        "not json",
        '{"event": "warning", "seconds_left": "soon", "time": 1765000001.0}',
        '{"event": "warning", "seconds_left": 60, "time": 1765000240',  # being written
    )
    warning = {"event": "warning", "seconds_left": 300, "time": 1765000000.0, "source": "scheduler"}
    answer = await jobinfo.job_answer(env_for(hub, BATCHSPAWNER_X_EVENTS=str(events)))
    assert answer["available"] is True and answer["events"] == [warning]

    hub["status"], hub["body"] = 502, b""
    answer = await jobinfo.job_answer(env_for(hub, BATCHSPAWNER_X_EVENTS=str(events)))
    assert answer["available"] is False and answer["events"] == [warning]


def test_a_missing_events_file_is_no_warning(tmp_path: Path) -> None:
    assert jobinfo.read_events(str(tmp_path / "not-there.jsonl")) == []
    assert jobinfo.read_events(None) == []


def test_internal_ssl_uses_the_hubs_certificates() -> None:
    request = jobinfo.hub_job_request(
        {
            "JUPYTERHUB_API_URL": "https://hub.example:8081/hub/api/",
            "JUPYTERHUB_API_TOKEN": TOKEN,
            "JUPYTERHUB_SSL_KEYFILE": "/certs/user.key",
            "JUPYTERHUB_SSL_CERTFILE": "/certs/user.crt",
            "JUPYTERHUB_SSL_CLIENT_CA": "/certs/ca.crt",
        }
    )
    assert request is not None
    assert request.url == "https://hub.example:8081/hub/api/batchspawner_x/job"
    assert (request.client_key, request.client_cert, request.ca_certs) == (
        "/certs/user.key",
        "/certs/user.crt",
        "/certs/ca.crt",
    )


def test_the_package_needs_only_the_standard_library_tornado_and_jupyter_server() -> None:
    allowed = set(sys.stdlib_module_names) | {"tornado", "jupyter_server"}
    for path in (LAB / "batchspawner_x_lab").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


# -- through a real jupyter server ---------------------------------------------------------


@pytest.fixture
def jupyter_server(hub: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """``jupyter server`` with the extension enabled as its jupyter-config file enables it,
    its hub the fake one; its log is kept to look for the token."""
    port = free_port()
    config = tmp_path / "config"
    (config / "jupyter_server_config.d").mkdir(parents=True)
    shipped = LAB / "jupyter-config" / "server-config" / "batchspawner_x_lab.json"
    (config / "jupyter_server_config.d" / shipped.name).write_text(shipped.read_text())
    log = tmp_path / "server.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))},
        **env_for(hub),
        "PYTHONPATH": str(LAB),
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "HOME": str(tmp_path),
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
             "--ServerApp.ip=127.0.0.1", "--allow-root", "--IdentityProvider.token=browser-token",
             "--ServerApp.log_level=DEBUG", f"--ServerApp.root_dir={tmp_path}"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield {"url": f"http://127.0.0.1:{port}", "log": log, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def get(url: str, **headers: str) -> tuple[int, bytes]:
    try:
        response = await AsyncHTTPClient().fetch(url, headers=headers, request_timeout=30)
    except HTTPClientError as e:
        return e.code, e.response.body if e.response else b""
    return response.code, response.body


async def post(url: str, **headers: str) -> tuple[int, bytes]:
    try:
        response = await AsyncHTTPClient().fetch(
            url, method="POST", body=b"", headers=headers, request_timeout=30
        )
    except HTTPClientError as e:
        return e.code, e.response.body if e.response else b""
    return response.code, response.body


async def wait_until_up(server: dict[str, Any]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server["proc"].poll() is None, server["log"].read_text()
        try:
            code, _ = await get(f"{server['url']}/api/status", Authorization="token browser-token")
        except OSError:
            code = 0
        if code == 200:
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"jupyter server did not come up:\n{server['log'].read_text()}")


async def test_the_handler_answers_its_user_from_the_hub_and_never_shows_the_token(
    hub: dict[str, Any], jupyter_server: dict[str, Any]
) -> None:
    await wait_until_up(jupyter_server)
    url = f"{jupyter_server['url']}/batchspawner-x/job"

    code, _ = await get(url)
    assert code == 403  # only the server's own user

    code, body = await get(url, Authorization="token browser-token")
    assert code == 200, body
    answer = json.loads(body)
    assert answer["available"] is True and answer["job"]["job_id"] == "1234"

    hub["status"] = 404  # a hub without the job API: still 200, with the reason
    code, body = await get(url, Authorization="token browser-token")
    assert code == 200, body
    assert json.loads(body)["available"] is False

    # the Extend action: a POST to the server part, which asks the hub with the server's token
    extend = f"{url}/extend"
    code, _ = await post(extend)
    assert code == 403  # only the server's own user
    code, body = await post(extend, Authorization="token browser-token")
    assert code == 200, body
    answer = json.loads(body)
    assert answer["extended"] is True and answer["job"]["time_limit_seconds"] == 10800, answer
    assert hub["seen"][-1]["method"] == "POST"
    hub["extend_status"] = 409
    hub["extend_body"] = (
        b'{"status": 409, "message": "Cap reached: this session may run at most 4 h in all."}'
    )
    code, body = await post(extend, Authorization="token browser-token")
    assert code == 200, body
    assert json.loads(body) == {
        "extended": False,
        "message": "Cap reached: this session may run at most 4 h in all.",
    }

    assert "batchspawner_x_lab: serving /batchspawner-x/job" in jupyter_server["log"].read_text()
    assert TOKEN not in jupyter_server["log"].read_text()
