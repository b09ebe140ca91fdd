"""The port handshake refuses every report but the starting server's own."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import requests

from . import cluster
from .hub import Hub


def post_report(hub: Hub, token: str, body: object) -> requests.Response:
    return requests.post(
        f"{hub.api}/batchspawner_x/server",
        data=json.dumps(body),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        timeout=10,
    )


def test_only_the_servers_own_token_and_a_host_and_port_are_accepted(make_hub: Callable[..., Hub]) -> None:
    # The job waits 20 s in the queue: the spawner is waiting for a report meanwhile.
    hub = make_hub('c.BatchSpawnerBase.extra_directives = ["--begin=now+20"]\n')
    hub.spawn("alice", wait=False)
    Hub.wait_for(
        lambda: bool((hub.server_model("alice") or {}).get("state", {}).get("job_id")), 30, "job id in state"
    )
    job_dir = Path(hub.state("alice")["job_dir"])
    server_token = json.loads((job_dir / "env.json").read_text())["env"]["JUPYTERHUB_API_TOKEN"]

    # alice's own API token is not her server's token
    r = hub.request("POST", "/users/alice/tokens", json={"note": "not the server"})
    assert r.status_code == 201, r.text
    user_token = r.json()["token"]
    assert post_report(hub, user_token, {"host": "127.0.0.1", "port": 8888}).status_code == 403
    # a service (even an admin one) is not a server
    assert post_report(hub, hub.token, {"host": "127.0.0.1", "port": 8888}).status_code == 403
    # no token at all
    r = requests.post(
        f"{hub.api}/batchspawner_x/server", json={"host": "127.0.0.1", "port": 8888}, timeout=10
    )
    assert r.status_code == 403

    bad_bodies = [
        {"host": "127.0.0.1", "port": 8888, "ip": "10.0.0.1"},
        {"host": "127.0.0.1", "port": 8888, "cmd": ["/bin/sh"]},
        {"host": "127.0.0.1", "port": 0},
        {"host": "127.0.0.1", "port": 65536},
        {"host": "127.0.0.1", "port": "8888"},
        {"host": "127.0.0.1", "port": True},
        {"host": "evil host\n", "port": 8888},
        {"port": 8888},
        ["127.0.0.1", 8888],
    ]
    for body in bad_bodies:
        r = post_report(hub, server_token, body)
        assert r.status_code == 400, (body, r.status_code, r.text)

    # nothing was changed by the refused reports: the job starts and serves
    result = list(hub.progress("alice"))
    assert any(e.get("ready") for e in result), result
    model = hub.server_model("alice")
    assert model is not None and model["ready"]
    r = hub.get_through_proxy("/user/alice/api/status")
    assert r.status_code == 200
    assert hub.state("alice")["host"] == "127.0.0.1"
    assert "Refused a server address report for alice" in hub.log_text()
    assert server_token not in hub.log_text()
    job_id = hub.state("alice")["job_id"]
    assert cluster.alive_jobs("alice") == [job_id]

    # once the server runs, even its own token cannot move it
    assert post_report(hub, server_token, {"host": "127.0.0.1", "port": 8888}).status_code == 403
