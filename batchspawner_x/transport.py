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
from dataclasses import dataclass
from typing import Any

import asyncssh
from traitlets.log import get_logger

from . import failover
from .errors import CommandTimeout, HostKeyError, LoginRefused, TransportError
from .errors import FileOperationFailed as FileOperationFailed
from .pool import ConnectFailed, SSHPool, SSHTarget, _PooledConnection
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


def _all_failed(failed: dict[str, TransportError], username: str) -> TransportError:
    """The error of an operation for which no login node answered: the one failure, or one
    naming every node tried and its failure. A :class:`ConnectFailed` (waiting may cure it)
    if any node merely could not be reached, else the most serious refusal."""
    errors = list(failed.values())
    if len(errors) == 1:
        return errors[0]
    if not errors:
        return ConnectFailed("No login node to connect to")
    message = (
        f"No login node accepted a connection as {username!r} (tried {', '.join(failed)}): "
        + "; ".join(str(e) for e in errors)
    )
    waits = [e.retry_at for e in errors if isinstance(e, ConnectFailed)]
    if waits:
        return ConnectFailed(message, min(waits))
    kind: type[TransportError] = TransportError
    for candidate in (HostKeyError, LoginRefused):
        if any(isinstance(e, candidate) for e in errors):
            kind = candidate
            break
    return kind(message, maybe_sent=False)


@dataclass(frozen=True)
class Link:
    """The connection one operation runs on: the login node's target, its pooled
    connection and the asyncssh connection itself."""

    target: SSHTarget
    pooled: _PooledConnection
    conn: asyncssh.SSHClientConnection

    @property
    def where(self) -> str:
        t = self.target
        return f"{t.username}@{failover.label((t.host, t.port))}"


def _address(target: SSHTarget) -> failover.Address:
    return (target.host, target.port)


class SSHTransport(Transport):
    """Commands over a pooled asyncssh connection, files over SFTP.

    ``target`` is one login node, or several login nodes of the same cluster (the same
    account on each). With several, each operation connects to the first node that
    answers, in the order ``health`` (the cluster's :class:`~batchspawner_x.failover.LoginHealth`)
    gives; a node that cannot be connected to, or drops the connection, is marked down
    there and the next node is tried at once. :attr:`key` names the account on the whole
    cluster, whichever node carries it.
    """

    def __init__(
        self,
        target: SSHTarget | Sequence[SSHTarget],
        *,
        health: failover.LoginHealth | None = None,
        retry_delays: Sequence[float] = (0.5, 2.0),
    ) -> None:
        targets = (target,) if isinstance(target, SSHTarget) else tuple(target)
        if not targets:
            raise ValueError("SSHTransport needs at least one login node")
        self.targets = targets
        self._by_address = {_address(t): t for t in targets}
        #: The login node in use: the one the last connection went to.
        self.target = targets[0]
        # one node: nothing to choose, and the pool's back-off alone decides when to try again
        self.health = (health or failover.LoginHealth()) if len(targets) > 1 else None
        first = targets[0]
        if len(targets) == 1:
            self.key = first.key
        else:
            self.key = ("ssh", ",".join(failover.label(_address(t)) for t in targets), first.username)
        self.retry_delays = tuple(retry_delays)

    def describe(self) -> str:
        t = self.target
        return f"{t.username}@{failover.label(_address(t))}"

    async def connection(self, failed: dict[str, TransportError] | None = None) -> Link:
        """A connection to a live login node: tries them in the health's order, then the one
        that failed longest ago. Raises the failure (every node's, with several) when none
        answers; ``failed`` collects each node's last failure across calls."""
        failed = {} if failed is None else failed
        health = self.health
        if health is None:
            link = await self._connect(self.targets[0], failed, None)
            assert link is not None  # (without health, a failure is raised)
            return link
        addresses = list(self._by_address)
        tried: list[failover.Address] = []
        for address in health.plan(addresses):
            if not health.take(address):
                continue  # marked down meanwhile, or being tried again by another operation
            tried.append(address)
            link = await self._connect(self._by_address[address], failed, health)
            if link is not None:
                return link
        # Every live node failed (or none was live): try the one that failed longest ago
        # rather than fail without trying.
        last = health.fallback(a for a in addresses if a not in tried)
        if last is not None:
            link = await self._connect(self._by_address[last], failed, health)
            if link is not None:
                return link
        raise _all_failed(failed, self.target.username)

    async def _connect(
        self, target: SSHTarget, failed: dict[str, TransportError], health: failover.LoginHealth | None
    ) -> Link | None:
        """The pooled connection to ``target``. With ``health``, a failure that another node
        may not have is recorded there and in ``failed``, and None returned (try the next
        node); without, it is raised."""
        pooled = SSHPool.connection(target)
        address = _address(target)
        try:
            conn = await pooled.get()
        except TransportError as e:
            e.maybe_sent = False  # nothing reached the node
            if health is None:
                raise
            failed[failover.label(address)] = e
            if isinstance(e, ConnectFailed):  # refused, timed out, unreachable
                health.mark_down(address, str(e))
            elif isinstance(e, HostKeyError):
                # Not a node that is down but one that may not be who it claims to be: it
                # is reported as an error, naming it, and skipped for everybody. The other
                # nodes are still tried: the handshake stopped before any authentication,
                # so nothing reached this node, and a node whose key verifies is as safe
                # as ever; refusing them all would turn one re-installed (or hijacked)
                # login node into an outage of the whole cluster.
                health.mark_down(address, str(e), security=True)
            elif isinstance(e, LoginRefused):
                # This account may not log in there (its key, certificate or groups): an
                # error to report, but only for this account; other accounts still use the
                # node. The next node is tried for the same reason as above: a refused
                # login ran nothing.
                health.refused(address, target.username, str(e))
            else:
                raise  # an unreadable key file or CA: the same on every node
            return None
        if health is not None:
            health.mark_up(address, target.username)
        self.target = target
        return Link(target, pooled, conn)

    async def _with_connection(self, op: Any, *, idempotent: bool) -> Any:
        """Run ``op(link)`` on a pooled connection to a live login node, in one of its sessions.

        A connection that cannot be opened is tried on the next login node at once, and
        when none answers, again after ``retry_delays`` (nothing was sent, so this is safe
        for any command), unless the pool's back-off asks to wait longer. A connection lost
        while ``op`` ran marks its node down; the operation is only tried again (on the next
        live node at once, or after ``retry_delays``) when it is ``idempotent``: a lost
        submission raises :class:`TransportError` with ``maybe_sent``, for its caller to
        look the job up (through whichever node is live).
        """
        attempt = 0
        failed: dict[str, TransportError] = {}
        while True:
            try:
                link = await self.connection(failed)
            except ConnectFailed as e:
                wait = e.retry_at - time.monotonic()
                if attempt >= len(self.retry_delays) or wait > self.retry_delays[attempt]:
                    raise
                delay = self.retry_delays[attempt]
                attempt += 1
                get_logger().warning("%s; retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                continue
            try:
                async with link.pooled.session():
                    return await op(link)
            except _RETRYABLE as e:
                link.pooled.drop(link.conn)
                address = _address(link.target)
                # (a channel the node would not open is not a node going down: sshd's
                # MaxSessions, for one, refuses a channel on a healthy connection)
                health = None if isinstance(e, asyncssh.ChannelOpenError) else self.health
                if health is not None:
                    health.mark_down(address, f"connection lost: {e}")
                if not idempotent or attempt >= len(self.retry_delays):
                    raise TransportError(
                        f"Connection to {link.where} lost: {e}",
                        host=link.target.host,
                        port=link.target.port,
                    ) from None
                delay = self.retry_delays[attempt]
                attempt += 1
                if health is not None and any(health.is_live(a) for a in self._by_address if a != address):
                    get_logger().warning(
                        "Connection to %s lost (%s); trying another login node", link.where, e
                    )
                    continue
                get_logger().warning("Connection to %s lost (%s); retrying in %.1fs", link.where, e, delay)
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

        async def op(link: Link) -> CommandResult:
            SSHPool.commands[command_name(argv)] += 1
            try:
                proc = await link.conn.run(
                    command, input=input, check=False, timeout=timeout, errors="replace"
                )
            except asyncssh.TimeoutError:
                raise CommandTimeout(
                    f"{argv[0]} did not finish within {timeout:g}s on {link.where}",
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

    async def _sftp(self, link: Link) -> asyncssh.SFTPClient:
        return await link.pooled.sftp(link.conn)

    async def home(self) -> str:
        async def op(link: Link) -> str:
            sftp = await self._sftp(link)
            with _sftp_errors("find the home directory", ".", link.where):
                return str(await sftp.realpath("."))

        home: str = await self._with_connection(op, idempotent=True)
        return home

    async def write_file(self, path: str, data: bytes) -> None:
        directory = os.path.dirname(path)

        async def op(link: Link) -> None:
            sftp = await self._sftp(link)
            with _sftp_errors("write", path, link.where):
                await _sftp_private_dirs(sftp, directory)
                if await sftp.exists(path):
                    await sftp.remove(path)
                attrs = asyncssh.SFTPAttrs(permissions=0o600)
                async with sftp.open(path, "wb", attrs=attrs, encoding=None) as f:
                    await f.write(data)
                await sftp.chmod(path, 0o600)

        await self._with_connection(op, idempotent=True)

    async def read_tail(self, path: str, max_bytes: int) -> bytes | None:
        async def op(link: Link) -> bytes | None:
            sftp = await self._sftp(link)
            with _sftp_errors("read", path, link.where):
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
        async def op(link: Link) -> None:
            sftp = await self._sftp(link)
            for path in paths:
                with (
                    _sftp_errors("remove", path, link.where),
                    contextlib.suppress(asyncssh.SFTPNoSuchFile),
                ):
                    await sftp.remove(path)

        await self._with_connection(op, idempotent=True)

    async def can_connect(self, host: str, port: int, *, timeout: float) -> bool | None:
        """Whether the login node can open a TCP connection to ``host:port`` (a
        ``direct-tcpip`` channel, as ``ssh -L`` opens). None if the login node
        forbids forwarding (``AllowTcpForwarding no``) or cannot be reached."""

        async def op(link: Link) -> bool | None:
            try:
                _, writer = await asyncio.wait_for(link.conn.open_connection(host, port), timeout)
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
    "Link",
    "LocalTransport",
    "SSHPool",
    "SSHTarget",
    "SSHTransport",
    "Transport",
    "local_environment",
]
