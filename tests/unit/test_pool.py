"""The SSH connection pool against a stand-in for asyncssh (no network)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import asyncssh
import pytest

from batchspawner_x import SlurmSpawner
from batchspawner_x import pool as pool_module
from batchspawner_x.errors import TransportError
from batchspawner_x.poller import StatusPoller
from batchspawner_x.transport import ConnectFailed, FileOperationFailed, SSHPool, SSHTarget, SSHTransport


@dataclass
class Completed:
    exit_status: int | None
    stdout: str
    stderr: str
    exit_signal: tuple[str, bool, str, str] | None = None


class FakeConnection:
    """What the pool uses of an asyncssh connection."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    async def wait_closed(self) -> None:
        return None

    async def start_sftp_client(self) -> FakeSFTP:
        self.server.sftp_sessions += 1
        return FakeSFTP(self.server)

    async def run(self, command: str, **kwargs: Any) -> Completed:
        server = self.server
        server.commands.append(command)
        server.running += 1
        server.peak = max(server.peak, server.running)
        try:
            if server.lose_next:
                server.lose_next -= 1
                raise asyncssh.ConnectionLost("Connection lost")
            if server.vanish_next:  # sshd killed: the channel closes with no exit status
                server.vanish_next -= 1
                return Completed(None, "", "")
            if server.signal_next:  # the command was killed
                server.signal_next -= 1
                return Completed(-1, "", "", ("KILL", False, "", ""))
            await asyncio.sleep(server.command_seconds)
            return Completed(0, server.stdout, "")
        finally:
            server.running -= 1


class FakeSFTP:
    def __init__(self, server: FakeServer) -> None:
        self.server = server

    def _check(self) -> None:
        if self.server.deny:
            raise asyncssh.SFTPPermissionDenied("Permission denied")

    async def realpath(self, path: str) -> str:
        self._check()
        return "/home/alice"

    async def remove(self, path: str) -> None:
        self._check()
        self.server.removed.append(path)

    async def exists(self, path: str) -> bool:
        self._check()
        return True

    async def chmod(self, path: str, mode: int) -> None:
        self._check()

    def open(self, path: str, *args: Any, **kwargs: Any) -> Any:
        self._check()
        raise AssertionError("not reached")


class FakeServer:
    """Counts connections and commands; can refuse connections or drop them."""

    def __init__(self) -> None:
        self.connects: list[float] = []
        self.connections: list[FakeConnection] = []
        self.commands: list[str] = []
        self.running = 0
        self.peak = 0
        self.refuse = 0
        self.lose_next = 0
        self.vanish_next = 0
        self.signal_next = 0
        self.command_seconds = 0.01
        self.sftp_sessions = 0
        self.removed: list[str] = []
        self.stdout = "ok\n"
        #: Whether the SFTP server refuses every file operation (permission denied).
        self.deny = False

    async def connect(self, host: str, port: int, **kwargs: Any) -> FakeConnection:
        self.connects.append(time.monotonic())
        await asyncio.sleep(0.01)
        if self.refuse:
            self.refuse -= 1
            raise OSError(111, "Connect call failed")
        conn = FakeConnection(self)
        self.connections.append(conn)
        return conn


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    fake = FakeServer()
    monkeypatch.setattr(asyncssh, "connect", fake.connect)
    saved = dict(SSHPool._connections)
    SSHPool._connections.clear()
    SSHPool.commands.clear()
    yield fake
    SSHPool._connections.clear()
    SSHPool._connections.update(saved)
    SSHPool.commands.clear()


def target(**kwargs: Any) -> SSHTarget:
    values: dict[str, Any] = dict(
        host="login", port=22, username="alice", keys=(), known_hosts="/etc/ssh/ssh_known_hosts"
    )
    values.update(kwargs)
    return SSHTarget(**values)


async def test_many_commands_share_one_connection_and_stay_below_max_sessions(server: FakeServer) -> None:
    server.command_seconds = 0.05
    transports = [SSHTransport(target(max_sessions=4)) for _ in range(10)]  # ten spawners, one login
    results = await asyncio.gather(
        *(t.run(["squeue", "--jobs=1"], timeout=5) for t in transports for _ in range(4))
    )
    assert all(r.returncode == 0 and r.stdout == "ok\n" for r in results)
    assert len(server.connects) == 1
    assert SSHPool.connections_opened() == 1
    assert len(server.commands) == 40
    assert server.peak == 4
    assert SSHPool.commands["squeue"] == 40


async def test_distinct_logins_get_their_own_connection(server: FakeServer) -> None:
    await asyncio.gather(
        SSHTransport(target(username="alice")).run(["true"], timeout=5),
        SSHTransport(target(username="bob")).run(["true"], timeout=5),
        SSHTransport(target(username="alice")).run(["true"], timeout=5),
    )
    assert SSHPool.connections_opened() == 2


async def test_idle_connection_is_closed_and_reopened_when_needed(server: FakeServer) -> None:
    t = SSHTransport(target(idle_timeout=0.1))
    await t.run(["true"], timeout=5)
    assert SSHPool.connections_open() == 1
    await asyncio.sleep(0.3)
    assert server.connections[0].closed
    assert SSHPool.connections_open() == 0
    await t.run(["true"], timeout=5)
    assert SSHPool.connections_opened() == 2


async def test_busy_connection_is_not_closed_as_idle(server: FakeServer) -> None:
    server.command_seconds = 0.4
    t = SSHTransport(target(idle_timeout=0.1))
    await asyncio.gather(t.run(["sleep"], timeout=5), t.run(["sleep"], timeout=5))
    assert not server.connections[0].closed
    assert SSHPool.connections_opened() == 1


async def test_idle_timeout_zero_keeps_the_connection(server: FakeServer) -> None:
    t = SSHTransport(target(idle_timeout=0))
    await t.run(["true"], timeout=5)
    await asyncio.sleep(0.2)
    assert SSHPool.connections_open() == 1


async def test_reconnect_delay_doubles_and_is_capped(server: FakeServer) -> None:
    server.refuse = 100
    pooled = SSHPool.connection(target(reconnect_max_delay=2.0))
    delays = []
    for _ in range(5):
        with pytest.raises(ConnectFailed, match="Connect call failed"):
            await pooled.get()
        delays.append(round(pooled.retry_at - time.monotonic(), 1))
        # asked again at once: fails without a new attempt on the login node
        with pytest.raises(ConnectFailed, match="next connection attempt in"):
            await pooled.get()
        pooled.retry_at = 0.0  # as if the wait were over
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0]
    assert len(server.connects) == 5

    server.refuse = 0
    await pooled.get()
    assert (pooled.failures, pooled.retry_at) == (0, 0.0)


async def test_many_callers_during_an_outage_cause_one_attempt(server: FakeServer) -> None:
    server.refuse = 100
    t = SSHTransport(target(), retry_delays=())
    outcomes = await asyncio.gather(
        *(t.run(["squeue"], timeout=5) for _ in range(50)), return_exceptions=True
    )
    assert all(isinstance(o, ConnectFailed) for o in outcomes)
    assert {(o.host, o.port) for o in outcomes if isinstance(o, ConnectFailed)} == {("login", 22)}
    assert len(server.connects) == 1


async def test_a_submission_is_retried_when_no_connection_was_made(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_module, "RECONNECT_BASE_DELAY", 0.01)
    server.refuse = 1
    t = SSHTransport(target(), retry_delays=(0.02,))
    result = await t.run(["sbatch", "--parsable"], input="#!/bin/sh\n", timeout=5, idempotent=False)
    assert result.returncode == 0
    assert len(server.connects) == 2
    assert server.commands == ["sbatch --parsable"]


async def test_a_lost_connection_is_retried_for_queries_only(server: FakeServer) -> None:
    t = SSHTransport(target(), retry_delays=(0.01,))
    server.lose_next = 1
    result = await t.run(["squeue"], timeout=5)
    assert result.returncode == 0
    assert server.commands == ["squeue", "squeue"]
    assert SSHPool.connections_opened() == 2

    server.lose_next = 1
    with pytest.raises(TransportError, match="lost"):
        await t.run(["sbatch", "--parsable"], timeout=5, idempotent=False)
    assert server.commands.count("sbatch --parsable") == 1


async def test_a_session_closed_without_exit_status_is_a_lost_connection(server: FakeServer) -> None:
    t = SSHTransport(target(), retry_delays=(0.01,))
    server.vanish_next = 1
    with pytest.raises(TransportError, match="without an exit status"):
        await t.run(["sbatch", "--parsable"], timeout=5, idempotent=False)
    assert server.commands.count("sbatch --parsable") == 1
    server.vanish_next = 1
    assert (await t.run(["squeue"], timeout=5)).returncode == 0


async def test_a_killed_command_is_a_result_not_a_lost_connection(server: FakeServer) -> None:
    t = SSHTransport(target(), retry_delays=(0.01,))
    server.signal_next = 1
    result = await t.run(["squeue"], timeout=5)
    assert result.returncode == 255
    assert server.commands == ["squeue"]


async def test_refused_login_is_not_retried_in_a_loop(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = []

    async def refuse(host: str, port: int, **kwargs: Any) -> None:
        attempts.append(kwargs["username"])
        raise asyncssh.PermissionDenied("Permission denied")

    monkeypatch.setattr(asyncssh, "connect", refuse)
    t = SSHTransport(target())
    with pytest.raises(TransportError, match="was refused"):
        await t.run(["squeue"], timeout=5)
    with pytest.raises(TransportError, match="next connection attempt"):
        await t.run(["squeue"], timeout=5)
    assert attempts == ["alice"]


async def test_keys_are_read_outside_the_event_loop(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = []

    def read_private_key(path: str) -> object:
        threads.append(threading.current_thread())
        return object()

    monkeypatch.setattr(asyncssh, "read_private_key", read_private_key)
    await SSHTransport(target(keys=("/keys/alice",))).run(["true"], timeout=5)
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


async def test_file_operations_share_one_sftp_session(server: FakeServer) -> None:
    transports = [SSHTransport(target()) for _ in range(3)]
    homes = await asyncio.gather(*(t.home() for t in transports))
    await asyncio.gather(*(t.remove([f"/tmp/{i}"]) for i, t in enumerate(transports)))
    assert homes == ["/home/alice"] * 3
    assert sorted(server.removed) == ["/tmp/0", "/tmp/1", "/tmp/2"]
    assert server.sftp_sessions == 1

    # a new connection gets a session of its own
    server.connections[0].closed = True
    await transports[0].home()
    assert (len(server.connects), server.sftp_sessions) == (2, 2)


@pytest.mark.parametrize("operation", ["home", "write_file", "read_tail", "remove"])
async def test_an_sftp_refusal_is_a_transport_error_naming_the_file(
    server: FakeServer, operation: str
) -> None:
    server.deny = True
    transport = SSHTransport(target())
    calls = {
        "home": lambda: transport.home(),
        "write_file": lambda: transport.write_file("/home/alice/.batchspawner_x/alice/env.json", b"{}"),
        "read_tail": lambda: transport.read_tail("/home/alice/.batchspawner_x/alice/job-25.out", 100),
        "remove": lambda: transport.remove(["/home/alice/.batchspawner_x/alice/env.json"]),
    }
    with pytest.raises(TransportError) as info:
        await calls[operation]()
    assert isinstance(info.value, FileOperationFailed)
    assert info.value.maybe_sent, "the request reached the login node"
    assert "Permission denied" in str(info.value) and "alice@login:22" in str(info.value)
    if operation != "home":
        assert "/home/alice/.batchspawner_x/alice/" in str(info.value)
        assert (info.value.operation, info.value.path) == (
            operation.split("_")[0],
            "/home/alice/.batchspawner_x/alice/" + ("job-25.out" if operation == "read_tail" else "env.json"),
        )


async def test_stop_after_a_successful_cancel_does_not_raise_when_files_cannot_be_removed(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.deny = True
    server.stdout = "25|CANCELLED|n1|None|N/A\n"  # what scancel (ignored) and squeue answer
    user = SimpleNamespace(name="alice", url="/user/alice/", server=None, base_url="/")
    spawner = SlurmSpawner(user=user, cancel_timeout=0)
    spawner._transport = SSHTransport(target())
    spawner.load_state({"job_id": "25", "job_dir": "/home/alice/.batchspawner_x/alice"})
    try:
        await spawner.stop()
    finally:
        StatusPoller.close_all()
    assert spawner.job_id == ""
    assert any(c.startswith("scancel 25") for c in server.commands)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("cannot remove private files" in w and "Permission denied" in w for w in warnings), warnings
