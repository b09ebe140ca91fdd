"""Settings and steps that get the hub to a server on a compute node.

Many clusters' compute nodes are not routable from the hub, are known to the
scheduler by names the hub cannot resolve, or sit behind a firewall that
opens only a range of ports. :class:`ReachMixin` gives every spawner the
settings for that (:attr:`~ReachMixin.connect_address`,
:attr:`~ReachMixin.node_address`, :attr:`~ReachMixin.port_range`,
:attr:`~ReachMixin.tunnel`) and the steps that use them; the pure parts live
in :mod:`batchspawner_x.network`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from typing import Any

from jupyterhub.utils import maybe_future
from traitlets import Bool, Callable, Enum, TraitError, Unicode, Union, validate
from traitlets.config import LoggingConfigurable

from . import hostcheck
from .errors import ConfigError, ServerHostRefused, ServerUnreachable, TransportError
from .forward import PortForward
from .handshake import PORT_RANGE_VAR, REPORT_MODE_VAR
from .network import (
    ADDRESS_FIELDS,
    check_address,
    check_address_template,
    map_address,
    parse_port_range,
    short_name,
    valid_host,
)
from .transport import SSHTransport, Transport

#: errno values that say the address cannot be reached at all (as opposed to
#: "nothing listens there yet").
_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.ETIMEDOUT}


def is_unreachable(error: BaseException) -> bool:
    """True for a connection error that waiting will not cure: no route, no DNS name, a timeout."""
    if isinstance(error, (socket.gaierror, TimeoutError, asyncio.TimeoutError)):
        return True
    return isinstance(error, OSError) and error.errno in _UNREACHABLE_ERRNOS


def describe_error(error: BaseException) -> str:
    if isinstance(error, socket.gaierror):
        return f"the name does not resolve: {error.strerror or error}"
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        return "the connection timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


class ReachMixin(LoggingConfigurable):
    """The settings that say how the hub reaches a job's server (mixed into the spawner)."""

    connect_address = Union(
        [Unicode(), Callable()],
        default_value="",
        config=True,
        help="""The address the hub connects to, made from the host the job reported.

        Empty: the reported host as it is. A format string: ``{host}`` is the reported host,
        ``{short}`` its first label and ``{node}`` the node the scheduler says the job runs on.
        For example ``"{short}.ib.cluster.example.edu"`` when the hub reaches the nodes over a
        network whose names differ from the nodes' own. A callable (sync or async) taking the
        spawner, the reported host and the scheduler's node name, for anything else (a lookup
        table, a regular expression). The result must be a hostname or an IP address. With
        :attr:`tunnel`, it is the address the *login node* connects to.
        """,
    )
    node_address = Enum(
        ["hostname", "ip"],
        default_value="hostname",
        config=True,
        help="""What the job reports as its host, when the server listens on every address
        (:attr:`ip` ``0.0.0.0``).

        ``hostname``: the node's fully qualified name. ``ip``: the node's IP address on its
        route to the hub, for clusters whose node names the hub cannot resolve. A server bound
        to one address (:attr:`ip` set) always reports that address.
        """,
    )
    port_range = Unicode(
        "",
        config=True,
        help="""Ports the server may listen on, as ``LOW-HIGH`` (or a single ``PORT``), when a
        firewall between the hub and the compute nodes opens only those; empty for any free port.

        The node-side command picks a free port in the range at random. Example:
        ``"40000-40999"``. A range that is not one raises a configuration error at start-up.
        """,
    )
    tunnel = Bool(
        False,
        config=True,
        help="""Reach each server through the login node instead of directly.

        For clusters whose compute nodes the hub cannot reach: the hub listens on a free port of
        its own loopback (``127.0.0.1``) and forwards it over the pooled SSH connection to the
        server, as ``ssh -L`` would; the proxy's route points at that port. The forward comes
        back by itself when the SSH connection is re-established and is closed when the server
        stops. Needs ``connection = "ssh"`` and a login node that allows TCP forwarding
        (sshd's ``AllowTcpForwarding``, on by default). With internal SSL the hub checks the
        server's certificate for ``127.0.0.1``, which JupyterHub includes while
        ``ssl_alt_names_include_local`` is True (the default).
        """,
    )

    allow_loopback_server = Bool(
        False,
        config=True,
        help="""Accept a server whose job reports a loopback host (``127.0.0.1``, ``::1``,
        ``localhost``) whatever node the scheduler says the job runs on.

        The host a job reports must be the node the scheduler names for it, or one of that
        node's addresses as the hub resolves its name; a loopback address is one only when the
        node's own name resolves to loopback (a one-machine cluster whose node is
        ``localhost``). Set this when the hub and the servers share a machine that the
        scheduler knows by another name. Reports that name another host are refused: the
        spawn fails, naming the host and the node.""",
    )

    @validate("port_range")
    def _check_port_range(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"]).strip()
        try:
            parse_port_range(value)
        except ValueError as e:
            raise TraitError(f"port_range: {e}") from None
        return value

    @validate("connect_address")
    def _check_connect_address(self, proposal: dict[str, Any]) -> Any:
        value = proposal["value"]
        if isinstance(value, str) and value:
            try:
                check_address_template("connect_address", value)
            except ConfigError as e:
                raise TraitError(str(e)) from None
        return value

    # The spawner provides these.
    _forward: PortForward | None = None

    async def transport(self) -> Transport:
        raise NotImplementedError

    async def _job_node(self) -> str | None:
        raise NotImplementedError

    def network_env(self) -> dict[str, str]:
        """What the node-side command needs to know about ports and addresses."""
        env = {}
        if self.port_range:
            env[PORT_RANGE_VAR] = self.port_range
        if self.node_address != "hostname":
            env[REPORT_MODE_VAR] = self.node_address
        return env

    def check_reach_config(self, connection: str, internal_ssl: bool, include_local: bool) -> None:
        """Settings that only make sense together; raise ConfigError naming the setting."""
        if self.tunnel and connection != "ssh":
            raise ConfigError(
                "tunnel", 'needs connection = "ssh": it forwards a port over the SSH connection'
            )
        if self.tunnel and internal_ssl and not include_local:
            raise ConfigError(
                "tunnel",
                "with internal_ssl the hub connects to 127.0.0.1 and checks that name in the server's "
                "certificate: set c.Spawner.ssl_alt_names_include_local = True",
            )

    async def connect_host(self, host: str) -> str:
        """The address to connect to for the host the job reported (see :attr:`connect_address`)."""
        mapping = self.connect_address
        if not mapping:
            return host
        if callable(mapping):
            node = await self._job_node() or ""
            address = await maybe_future(mapping(self, host, node))
            return check_address("connect_address", address)
        node = (await self._job_node() or "") if "{node}" in mapping else ""
        return map_address(mapping, host, node)

    async def check_reported_host(self, host: str, *, patience: float = 10.0) -> None:
        """Raise :class:`ServerHostRefused` unless the job may name ``host`` as its server's host.

        The host must be the node the scheduler says runs the job, or one of that node's
        addresses (see :func:`batchspawner_x.hostcheck.judge` and
        :attr:`allow_loopback_server`), with three exceptions that the site's own settings
        make: the address the site binds every server to (``Spawner.ip``, when not a
        wildcard); a :attr:`connect_address` that does not use ``{host}`` (the route then
        follows the scheduler's node or the site's callable, not the job's word; with
        ``{short}`` the first labels must agree). ``patience``: seconds to wait for the
        scheduler to name the node of a job it has just started.
        """
        ip = str(getattr(self, "ip", "") or "")
        if ip and ip not in ("0.0.0.0", "::") and hostcheck.same_name(host, ip):
            return
        mapping = self.connect_address
        if callable(mapping):
            return
        if mapping and "{host}" not in mapping:
            if "{short}" not in mapping:
                return
            node = await self._node_within(patience)
            if node and hostcheck.same_name(short_name(host), short_name(node)):
                return
            raise ServerHostRefused(
                self._refusal(host, f"{host} is not on the job's node {node or '(unknown)'}"),
                host=host,
            )
        node = await self._node_within(patience)
        host_addresses, node_addresses = await asyncio.gather(
            hostcheck.addresses_of(host), hostcheck.addresses_of(node or "")
        )
        # names the hub cannot resolve (cn017, with node_address = "ip") mean something
        # to the login node
        if node and not node_addresses:
            node_addresses = await self._login_node_addresses(node)
        if not host_addresses:
            host_addresses = await self._login_node_addresses(host)
        reason = hostcheck.judge(
            host, node or "", host_addresses, node_addresses, allow_loopback=self.allow_loopback_server
        )
        if reason is not None:
            raise ServerHostRefused(self._refusal(host, reason), host=host)

    async def _login_node_addresses(self, name: str) -> frozenset[hostcheck.Address]:
        """The addresses ``name`` has on the cluster, as the login node resolves it; empty if
        it does not resolve there or the login node cannot be asked."""
        if not valid_host(name) or hostcheck.is_loopback(name, frozenset()):
            return frozenset()
        try:
            transport = await self.transport()
            result = await transport.run(hostcheck.resolve_argv(name), timeout=hostcheck.RESOLVE_TIMEOUT)
        except (TransportError, ConfigError) as e:
            self.log.warning("Cannot ask the login node for the addresses of %s: %s", name, e)
            return frozenset()
        return hostcheck.parse_getent(result.stdout) if result.returncode == 0 else frozenset()

    def _refusal(self, host: str, reason: str) -> str:
        return (
            f"The job reported {host} as its server's host, which is refused: {reason}. A job may only"
            " name its own node. If the hub reaches the nodes under other names, set"
            ' c.BatchSpawnerBase.connect_address (for example "{node}"); for servers on the hub\'s'
            " own loopback, c.BatchSpawnerBase.allow_loopback_server = True."
        )

    async def _node_within(self, patience: float) -> str | None:
        """The scheduler's node for the job, asked again for up to ``patience`` seconds while
        it names none (a job it has only just started, a status query that failed)."""
        deadline = time.monotonic() + patience
        while True:
            node = await self._job_node()
            if node or time.monotonic() >= deadline:
                return node
            await asyncio.sleep(1.0)

    async def server_address(self, host: str, port: int) -> tuple[str, int]:
        """Where the hub (and the proxy) connect to reach the server at ``host:port``.

        Without :attr:`tunnel` the mapped address itself; with it, the local end of a forward
        through the login node, opened now if this spawner has none to that server.
        """
        address = await self.connect_host(host)
        if not self.tunnel:
            return address, port
        forward = self._forward
        if forward is not None and (forward.dest_host, forward.dest_port) == (address, port):
            return forward.LISTEN_HOST, forward.port
        await self.close_tunnel()
        transport = await self.transport()
        if not isinstance(transport, SSHTransport):
            raise ConfigError("tunnel", 'needs connection = "ssh"')
        forward = PortForward(transport, address, port)
        await forward.open()
        self._forward = forward
        self.log.info("Forwarding %s for the server of %s", forward.describe(), self.user.name)  # type: ignore[attr-defined]
        return forward.LISTEN_HOST, forward.port

    async def server_address_within(self, host: str, port: int, timeout: float) -> tuple[str, int] | None:
        """:meth:`server_address` for a hub that finds a running server after a restart.

        A tunnel that cannot be opened yet (the login node may be restarting too) is tried
        again every second for up to ``timeout`` seconds. None if it never opens or the
        address cannot be made; the hub then checks the old address and, finding no server
        there, stops it.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await self.server_address(host, port)
            except TransportError as e:
                if time.monotonic() >= deadline:
                    self.log.warning("Cannot reach the server at %s:%s: %s", host, port, e)
                    return None
            except Exception as e:  # a site's connect_address callable must not stop the hub
                self.log.warning("Cannot reach the server at %s:%s: %s", host, port, e, exc_info=True)
                return None
            await asyncio.sleep(1.0)

    async def close_tunnel(self) -> None:
        forward, self._forward = self._forward, None
        if forward is not None:
            await forward.close()

    async def diagnose_unreachable(self, transport: Transport | None, host: str, port: int) -> bool | None:
        """Ask the login node whether *it* reaches the server at the ``host`` the job reported
        (None: it cannot tell). The login node is on the cluster's network, where that name
        means something even when it means nothing to the hub."""
        if transport is None or self.tunnel:
            return None
        return await transport.can_connect(host, port, timeout=2.0)


__all__ = [
    "ADDRESS_FIELDS",
    "ReachMixin",
    "ServerHostRefused",
    "ServerUnreachable",
    "describe_error",
    "is_unreachable",
]
