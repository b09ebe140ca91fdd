"""Hub user names that are valid in JupyterHub but unsafe in a shell or a path."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path

from . import cluster
from .hub import Hub

# Every hub user below runs on the cluster as alice (a site maps names this way).
MAP_TO_ALICE = 'c.BatchSpawnerBase.ssh_username = lambda spawner: "alice"\n'


def quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def test_unsafe_hub_name_is_carried_safely(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(MAP_TO_ALICE)
    name = "o'brien$(touch bsx-pwned)`touch bsx-pwned`\u00e9;x"
    result = hub.spawn(quoted(name))
    assert result.ready, result
    job_id = hub.state(quoted(name))["job_id"]
    info = cluster.job_info(job_id)
    assert info["UserId"].startswith("alice(")
    assert "$(" not in info["JobName"] and "`" not in info["JobName"] and "'" not in info["JobName"]
    job_dir = Path(hub.state(quoted(name))["job_dir"])
    assert job_dir.parent == Path("/home/alice/.batchspawner_x")
    assert all(c.isalnum() or c in "._-+" for c in job_dir.name), job_dir.name
    assert not Path("/home/alice/bsx-pwned").exists() and not Path("/bsx-pwned").exists()
    r = hub.get_through_proxy(f"/user/{quoted(name)}/api/status")
    assert r.status_code == 200, r.text
    hub.stop(quoted(name))
    cluster.cancel_all("alice")


def test_cluster_name_that_is_not_a_user_name_is_refused(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub()  # ssh_username = "{username}"
    result = hub.spawn(quoted("-oProxyCommand=id"))
    assert result.failed
    message = "\n".join(result.messages)
    assert "ssh_username" in message and "does not match the allowed cluster user names" in message, message
    assert cluster.alive_jobs("alice") == []
