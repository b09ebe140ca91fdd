"""Login-node failover: the login_hosts setting, the shared health of the login nodes, and
the SSH transport over several nodes (against a stand-in for asyncssh, one per node)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import asyncssh
import pytest
from traitlets import TraitError

from batchspawner_x import SlurmSpawner
from batchspawner_x.cluster import Cluster
from batchspawner_x.errors import (
    ConfigError,
    ConnectFailed,
    HostKeyError,
    KeyFileError,
    LoginRefused,
    TransportError,
)
from batchspawner_x.failover import LoginHealth, login_addresses, parse_login_host
from batchspawner_x.forward import PortForward
from batchspawner_x.transport import SSHPool, SSHTarget, SSHTransport

from .fakes import new_spawner

# -- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("login2", ("login2", 2200)),
        ("login2.example.edu:22", ("login2.example.edu", 22)),
        ("10.0.0.7:2222", ("10.0.0.7", 2222)),
        ("[2001:db8::7]:22", ("2001:db8::7", 22)),
        ("[2001:db8::7]", ("2001:db8::7", 2200)),
        ("2001:db8::7", ("2001:db8::7", 2200)),
    ],
)
def test_a_login_host_is_a_host_with_an_optional_port(text: str, address: tuple[str, int]) -> None:
    assert parse_login_host("login_hosts", text, 2200) == address


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "login 2",
        "login2:",
        "login2:0",
        "login2:65536",
        "login2:ssh",
        "[2001:db8::7",
        "[::1]x",
        "-oProxy=x",
        "a/b",
    ],
)
def test_a_bad_login_host_is_refused_naming_the_setting(bad: str) -> None:
    with pytest.raises(ConfigError, match="login_hosts") as info:
        parse_login_host("login_hosts", bad, 22)
    assert repr(bad) in str(info.value) or bad == ""


def test_login_hosts_default_to_ssh_host_and_refuse_the_same_node_twice() -> None:
    assert login_addresses("login_hosts", [], "login.example.edu", 2222) == (("login.example.edu", 2222),)
    assert login_addresses("login_hosts", ["a", "b:2"], "x", 22) == (("a", 22), ("b", 2))
    with pytest.raises(ConfigError, match="'Login1:22' names the same login node as 'login1'"):
        login_addresses("login_hosts", ["login1", "login2", "Login1:22"], "x", 22)
    assert login_addresses("login_hosts", ["login1", "login1:2222"], "x", 22) == (
        ("login1", 22),
        ("login1", 2222),
    )


def test_the_spawner_builds_one_target_per_login_host() -> None:
    spawner = new_spawner(
        SlurmSpawner,
        ssh_host="ignored.example.edu",
        ssh_port=2200,
        ssh_keys=["/keys/{username}"],
        login_hosts=["login1.example.edu", "login2.example.edu:22"],
        login_order="round-robin",
        login_down_time=5,
    )
    config = spawner.cluster.config
    assert [(t.host, t.port) for t in config.login] == [
        ("login1.example.edu", 2200),
        ("login2.example.edu", 22),
    ]
    assert {(t.keys, t.known_hosts, t.username) for t in config.login} == {
        (("/keys/{username}",), "/etc/ssh/ssh_known_hosts", "")
    }
    assert (config.login_order, config.login_down_time) == ("round-robin", 5)
    assert spawner.cluster.login_hosts() == (("login1.example.edu", 2200), ("login2.example.edu", 22))


def test_without_login_hosts_the_transport_is_the_one_it_always_was() -> None:
    spawner = new_spawner(SlurmSpawner, ssh_host="login.example.edu", ssh_port=2222)
    assert len(spawner.cluster.config.login) == 1
    transport = spawner.cluster.transport("alice")
    assert isinstance(transport, SSHTransport)
    assert transport.key == ("ssh", "login.example.edu", "2222", "alice")
    assert transport.health is None
    assert transport.describe() == "alice@login.example.edu:2222"


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"login_hosts": ["login1", "login 2"]}, "'login 2' is not a hostname"),
        ({"login_hosts": ["login1", "login1:22"]}, "names the same login node"),
        ({"login_order": "random"}, "login_order"),
    ],
)
def test_a_bad_login_setting_is_refused_when_the_spawner_is_built(
    settings: dict[str, Any], words: str
) -> None:
    with pytest.raises(TraitError, match=words):
        new_spawner(SlurmSpawner, **settings)


# -- the health of the login nodes -------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


A, B, C = ("a", 22), ("b", 22), ("c", 22)


def test_first_healthy_keeps_the_order_and_skips_a_node_that_is_down_for_its_down_time() -> None:
    clock = Clock()
    health = LoginHealth("first-healthy", 60, clock=clock)
    assert health.plan([A, B, C]) == [A, B, C]
    assert health.plan([A, B, C]) == [A, B, C]
    health.mark_down(A, "Connection refused")
    assert health.plan([A, B, C]) == [B, C]
    assert not health.take(A)
    clock.now += 59
    assert health.plan([A, B, C]) == [B, C]
    clock.now += 1
    assert health.plan([A, B, C]) == [A, B, C]
    # one operation tries it again; the others go on skipping it while it does
    assert health.take(A)
    assert not health.take(A)
    health.mark_up(A, "alice")
    assert health.take(A) and health.take(A)
    assert health.plan([A, B, C]) == [A, B, C]


def test_round_robin_starts_each_operation_at_the_next_live_node() -> None:
    health = LoginHealth("round-robin", 60, clock=Clock())
    firsts = [health.plan([A, B, C])[0] for _ in range(6)]
    assert firsts == [A, B, C, A, B, C]
    assert health.plan([A, B, C]) == [A, B, C]
    health.mark_down(B, "timed out")
    plans = [health.plan([A, B, C]) for _ in range(2)]
    assert sorted(p[0] for p in plans) == [A, C]
    assert all(B not in p for p in plans)


def test_when_every_node_is_down_the_one_that_failed_longest_ago_is_tried() -> None:
    clock = Clock()
    health = LoginHealth(down_time=60, clock=clock)
    health.mark_down(B, "refused")
    clock.now += 1
    health.mark_down(A, "refused")
    clock.now += 1
    health.mark_down(C, "refused")
    assert health.plan([A, B, C]) == []
    assert health.fallback([A, B, C]) == B
    assert health.fallback([A, C]) == A
    assert health.fallback([]) is None


def test_each_change_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    health = LoginHealth(down_time=30, clock=clock)
    health.mark_down(A, "Cannot connect to a:22 as 'alice': Connection refused")
    health.mark_down(A, "Cannot connect to a:22 as 'bob': Connection refused")
    health.mark_up(A, "alice")
    health.mark_up(A, "bob")
    health.mark_down(B, "The host key of b:22 does not match", security=True)
    health.refused(C, "alice", "SSH login as 'alice' to c:22 was refused")
    health.refused(C, "alice", "SSH login as 'alice' to c:22 was refused")
    health.mark_up(C, "alice")
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        (
            "WARNING",
            "Login node a:22 is down (Cannot connect to a:22 as 'alice': Connection refused); "
            "skipping it for 30s",
        ),
        (
            "INFO",
            "Login node a:22 answers again "
            "(it was down: Cannot connect to a:22 as 'bob': Connection refused); using it",
        ),
        (
            "ERROR",
            "Login node b:22 is not used for 30s: The host key of b:22 does not match; "
            "the cluster's other login nodes are tried",
        ),
        (
            "ERROR",
            "Login node c:22 refused the login as 'alice': SSH login as 'alice' to c:22 was refused; "
            "the cluster's other login nodes are tried",
        ),
        ("INFO", "Login node c:22 accepts the login as 'alice' again"),
    ]


def test_the_report_says_which_node_is_skipped_for_how_long_and_why() -> None:
    clock = Clock()
    health = LoginHealth(down_time=60, clock=clock)
    health.mark_down(B, "Connection refused")
    clock.now += 20
    a, b = health.report([A, B])
    assert (a.live, a.down_for, a.reason) == (True, 0.0, "")
    assert (b.live, b.down_for, b.reason) == (False, 40.0, "Connection refused")


# -- the transport over several login nodes --------------------------------------------------


class Node:
    """One login node as asyncssh sees it: answers, refuses or drops connections."""

    def __init__(self, port: int) -> None:
        self.port = port
        #: What connecting does: None (accept) or the exception to raise.
        self.fail: Exception | None = None
        self.connects: list[str] = []
        self.commands: list[str] = []
        self.connections: list[Conn] = []
        #: Commands whose connection is lost while they run.
        self.lose: set[str] = set()


class Conn:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._closed = asyncio.Event()
        self.channels: list[tuple[str, int]] = []

    def is_closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        self._closed.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def run(self, command: str, **kwargs: Any) -> Any:
        self.node.commands.append(command)
        if command in self.node.lose:
            self.node.lose.discard(command)
            self.close()
            raise asyncssh.ConnectionLost("Connection lost")
        return _Completed()

    async def open_connection(self, host: str, port: int, **kwargs: Any) -> Any:
        self.channels.append((host, port))
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_CONNECT_FAILED, "nobody listens (in this test)")


class _Completed:
    exit_status = 0
    exit_signal = None
    stdout = "ok\n"
    stderr = ""


class Nodes:
    def __init__(self, *ports: int) -> None:
        self.by_port = {port: Node(port) for port in ports}

    def __getitem__(self, port: int) -> Node:
        return self.by_port[port]

    async def connect(self, host: str, port: int, **kwargs: Any) -> Conn:
        node = self.by_port[port]
        node.connects.append(kwargs["username"])
        await asyncio.sleep(0)
        if node.fail is not None:
            raise node.fail
        conn = Conn(node)
        node.connections.append(conn)
        return conn


@pytest.fixture
def nodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Nodes]:
    fake = Nodes(2201, 2202, 2203)
    monkeypatch.setattr(asyncssh, "connect", fake.connect)
    saved = dict(SSHPool._connections)
    SSHPool._connections.clear()
    yield fake
    SSHPool._connections.clear()
    SSHPool._connections.update(saved)
    SSHPool.commands.clear()


def targets(user: str = "alice", ports: tuple[int, ...] = (2201, 2202), **kwargs: Any) -> list[SSHTarget]:
    kwargs.setdefault("keys", ())
    return [
        SSHTarget(host="127.0.0.1", port=port, username=user, known_hosts="/kh", **kwargs) for port in ports
    ]


REFUSED = OSError(111, "Connect call failed")


async def test_a_node_that_refuses_is_skipped_at_once_and_by_every_account(nodes: Nodes) -> None:
    health = LoginHealth(down_time=60)
    nodes[2201].fail = REFUSED
    alice = SSHTransport(targets("alice"), health=health, retry_delays=())
    assert (await alice.run(["squeue"], timeout=5)).stdout == "ok\n"
    assert (nodes[2201].connects, nodes[2202].connects) == (["alice"], ["alice"])
    assert alice.describe() == "alice@127.0.0.1:2202"
    # bob's spawner never waits for the node alice found down
    bob = SSHTransport(targets("bob"), health=health, retry_delays=())
    await bob.run(["squeue"], timeout=5)
    await alice.run(["squeue"], timeout=5)
    assert nodes[2201].connects == ["alice"]
    assert nodes[2202].commands == ["squeue"] * 3


async def test_the_key_names_the_account_on_the_cluster_whichever_node_carries_it(nodes: Nodes) -> None:
    health = LoginHealth()
    first = SSHTransport(targets("alice"), health=health)
    key = first.key
    assert key == ("ssh", "127.0.0.1:2201,127.0.0.1:2202", "alice")
    await first.run(["true"], timeout=5)
    nodes[2201].connections[0].close()
    nodes[2201].fail = REFUSED
    await first.run(["true"], timeout=5)
    assert first.describe() == "alice@127.0.0.1:2202"
    assert first.key == key == SSHTransport(targets("alice"), health=health).key
    assert SSHTransport(targets("bob"), health=health).key != key


async def test_a_submission_cut_off_is_not_sent_again_and_the_lookup_goes_through_another_node(
    nodes: Nodes,
) -> None:
    health = LoginHealth()
    t = SSHTransport(targets(), health=health, retry_delays=(5.0,))
    nodes[2201].lose.add("sbatch --parsable")
    with pytest.raises(TransportError, match=r"Connection to alice@127\.0\.0\.1:2201 lost") as info:
        await t.run(["sbatch", "--parsable"], timeout=5, idempotent=False)
    assert info.value.maybe_sent
    assert not health.is_live(("127.0.0.1", 2201))
    # the caller looks the job up by its identity: through the other node, without waiting
    started = asyncio.get_running_loop().time()
    await t.run(["squeue", "--name=bsx-1"], timeout=5)
    assert asyncio.get_running_loop().time() - started < 1
    assert nodes[2201].commands == ["sbatch --parsable"]
    assert nodes[2202].commands == ["squeue --name=bsx-1"]


async def test_a_query_cut_off_is_sent_again_through_the_next_node_at_once(nodes: Nodes) -> None:
    t = SSHTransport(targets(), health=LoginHealth(), retry_delays=(5.0,))
    nodes[2201].lose.add("squeue")
    started = asyncio.get_running_loop().time()
    assert (await t.run(["squeue"], timeout=5)).returncode == 0
    assert asyncio.get_running_loop().time() - started < 1
    assert (nodes[2201].commands, nodes[2202].commands) == (["squeue"], ["squeue"])


async def test_a_channel_the_node_would_not_open_is_not_a_node_going_down(nodes: Nodes) -> None:
    health = LoginHealth()
    t = SSHTransport(targets(), health=health, retry_delays=(0.01,))

    async def refuse_channel(command: str, **kwargs: Any) -> Any:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, "open failed")

    await t.run(["true"], timeout=5)
    nodes[2201].connections[0].run = refuse_channel  # type: ignore[method-assign]
    assert (await t.run(["squeue"], timeout=5)).returncode == 0
    assert health.is_live(("127.0.0.1", 2201))
    assert nodes[2201].commands == ["true", "squeue"] and nodes[2202].commands == []


async def test_when_every_node_is_down_the_error_names_each_and_later_one_is_still_tried(
    nodes: Nodes,
) -> None:
    health = LoginHealth(down_time=60)
    nodes[2201].fail = REFUSED
    nodes[2202].fail = OSError(110, "Connection timed out")
    t = SSHTransport(targets(), health=health, retry_delays=())
    with pytest.raises(ConnectFailed) as info:
        await t.run(["squeue"], timeout=5)
    message = str(info.value)
    assert "127.0.0.1:2201" in message and "127.0.0.1:2202" in message
    assert "Connect call failed" in message and "Connection timed out" in message
    assert not info.value.maybe_sent
    # both are down now: the next operation tries the one that failed longest ago, only it
    for pooled in SSHPool._connections.values():
        pooled.retry_at = 0.0  # (the pool's own back-off over)
    nodes[2201].fail = None
    assert (await t.run(["squeue"], timeout=5)).returncode == 0
    assert (len(nodes[2201].connects), len(nodes[2202].connects)) == (2, 1)
    assert health.is_live(("127.0.0.1", 2201))


async def test_a_node_that_is_back_after_its_down_time_is_used_again(
    nodes: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = Clock()
    health = LoginHealth(down_time=10, clock=clock)
    t = SSHTransport(targets(), health=health, retry_delays=())
    nodes[2201].fail = REFUSED
    await t.run(["true"], timeout=5)
    assert t.describe() == "alice@127.0.0.1:2202"
    nodes[2201].fail = None
    for pooled in SSHPool._connections.values():
        pooled.retry_at = 0.0
    await t.run(["true"], timeout=5)
    assert t.describe() == "alice@127.0.0.1:2202", "still skipped within its down time"
    clock.now += 10
    await t.run(["true"], timeout=5)
    assert t.describe() == "alice@127.0.0.1:2201"
    assert any("Login node 127.0.0.1:2201 answers again" in r.getMessage() for r in caplog.records)


async def test_a_host_key_that_does_not_verify_is_an_error_naming_the_node(
    nodes: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    nodes[2201].fail = asyncssh.HostKeyNotVerifiable("Host key is not trusted")
    health = LoginHealth()
    t = SSHTransport(targets(), health=health, retry_delays=())
    await t.run(["true"], timeout=5)
    assert t.describe() == "alice@127.0.0.1:2202"
    [error] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "127.0.0.1:2201" in error and "host key" in error.lower()
    # when no node is left, the error is the host key's (waiting does not cure it)
    nodes[2202].fail = asyncssh.HostKeyNotVerifiable("Host key is not trusted")
    SSHPool._connections.clear()
    health2 = LoginHealth()
    with pytest.raises(HostKeyError, match=r"127\.0\.0\.1:2201.*127\.0\.0\.1:2202"):
        await SSHTransport(targets(), health=health2, retry_delays=()).run(["true"], timeout=5)


async def test_a_refused_login_is_an_error_for_that_account_only(
    nodes: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    health = LoginHealth()
    nodes[2201].fail = asyncssh.PermissionDenied("Permission denied")
    alice = SSHTransport(targets("alice"), health=health, retry_delays=())
    await alice.run(["true"], timeout=5)
    assert alice.describe() == "alice@127.0.0.1:2202"
    [error] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "127.0.0.1:2201 refused the login as 'alice'" in error
    assert health.is_live(("127.0.0.1", 2201)), "other accounts may log in there"
    nodes[2201].fail = None
    bob = SSHTransport(targets("bob"), health=health, retry_delays=())
    await bob.run(["true"], timeout=5)
    assert bob.describe() == "bob@127.0.0.1:2201"
    nodes[2201].fail = nodes[2202].fail = asyncssh.PermissionDenied("Permission denied")
    SSHPool._connections.clear()
    with pytest.raises(LoginRefused, match="was refused"):
        await SSHTransport(targets("carol"), health=LoginHealth(), retry_delays=()).run(["true"], timeout=5)


async def test_an_unreadable_key_file_is_not_blamed_on_a_node(nodes: Nodes, tmp_path: Any) -> None:
    health = LoginHealth()
    t = SSHTransport(targets(keys=(str(tmp_path / "missing"),)), health=health, retry_delays=())
    with pytest.raises(KeyFileError):
        await t.run(["true"], timeout=5)
    assert nodes[2201].connects == nodes[2202].connects == []
    assert health.is_live(("127.0.0.1", 2201)) and health.is_live(("127.0.0.1", 2202))


async def test_round_robin_spreads_the_operations_over_the_nodes(nodes: Nodes) -> None:
    t = SSHTransport(targets(ports=(2201, 2202, 2203)), health=LoginHealth("round-robin"))
    for _ in range(6):
        await t.run(["squeue"], timeout=5)
    assert [len(nodes[p].commands) for p in (2201, 2202, 2203)] == [2, 2, 2]


async def test_one_cluster_shares_one_health_between_its_accounts(nodes: Nodes) -> None:
    spawner = new_spawner(
        SlurmSpawner,
        login_hosts=["127.0.0.1:2201", "127.0.0.1:2202"],
        ssh_known_hosts="/kh",
        login_down_time=30,
    )
    cluster: Cluster = spawner.cluster
    alice, bob = cluster.transport("alice"), cluster.transport("bob")
    assert isinstance(alice, SSHTransport) and isinstance(bob, SSHTransport)
    assert alice.health is bob.health is cluster.login_health
    nodes[2201].fail = REFUSED
    await alice.run(["true"], timeout=5)
    await bob.run(["true"], timeout=5)
    assert nodes[2201].connects == ["alice"]
    [a, b] = cluster.login_report()
    assert not a.live and 0 < a.down_for <= 30 and "Connect call failed" in a.reason
    assert b.live


async def test_a_tunnel_is_re_established_through_another_node(nodes: Nodes) -> None:
    t = SSHTransport(targets(), health=LoginHealth(), retry_delays=())
    forward = PortForward(t, "cn017", 8888)
    await forward.open()
    try:
        assert "127.0.0.1:2201" in forward.describe()
        first = nodes[2201].connections[0]
        nodes[2201].fail = REFUSED
        first.close()  # the login node goes down
        for _ in range(100):
            if forward.established == 2:
                break
            await asyncio.sleep(0.01)
        assert forward.established == 2
        assert "127.0.0.1:2202" in forward.describe()
        # a request goes through the new node
        reader, writer = await asyncio.open_connection("127.0.0.1", forward.port)
        await reader.read()
        writer.close()
        assert nodes[2202].connections[0].channels == [("cn017", 8888)]
        pooled = {p.target.port: p for p in SSHPool._connections.values()}
        assert (pooled[2201].forwards, pooled[2202].forwards) == (0, 1)
    finally:
        await forward.close()
    assert all(p.forwards == 0 for p in SSHPool._connections.values())
