"""SlurmSpawner end to end: real Slurm, real sshd, real JupyterHub and proxy.

Every test drives the hub only through its REST API and the proxy, and checks
what a user or an admin would see: the server answering through the proxy,
the job in Slurm, the files on the cluster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from . import cluster
from .hub import Hub


def job_id_of(hub: Hub, user: str = "alice", server: str = "") -> str:
    job_id = hub.state(user, server).get("job_id")
    assert job_id, f"no job id in {user}'s spawner state"
    return str(job_id)


def assert_server_answers(hub: Hub, user: str = "alice", server: str = "") -> None:
    prefix = f"/user/{user}/{server + '/' if server else ''}"
    r = hub.get_through_proxy(prefix + "api/status")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "started" in r.json()


def wait_gone(job_id: str, timeout: float = 60) -> None:
    Hub.wait_for(
        lambda: cluster.job_state(job_id) not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING"),
        timeout,
        f"job {job_id} to leave the running states",
    )


def test_spawn_serves_through_proxy_with_requested_resources(hub: Hub) -> None:
    result = hub.spawn("alice")
    assert result.ready, result
    assert any("Submitted Slurm job" in m for m in result.messages), result.messages
    assert_server_answers(hub)

    job_id = job_id_of(hub)
    info = cluster.job_info(job_id)
    assert info["JobState"] == "RUNNING"
    assert info["UserId"].startswith("alice(")
    # mem_limit = 1G and cpu_limit = 2 reach Slurm's allocation
    assert "cpu=2" in info["TRES"] and "mem=1G" in info["TRES"], info["TRES"]
    assert info["Partition"] == "debug"
    assert info["TimeLimit"] == "01:00:00"
    assert cluster.alive_jobs("alice") == [job_id]

    # the token travels in a private file, never in argv or the hub's logs
    job_dir = Path(hub.state("alice")["job_dir"])
    env_file = job_dir / "env.json"
    assert cluster.mode(str(job_dir)) == 0o700
    assert cluster.mode(str(env_file)) == 0o600
    assert cluster.owner(str(env_file)) == cluster.owner("/home/alice")
    token = json.loads(env_file.read_text())["env"]["JUPYTERHUB_API_TOKEN"]
    assert len(token) >= 16
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert token not in ps
    assert token not in hub.log_text()
    script = cluster.run("scontrol", "write", "batch_script", job_id, "-").stdout
    assert "#SBATCH --mem=1024M" in script and "#SBATCH --cpus-per-task=2" in script
    assert token not in script

    hub.stop("alice")
    wait_gone(job_id)
    assert cluster.alive_jobs("alice") == []
    assert not env_file.exists(), "the token file must be removed when the server stops"


def test_hub_restart_keeps_running_server(hub: Hub) -> None:
    assert hub.spawn("alice").ready
    job_id = job_id_of(hub)
    hub.kill()
    hub.start()
    Hub.wait_for(
        lambda: (hub.server_model("alice") or {}).get("ready") is True, 60, "server to be ready again"
    )
    assert job_id_of(hub) == job_id
    assert_server_answers(hub)
    assert cluster.alive_jobs("alice") == [job_id], "a restart must not submit a second job"


def test_a_hub_restarted_with_a_refused_setting_starts_and_leaves_the_job(
    make_hub: Callable[..., Hub],
) -> None:
    # one spawner's bad setting must not stop the hub (with a traceback) for every user
    hub = make_hub()
    assert hub.spawn("dave").ready
    job_id = job_id_of(hub, "dave")
    good = hub.config_path.read_text()
    hub.kill()
    hub.config_path.write_text(good + "c.SlurmSpawner.ssh_port = 0\n")
    hub.start()
    Hub.wait_for(lambda: "is left as it is" in hub.log_text(), 60, "the refusal in the log")
    assert "Traceback" not in hub.log_text(), hub.log_tail()
    assert_server_answers(hub, "dave")  # still served, its job untouched
    r = hub.request("DELETE", "/users/dave/server")
    assert r.status_code in (202, 204), r.text
    Hub.wait_for(lambda: "not cancelled" in hub.log_text(), 60, "stop to say it did not cancel")
    assert cluster.job_state(job_id) == "RUNNING" and "Traceback" not in hub.log_text()
    cluster.run("scancel", job_id)  # by hand, as the log says
    wait_gone(job_id)


def test_hub_killed_while_job_pending_adopts_the_job(make_hub: Callable[..., Hub]) -> None:
    # The job waits in the queue for 12 s (BeginTime) while the hub is down.
    hub = make_hub('c.BatchSpawnerBase.extra_directives = ["--begin=now+12"]\n')
    hub.spawn("alice", wait=False)
    Hub.wait_for(
        lambda: bool((hub.server_model("alice") or {}).get("state", {}).get("job_id")), 30, "job id in state"
    )
    job_id = job_id_of(hub)
    assert cluster.job_state(job_id) == "PENDING"
    hub.kill()
    hub.start()
    Hub.wait_for(
        lambda: (hub.server_model("alice") or {}).get("ready") is True, 120, "adopted server to be ready"
    )
    assert job_id_of(hub) == job_id
    assert_server_answers(hub)
    assert cluster.alive_jobs("alice") == [job_id]


def test_progress_tells_queue_reason_and_node(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub('c.BatchSpawnerBase.extra_directives = ["--begin=now+5"]\n')
    result = hub.spawn("alice")
    assert result.ready, result
    text = "\n".join(result.messages)
    assert "waiting in the queue" in text and "BeginTime" in text, text
    assert "expected start" in text, text
    assert "is running on localhost" in text, text
    assert text.index("waiting in the queue") < text.index("is running on localhost")


def test_scancel_from_outside_is_noticed(hub: Hub) -> None:
    assert hub.spawn("alice").ready
    job_id = job_id_of(hub)
    cluster.run("scancel", job_id)
    Hub.wait_for(lambda: hub.server_model("alice") is None, 60, "the hub to notice the cancelled job")
    assert cluster.alive_jobs("alice") == []


def test_rejected_submission_shows_slurm_message(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub('c.BatchSpawnerBase.partition = "nosuchpartition"\n')
    result = hub.spawn("alice")
    assert result.failed
    assert any("Invalid partition name specified" in m for m in result.messages), result.messages
    assert hub.server_model("alice") is None
    assert cluster.alive_jobs("alice") == []
    env_file = Path("/home/alice/.batchspawner_x/alice/env.json")
    assert not env_file.exists(), "a rejected job must leave no token behind"


def test_impossible_memory_is_rejected(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub('c.Spawner.mem_limit = "500G"\n')
    result = hub.spawn("alice")
    assert result.failed
    assert any("Requested node configuration is not available" in m for m in result.messages), result.messages
    assert cluster.alive_jobs("alice") == []


def test_site_template_override(make_hub: Callable[..., Hub], tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "slurm.sh.j2").write_text(
        '{% extends "batchspawner_x/slurm.sh.j2" %}\n'
        "{% block directives %}{{ super() }}#SBATCH --comment=site-override\n{% endblock %}\n"
        "{% block setup %}echo SITE-SETUP-RAN\n{% endblock %}\n"
    )
    hub = make_hub(f'c.BatchSpawnerBase.template_paths = ["{templates}"]\n')
    assert hub.spawn("alice").ready
    job_id = job_id_of(hub)
    info = cluster.job_info(job_id)
    # the site's comment stays, followed by the submission's identity
    comment = cluster.run("squeue", "--noheader", "--jobs", job_id, "--format=%k").stdout.strip()
    site, identity = comment.split(" ")
    assert site == "site-override" and identity.startswith("bsx-"), comment
    assert "cpu=2" in info["TRES"], "the packaged directives must stay in place"
    output = Path(hub.state("alice")["job_dir"]) / f"job-{job_id}.out"
    assert "SITE-SETUP-RAN" in output.read_text()


def test_cancelled_spawn_cancels_its_job(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub('c.BatchSpawnerBase.extra_directives = ["--begin=now+120"]\n')
    hub.spawn("alice", wait=False)
    Hub.wait_for(
        lambda: bool((hub.server_model("alice") or {}).get("state", {}).get("job_id")), 30, "job id in state"
    )
    job_id = job_id_of(hub)
    hub.stop("alice")
    wait_gone(job_id)
    assert cluster.alive_jobs("alice") == []


def test_start_timeout_cancels_its_job(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub('c.BatchSpawnerBase.extra_directives = ["--begin=now+300"]\nc.Spawner.start_timeout = 8\n')
    result = hub.spawn("alice")
    assert result.failed
    Hub.wait_for(lambda: cluster.alive_jobs("alice") == [], 60, "the timed-out job to be cancelled")


def test_internal_ssl(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(internal_ssl=True)
    result = hub.spawn("alice")
    assert result.ready, result
    assert_server_answers(hub)
    port = hub.state("alice")["port"]
    # the proxy routes to the server over TLS
    assert re.search(rf"/user/alice/ => https://127\.0\.0\.1:{port}", hub.log_text()), hub.log_tail()
    certs = Path(hub.state("alice")["job_dir"]) / "certs"
    assert cluster.mode(str(certs)) == 0o700
    for name in ("key.pem", "cert.pem", "ca.pem"):
        assert cluster.mode(str(certs / name)) == 0o600
        assert cluster.owner(str(certs / name)) == cluster.owner("/home/alice")
    hub.stop("alice")
    assert not (certs / "key.pem").exists()


def test_local_mode_through_sudo(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub('c.BatchSpawnerBase.connection = "local"\n')
    result = hub.spawn("bob")
    assert result.ready, result
    assert_server_answers(hub, "bob")
    job_id = job_id_of(hub, "bob")
    assert cluster.job_info(job_id)["UserId"].startswith("bob(")
    hub.stop("bob")
    wait_gone(job_id)


def test_named_servers_are_separate_jobs(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub("c.JupyterHub.allow_named_servers = True\n")
    assert hub.spawn("alice").ready
    assert hub.spawn("alice", "second").ready
    first, second = job_id_of(hub), job_id_of(hub, server="second")
    assert first != second
    assert sorted(cluster.alive_jobs("alice")) == sorted([first, second])
    assert_server_answers(hub, server="second")
    assert hub.state("alice")["job_dir"] != hub.state("alice", "second")["job_dir"]
    assert os.path.isdir(hub.state("alice", "second")["job_dir"])
