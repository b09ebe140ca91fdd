"""Addresses, port ranges and the unreachable-server message: pure functions and settings."""

from __future__ import annotations

import asyncio
import errno
import socket
import time

import pytest
from traitlets import TraitError

from batchspawner_x import SlurmSpawner
from batchspawner_x.errors import ConfigError
from batchspawner_x.network import (
    check_address,
    check_address_template,
    map_address,
    short_name,
    unreachable_message,
    valid_host,
)
from batchspawner_x.poller import CachedStatus, StatusPoller
from batchspawner_x.reach import ServerUnreachable, describe_error, is_unreachable
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.states import JobState, JobStatus

from .fakes import FakeTransport, make_spawner, new_spawner
from .test_poller import any_jobs_transport
from .test_spawner import squeue_says

# -- port ranges (parsing: test_singleuser.py) --------------------------------------------


def spawner(**config: object) -> SlurmSpawner:
    """Grace's spawner, configured with ``config``; it connects as configured."""
    return new_spawner(name="grace", **config)


def test_port_range_setting_is_checked_and_reaches_the_job() -> None:
    s = spawner(port_range=" 40000-40099 ")
    assert s.port_range == "40000-40099"
    assert s.network_env()["BATCHSPAWNER_X_PORT_RANGE"] == "40000-40099"
    assert "BATCHSPAWNER_X_PORT_RANGE" not in spawner().network_env()


@pytest.mark.parametrize("bad", ["40099-40000", "70000", "40000-40099; rm -rf ~", "40000,40001"])
def test_a_bad_port_range_is_a_config_error(bad: str) -> None:
    with pytest.raises(TraitError, match="port_range"):
        spawner(port_range=bad)


# -- address mapping ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "host", "node", "expected"),
    [
        # a short name the hub cannot resolve: add the domain of the network the hub reaches
        ("{host}.ib.cluster.example.edu", "cn017", "", "cn017.ib.cluster.example.edu"),
        # a full name on the wrong network: keep its first label
        ("{short}.ib.cluster.example.edu", "cn017.eth.cluster", "", "cn017.ib.cluster.example.edu"),
        # the job reported an address the hub cannot route to: use the scheduler's node name
        ("{node}-hsn", "10.99.0.17", "cn017", "cn017-hsn"),
        ("{host}", "fd00::17", "", "fd00::17"),
        ("login-gw.example.edu", "cn017", "", "login-gw.example.edu"),
    ],
)
def test_map_address(template: str, host: str, node: str, expected: str) -> None:
    assert map_address(template, host, node) == expected


@pytest.mark.parametrize("template", ["{user}.example", "{host!r}", "{host:>20}", "{0}", "{host", "{host.x}"])
def test_address_template_only_knows_its_fields(template: str) -> None:
    with pytest.raises(ConfigError, match="connect_address"):
        check_address_template("connect_address", template)


@pytest.mark.parametrize("bad_host", ["cn 017", "cn017;id", "-cn017", "cn017\nevil", "a" * 300])
def test_mapped_address_must_be_a_hostname_or_ip(bad_host: str) -> None:
    with pytest.raises(ConfigError, match="not a hostname or an IP address"):
        map_address("{host}", bad_host)


def test_node_field_needs_a_node() -> None:
    with pytest.raises(ConfigError, match="named no node"):
        map_address("{node}.ib", "cn017", "")


def test_short_name_keeps_addresses_whole() -> None:
    assert short_name("cn017.cluster") == "cn017"
    assert short_name("10.1.2.3") == "10.1.2.3"
    assert short_name("fd00::1") == "fd00::1"


@pytest.mark.parametrize(
    ("host", "ok"),
    [("cn017", True), ("cn017.ib.example.edu.", True), ("10.0.0.1", True), ("::1", True), ("cn_017", False)],
)
def test_valid_host(host: str, ok: bool) -> None:
    assert valid_host(host) is ok
    if not ok:
        with pytest.raises(ConfigError):
            check_address("connect_address", host)


def test_connect_address_setting_is_checked_when_set() -> None:
    with pytest.raises(TraitError, match="connect_address"):
        spawner(connect_address="{username}.cluster")


def with_node(s: SlurmSpawner, node: str) -> SlurmSpawner:
    s.load_state({"job_id": "25"})
    poller = StatusPoller(any_jobs_transport(), SlurmScheduler(), interval=30, timeout=5)
    poller.cache["25"] = CachedStatus(
        JobStatus("25", JobState.RUNNING, "RUNNING", host=node), time.monotonic()
    )
    s._poller = poller
    return s


async def test_connect_host_from_a_format_string_and_the_schedulers_node() -> None:
    assert await spawner().connect_host("cn017") == "cn017"
    s = with_node(spawner(connect_address="{node}.ib.example.edu"), "cn017")
    assert await s.connect_host("10.99.0.17") == "cn017.ib.example.edu"


async def test_connect_host_from_a_callable_sync_or_async() -> None:
    table = {"cn017": "10.1.0.17"}
    s = with_node(spawner(connect_address=lambda sp, host, node: table[node]), "cn017")
    assert await s.connect_host("cn017.internal") == "10.1.0.17"

    async def lookup(sp: SlurmSpawner, host: str, node: str) -> str:
        await asyncio.sleep(0)
        return f"{node}.gw"

    s = with_node(spawner(connect_address=lookup), "cn017")
    assert await s.connect_host("x") == "cn017.gw"


async def test_a_callables_answer_is_checked() -> None:
    s = with_node(spawner(connect_address=lambda sp, host, node: "cn017 && reboot"), "cn017")
    with pytest.raises(ConfigError, match="not a hostname or an IP address"):
        await s.connect_host("cn017")


def test_node_reports_its_ip_when_asked() -> None:
    assert spawner(node_address="ip").network_env()["BATCHSPAWNER_X_REPORT"] == "ip"
    assert "BATCHSPAWNER_X_REPORT" not in spawner().network_env()
    with pytest.raises(TraitError):
        spawner(node_address="fqdn")


# -- the tunnel's settings ------------------------------------------------------------------


def test_tunnel_needs_ssh() -> None:
    s = spawner(tunnel=True, connection="local")
    with pytest.raises(ConfigError, match='connection = "ssh"'):
        s.check_reach_config(s.connection, False, True)


def test_tunnel_with_internal_ssl_needs_the_local_names_in_the_certificate() -> None:
    s = spawner(tunnel=True)
    s.check_reach_config("ssh", True, True)
    with pytest.raises(ConfigError, match="ssl_alt_names_include_local"):
        s.check_reach_config("ssh", True, False)


# -- when the hub cannot reach the server -----------------------------------------------------


def test_unreachable_message_names_the_settings() -> None:
    text = unreachable_message("10.99.0.17", 40123, "No route to host", login_reaches=True)
    assert "cannot reach the notebook server at 10.99.0.17:40123 (No route to host)" in text
    assert "the login node reaches it" in text
    assert "c.BatchSpawnerBase.tunnel = True" in text and "connect_address" in text
    assert "login node reaches" not in unreachable_message("h", 1, "x", login_reaches=None)


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (OSError(errno.EHOSTUNREACH, "No route to host"), True),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), True),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), True),
        (asyncio.TimeoutError(), True),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), False),
    ],
)
def test_which_errors_mean_unreachable(error: BaseException, unreachable: bool) -> None:
    assert is_unreachable(error) is unreachable
    assert describe_error(error)


class LoginReaches(FakeTransport):
    """A login node that reaches every server."""

    async def can_connect(self, host: str, port: int, *, timeout: float) -> bool | None:
        self.commands.append(["probe", host, str(port)])
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_server_the_login_node_reaches_but_the_hub_does_not_fails_clearly() -> None:
    transport = LoginReaches(squeue_says())
    s = with_node(make_spawner(name="grace", transport=transport, http_timeout=10)[0], "localhost")
    port = free_port()  # nothing listens: the hub is refused, the "login node" gets through
    start = time.monotonic()
    with pytest.raises(ServerUnreachable) as info:
        await s._wait_until_listening("127.0.0.1", port)
    assert time.monotonic() - start < 3
    assert ["probe", "127.0.0.1", str(port)] in transport.commands
    assert (info.value.host, info.value.port) == ("127.0.0.1", port)
    assert "login node reaches it" in str(info.value) and "tunnel = True" in str(info.value)


async def test_no_route_until_http_timeout_fails_clearly() -> None:
    s = with_node(spawner(http_timeout=1), "localhost")
    # a name that never resolves (RFC 6761): the hub's error says so
    with pytest.raises(ServerUnreachable, match="does not resolve"):
        await s._wait_until_listening("cn017.invalid", 40000)


async def test_a_server_that_starts_listening_during_the_probe_is_not_called_unreachable() -> None:
    port = free_port()
    servers: list[asyncio.Server] = []

    class StartsNow(LoginReaches):
        async def can_connect(self, host: str, port: int, *, timeout: float) -> bool | None:
            servers.append(await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port))
            return True

    s = with_node(
        make_spawner(name="grace", transport=StartsNow(squeue_says()), http_timeout=10)[0], "localhost"
    )
    await s._wait_until_listening("127.0.0.1", port)  # no ServerUnreachable
    assert servers
    servers[0].close()


async def test_a_restarted_hub_that_cannot_open_the_tunnel_gives_up_after_the_timeout() -> None:
    s = spawner(tunnel=True, ssh_host="127.0.0.1", ssh_port=free_port(), ssh_known_hosts="/dev/null")
    s._transport = s._make_transport("grace", [])
    start = time.monotonic()
    assert await s.server_address_within("10.251.0.2", 40000, 1.5) is None
    assert 1.5 <= time.monotonic() - start < 4
    assert s._forward is None


async def test_a_tunnel_without_ssh_is_not_retried() -> None:
    s = spawner(tunnel=True, connection="local")
    start = time.monotonic()
    assert await s.server_address_within("cn017", 40000, 30) is None
    assert time.monotonic() - start < 1


class RecordedForward:
    """Stands in for a PortForward: records that it was closed."""

    closed = False

    async def close(self) -> None:
        self.closed = True


async def test_the_tunnel_closes_when_poll_finds_the_job_gone() -> None:
    # JupyterHub calls stop() only for servers poll() still reports running.
    s, _ = make_spawner(squeue_says("25|FAILED|localhost|NonZeroExitCode|2026-11-25T20:09:13"))
    s.tunnel = True
    s.load_state({"job_id": "25"})
    forward = RecordedForward()
    s._forward = forward  # type: ignore[assignment]
    assert await s.poll() == 3
    assert forward.closed and s._forward is None
