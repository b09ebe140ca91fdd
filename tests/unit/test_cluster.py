"""The Cluster: one per configuration, shared by every spawner that names it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from batchspawner_x import PBSSpawner, SlurmSpawner
from batchspawner_x.cluster import Cluster, ClusterConfig
from batchspawner_x.errors import TransportError
from batchspawner_x.pool import SSHTarget
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.transport import LocalTransport, SSHTransport

from .fakes import FakeTransport


def spawner(name: str, cls: type[SlurmSpawner] | type[PBSSpawner] = SlurmSpawner, **config: Any) -> Any:
    user = SimpleNamespace(name=name, url=f"/user/{name}/", server=None, base_url="/")
    return cls(user=user, name="", **config)


def test_spawners_of_the_same_settings_share_one_cluster() -> None:
    alice = spawner("alice", ssh_host="login.example.edu", ssh_keys=["/keys/{username}"])
    bob = spawner("bob", ssh_host="login.example.edu", ssh_keys=["/keys/{username}"])
    assert alice.cluster is bob.cluster
    assert spawner("carol", ssh_host="other.example.edu").cluster is not alice.cluster
    assert spawner("dave", PBSSpawner, ssh_host="login.example.edu").cluster is not alice.cluster
    commands = spawner("erin", ssh_host="login.example.edu", scheduler_commands={"status": "/x/squeue"})
    assert commands.cluster is not alice.cluster


def test_the_cluster_makes_each_accounts_connection_with_its_settings() -> None:
    cluster = Cluster.of(
        ClusterConfig(
            SlurmScheduler,
            login=(
                SSHTarget(
                    host="login",
                    port=2222,
                    username="",
                    keys=("/keys/{username}",),
                    known_hosts="/etc/ssh/ssh_known_hosts",
                    cert_port_forwarding=True,
                ),
            ),
        )
    )
    transport = cluster.transport("alice")
    assert isinstance(transport, SSHTransport)
    target = transport.target
    assert (target.host, target.port, target.username, target.keys) == (
        "login",
        2222,
        "alice",
        ("/keys/alice",),
    )
    assert target.cert_port_forwarding
    local = Cluster.of(
        ClusterConfig(SlurmScheduler, connection="local", local_prefix=("sudo", "-u", "{username}"))
    )
    assert isinstance(local.transport("bob"), LocalTransport)


def test_the_scheduler_carries_the_command_overrides() -> None:
    cluster = Cluster.of(
        ClusterConfig(SlurmScheduler, commands=(("status", "/opt/squeue"),), status_username="s")
    )
    assert cluster.scheduler().command("status") == "/opt/squeue"
    assert cluster.shared_status and not cluster.scheduler().all_users
    assert cluster.scheduler(all_users=True).all_users


async def test_partitions_are_read_once_per_account_and_kept_through_a_failure() -> None:
    cluster = Cluster(ClusterConfig(SlurmScheduler))
    sinfo = "debug|1:00:00|4|8000|(null)|up\n"
    transport = FakeTransport(lambda argv: CommandResult(0, sinfo))
    warnings: list[Exception] = []
    found = await cluster.partitions(transport, ttl=300, timeout=5, warn=warnings.append)
    assert found is not None and list(found) == ["debug"]
    assert await cluster.partitions(transport, ttl=300, timeout=5, warn=warnings.append) is found
    assert len(transport.commands) == 1
    assert cluster.cached_partitions(transport.key) is found
    assert cluster.cached_partitions(("someone", "else")) is None

    def fail(argv: list[str]) -> CommandResult:
        raise TransportError("the login node is down")

    transport.answer = fail
    assert await cluster.partitions(transport, ttl=0, timeout=5, warn=warnings.append) is None  # off
    assert await cluster.partitions(transport, ttl=1e-9, timeout=5, warn=warnings.append) is found
    assert [str(w) for w in warnings] == ["the login node is down"]


async def test_a_users_lists_are_read_once_per_account_and_kept_through_a_failure() -> None:
    cluster = Cluster(ClusterConfig(SlurmScheduler))
    slurm = SlurmScheduler()
    alice = FakeTransport(lambda argv: CommandResult(0, "physics|normal\n"))
    bob = FakeTransport(lambda argv: CommandResult(0, "chem|normal\n"))
    warnings: list[Exception] = []
    argv = slurm.associations_argv("alice")

    async def read(transport: FakeTransport, ttl: float = 300) -> Any:
        return await cluster.reading(
            "associations",
            transport,
            argv,
            slurm.parse_associations,
            ttl=ttl,
            timeout=5,
            warn=warnings.append,
        )

    found = await read(alice)
    assert found == {"physics": ("normal",)}
    assert await read(alice) is found and len(alice.commands) == 1
    assert await read(bob) == {"chem": ("normal",)}  # each account its own

    def fail(argv: list[str]) -> CommandResult:
        raise TransportError("the login node is down")

    alice.answer = fail
    assert await read(alice, ttl=1e-9) is found
    assert [str(w) for w in warnings] == ["the login node is down"]
    fresh = FakeTransport(fail)
    assert await read(fresh) is None  # never read: nothing to offer, never a guess
