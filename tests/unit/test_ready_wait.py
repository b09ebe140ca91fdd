"""start() returns once the server accepts connections, not only once the job reported."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace

from batchspawner_x import SlurmSpawner
from batchspawner_x.poller import CachedStatus, StatusPoller
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.states import JobState, JobStatus

from .test_poller import any_jobs_transport


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawner_with_job(state: JobState = JobState.RUNNING, **config: object) -> SlurmSpawner:
    user = SimpleNamespace(name="alice", url="/user/alice/", server=None, base_url="/")
    spawner = SlurmSpawner(user=user, name="", **config)
    spawner.load_state({"job_id": "25"})
    poller = StatusPoller(any_jobs_transport(), SlurmScheduler(), interval=30, timeout=5)
    poller.cache["25"] = CachedStatus(JobStatus("25", state, state.value.upper()), time.monotonic())
    spawner._poller = poller
    return spawner


async def test_waits_until_the_port_accepts_connections() -> None:
    spawner = spawner_with_job()
    port = free_port()
    servers = []

    async def listen_later() -> None:
        await asyncio.sleep(0.4)
        servers.append(await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port))

    opener = asyncio.ensure_future(listen_later())
    start = time.monotonic()
    await spawner._wait_until_listening("127.0.0.1", port)
    waited = time.monotonic() - start
    await opener
    servers[0].close()
    assert 0.4 <= waited < 1.0


async def test_returns_at_once_when_the_server_listens() -> None:
    spawner = spawner_with_job()
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    start = time.monotonic()
    await spawner._wait_until_listening("127.0.0.1", port)
    server.close()
    assert time.monotonic() - start < 0.2


async def test_gives_up_after_http_timeout() -> None:
    spawner = spawner_with_job(http_timeout=1)
    start = time.monotonic()
    await spawner._wait_until_listening("127.0.0.1", free_port())
    assert 1.0 <= time.monotonic() - start < 2.0
