"""A cluster's login nodes: which ones are healthy, and in which order to try them.

A cluster may have several login nodes (``login_hosts``). :func:`login_addresses` reads
that setting; :class:`LoginHealth` remembers, for every account of one cluster at once,
which login node failed (could not be connected to, timed out, dropped a connection) and
until when it is skipped (``login_down_time``), and gives each operation the order in
which to try the nodes (``login_order``). The SSH transport
(:class:`~batchspawner_x.transport.SSHTransport`) does the trying; the pool
(:mod:`batchspawner_x.pool`) keeps one connection per login node and account, with its own
back-off.

A login node that failed is skipped by everybody for ``login_down_time`` seconds, so that
one user's failed connection spares every other user the wait. When that time is over,
one operation tries it again (the others go on skipping it meanwhile); if it answers, the
log says so and everybody uses it again. When every login node is down, the one that
failed longest ago is tried anyway: the operation never fails without trying.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from traitlets.log import get_logger

from .errors import ConfigError
from .network import check_address

#: One login node: host and port.
Address = tuple[str, int]

#: The orders :class:`LoginHealth` knows (``login_order``).
ORDERS = ("first-healthy", "round-robin")


def label(address: Address) -> str:
    """``host:port``, with an IPv6 address in brackets (``[2001:db8::1]:22``)."""
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_login_host(field: str, text: str, default_port: int) -> Address:
    """One entry of ``login_hosts``: ``host``, ``host:port``, ``[v6addr]:port`` or a bare
    IPv6 address; the port defaults to ``default_port``.

    >>> parse_login_host("login_hosts", "login2.example.edu:2222", 22)
    ('login2.example.edu', 2222)
    >>> parse_login_host("login_hosts", "[2001:db8::1]:22", 2200)
    ('2001:db8::1', 22)
    """
    if not isinstance(text, str):
        raise ConfigError(field, f"{str(text)[:80]!r} is not a host name")
    host, port_text = text.strip(), ""
    if host.startswith("["):
        inside, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ConfigError(field, f"{text[:80]!r} is not host, host:port or [address]:port")
        host, port_text = inside, rest[1:]
        if rest and not port_text:
            raise ConfigError(field, f"{text[:80]!r} has an empty port")
    elif host.count(":") == 1:
        host, _, port_text = host.partition(":")
        if not port_text:
            raise ConfigError(field, f"{text[:80]!r} has an empty port")
    elif ":" in host:  # a bare IPv6 address
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(field, f"{text[:80]!r} is not host, host:port or [address]:port") from None
    check_address(field, host)
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ConfigError(field, f"{text[:80]!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    return host, port


def login_addresses(
    field: str, hosts: Sequence[str], default_host: str, default_port: int
) -> tuple[Address, ...]:
    """The login nodes ``hosts`` names, in order; ``((default_host, default_port),)`` when
    it names none. The same node twice (same host, same port) is refused."""
    if not hosts:
        return ((default_host, default_port),)
    found: dict[Address, str] = {}
    for text in hosts:
        address = parse_login_host(field, text, default_port)
        same = (address[0].lower(), address[1])
        if same in found:
            raise ConfigError(field, f"{text!r} names the same login node as {found[same]!r}")
        found[same] = text
    return tuple(parse_login_host(field, text, default_port) for text in hosts)


@dataclass
class _State:
    #: Marked down, and not used successfully since.
    down: bool = False
    #: Until when (monotonic) the node is skipped.
    down_until: float = 0.0
    #: When it last failed (monotonic).
    failed_at: float = 0.0
    reason: str = ""
    #: Whether the reason is a security one (an unknown or changed host key).
    security: bool = False


@dataclass(frozen=True)
class HostHealth:
    """What :meth:`LoginHealth.report` says about one login node."""

    address: Address
    #: False while the node is skipped.
    live: bool
    #: Seconds it is still skipped (0 when live).
    down_for: float
    #: Why it was last marked down ("" if it never was, or answered since).
    reason: str


class LoginHealth:
    """The health of one cluster's login nodes, shared by every account of the cluster.

    ``order``: ``first-healthy`` tries the nodes in the order configured, so the first
    node that works carries everything; ``round-robin`` starts each operation at the
    next node, so the load is spread over all healthy nodes. ``down_time``: seconds a node
    that failed is skipped. ``clock``: the monotonic clock (a test's own, in tests).
    """

    def __init__(
        self,
        order: str = "first-healthy",
        down_time: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if order not in ORDERS:
            raise ConfigError("login_order", f"{order!r} is not one of {', '.join(ORDERS)}")
        self.order = order
        self.down_time = down_time
        self.clock = clock
        self._states: dict[Address, _State] = {}
        self._turn = 0
        #: (node, account) pairs whose login the node refused, not accepted since.
        self._refused: set[tuple[Address, str]] = set()

    # -- choosing ------------------------------------------------------------------------
    def is_live(self, address: Address) -> bool:
        """Whether ``address`` is not skipped now (never failed, answered since, or its
        down time is over)."""
        state = self._states.get(address)
        return state is None or not state.down or self.clock() >= state.down_until

    def plan(self, addresses: Sequence[Address]) -> list[Address]:
        """The live nodes among ``addresses`` (given in the configured order), in the order
        one operation tries them. Round-robin starts each call at the next live node."""
        live = [a for a in addresses if self.is_live(a)]
        if self.order == "round-robin" and live:
            start = self._turn % len(live)
            self._turn += 1
            live = live[start:] + live[:start]
        return live

    def take(self, address: Address) -> bool:
        """Whether the caller may try ``address`` now: a healthy node, yes; a node whose down
        time is over, yes for one caller, and the others skip it for another ``down_time``
        while that one tries it again (a node still down then costs one caller the wait,
        not all of them); a node still down, no."""
        state = self._states.get(address)
        if state is None or not state.down:
            return True
        now = self.clock()
        if now < state.down_until:
            return False
        state.down_until = now + self.down_time
        return True

    def fallback(self, addresses: Iterable[Address]) -> Address | None:
        """The node to try when none of ``addresses`` (those not yet tried) is live: the one
        that failed longest ago; None when ``addresses`` is empty."""
        candidates = list(addresses)
        if not candidates:
            return None

        def failed_at(address: Address) -> tuple[bool, float]:
            state = self._states.get(address)
            if state is None or not state.down:
                return (False, 0.0)
            return (True, state.failed_at)

        return min(candidates, key=failed_at)

    # -- what happened -----------------------------------------------------------------------
    def mark_down(self, address: Address, reason: str, *, security: bool = False) -> None:
        """``address`` failed: skip it for ``down_time`` seconds. Logs a warning when the node
        goes down (an error for a ``security`` reason), and nothing while it stays down."""
        state = self._states.setdefault(address, _State())
        now = self.clock()
        was_down = state.down
        news = not was_down or (security and not state.security)
        state.down, state.down_until, state.failed_at = True, now + self.down_time, now
        state.reason, state.security = reason, security or (was_down and state.security)
        if not news:
            return
        if security:
            get_logger().error(
                "Login node %s is not used for %gs: %s; the cluster's other login nodes are tried",
                label(address),
                self.down_time,
                reason,
            )
        else:
            get_logger().warning(
                "Login node %s is down (%s); skipping it for %gs", label(address), reason, self.down_time
            )

    def mark_up(self, address: Address, username: str) -> None:
        """``address`` accepted ``username``'s login: used by everybody again. Logs once when
        the node was down, or when it had refused that account."""
        state = self._states.get(address)
        if state is not None and state.down:
            state.down, state.down_until, state.security = False, 0.0, False
            get_logger().info(
                "Login node %s answers again (it was down: %s); using it", label(address), state.reason
            )
        if (address, username) in self._refused:
            self._refused.discard((address, username))
            get_logger().info("Login node %s accepts the login as %r again", label(address), username)

    def refused(self, address: Address, username: str, reason: str) -> None:
        """``address`` refused ``username``'s login. Not a down node (another account may log
        in there), but an error to report: logged once until the login is accepted again."""
        if (address, username) in self._refused:
            return
        self._refused.add((address, username))
        get_logger().error(
            "Login node %s refused the login as %r: %s; the cluster's other login nodes are tried",
            label(address),
            username,
            reason,
        )

    def report(self, addresses: Sequence[Address]) -> list[HostHealth]:
        """How each of ``addresses`` stands now (for ``batchspawner-x check``)."""
        now = self.clock()
        found = []
        for address in addresses:
            state = self._states.get(address) or _State()
            live = not state.down or now >= state.down_until
            down_for = 0.0 if live else state.down_until - now
            found.append(HostHealth(address, live, down_for, state.reason if state.down else ""))
        return found


__all__ = ["ORDERS", "Address", "HostHealth", "LoginHealth", "label", "login_addresses", "parse_login_host"]
