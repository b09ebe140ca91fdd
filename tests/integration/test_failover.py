"""Login-node failover on the real stack: two sshds are two login nodes of the Slurm cluster
(127.0.0.1:2224 and 127.0.0.1:2222, both started by ci/cluster/up.sh), and the one in use
goes down with servers running and two spawns in flight.

Runs as dave and grace (carol and frank are other suites'), each with a default and a named
server. Only the second login node
(2224) is stopped, never the one the other suites use.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import cluster
from .hub import Hub, SpawnResult, cluster_env
from .test_faults import JobCounter
from .test_slurm_e2e import assert_server_answers, job_id_of
from .test_status_interval import seconds_until_gone

#: The login nodes and the transport, not the hub, are under test: run against the newest hub only.
pytestmark = pytest.mark.newest_hub_only

USERS = ("dave", "grace")


@pytest.fixture
def second_login() -> Iterator[int]:
    """The second login node's port; its sshd runs again after the test, whatever happens."""
    port = int(cluster_env()["BSX_SSH_PORT2"])
    cluster.start_login_sshd(port)
    yield port
    cluster.start_login_sshd(port)


@pytest.fixture
def world_tmp() -> Iterator[Path]:
    """A directory every cluster user may write to (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="bsx-failover-", dir="/var/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def pausing_sbatch(tmp: Path) -> Path:
    """An sbatch whose second call per user (the named server's spawn) submits, leaves a
    ``paused-<user>`` marker and sleeps a minute before it answers: a login node that goes
    down then takes the answer with it, and the job exists."""
    wrapper = tmp / "sbatch"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'out=$({shutil.which("sbatch")} "$@"); rc=$?\n'
        f"me=$(id -un); calls={tmp}/calls-$me\n"
        'echo x >> "$calls"\n'
        f'if [ "$(wc -l < "$calls")" -eq 2 ]; then touch {tmp}/paused-$me; sleep 60; fi\n'
        'printf "%s\\n" "$out"; exit $rc\n'
    )
    wrapper.chmod(0o755)
    return wrapper


def two_jobs(user: str) -> Callable[[], bool]:
    return lambda: len(cluster.alive_jobs(user)) == 2


def test_the_login_node_in_use_goes_down_and_comes_back(
    make_hub: Callable[..., Hub], second_login: int, world_tmp: Path
) -> None:
    first_login = int(cluster_env()["BSX_SSH_PORT"])
    pidfile2 = cluster.login_sshd(second_login).pidfile
    wrapper = pausing_sbatch(world_tmp)
    hub = make_hub(
        f"""
c.JupyterHub.allow_named_servers = True
c.BatchSpawnerBase.login_hosts = ["127.0.0.1:{second_login}", "127.0.0.1:{first_login}"]
c.BatchSpawnerBase.login_order = "first-healthy"
c.BatchSpawnerBase.login_down_time = 10
c.BatchSpawnerBase.ssh_connect_timeout = 5
c.BatchSpawnerBase.status_timeout = 4
c.BatchSpawnerBase.scheduler_commands = {{"submit": "{wrapper}"}}
"""
    )
    for user in USERS:
        hub.spawn(user, wait=False)
    for user in USERS:
        result = SpawnResult(list(hub.progress(user)))
        assert result.ready, (user, result)
    running = {user: job_id_of(hub, user) for user in USERS}
    for user in USERS:
        assert cluster.ssh_sessions(user, pidfile=pidfile2), f"{user}'s connection is to the first login node"

    # two spawns in flight: each job submitted, its answer still on the login node
    for user in USERS:
        hub.spawn(user, "b", wait=False)
    for user in USERS:
        Hub.wait_for((world_tmp / f"paused-{user}").exists, 60, f"{user}'s submission to pause")
        Hub.wait_for(two_jobs(user), 30, f"{user}'s second job")
    counters = {user: JobCounter(user).start() for user in USERS}
    try:
        cluster.stop_login_sshd(second_login)
        for user in USERS:
            result = SpawnResult(list(hub.progress(user, "b")))
            assert result.ready, (user, result)
    finally:
        for counter in counters.values():
            counter.stop()
    log = hub.log_text()
    assert f"Login node 127.0.0.1:{second_login} is down" in log
    assert "was lost" in log and "it is job" in log, "the lost answers were settled by the job's identity"
    for user in USERS:
        named = job_id_of(hub, user, "b")
        # exactly one job per spawn, at every moment
        assert sorted(cluster.alive_jobs(user)) == sorted([running[user], named])
        assert counters[user].seen == {running[user], named}, counters[user].seen
        assert counters[user].most == 2
        # the servers that ran stay, and every server answers through the proxy
        model = hub.server_model(user)
        assert model is not None and model["ready"], f"{user}'s running server must stay"
        assert job_id_of(hub, user) == running[user]
        assert_server_answers(hub, user)
        assert_server_answers(hub, user, "b")
        assert cluster.ssh_sessions(user), f"{user}'s commands go through the other login node"

    # an out-of-band scancel is noticed within two poll intervals (5 s each)
    assert seconds_until_gone(hub, "dave", 10) < 10
    # stop still cancels
    grace_named = job_id_of(hub, "grace", "b")
    hub.stop("grace", "b")
    assert grace_named not in cluster.alive_jobs("grace")

    # the login node comes back and, after its down time, is used again
    cluster.start_login_sshd(second_login)
    Hub.wait_for(
        lambda: f"Login node 127.0.0.1:{second_login} answers again" in hub.log_text(),
        40,
        "the second login node to be used again",
    )
    Hub.wait_for(
        lambda: any(cluster.ssh_sessions(user, pidfile=pidfile2) for user in USERS),
        20,
        "a connection to the second login node",
    )
    hub.stop("grace")
    hub.stop("dave", "b")  # (dave's default server ended with its scancel)
    for user in USERS:
        assert cluster.alive_jobs(user) == []


def test_a_login_node_whose_host_key_does_not_verify_is_an_error_and_the_other_serves(
    make_hub: Callable[..., Hub], second_login: int, tmp_path: Path
) -> None:
    # the second node's entry holds another key (a re-installed node, or somebody between)
    env = cluster_env()
    first_login = int(env["BSX_SSH_PORT"])
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    other = " ".join(key.with_suffix(".pub").read_text().split()[:2])
    lines = Path(env["BSX_KNOWN_HOSTS"]).read_text().splitlines()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "".join(
            f"[127.0.0.1]:{second_login} {other}\n"
            if line.startswith(f"[127.0.0.1]:{second_login} ")
            else line + "\n"
            for line in lines
        )
    )
    hub = make_hub(
        f"""
c.BatchSpawnerBase.login_hosts = ["127.0.0.1:{second_login}", "127.0.0.1:{first_login}"]
c.BatchSpawnerBase.ssh_known_hosts = "{known_hosts}"
"""
    )
    assert hub.spawn("dave").ready
    assert_server_answers(hub, "dave")
    errors = [line for line in hub.log_text().splitlines() if line.startswith("[E") and "Login node" in line]
    assert len(errors) == 1, errors
    assert f"Login node 127.0.0.1:{second_login} is not used" in errors[0]
    assert f"host key of 127.0.0.1:{second_login}" in errors[0]
    assert not cluster.ssh_sessions("dave", pidfile=cluster.login_sshd(second_login).pidfile)
    hub.stop("dave")
    assert cluster.alive_jobs("dave") == []
