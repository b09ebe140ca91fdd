"""How commands and files reach the cluster: over SSH, or locally as the user.

Both transports take argv lists. Over SSH the list is joined with
:func:`shlex.join` (the remote side always runs a shell), locally it is
executed directly behind a configurable prefix such as ``sudo -u alice``.
File operations (the job's environment file, internal-SSL certificates, the
job's output) go through the same object, so the spawner never cares which
one it has. The SSH connections themselves are pooled in :mod:`batchspawner_x.pool`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import posixpath
import pwd
import shlex
import time
from collections.abc import Iterator, Sequence
from typing import Any

import asyncssh
from traitlets.log import get_logger

from .errors import CommandTimeout, TransportError
from .errors import FileOperationFailed as FileOperationFailed
from .pool import RECONNECT_BASE_DELAY, ConnectFailed, SSHPool, SSHTarget
from .schedulers.base import CommandResult


class Transport(abc.ABC):
    """Runs commands and moves files as one cluster user."""

    #: Identifies the cluster account the transport acts as; used to share
    #: status pollers between spawners.
    key: tuple[str, ...]

    @abc.abstractmethod
    async def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float,
        idempotent: bool = True,
    ) -> CommandResult:
        """Run ``argv`` with ``input`` on stdin.

        A command that is not ``idempotent`` (job submission) is never sent
        twice: if the connection drops while it runs, the error is raised.
        """

    @abc.abstractmethod
    async def home(self) -> str:
        """The user's home directory on the cluster, as an absolute path."""

    @abc.abstractmethod
    async def write_file(self, path: str, data: bytes) -> None:
        """Write ``data`` to ``path`` (mode 0600), creating its directory with mode 0700."""

    @abc.abstractmethod
    async def read_tail(self, path: str, max_bytes: int) -> bytes | None:
        """The last ``max_bytes`` of ``path``, or None if it does not exist."""

    @abc.abstractmethod
    async def remove(self, paths: Sequence[str]) -> None:
        """Remove files; missing files are not an error."""

    def describe(self) -> str:
        return ":".join(self.key)

    async def can_connect(self, host: str, port: int, *, timeout: float) -> bool | None:
        """Whether the login node can open a TCP connection to ``host:port``.

        None when this transport cannot tell (the hub itself is the login node).
        """
        return None


# ---------------------------------------------------------------------------
# SSH


def command_name(argv: Sequence[str]) -> str:
    """The name a command is counted under: its program's base name, or for a
    ``sh -c SCRIPT NAME ...`` wrapper the NAME the script runs as (its ``$0``)."""
    if len(argv) > 3 and posixpath.basename(argv[0]) == "sh" and argv[1] == "-c":
        return argv[3]
    return posixpath.basename(argv[0])


@contextlib.contextmanager
def _sftp_errors(what: str, path: str, where: str) -> Iterator[None]:
    """Turn the SFTP server's refusal of ``what`` on ``path`` into :class:`FileOperationFailed`.

    A lost connection (:class:`asyncssh.SFTPConnectionLost`) passes through, to be retried.
    """
    try:
        yield
    except asyncssh.SFTPConnectionLost:
        raise
    except asyncssh.SFTPError as e:
        raise FileOperationFailed(
            f"Cannot {what} {path} on {where}: {e.reason or type(e).__name__}", operation=what, path=path
        ) from None


_RETRYABLE = (
    asyncssh.ConnectionLost,
    asyncssh.SFTPConnectionLost,
    asyncssh.DisconnectError,
    asyncssh.ChannelOpenError,
    BrokenPipeError,
    ConnectionError,
)


class SSHTransport(Transport):
    """Commands over a pooled asyncssh connection, files over SFTP."""

    def __init__(self, target: SSHTarget, *, retry_delays: Sequence[float] = (0.5, 2.0)) -> None:
        self.target = target
        self.key = target.key
        self.retry_delays = tuple(retry_delays)

    def describe(self) -> str:
        t = self.target
        return f"{t.username}@{t.host}:{t.port}"

    async def _with_connection(self, op: Any, *, idempotent: bool) -> Any:
        """Run ``op(conn)`` on the pooled connection, in one of its sessions.

        A connection that cannot be opened is tried again after ``retry_delays``
        (nothing was sent, so this is safe for any command), unless the pool's
        back-off asks to wait longer. A connection lost while ``op`` ran is only
        retried for ``idempotent`` operations.
        """
        pooled = SSHPool.connection(self.target)
        attempt = 0
        while True:
            try:
                conn = await pooled.get()
            except ConnectFailed as e:
                wait = e.retry_at - time.monotonic()
                if attempt >= len(self.retry_delays) or wait > self.retry_delays[attempt]:
                    raise
                delay = self.retry_delays[attempt]
                attempt += 1
                get_logger().warning("%s; retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                continue
            except TransportError as e:
                e.maybe_sent = False  # refused login, unreadable key: nothing reached the node
                raise
            try:
                async with pooled.session():
                    return await op(conn)
            except _RETRYABLE as e:
                pooled.drop(conn)
                if not idempotent or attempt >= len(self.retry_delays):
                    raise TransportError(
                        f"Connection to {self.describe()} lost: {e}",
                        host=self.target.host,
                        port=self.target.port,
                    ) from None
                delay = self.retry_delays[attempt]
                attempt += 1
                get_logger().warning(
                    "Connection to %s lost (%s); retrying in %.1fs", self.describe(), e, delay
                )
                await asyncio.sleep(delay)

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float,
        idempotent: bool = True,
    ) -> CommandResult:
        command = shlex.join(argv)

        async def op(conn: asyncssh.SSHClientConnection) -> CommandResult:
            SSHPool.commands[command_name(argv)] += 1
            try:
                proc = await conn.run(command, input=input, check=False, timeout=timeout, errors="replace")
            except asyncssh.TimeoutError:
                raise CommandTimeout(
                    f"{argv[0]} did not finish within {timeout:g}s on {self.describe()}",
                    command=argv[0],
                    timeout=timeout,
                ) from None
            if proc.exit_status is None and proc.exit_signal is None:
                # sshd went away without telling how the command ended: the connection
                # is lost, and the command's outcome unknown
                raise asyncssh.ConnectionLost("the session closed without an exit status")
            rc = proc.exit_status if proc.exit_status is not None and proc.exit_status >= 0 else 255
            return CommandResult(rc, _text(proc.stdout), _text(proc.stderr))

        result: CommandResult = await self._with_connection(op, idempotent=idempotent)
        return result

    async def _sftp(self, conn: asyncssh.SSHClientConnection) -> asyncssh.SFTPClient:
        return await SSHPool.connection(self.target).sftp(conn)

    async def home(self) -> str:
        async def op(conn: asyncssh.SSHClientConnection) -> str:
            sftp = await self._sftp(conn)
            with _sftp_errors("find the home directory", ".", self.describe()):
                return str(await sftp.realpath("."))

        home: str = await self._with_connection(op, idempotent=True)
        return home

    async def write_file(self, path: str, data: bytes) -> None:
        directory = os.path.dirname(path)

        async def op(conn: asyncssh.SSHClientConnection) -> None:
            sftp = await self._sftp(conn)
            with _sftp_errors("write", path, self.describe()):
                await _sftp_private_dirs(sftp, directory)
                if await sftp.exists(path):
                    await sftp.remove(path)
                attrs = asyncssh.SFTPAttrs(permissions=0o600)
                async with sftp.open(path, "wb", attrs=attrs, encoding=None) as f:
                    await f.write(data)
                await sftp.chmod(path, 0o600)

        await self._with_connection(op, idempotent=True)

    async def read_tail(self, path: str, max_bytes: int) -> bytes | None:
        async def op(conn: asyncssh.SSHClientConnection) -> bytes | None:
            sftp = await self._sftp(conn)
            with _sftp_errors("read", path, self.describe()):
                try:
                    async with sftp.open(path, "rb", encoding=None) as f:
                        size = (await f.stat()).size or 0
                        await f.seek(max(0, size - max_bytes))
                        data = await f.read(max_bytes)
                        return data if isinstance(data, bytes) else data.encode()
                except asyncssh.SFTPNoSuchFile:
                    return None

        tail: bytes | None = await self._with_connection(op, idempotent=True)
        return tail

    async def remove(self, paths: Sequence[str]) -> None:
        async def op(conn: asyncssh.SSHClientConnection) -> None:
            sftp = await self._sftp(conn)
            for path in paths:
                with (
                    _sftp_errors("remove", path, self.describe()),
                    contextlib.suppress(asyncssh.SFTPNoSuchFile),
                ):
                    await sftp.remove(path)

        await self._with_connection(op, idempotent=True)

    async def can_connect(self, host: str, port: int, *, timeout: float) -> bool | None:
        """Whether the login node can open a TCP connection to ``host:port`` (a
        ``direct-tcpip`` channel, as ``ssh -L`` opens). None if the login node
        forbids forwarding (``AllowTcpForwarding no``) or cannot be reached."""

        async def op(conn: asyncssh.SSHClientConnection) -> bool | None:
            try:
                _, writer = await asyncio.wait_for(conn.open_connection(host, port), timeout)
            except asyncssh.ChannelOpenError as e:
                return None if e.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED else False
            except asyncio.TimeoutError:
                return False
            writer.close()
            return True

        try:
            reached: bool | None = await self._with_connection(op, idempotent=True)
        except TransportError:
            return None
        return reached

    def forward(self, dest_host: str, dest_port: int) -> PortForward:
        """A port on the hub's loopback forwarded through the login node to
        ``dest_host:dest_port``; call :meth:`PortForward.open` to start it."""
        return PortForward(self, dest_host, dest_port)


class PortForward:
    """``ssh -L 127.0.0.1:PORT:dest_host:dest_port`` over the pooled connection.

    :meth:`open` listens on a free port of the hub's loopback (``port``); every
    connection to it becomes a ``direct-tcpip`` channel to ``dest_host:dest_port``,
    opened by the login node over the login's pooled SSH connection. The listening
    socket is the hub's own and stays bound until :meth:`close`, whatever happens to
    the SSH connection: no other forward or process can take the port while the
    proxy routes a user's requests to it. A watcher notices when the connection
    drops and reconnects through the pool (with its back-off), so that the next
    request finds it ready; requests meanwhile are refused. The pool does not close
    a connection that carries a forward as idle.
    """

    LISTEN_HOST = "127.0.0.1"
    #: Bytes read at once from either side.
    CHUNK = 65536

    def __init__(self, transport: SSHTransport, dest_host: str, dest_port: int) -> None:
        self.transport = transport
        self.dest_host = dest_host
        self.dest_port = dest_port
        self.port = 0
        #: How many SSH connections carried the forward (1 after open, +1 per reconnection).
        self.established = 0
        self._pooled = SSHPool.connection(transport.target)
        self._conn: asyncssh.SSHClientConnection | None = None
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    def describe(self) -> str:
        via = self.transport.describe()
        return f"{self.LISTEN_HOST}:{self.port} -> {via} -> {self.dest_host}:{self.dest_port}"

    async def open(self) -> int:
        """Start forwarding; return the local port. Raises TransportError if it cannot."""
        self._pooled.forwards += 1
        try:
            self._conn = await self._pooled.get()
            try:
                self._server = await asyncio.start_server(self._serve, self.LISTEN_HOST, self.port)
            except OSError as e:
                raise TransportError(
                    f"Cannot listen on {self.LISTEN_HOST}:{self.port} for a forward: {e}"
                ) from None
        except BaseException:
            self._pooled.forwards -= 1
            self._closed = True
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        self.established = 1
        self._watcher = asyncio.ensure_future(self._keep())
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client of the local port: a channel to the destination, bytes both ways."""
        self._clients.add(writer)
        try:
            try:
                conn = await self._pooled.get()
                remote_reader, remote_writer = await conn.open_connection(
                    self.dest_host, self.dest_port, encoding=None
                )
            except (TransportError, OSError, asyncssh.Error) as e:
                get_logger().warning("Forward %s cannot open a channel: %s", self.describe(), e)
                return
            upstream = asyncio.ensure_future(_pipe(reader, remote_writer, self.CHUNK))
            try:
                # until the server, or the channel, closes its side
                await _pipe(remote_reader, writer, self.CHUNK)
            finally:
                upstream.cancel()
                remote_writer.close()
        finally:
            self._clients.discard(writer)
            writer.close()

    async def _keep(self) -> None:
        """Reconnect through the pool each time the forward's connection closes, until
        :meth:`close`; the listening socket stays as it is."""
        log = get_logger()
        while not self._closed:
            if self._conn is not None:
                await self._conn.wait_closed()
            if self._closed:
                return
            log.warning("SSH connection of forward %s closed; re-establishing it", self.describe())
            self._conn = None
            delay = RECONNECT_BASE_DELAY
            while not self._closed:
                try:
                    self._conn = await self._pooled.get()
                except ConnectFailed as e:
                    await asyncio.sleep(max(e.retry_at - time.monotonic(), RECONNECT_BASE_DELAY))
                    continue
                except TransportError as e:
                    log.warning("Forward %s: %s; trying again in %.1fs", self.describe(), e, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.transport.target.reconnect_max_delay)
                    continue
                self.established += 1
                log.info("Forward %s re-established", self.describe())
                break

    async def close(self) -> None:
        """Stop listening and end the connections being forwarded. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._pooled.forwards -= 1
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._clients):
            writer.close()
        if server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 5)
        self._conn = None


async def _pipe(reader: Any, writer: Any, chunk: int) -> None:
    """Copy ``reader`` to ``writer`` until end of file, then pass the end on."""
    try:
        while data := await reader.read(chunk):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, asyncssh.Error):
        pass  # either side went away: the caller closes both


async def _sftp_private_dirs(sftp: asyncssh.SFTPClient, directory: str) -> None:
    """Create ``directory`` and its missing parents with mode 0700."""
    missing = []
    current = directory
    while current and current not in ("/", ".") and not await sftp.exists(current):
        missing.append(current)
        current = os.path.dirname(current)
    for path in reversed(missing):
        try:
            await sftp.mkdir(path, asyncssh.SFTPAttrs(permissions=0o700))
        except asyncssh.SFTPFailure:
            # Another spawn of the same user (a second named server) made it meanwhile;
            # OpenSSH's sftp-server answers an existing directory with a bare "Failure".
            if not await sftp.isdir(path):
                raise
    await sftp.chmod(directory, 0o700)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# ---------------------------------------------------------------------------
# Local: the hub runs on the login node.

# Fixed shell programs; every value reaches them as a positional argument.
_WRITE = (
    'umask 077 && d=$(dirname -- "$1") && mkdir -p -- "$d" && chmod 700 -- "$d"'
    ' && rm -f -- "$1" && cat > "$1"'
)
_TAIL = 'if [ -e "$1" ]; then tail -c "$2" -- "$1"; else exit 3; fi'
_REMOVE = 'rm -f -- "$@"'


#: Variables of the hub's environment a local command gets by default: where programs are,
#: the locale and time zone, and where each scheduler's client finds its configuration.
LOCAL_ENV_KEEP = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "SLURM_CONF",
    "SGE_ROOT",
    "SGE_CELL",
    "SGE_CLUSTER_NAME",
    "SGE_QMASTER_PORT",
    "SGE_EXECD_PORT",
    "PBS_CONF_FILE",
    "PBS_SERVER",
    "PBS_DEFAULT",
    "MOABHOMEDIR",
    "LSF_ENVDIR",
    "LSF_SERVERDIR",
    "LSF_BINDIR",
    "LSF_LIBDIR",
    "CONDOR_CONFIG",
)

#: PATH for a hub started without one.
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def local_environment(keep: Sequence[str], source: dict[str, str], username: str) -> dict[str, str]:
    """The whole environment of a command run as ``username`` on this machine.

    Only the ``keep`` variables of ``source`` (the hub's environment): the hub's secrets
    (``JUPYTERHUB_CRYPT_KEY``, the proxy's token, cloud credentials) never reach the
    scheduler's commands, nor through them (Slurm's default ``--export=ALL``) the job.
    ``HOME``, ``USER`` and ``LOGNAME`` name the user, as a login would set them, when the
    hub's account database knows the name; ``PATH`` is never missing.
    """
    env = {name: source[name] for name in keep if name in source}
    env.setdefault("PATH", DEFAULT_PATH)
    try:
        home = pwd.getpwnam(username).pw_dir
    except KeyError:
        return env
    env.update(HOME=home, USER=username, LOGNAME=username)
    return env


class LocalTransport(Transport):
    """Commands run on this machine as the user, behind ``prefix`` (e.g. sudo), with only
    the environment :func:`local_environment` makes from ``env_keep``."""

    def __init__(
        self, username: str, prefix: Sequence[str], env_keep: Sequence[str] = LOCAL_ENV_KEEP
    ) -> None:
        self.username = username
        self.prefix = [part.format(username=username) for part in prefix]
        self.key = ("local", username)
        self.env_keep = tuple(env_keep)

    def describe(self) -> str:
        return f"{self.username} (local)"

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: str | None = None,
        timeout: float,
        idempotent: bool = True,
    ) -> CommandResult:
        data = await self._exec(list(argv), input.encode() if input is not None else None, timeout)
        return CommandResult(data[0], data[1].decode("utf-8", "replace"), data[2].decode("utf-8", "replace"))

    async def _exec(self, argv: list[str], stdin: bytes | None, timeout: float) -> tuple[int, bytes, bytes]:
        full = self.prefix + argv
        try:
            proc = await asyncio.create_subprocess_exec(
                *full,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd="/",
                env=local_environment(self.env_keep, dict(os.environ), self.username),
            )
        except OSError as e:
            raise TransportError(f"Cannot run {full[0]}: {e}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin or b""), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            raise CommandTimeout(
                f"{argv[0]} did not finish within {timeout:g}s", command=argv[0], timeout=timeout
            ) from None
        return proc.returncode if proc.returncode is not None else 255, out, err

    async def home(self) -> str:
        return await asyncio.to_thread(lambda: pwd.getpwnam(self.username).pw_dir)

    async def write_file(self, path: str, data: bytes) -> None:
        rc, _, err = await self._exec(["/bin/sh", "-c", _WRITE, "sh", path], data, 30)
        if rc != 0:
            raise TransportError(
                f"Cannot write {path} as {self.username}: {err.decode(errors='replace').strip()}"
            )

    async def read_tail(self, path: str, max_bytes: int) -> bytes | None:
        rc, out, err = await self._exec(["/bin/sh", "-c", _TAIL, "sh", path, str(max_bytes)], None, 30)
        if rc == 3:
            return None
        if rc != 0:
            raise TransportError(
                f"Cannot read {path} as {self.username}: {err.decode(errors='replace').strip()}"
            )
        return out

    async def remove(self, paths: Sequence[str]) -> None:
        if not paths:
            return
        rc, _, err = await self._exec(["/bin/sh", "-c", _REMOVE, "sh", *paths], None, 30)
        if rc != 0:
            raise TransportError(
                f"Cannot remove files as {self.username}: {err.decode(errors='replace').strip()}"
            )


__all__ = [
    "DEFAULT_PATH",
    "LOCAL_ENV_KEEP",
    "ConnectFailed",
    "FileOperationFailed",
    "LocalTransport",
    "PortForward",
    "SSHPool",
    "SSHTarget",
    "SSHTransport",
    "Transport",
    "local_environment",
]
