"""A port of the hub's loopback forwarded through a login node to a compute node (``tunnel``).

:class:`PortForward` is ``ssh -L`` over the pooled SSH connection of an
:class:`~batchspawner_x.transport.SSHTransport`; when that connection drops it is
re-established through any live login node of the cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import asyncssh
from traitlets.log import get_logger

from .errors import TransportError
from .pool import RECONNECT_BASE_DELAY, ConnectFailed
from .transport import Link, SSHTransport


class PortForward:
    """``ssh -L 127.0.0.1:PORT:dest_host:dest_port`` over the pooled connection.

    :meth:`open` listens on a free port of the hub's loopback (``port``); every
    connection to it becomes a ``direct-tcpip`` channel to ``dest_host:dest_port``,
    opened by the login node over the login's pooled SSH connection. The listening
    socket is the hub's own and stays bound until :meth:`close`, whatever happens to
    the SSH connection: no other forward or process can take the port while the
    proxy routes a user's requests to it. A watcher notices when the connection
    drops and reconnects (through any live login node of the cluster, since every one
    reaches the compute node; with the pool's back-off), so that the next request finds
    it ready; requests meanwhile are refused. The pool does not close a connection
    that carries a forward as idle.
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
        #: The login node and pooled connection carrying the forward.
        self._link: Link | None = None
        self._server: asyncio.AbstractServer | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False

    def describe(self) -> str:
        via = self._link.where if self._link is not None else self.transport.describe()
        return f"{self.LISTEN_HOST}:{self.port} -> {via} -> {self.dest_host}:{self.dest_port}"

    async def _attach(self) -> asyncssh.SSHClientConnection:
        """A connection to a live login node, which the forward now counts as its own."""
        link = await self.transport.connection()
        old, self._link = self._link, link
        if old is None or old.pooled is not link.pooled:
            link.pooled.forwards += 1
            if old is not None:
                old.pooled.forwards -= 1
        return link.conn

    def _detach(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.pooled.forwards -= 1

    async def open(self) -> int:
        """Start forwarding; return the local port. Raises TransportError if it cannot."""
        try:
            await self._attach()
            try:
                self._server = await asyncio.start_server(self._serve, self.LISTEN_HOST, self.port)
            except OSError as e:
                raise TransportError(
                    f"Cannot listen on {self.LISTEN_HOST}:{self.port} for a forward: {e}"
                ) from None
        except BaseException:
            self._detach()
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
                link = self._link
                if link is not None and not link.conn.is_closed():
                    conn = link.conn
                else:
                    conn = await self._attach()
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
        """Reconnect (through any live login node) each time the forward's connection
        closes, until :meth:`close`; the listening socket stays as it is."""
        log = get_logger()
        while not self._closed:
            link = self._link
            if link is not None and not link.conn.is_closed():
                await link.conn.wait_closed()
            if self._closed:
                return
            if self._link is not link:
                continue  # a request re-attached the forward meanwhile
            log.warning("SSH connection of forward %s closed; re-establishing it", self.describe())
            delay = RECONNECT_BASE_DELAY
            while not self._closed:
                try:
                    await self._attach()
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
        self._detach()
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


__all__ = ["PortForward"]
