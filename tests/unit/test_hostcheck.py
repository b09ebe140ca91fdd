"""The host a job reports must be its own node: pure checks, and the spawner's exceptions."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from batchspawner_x import SlurmSpawner
from batchspawner_x.handshake import validate_report
from batchspawner_x.hostcheck import judge, parse_getent
from batchspawner_x.network import valid_host
from batchspawner_x.reach import ServerHostRefused
from batchspawner_x.schedulers.base import CommandResult

from .fakes import FakeTransport, make_spawner


def addrs(*texts: str) -> frozenset[Any]:
    return frozenset(ipaddress.ip_address(t) for t in texts)


LOCALHOST = addrs("127.0.0.1")
CN017 = addrs("10.0.0.17")


@pytest.mark.parametrize(
    ("host", "node", "host_addresses", "node_addresses"),
    [
        ("127.0.0.1", "localhost", LOCALHOST, LOCALHOST),  # the test cluster: its node is this machine
        ("localhost", "localhost", LOCALHOST, LOCALHOST),
        ("cn017", "CN017.", CN017, CN017),  # case and the trailing dot do not matter
        ("10.0.0.17", "cn017", CN017, CN017),
        ("cn017.cluster.example.edu", "cn017", CN017, CN017),
        ("cn017.cluster.example.edu", "cn017", frozenset(), frozenset()),  # nothing resolves: names agree
        ("cn017", "cn017.cluster.example.edu", CN017, frozenset()),
    ],
)
def test_the_node_its_names_and_its_addresses_are_accepted(
    host: str, node: str, host_addresses: frozenset[Any], node_addresses: frozenset[Any]
) -> None:
    assert judge(host, node, host_addresses, node_addresses) is None


def test_another_loopback_address_is_not_an_address_of_localhost() -> None:
    # 127.0.0.2 reaches this machine too, but the node's name does not resolve to it: another
    # service (or another user's process) may listen there
    reason = judge("127.0.0.2", "localhost", addrs("127.0.0.2"), LOCALHOST)
    assert reason == "127.0.0.2 is not the job's node localhost nor one of its addresses (127.0.0.1)"


def test_a_loopback_report_from_a_remote_node_is_refused_unless_allowed() -> None:
    reason = judge("127.0.0.1", "cn017", LOCALHOST, CN017)
    assert reason is not None and "127.0.0.1 is a loopback address and cn017 is another machine" in reason
    assert judge("127.0.0.1", "cn017", LOCALHOST, CN017, allow_loopback=True) is None


@pytest.mark.parametrize(
    ("host", "host_addresses"),
    [
        ("10.0.0.18", addrs("10.0.0.18")),  # a neighbour
        ("169.254.169.254", addrs("169.254.169.254")),  # a cloud metadata service
        ("cn017.attacker.example", addrs("203.0.113.7")),  # same first label, another machine
        ("db.cluster.example.edu", frozenset()),
    ],
)
def test_another_host_is_refused(host: str, host_addresses: frozenset[Any]) -> None:
    reason = judge(host, "cn017", host_addresses, CN017)
    assert reason == f"{host} is not the job's node cn017 nor one of its addresses (10.0.0.17)"


def test_without_a_node_nothing_is_accepted() -> None:
    assert judge("cn017", "", CN017, frozenset()) is not None


@pytest.mark.parametrize(
    "host", ["fe80::1%eth0", "fe80::1%eth0\n[I 2026-01-01 JupyterHub] forged", "cn017\n", "cn\x1b[2J017", ""]
)
def test_scope_ids_and_control_characters_are_refused(host: str) -> None:
    assert not valid_host(host)
    with pytest.raises(ValueError, match="without an IPv6 scope id or control characters") as info:
        validate_report({"host": host, "port": 8888})
    assert "\n" not in str(info.value) and "forged" not in str(info.value)


#: What the login node's resolver knows: the cluster's own names, which the hub's does not.
CLUSTER_HOSTS = {"cn017": "10.0.0.17", "cn017.cluster": "10.0.0.17", "cn018": "10.0.0.18"}


class LoginNode(FakeTransport):
    """Answers ``getent ahosts NAME`` from :data:`CLUSTER_HOSTS`, after a greeting line."""

    def __init__(self) -> None:
        super().__init__(self.resolve)

    @staticmethod
    def resolve(argv: list[str]) -> CommandResult:
        assert argv[:3] == ["getent", "ahosts", "--"], argv
        address = CLUSTER_HOSTS.get(argv[3])
        if address is None:
            return CommandResult(2)
        lines = f"{address}      STREAM {argv[3]}\n{address}      DGRAM  \n{address}      RAW    \n"
        return CommandResult(0, "Welcome to the cluster\n" + lines)


class NodeSpawner(SlurmSpawner):
    node: str | None = "cn017"

    async def _job_node(self) -> str | None:
        return self.node


def spawner(node: str | None = "cn017", **config: Any) -> NodeSpawner:
    s, _ = make_spawner(cls=NodeSpawner, transport=LoginNode(), **config)
    s.node = node
    return s


def test_getent_output_gives_the_addresses_and_skips_other_lines() -> None:
    text = "Welcome\n10.0.0.17 STREAM cn017\nfe80::1%eth0 STREAM cn017\n\n"
    assert parse_getent(text) == addrs("10.0.0.17", "fe80::1")
    assert parse_getent("") == frozenset()


async def test_names_the_hub_cannot_resolve_are_resolved_on_the_login_node() -> None:
    # node_address = "ip" on a cluster whose node names mean nothing to the hub
    await spawner("cn017").check_reported_host("10.0.0.17", patience=0)
    await spawner("cn017").check_reported_host("cn017.cluster", patience=0)
    with pytest.raises(ServerHostRefused, match=r"10\.0\.0\.18 is not the job's node cn017 nor one of its"):
        await spawner("cn017").check_reported_host("10.0.0.18", patience=0)
    with pytest.raises(ServerHostRefused):
        await spawner("cn017").check_reported_host("cn018", patience=0)
    # a node that neither the hub nor the login node resolves: nothing to match an address to
    with pytest.raises(ServerHostRefused, match="the hub cannot resolve it"):
        await spawner("cn099").check_reported_host("10.0.0.17", patience=0)


async def test_the_spawner_refuses_another_host_naming_both_and_the_settings() -> None:
    with pytest.raises(ServerHostRefused) as info:
        await spawner("10.0.0.17").check_reported_host("10.0.0.18", patience=0)
    assert info.value.host == "10.0.0.18"
    text = str(info.value)
    assert text.startswith("The job reported 10.0.0.18 as its server's host, which is refused: 10.0.0.18 is")
    assert "connect_address" in text and "allow_loopback_server" in text
    await spawner("10.0.0.17").check_reported_host("10.0.0.17", patience=0)


async def test_the_address_the_site_binds_servers_to_is_accepted() -> None:
    await spawner("localhost", ip="10.251.0.2").check_reported_host("10.251.0.2", patience=0)
    with pytest.raises(ServerHostRefused):
        await spawner("localhost", ip="10.251.0.2").check_reported_host("10.251.0.3", patience=0)


async def test_connect_address_decides_when_it_does_not_use_the_reported_host() -> None:
    await spawner(connect_address="{node}").check_reported_host("10.9.9.9", patience=0)
    await spawner(connect_address=lambda s, host, node: node).check_reported_host("10.9.9.9", patience=0)
    mapped = spawner("cn017", connect_address="{short}.ib.cluster.example.edu")
    await mapped.check_reported_host("cn017.cluster.example.edu", patience=0)
    refused = r"cn018\.cluster\.example\.edu is not on the job's node cn017"
    with pytest.raises(ServerHostRefused, match=refused):
        await mapped.check_reported_host("cn018.cluster.example.edu", patience=0)
    with pytest.raises(ServerHostRefused):
        await spawner("10.0.0.17", connect_address="{host}").check_reported_host("10.0.0.18", patience=0)


async def test_a_job_without_a_node_is_refused_after_waiting() -> None:
    with pytest.raises(ServerHostRefused, match="the scheduler names no node for the job"):
        await spawner(None).check_reported_host("10.0.0.17", patience=0)
