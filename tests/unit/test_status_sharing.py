"""Spawners share status queries: per status identity, one batched squeue per interval.

The cluster is a stand-in that answers like Slurm 22.05 and records which
account ran which command.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from batchspawner_x import SlurmSpawner
from batchspawner_x.poller import StatusPoller
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.transport import LocalTransport, SSHTransport, Transport

from .claims import unwrap
from .fakes import FakeTransport, new_spawner


class FakeCluster:
    """One Slurm: jobs are held until cancelled; every command is logged with its account."""

    def __init__(self) -> None:
        self.log: list[tuple[str, list[str]]] = []
        self.ids = itertools.count(500)
        self.owner: dict[str, str] = {}
        self.cancelled: set[str] = set()

    def run(self, account: str, argv: list[str]) -> CommandResult:
        argv = unwrap(argv)  # the submit command's claim is not what this is about
        self.log.append((account, argv))
        if argv[0] == "sbatch":
            job_id = str(next(self.ids))
            self.owner[job_id] = account
            return CommandResult(0, f"{job_id}\n")
        if argv[0] == "squeue":
            (jobs,) = [a for a in argv if a.startswith("--jobs=")]
            lines = []
            for jid in jobs.removeprefix("--jobs=").split(","):
                state = "CANCELLED|localhost|None" if jid in self.cancelled else "PENDING|n/a|JobHeldUser"
                lines.append(f"{jid}|{state}|N/A\n")
            return CommandResult(0, "".join(lines))
        if argv[0] == "scancel":
            assert self.owner.get(argv[1], account) == account, "a job is cancelled by its owner"
            self.cancelled.add(argv[1])
            return CommandResult(0)
        if argv[0] == "scontrol":
            return CommandResult(0, f"JobId={argv[-1]} JobState=CANCELLED ExitCode=0:15\n")
        if argv[:3] == ["rm", "-rf", "--"]:  # the submission's claim, once stopped
            return CommandResult(0)
        raise AssertionError(f"unexpected command {argv}")

    def commands(self, name: str) -> list[tuple[str, list[str]]]:
        return [(account, argv) for account, argv in self.log if argv[0] == name]


def account_transport(cluster: FakeCluster, account: str) -> FakeTransport:
    """A connection to the stand-in cluster as ``account``; each command takes 2 ms."""
    return FakeTransport(
        lambda argv: cluster.run(account, argv),
        home=f"/home/{account}",
        key=("fake", "login", "22", account),
        delay=0.002,
    )


class ClusterSlurmSpawner(SlurmSpawner):
    """SlurmSpawner whose connections go to the stand-in cluster instead of SSH."""

    fake_cluster: FakeCluster

    def _make_transport(self, username: str, keys: list[str]) -> Transport:
        return account_transport(self.fake_cluster, username)


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    saved = dict(StatusPoller._registry)
    StatusPoller._registry.clear()
    yield
    StatusPoller._registry.clear()
    StatusPoller._registry.update(saved)


async def test_a_status_identity_gives_all_users_one_poller_and_connection() -> None:
    config: dict[str, Any] = dict(
        status_ssh_username="jupyter-status", ssh_keys=["/keys/{username}"], ssh_host="login"
    )
    alice, bob = new_spawner(name="alice", **config), new_spawner(name="bob", **config)
    poller = await alice.poller()
    assert await bob.poller() is poller
    status = poller.transport
    assert isinstance(status, SSHTransport)
    assert (status.target.username, status.target.keys) == ("jupyter-status", ("/keys/jupyter-status",))
    own_a, own_b = await alice.transport(), await bob.transport()
    assert isinstance(own_a, SSHTransport) and isinstance(own_b, SSHTransport)
    assert (own_a.target.username, own_b.target.username) == ("alice", "bob")
    # one pooled connection: the targets are equal
    status_b = await bob.status_transport()
    assert isinstance(status_b, SSHTransport) and status_b.target == status.target


async def test_status_keys_of_their_own() -> None:
    s = new_spawner(
        name="alice",
        status_ssh_username="svc",
        status_ssh_keys=["/etc/jupyterhub/status_key"],
        ssh_keys=["/k/{username}"],
    )
    status = await s.status_transport()
    assert isinstance(status, SSHTransport) and status.target.keys == ("/etc/jupyterhub/status_key",)


async def test_without_a_status_identity_each_user_has_a_poller() -> None:
    alice, bob = new_spawner(name="alice"), new_spawner(name="bob")
    assert await alice.poller() is not await bob.poller()
    assert (await alice.poller()).transport is await alice.transport()


async def test_local_status_identity() -> None:
    s = new_spawner(name="alice", connection="local", status_ssh_username="svc")
    status = await s.status_transport()
    assert isinstance(status, LocalTransport) and status.username == "svc"
    assert status.prefix == ["sudo", "-n", "-u", "svc", "--"]


async def test_status_identity_must_be_a_valid_name() -> None:
    s = new_spawner(name="alice", status_ssh_username="svc; rm -rf /")
    with pytest.raises(Exception, match="status_ssh_username"):
        await s.status_transport()


async def test_polled_at_random_times_many_users_cost_one_squeue_per_interval() -> None:
    cluster = FakeCluster()
    ClusterSlurmSpawner.fake_cluster = cluster
    interval, duration, n = 0.2, 2.0, 200
    spawners = [
        new_spawner(ClusterSlurmSpawner, f"user{i}", status_ssh_username="svc", status_interval=interval)
        for i in range(n)
    ]
    for i, s in enumerate(spawners):
        s.load_state({"job_id": str(1000 + i)})

    async def hub_poll_loop(s: SlurmSpawner) -> int:
        """JupyterHub polls each spawner on its own jittered timer."""
        rng = random.Random(s.user.name)
        polls = 0
        await asyncio.sleep(rng.uniform(0, interval))
        while time.monotonic() < until:
            assert await s.poll() is None
            polls += 1
            await asyncio.sleep(rng.uniform(0.2 * interval, 0.8 * interval))
        return polls

    until = time.monotonic() + duration
    polls = await asyncio.gather(*(hub_poll_loop(s) for s in spawners))
    squeues = cluster.commands("squeue")
    assert sum(polls) > 3 * n
    assert len(squeues) <= duration / interval + 3
    assert {account for account, _ in squeues} == {"svc"}
    assert all(argv[3].count(",") == n - 1 for _, argv in squeues[1:]), "every job in every squeue"


async def test_concurrent_starts_share_fast_squeues_and_submit_as_the_user() -> None:
    cluster = FakeCluster()
    ClusterSlurmSpawner.fake_cluster = cluster
    spawners = [
        new_spawner(
            ClusterSlurmSpawner,
            f"user{i}",
            status_ssh_username="svc",
            ssh_username="{username}",
            startup_poll_interval=0.1,
            cancel_timeout=5,
        )
        for i in range(30)
    ]
    starts = [asyncio.ensure_future(s.start()) for s in spawners]
    await asyncio.sleep(1.0)
    assert not any(t.done() for t in starts), "held jobs never start"
    for s in spawners:
        assert any("waiting in the queue" in e["message"] for e in s._events), s._events

    submits = cluster.commands("sbatch")
    assert sorted(account for account, _ in submits) == sorted(s.user.name for s in spawners)
    squeues = cluster.commands("squeue")
    assert {account for account, _ in squeues} == {"svc"}
    # a few to learn about the new jobs, then one per startup_poll_interval
    assert len(squeues) <= 1.0 / 0.1 + 4

    for t in starts:
        t.cancel()
    await asyncio.gather(*starts, return_exceptions=True)
    cancels = cluster.commands("scancel")
    assert sorted((argv[1], account) for account, argv in cancels) == sorted(cluster.owner.items())
    assert all(not s.job_id for s in spawners)
