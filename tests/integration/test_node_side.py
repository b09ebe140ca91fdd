"""Only ``jupyterhub-singleuser`` on the node: spawns into bare environments.

Each environment is a venv from Debian's ``/usr/bin/python3`` holding only jupyterhub (one
release line) and jupyterlab, nothing of batchspawner_x (``ci/cluster/node-envs.sh``).
With ``node_command`` empty the job script carries the node side and runs it with the
environment's own Python; the server is reached through the proxy (JupyterLab, and a
kernel that runs ``1+1``). The CI runs this module under each JupyterHub it tests the hub
with (5.5 and 6.1), so each node release is shown under both.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from tornado.httpclient import HTTPRequest
from tornado.ioloop import IOLoop
from tornado.websocket import websocket_connect

from . import cluster
from .hub import Hub, cluster_env

USER = "frank"  # not alice or bob, whom most suites spawn
#: A named server: its job directory is this test's own even when a neighbour spawns as USER.
SERVER = "nodeside"
PREFIX = f"/user/{USER}/{SERVER}"

BARE = {
    # cluster.env's name for the environment (made by ci/cluster/node-envs.sh, its path the
    # default for a cluster.env written before it), and the jupyterhub line it holds
    "jupyterhub-4.1": ("BSX_NODE_ENV_JH41", "/opt/bsx-node-env/jh41", "4.1."),
    "jupyterhub-5.x": ("BSX_NODE_ENV_JH5X", "/opt/bsx-node-env/jh5x", "5."),
}


def node_hub(make_hub: Callable[..., Hub], cmd: str) -> Hub:
    return make_hub(
        f"""
        c.JupyterHub.allow_named_servers = True
        c.BatchSpawnerBase.node_command = []
        c.Spawner.cmd = ["{cmd}"]
        """
    )


def job_output(hub: Hub) -> str:
    job_dir = Path(hub.state(USER, SERVER)["job_dir"])
    return "\n".join(p.read_text(errors="replace") for p in sorted(job_dir.glob("job-*.out")))


def run_in_a_kernel(hub: Hub, code: str, prefix: str = PREFIX) -> str:
    """Start a kernel on the server at ``prefix`` through the proxy, run ``code``, and return
    the ``text/plain`` of its result (the Jupyter server's REST API and kernel websocket)."""
    base = f"{prefix}/api/kernels"
    headers = {"Authorization": f"token {hub.token}"}
    started = requests.post(f"{hub.url}{base}", headers=headers, json={"name": "python3"}, timeout=60)
    assert started.status_code == 201, (started.status_code, started.text[:300])
    kernel_id = started.json()["id"]
    try:
        return str(
            IOLoop.current().run_sync(
                lambda: _execute(
                    f"ws://127.0.0.1:{hub.public_port}{base}/{kernel_id}/channels", headers, code
                ),
                timeout=90,
            )
        )
    finally:
        requests.delete(f"{hub.url}{base}/{kernel_id}", headers=headers, timeout=30)


async def _execute(url: str, headers: dict[str, str], code: str) -> str:
    connection = await websocket_connect(HTTPRequest(url, headers=headers))
    msg_id = uuid.uuid4().hex
    connection.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": USER,
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    try:
        while True:
            raw = await connection.read_message()
            assert raw is not None, "the kernel's websocket closed before the result"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] == "execute_result":
                return str(message["content"]["data"]["text/plain"])
            if message["msg_type"] == "error":
                raise AssertionError(f"the kernel failed: {message['content']}")
    finally:
        connection.close()


def bare_env(name: str) -> Path:
    key, default, line = BARE[name]
    env = Path(cluster_env().get(key) or default)
    assert (env / "bin" / "jupyterhub-singleuser").exists(), f"{env}: run ci/cluster/node-envs.sh"
    ours = list((env / "lib").glob("python3*/site-packages/batchspawner_x"))
    assert not ours, f"{env} holds batchspawner_x"
    version = cluster.run(f"{env}/bin/python", "-c", "import jupyterhub; print(jupyterhub.__version__)")
    assert version.stdout.startswith(line), version
    return env


@pytest.mark.parametrize("name", sorted(BARE))
def test_a_spawn_into_a_bare_node_environment(make_hub: Callable[..., Hub], name: str) -> None:
    env = bare_env(name)
    hub = node_hub(make_hub, f"{env}/bin/jupyterhub-singleuser")
    result = hub.spawn(USER, SERVER)
    assert result.ready, (result, hub.log_tail())
    # the node side ran with the environment's own Python
    assert f"running the node side with {env}/bin/python3" in job_output(hub)
    lab = hub.get_through_proxy(f"{PREFIX}/lab")
    assert lab.status_code == 200, (lab.status_code, lab.text[:300])
    assert "JupyterLab" in lab.text
    assert run_in_a_kernel(hub, "1+1") == "2"
    job_id = hub.state(USER, SERVER)["job_id"]
    hub.stop(USER, SERVER)
    assert job_id not in cluster.alive_jobs(USER)


def test_a_missing_node_environment_fails_at_once_in_the_jobs_words(make_hub: Callable[..., Hub]) -> None:
    missing = "/opt/bsx-node-env/not-there/bin/jupyterhub-singleuser"
    hub = node_hub(make_hub, missing)
    started = time.monotonic()
    result = hub.spawn(USER, SERVER)
    took = time.monotonic() - started
    assert result.failed, result
    message = "\n".join(result.messages)
    assert "ended before its notebook server started" in message, message
    assert "exit code 127" in message, message
    assert f"cannot start the server: {missing}: No such file or directory" in message, message
    # the early-death path, not the start timeout (120 s here)
    assert took < 60, took
    assert hub.server_model(USER, SERVER) is None
