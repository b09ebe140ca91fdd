"""The SSH connection pool: one connection per login, shared by every spawner of it.

A :class:`SSHTarget` names one login (host, port, user, keys) and how its connection
behaves; :class:`SSHPool` keeps one :class:`_PooledConnection` per target for the
whole process, opens it on first use, reopens it after a failure with a growing
back-off (:data:`RECONNECT_BASE_DELAY`, doubling), limits the commands that run on it
at once and closes it when idle. :class:`~batchspawner_x.transport.SSHTransport` runs
commands and moves files over it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncssh
from traitlets.log import get_logger

from .certificates import load_ca_key, mint_user_certificate
from .errors import ConfigError, HostKeyError, KeyFileError, LoginRefused, TransportError
from .errors import ConnectFailed as ConnectFailed


@dataclass(frozen=True)
class SSHTarget:
    """Everything that identifies one SSH login, and how its pooled connection behaves."""

    host: str
    port: int
    username: str
    keys: tuple[str, ...]
    known_hosts: str
    connect_timeout: float = 30.0
    keepalive_interval: float = 30.0
    max_sessions: int = 8
    #: Seconds a connection may sit unused before the pool closes it; 0 keeps it open.
    idle_timeout: float = 300.0
    #: Upper bound of the delay between attempts to reconnect after failures.
    reconnect_max_delay: float = 30.0
    #: Private key of an SSH certificate authority the login node trusts; when set, every
    #: connection also offers a fresh certificate for ``username``.
    ca_key: str = ""
    #: Seconds such a certificate stays valid.
    cert_validity: float = 300.0
    #: Networks the certificate may be used from (its ``source-address``); empty for anywhere.
    cert_source_address: tuple[str, ...] = ()
    #: Whether the certificate permits port forwarding (only a tunnel needs it).
    cert_port_forwarding: bool = False

    @property
    def key(self) -> tuple[str, ...]:
        return ("ssh", self.host, str(self.port), self.username)


#: Ciphers in order of preference. asyncssh's default, chacha20-poly1305, costs the hub's
#: event loop twice the CPU of AES-GCM (which uses the CPU's AES instructions) per packet.
ENCRYPTION_ALGS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)

#: First delay after a failed connection attempt; it doubles with each further failure.
RECONNECT_BASE_DELAY = 0.5


class _PooledConnection:
    """One asyncssh connection shared by every spawner of one login.

    At most ``max_sessions`` channels are open at once (sshd refuses more than
    its MaxSessions, 10 by default). A connection unused for ``idle_timeout``
    seconds is closed; the next command opens a new one. After a failed
    attempt to connect, the next attempt waits ``0.5 s``, then ``1 s``,
    ``2 s``... up to ``reconnect_max_delay``; commands asked for in between fail
    at once instead of piling up attempts on the login node.
    """

    def __init__(self, target: SSHTarget) -> None:
        self.target = target
        self.conn: asyncssh.SSHClientConnection | None = None
        self.lock = asyncio.Lock()
        self.sessions = asyncio.Semaphore(target.max_sessions)
        self.opened = 0
        self.active = 0
        self.peak_active = 0
        self.last_used = time.monotonic()
        self.failures = 0
        self.retry_at = 0.0
        self.last_error: TransportError | None = None
        self._reaper: asyncio.Task[None] | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_conn: asyncssh.SSHClientConnection | None = None
        self._sftp_lock = asyncio.Lock()
        #: Port forwards living on this connection: it is not closed as idle while any is open.
        self.forwards = 0

    async def get(self) -> asyncssh.SSHClientConnection:
        async with self.lock:
            self.last_used = time.monotonic()
            if self.conn is not None and not self.conn.is_closed():
                return self.conn
            self.conn = None
            wait = self.retry_at - time.monotonic()
            # (a sleeper woken a hair before retry_at may try now)
            if wait > 0.01 and self.last_error is not None:
                raise _again(self.last_error, wait, self.retry_at)
            try:
                conn = await self._connect()
            except TransportError as e:
                self.failures += 1
                delay = min(RECONNECT_BASE_DELAY * 2 ** (self.failures - 1), self.target.reconnect_max_delay)
                self.retry_at = time.monotonic() + delay
                self.last_error = e
                if isinstance(e, ConnectFailed):
                    e.retry_at = self.retry_at
                raise
            self.failures, self.retry_at, self.last_error = 0, 0.0, None
            self.conn = conn
            self.opened += 1
            self.last_used = time.monotonic()
            if self.target.idle_timeout > 0 and (self._reaper is None or self._reaper.done()):
                self._reaper = asyncio.ensure_future(self._close_when_idle())
            return conn

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """One channel's worth of the connection: waits while ``max_sessions`` are in use."""
        async with self.sessions:
            self.active += 1
            self.peak_active = max(self.peak_active, self.active)
            self.last_used = time.monotonic()
            try:
                yield
            finally:
                self.active -= 1
                self.last_used = time.monotonic()

    async def sftp(self, conn: asyncssh.SSHClientConnection) -> asyncssh.SFTPClient:
        """The connection's one SFTP session, shared by every file operation: sshd starts
        one sftp-server for the connection instead of one per operation."""
        async with self._sftp_lock:
            if self._sftp is None or self._sftp_conn is not conn:
                try:
                    self._sftp = await conn.start_sftp_client()
                except asyncssh.SFTPConnectionLost:
                    raise
                except asyncssh.SFTPError as e:  # no sftp subsystem: no file was touched
                    t = self.target
                    raise TransportError(
                        f"Cannot start SFTP on {t.host}:{t.port} as {t.username!r}: {e.reason} "
                        "(the login node's sshd needs a Subsystem sftp line)",
                        host=t.host,
                        port=t.port,
                        maybe_sent=False,
                    ) from None
                self._sftp_conn = conn
            return self._sftp

    def drop(self, conn: asyncssh.SSHClientConnection) -> None:
        if self.conn is conn:
            self.conn = None
        if self._sftp_conn is conn:
            self._sftp, self._sftp_conn = None, None
        conn.close()

    async def _close_when_idle(self) -> None:
        idle = self.target.idle_timeout
        while self.conn is not None and not self.conn.is_closed():
            wait = self.last_used + idle - time.monotonic()
            if wait <= 0 and self.active == 0 and self.forwards == 0:
                conn, self.conn = self.conn, None
                t = self.target
                get_logger().info(
                    "Closing SSH connection to %s:%s as %s, unused for %gs", t.host, t.port, t.username, idle
                )
                conn.close()
                return
            await asyncio.sleep(wait if wait > 0 else idle)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        conn, self.conn = self.conn, None
        self._sftp, self._sftp_conn = None, None
        if conn is not None:
            conn.close()
            await conn.wait_closed()

    async def _connect(self) -> asyncssh.SSHClientConnection:
        t = self.target
        where = f"{t.host}:{t.port}"
        if not t.known_hosts:
            raise HostKeyError(
                f"No known_hosts file is configured for {where}: set ssh_known_hosts "
                "to a file holding the login node's host key.",
                host=t.host,
                port=t.port,
            )
        keys = await asyncio.to_thread(_client_keys, t)
        try:
            conn = await asyncssh.connect(
                t.host,
                t.port,
                username=t.username,
                client_keys=keys,
                known_hosts=t.known_hosts,
                config=None,
                agent_path=None,
                password=None,
                kbdint_auth=False,
                connect_timeout=t.connect_timeout,
                keepalive_interval=t.keepalive_interval,
                encryption_algs=ENCRYPTION_ALGS,
            )
        except asyncssh.HostKeyNotVerifiable as e:
            raise HostKeyError(
                f"The host key of {where} is not in {t.known_hosts} or does not match it "
                f"({e.reason}). Check the login node's fingerprint with its administrators, "
                f"then add its key, for example: ssh-keyscan -p {t.port} {t.host} >> {t.known_hosts}",
                host=t.host,
                port=t.port,
            ) from None
        except asyncssh.PermissionDenied:
            refused = f"SSH login as {t.username!r} to {where} was refused"
            raise LoginRefused(f"{refused}: {_login_hint(t)}", host=t.host, port=t.port) from None
        except (OSError, asyncssh.Error) as e:
            raise ConnectFailed(
                f"Cannot connect to {where} as {t.username!r}: {e}", host=t.host, port=t.port
            ) from None
        get_logger().info("Opened SSH connection to %s as %s", where, t.username)
        return conn


def _again(error: TransportError, wait: float, retry_at: float) -> TransportError:
    """The last connection error, repeated while the pool waits before trying again."""
    message = f"{error} (next connection attempt in {wait:.1f}s)"
    if isinstance(error, ConnectFailed):
        return ConnectFailed(message, retry_at, host=error.host, port=error.port)
    again = type(error)(message)
    again.host, again.port = error.host, error.port
    return again


def _client_keys(target: SSHTarget) -> list[Any]:
    """The key files of ``target``, after a freshly minted certificate if it has a CA."""
    keys: list[Any] = []
    if target.ca_key:
        try:
            ca = load_ca_key(target.ca_key)
            keys.append(
                mint_user_certificate(
                    ca,
                    target.username,
                    target.cert_validity,
                    source_addresses=target.cert_source_address,
                    port_forwarding=target.cert_port_forwarding,
                )
            )
        except ConfigError as e:
            raise TransportError(str(e)) from None
        get_logger().info(
            "Signed an SSH certificate for principal %s, valid %gs%s%s",
            target.username,
            target.cert_validity,
            f", from {','.join(target.cert_source_address)}" if target.cert_source_address else "",
            ", port forwarding permitted" if target.cert_port_forwarding else "",
        )
    for path in target.keys:
        try:
            keys.append(asyncssh.read_private_key(path))
        except (OSError, asyncssh.KeyImportError) as e:
            raise KeyFileError(f"Cannot read SSH key {path}: {e}", path=path) from None
    return keys


def _login_hint(target: SSHTarget) -> str:
    """What to check when sshd refuses the login."""
    hints = []
    if target.ca_key:
        hints.append(
            f"that the login node trusts the certificate authority {target.ca_key}.pub "
            f"(TrustedUserCAKeys) and accepts the principal {target.username!r}"
        )
    if target.keys:
        hints.append(f"that the public half of {', '.join(target.keys)} is in that user's authorized_keys")
    if not hints:
        return "no key file (ssh_keys) or certificate authority (ssh_ca_key) is configured."
    return "check " + ", or ".join(hints) + "."


class SSHPool:
    """Process-wide pool: one connection per login (host, port, user and settings).

    ``commands`` counts the commands sent over every connection, by the
    executable's name, for benchmarks and for the curious administrator.
    """

    _connections: dict[SSHTarget, _PooledConnection] = {}
    commands: Counter[str] = Counter()

    @classmethod
    def connection(cls, target: SSHTarget) -> _PooledConnection:
        pooled = cls._connections.get(target)
        if pooled is None:
            pooled = cls._connections[target] = _PooledConnection(target)
        return pooled

    @classmethod
    def connections_opened(cls) -> int:
        """How many SSH connections were opened since the pool was (last) cleared."""
        return sum(c.opened for c in cls._connections.values())

    @classmethod
    def connections_open(cls) -> int:
        return sum(1 for c in cls._connections.values() if c.conn is not None and not c.conn.is_closed())

    @classmethod
    async def close_all(cls) -> None:
        for pooled in list(cls._connections.values()):
            await pooled.close()
        cls._connections.clear()
        cls.commands.clear()


__all__ = ["ENCRYPTION_ALGS", "RECONNECT_BASE_DELAY", "ConnectFailed", "SSHPool", "SSHTarget"]
