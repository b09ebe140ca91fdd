"""When the hub cannot reach the compute nodes: address mapping, port ranges, the tunnel.

The tunnel tests use the network of ``ci/cluster/net-up.sh``: the job's server
runs inside network namespace ``bsxnode`` on the compute address 10.251.0.2,
to which the hub's namespace has no route; the login node is an sshd inside
``bsxnode`` (10.250.0.2:22) that reaches it. Only the test user grace is used.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from . import cluster
from .hub import Hub, cluster_env

NET_ENV = Path("/etc/batchspawner-x-test/net.env")
USER = "grace"


def read_env(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            env[key.strip()] = value.strip()
    return env


@pytest.fixture(scope="module")
def net() -> dict[str, str]:
    if not NET_ENV.exists():
        if os.environ.get("BSX_REQUIRE_CLUSTER"):
            pytest.fail(f"{NET_ENV} is missing: run ci/cluster/net-up.sh first")
        pytest.skip("no unreachable-node test network (run ci/cluster/net-up.sh)")
    return read_env(NET_ENV)


@pytest.fixture
def node_hub(net: dict[str, str], make_hub: Callable[..., Hub]) -> Callable[..., Hub]:
    """A hub whose jobs' servers run on the compute address, and whose login node is bsxnode's sshd."""

    def factory(extra_config: str = "", **kwargs: object) -> Hub:
        venv = cluster_env()["BSX_VENV"]
        ours = f"""
c.BatchSpawnerBase.ssh_host = {net["BSX_NET_LOGIN_IP"]!r}
c.BatchSpawnerBase.ssh_port = {net["BSX_NET_SSH_PORT"]}
c.BatchSpawnerBase.ssh_known_hosts = {net["BSX_NET_KNOWN_HOSTS"]!r}
c.BatchSpawnerBase.node_command = ["sudo", "-n", {net["BSX_NET_IN_NODE"]!r},
                                   "{venv}/bin/batchspawner-x-singleuser"]
c.Spawner.ip = {net["BSX_NET_NODE_IP"]!r}
# the jobs reach the hub on its address on the link to the nodes
c.JupyterHub.hub_bind_url = c.JupyterHub.hub_bind_url.replace("127.0.0.1", {net["BSX_NET_HUB_IP"]!r})
c.JupyterHub.trusted_alt_names = ["IP:{net["BSX_NET_HUB_IP"]}"]
"""
        return make_hub(ours + extra_config, **kwargs)

    return factory


def hub_cannot_connect(address: str, port: int) -> str:
    """The error the hub's namespace gets connecting to ``address:port``."""
    try:
        socket.create_connection((address, port), 3).close()
    except OSError as e:
        return e.strerror or str(e)
    raise AssertionError(f"the hub's namespace reached {address}:{port}: the test proves nothing")


def assert_server_answers(hub: Hub) -> None:
    r = hub.get_through_proxy(f"/user/{USER}/api/status")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "started" in r.json()


def answers(hub: Hub) -> bool:
    try:
        return hub.get_through_proxy(f"/user/{USER}/api/status").status_code == 200
    except OSError:
        return False


def route_of(hub: Hub) -> str:
    """The proxy's target for grace's server, from the hub's log (the last one added)."""
    routes = re.findall(rf"Adding user {USER} to proxy /user/{USER}/ => (\S+)", hub.log_text())
    assert routes, hub.log_tail()
    return routes[-1]


def sshd_pid(net: dict[str, str]) -> int | None:
    """The login node's sshd, from its pidfile (None while there is none)."""
    try:
        return int(Path(net["BSX_NET_SSHD_PIDFILE"]).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie counts: PID 1 never reaps here)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def restart_login_node(net: dict[str, str]) -> None:
    """Restart the login node's sshd as an administrator would: the listener and the sessions it
    serves (all of them this test's) end, a new sshd starts. Processes are taken by pid only."""
    old = sshd_pid(net)
    assert old is not None and not gone(old), "the login node's sshd is not running: run ci/cluster/net-up.sh"
    sessions = children(old)
    assert sessions, "the hub should hold an SSH connection to the login node"
    for pid in [*sessions, old]:
        os.kill(pid, 15)
    Hub.wait_for(lambda: gone(old), 10, f"sshd {old} to exit")
    subprocess.run(
        ["nsenter", f"--net=/run/netns/{net['BSX_NET_NETNS']}", "/usr/sbin/sshd", "-f",
         net["BSX_NET_SSHD_CONFIG"], "-E", net["BSX_NET_SSHD_LOG"]],
        check=True,
        timeout=30,
    )  # fmt: skip
    Hub.wait_for(lambda: sshd_pid(net) not in (None, old), 10, "the new sshd's pidfile")


def test_without_the_tunnel_the_spawn_fails_saying_which_setting_helps(
    net: dict[str, str], node_hub: Callable[..., Hub]
) -> None:
    hub = node_hub()
    result = hub.spawn(USER)
    assert result.failed, result
    text = "\n".join(result.messages)
    node_ip = net["BSX_NET_NODE_IP"]
    assert f"The hub cannot reach the notebook server at {node_ip}:" in text, text
    assert "the login node reaches it" in text, text
    assert "c.BatchSpawnerBase.tunnel = True" in text, text
    port = int(re.search(rf"{re.escape(node_ip)}:(\d+)", text).group(1))  # type: ignore[union-attr]
    assert hub_cannot_connect(node_ip, port) == "No route to host"
    Hub.wait_for(lambda: cluster.alive_jobs(USER) == [], 60, "the unreachable server's job to be cancelled")
    assert hub.server_model(USER) is None


@pytest.mark.parametrize("internal_ssl", [False, True], ids=["http", "internal-ssl"])
def test_tunnel_reaches_the_server_survives_an_sshd_restart_and_closes_on_stop(
    net: dict[str, str], node_hub: Callable[..., Hub], internal_ssl: bool
) -> None:
    hub = node_hub("c.BatchSpawnerBase.tunnel = True\n", internal_ssl=internal_ssl)
    result = hub.spawn(USER)
    assert result.ready, result
    # (with internal SSL the spawn can finish before the progress stream opens: read the log)
    assert "Reaching the server through 127.0.0.1:" in hub.log_text(), hub.log_tail()
    state = hub.state(USER)
    assert state["host"] == net["BSX_NET_NODE_IP"]
    # the server's own address is out of the hub's reach; the route goes to the hub's loopback
    assert hub_cannot_connect(state["host"], state["port"]) == "No route to host"
    scheme = "https" if internal_ssl else "http"
    route = route_of(hub)
    match = re.fullmatch(rf"{scheme}://127\.0\.0\.1:(\d+)", route)
    assert match, route
    local_port = int(match.group(1))
    assert local_port != state["port"]
    assert_server_answers(hub)

    restart_login_node(net)
    Hub.wait_for(lambda: "re-established" in hub.log_text(), 30, "the forward to be re-established")
    Hub.wait_for(lambda: answers(hub), 30, "the server to answer through the proxy again")
    assert_server_answers(hub)
    assert route_of(hub) == route, "the local end of the forward must keep its port"

    job_id = str(state["job_id"])
    hub.stop(USER)
    Hub.wait_for(lambda: cluster.alive_jobs(USER) == [], 60, f"job {job_id} to end")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", local_port), 3).close()


def test_tunnel_is_opened_again_by_a_restarted_hub_and_closed_when_the_job_ends(
    net: dict[str, str], node_hub: Callable[..., Hub]
) -> None:
    hub = node_hub("c.BatchSpawnerBase.tunnel = True\n")
    assert hub.spawn(USER).ready
    job_id = str(hub.state(USER)["job_id"])
    old_route = route_of(hub)
    hub.kill()  # the forward's listener dies with the hub's process
    assert not answers(hub)
    hub.start()
    Hub.wait_for(lambda: answers(hub), 60, "the server to answer through a new forward")
    assert route_of(hub) != old_route
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", route_of(hub))
    assert cluster.alive_jobs(USER) == [job_id], "a restart must not submit a second job"

    # a job ended from outside: JupyterHub does not call stop(), the forward closes all the same
    local_port = int(route_of(hub).rsplit(":", 1)[1])
    cluster.run("scancel", job_id)
    Hub.wait_for(lambda: hub.server_model(USER) is None, 60, "the hub to notice the cancelled job")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", local_port), 3).close()


def test_port_range_reported_ip_and_address_mapping(make_hub: Callable[..., Hub]) -> None:
    # The server listens on every address and reports its IP on the route to the hub
    # (127.0.0.1 here); the hub connects to the scheduler's node name instead.
    hub = make_hub(
        'c.Spawner.ip = "0.0.0.0"\n'
        'c.BatchSpawnerBase.node_address = "ip"\n'
        'c.BatchSpawnerBase.port_range = "43210-43219"\n'
        'c.BatchSpawnerBase.connect_address = "{node}"\n'
    )
    result = hub.spawn(USER)
    assert result.ready, result
    state = hub.state(USER)
    assert state["host"] == "127.0.0.1"
    assert 43210 <= state["port"] <= 43219
    assert route_of(hub) == f"http://localhost:{state['port']}"
    assert_server_answers(hub)
    hub.stop(USER)


def test_a_bad_port_range_is_a_clear_config_error(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub('c.BatchSpawnerBase.port_range = "40999-40000"\n')
    result = hub.spawn(USER)
    assert result.failed, result
    assert "port_range: '40999-40000' is not a port range" in hub.log_text(), hub.log_tail()
    assert cluster.alive_jobs(USER) == []
