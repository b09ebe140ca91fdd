"""Hub user names that are valid in JupyterHub but unsafe in a shell or a path."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

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


PROFILES = """
c.BatchSpawnerBase.profiles = [
    {"name": "small", "display_name": "Small", "default": True,
     "partition": "debug", "cpus": 1, "memory": "1G", "walltime": "01:00:00",
     "fields": {"cpus": {"max": 4}, "memory": {"max": "4G"}, "walltime": {"max": "04:00:00"},
                "partition": {"choices": ["debug", "interactive"]}}},
]
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 10}
"""

#: Values that must never reach a shell or a job script.
HOSTILE = [
    "debug\n#SBATCH --uid=0",
    "debug\r\n",
    "x'; touch /tmp/bsx-pwned; '",
    "$(touch /tmp/bsx-pwned)",
    "`touch /tmp/bsx-pwned`",
    "{{ 7*7 }}",
    "{% include '/etc/shadow' %}",
    "#SBATCH --partition=interactive",
    "debug\x00",
    "d" * 10_000,
    "débug-ünïcødé",
]


@pytest.mark.parametrize("field", ["profile", "partition", "cpus", "memory", "walltime", "gpus", "extra"])
def test_hostile_user_options_are_refused_naming_the_field(make_hub: Callable[..., Hub], field: str) -> None:
    hub = make_hub(PROFILES)
    hub.create_user("alice")
    hub._spawned.add("alice")
    version = int(hub.request("GET", "/").json()["version"].split(".")[0])
    for value in HOSTILE:
        options = {"profile": "small", field: value}
        body = {"user_options": options} if version >= 6 else options
        r = hub.request("POST", "/users/alice/server", json=body)
        assert r.status_code == 400, (field, value[:40], r.status_code, r.text[:300])
        message = r.json()["message"]
        assert field in message, (field, message)
        assert len(message) < 2_000, "a 10 kB value must not be echoed back whole"
        assert hub.server_model("alice") is None
    assert cluster.alive_jobs("alice") == []
    assert not Path("/tmp/bsx-pwned").exists()
    assert "bsx-pwned" not in cluster.run("squeue", "--noheader", "--user", "alice", "--format=%k %j").stdout
    # and a sound request still works
    body = {"profile": "small", "cpus": "2"}
    r = hub.request("POST", "/users/alice/server", json={"user_options": body} if version >= 6 else body)
    assert r.status_code in (201, 202), r.text
    Hub.wait_for(lambda: (hub.server_model("alice") or {}).get("ready") is True, 120, "alice's server")
    hub.stop("alice")
