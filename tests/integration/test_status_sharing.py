"""Spawners of different hub users share one squeue per interval on the real stack.

Real SSH (sshd on loopback), real Slurm, real SlurmSpawner objects driven in
this process; the hub users ``statusa`` and ``statusb`` both map to the test
account ``frank``, which is also the status identity. The jobs are held
(``--hold``, 1 MB) so they never take resources, and are cancelled by id.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from batchspawner_x import SlurmSpawner
from batchspawner_x.poller import StatusPoller
from batchspawner_x.transport import SSHPool

from . import cluster
from .hub import cluster_env

#: The poller under test, driven in this process: the hub's version plays no part.
pytestmark = pytest.mark.newest_hub_only

ACCOUNT = "frank"
USERS = ("statusa", "statusb")


def make_spawner(name: str, **config: Any) -> SlurmSpawner:
    c = cluster_env()
    user = SimpleNamespace(name=name, url=f"/user/{name}/", server=None, base_url="/", escaped_name=name)
    hub = SimpleNamespace(public_host="", api_url="http://127.0.0.1:8081/hub/api", base_url="/hub/")
    settings: dict[str, Any] = dict(
        ssh_host=c["BSX_SSH_HOST"],
        ssh_port=int(c["BSX_SSH_PORT"]),
        ssh_username=ACCOUNT,
        ssh_keys=[f"{c['BSX_KEYS_DIR']}/{ACCOUNT}"],
        ssh_known_hosts=c["BSX_KNOWN_HOSTS"],
        status_ssh_username=ACCOUNT,
        partition="debug",
        walltime="00:10:00",
        extra_directives=["--hold"],
        mem_limit="1M",
        node_command=[f"{c['BSX_VENV']}/bin/batchspawner-x-singleuser"],
        cmd=[f"{c['BSX_VENV']}/bin/jupyterhub-singleuser"],
        status_interval=1.0,
        startup_poll_interval=0.5,
        cancel_timeout=30,
    )
    settings.update(config)
    return SlurmSpawner(
        user=user,
        hub=hub,
        name="",
        api_token=secrets.token_hex(16),
        oauth_client_id=f"jupyterhub-user-{name}",
        **settings,
    )


@pytest.fixture
async def pool() -> AsyncIterator[list[str]]:
    """A clean pool and poller registry; every job id put in the list is cancelled after."""
    saved = dict(StatusPoller._registry)
    StatusPoller._registry.clear()
    await SSHPool.close_all()
    job_ids: list[str] = []
    yield job_ids
    await SSHPool.close_all()
    StatusPoller._registry.clear()
    StatusPoller._registry.update(saved)
    if job_ids:
        cluster.run("scancel", *job_ids)
    for name in USERS:
        shutil.rmtree(f"/home/{ACCOUNT}/.batchspawner_x/{name}", ignore_errors=True)


def held_job() -> str:
    out = subprocess.run(
        ["runuser", "-u", ACCOUNT, "--", "sbatch", "--parsable", "--hold", "--mem=1M", "--time=00:10:00",
         "--job-name=bsx-status-sharing", "--output=/dev/null", "--wrap", "sleep 600"],
        capture_output=True, text=True, cwd="/tmp", timeout=60, check=True,
    )  # fmt: skip
    return out.stdout.strip().split(";")[0]


async def test_running_servers_of_two_users_cost_one_squeue_per_interval(pool: list[str]) -> None:
    pool.extend([held_job(), held_job()])
    spawners = [make_spawner(name) for name in USERS]
    for s, job_id in zip(spawners, pool, strict=True):
        s.load_state({"job_id": job_id})  # as a restarted hub finds them

    async def hub_poll_loop(s: SlurmSpawner, until: float) -> int:
        rng = random.Random(s.user.name)
        polls = 0
        while time.monotonic() < until:
            assert await s.poll() is None, "a held job is alive"
            polls += 1
            await asyncio.sleep(rng.uniform(0.05, 0.3))
        return polls

    until = time.monotonic() + 4.0
    polls = await asyncio.gather(*(hub_poll_loop(s, until) for s in spawners))
    poller = await spawners[0].poller()
    assert poller is await spawners[1].poller()
    assert sum(polls) >= 20
    # the first query plus one per second of status_interval
    assert SSHPool.commands["squeue"] <= 4.0 / 1.0 + 2
    assert poller.queries == SSHPool.commands["squeue"]
    assert SSHPool.connections_opened() == 1
    for job_id in pool:
        cached = poller.cached(job_id)
        assert cached is not None and cached.status.raw_state == "PENDING"
        assert cached.status.reason == "JobHeldUser"


async def test_starting_servers_share_squeues_and_are_cancelled_as_the_user(pool: list[str]) -> None:
    spawners = [make_spawner(name) for name in USERS]
    starts = [asyncio.ensure_future(s.start()) for s in spawners]
    deadline = time.monotonic() + 30
    while not all(any("in the queue" in e["message"] for e in s._events) for s in spawners):
        assert time.monotonic() < deadline, [s._events for s in spawners]
        assert not any(t.done() for t in starts), [t.exception() for t in starts if t.done()]
        await asyncio.sleep(0.05)
    job_ids = [s.job_id for s in spawners]
    pool.extend(job_ids)
    assert all(cluster.job_info(j).get("UserId", "").startswith(f"{ACCOUNT}(") for j in job_ids)

    before = SSHPool.commands["squeue"]
    await asyncio.sleep(2.0)
    squeues = SSHPool.commands["squeue"] - before
    assert 1 <= squeues <= 2.0 / 0.5 + 1, "one batched squeue per startup_poll_interval"
    assert SSHPool.connections_opened() == 1

    for t in starts:
        t.cancel()
    await asyncio.gather(*starts, return_exceptions=True)
    assert SSHPool.commands["scancel"] == 2
    for job_id in job_ids:
        assert cluster.job_state(job_id) in ("CANCELLED", ""), cluster.job_info(job_id)
