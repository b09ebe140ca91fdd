"""Whether the host a job reports for its server is the node the job runs on.

The job tells the hub where its server listens, and the proxy routes the
user's requests there. A job that could name any host would make the hub a
request forger: it could point its own route at any address the hub reaches
(a database on the hub's network, a cloud metadata service). The reported host
is therefore accepted only when it is the node the scheduler says runs the job,
under one of the names or addresses of that node.

:func:`judge` is pure: names and the addresses each resolves to go in, a reason
for refusing (or None) comes out. :func:`addresses_of` does the resolving.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Seconds a name may take to resolve before it counts as not resolving.
RESOLVE_TIMEOUT = 5.0


def _name(text: str) -> str:
    return text.strip().rstrip(".").lower()


def _literal(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


async def addresses_of(name: str, timeout: float = RESOLVE_TIMEOUT) -> frozenset[Address]:
    """The addresses ``name`` resolves to on the hub (itself for an IP address); empty if it
    does not resolve in ``timeout`` seconds."""
    literal = _literal(name)
    if literal is not None:
        return frozenset({literal})
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(loop.getaddrinfo(name, None, type=socket.SOCK_STREAM), timeout)
    except (OSError, asyncio.TimeoutError, UnicodeError):
        return frozenset()
    found = set()
    for info in infos:
        address = _literal(str(info[4][0]).split("%", 1)[0])
        if address is not None:
            found.add(address)
    return frozenset(found)


def resolve_argv(name: str) -> list[str]:
    """The command that resolves ``name`` on the login node, where the cluster's own names
    (``cn017``) mean something even when they mean nothing to the hub."""
    return ["getent", "ahosts", "--", name]


def parse_getent(text: str) -> frozenset[Address]:
    """The addresses in ``getent ahosts`` output (``10.0.0.17  STREAM cn017`` lines); lines
    that do not start with an address (a login shell's greeting) are skipped.

    >>> sorted(str(a) for a in parse_getent("10.0.0.17 STREAM cn017\n10.0.0.17 DGRAM\nhello\n"))
    ['10.0.0.17']
    """
    found = set()
    for line in text.splitlines():
        words = line.split()
        address = _literal(words[0].split("%", 1)[0]) if words else None
        if address is not None:
            found.add(address)
    return frozenset(found)


def is_loopback(name: str, addresses: frozenset[Address]) -> bool:
    """Whether ``name`` means this machine's loopback: ``localhost``, or only loopback addresses."""
    if _name(name) == "localhost" or _name(name).endswith(".localhost"):
        return True
    return bool(addresses) and all(a.is_loopback for a in addresses)


def same_name(a: str, b: str) -> bool:
    """The same host name or address, ignoring case and a trailing dot (``::1`` is ``0::1``)."""
    la, lb = _literal(a), _literal(b)
    if la is not None and lb is not None:
        return la == lb
    return _name(a) == _name(b)


def _first_label_of(short: str, full: str) -> bool:
    """``cn017`` and ``cn017.cluster.example.edu``: a short name and its fully qualified form."""
    return "." not in short and "." in full and full.split(".", 1)[0] == short and _literal(full) is None


def judge(
    host: str,
    node: str,
    host_addresses: frozenset[Address],
    node_addresses: frozenset[Address],
    *,
    allow_loopback: bool = False,
) -> str | None:
    """None if ``host`` (what the job reported) may be taken as the server's host on ``node``
    (what the scheduler says runs the job), else why not, in words.

    Accepted: the node's own name (any case, with or without the trailing dot); a name or
    address that shares an address with the node's name, as the hub resolves both (a
    loopback report is then "an address of the node" only when the node itself resolves
    to loopback, as on a one-machine test cluster); the short and fully qualified forms of
    one name when the hub cannot resolve one of them (nothing to compare); and any
    loopback host with ``allow_loopback``.

    >>> judge("cn017.cluster.example.edu", "cn017", frozenset(), frozenset()) is None
    True
    >>> judge("10.0.0.9", "cn017", frozenset({ipaddress.ip_address("10.0.0.9")}),
    ...       frozenset({ipaddress.ip_address("10.0.0.17")}))
    "10.0.0.9 is not the job's node cn017 nor one of its addresses (10.0.0.17)"
    """
    if not node:
        return f"the scheduler names no node for the job, so {host} cannot be checked against it"
    h, n = _name(host), _name(node)
    host_loopback = is_loopback(host, host_addresses)
    if host_loopback and allow_loopback:
        return None
    if same_name(h, n) or host_addresses & node_addresses:
        return None
    if not (host_addresses and node_addresses) and (_first_label_of(h, n) or _first_label_of(n, h)):
        return None
    known = ", ".join(sorted(str(a) for a in node_addresses)) or "the hub cannot resolve it"
    reason = f"{host} is not the job's node {node} nor one of its addresses ({known})"
    if host_loopback and not is_loopback(node, node_addresses):
        reason += f"; {host} is a loopback address and {node} is another machine"
    return reason


__all__ = [
    "RESOLVE_TIMEOUT",
    "addresses_of",
    "is_loopback",
    "judge",
    "parse_getent",
    "resolve_argv",
    "same_name",
]
