"""How the hub finds a server on a compute node: addresses, port ranges, messages.

Pure functions only (no sockets, no DNS), and standard library only: the
node-side command imports :func:`parse_port_range` from here and must start
without loading JupyterHub.
"""

from __future__ import annotations

import ipaddress
import re
import string

from .errors import ConfigError

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PORT_RANGE = re.compile(r"^([0-9]{1,5})(?:-([0-9]{1,5}))?$")

#: The fields a :attr:`connect_address` format string may use.
ADDRESS_FIELDS = ("host", "short", "node")


def valid_host(host: str) -> bool:
    """True for an IPv4 or IPv6 address or a DNS hostname (letters, digits, ``-``, dots).

    IPv6 scope ids (``fe80::1%eth0``) are refused: Python accepts any text after the
    ``%``, line breaks included, and such text would reach logs and messages.
    """
    if "%" in host or _CONTROL.search(host):
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOSTNAME.fullmatch(host))


def parse_port_range(text: str) -> tuple[int, int] | None:
    """``"LOW-HIGH"`` or ``"PORT"`` as ``(low, high)``; None for an empty string.

    Raises ValueError, saying why, for anything else: ports outside 1-65535, a
    range whose end comes before its start, signs, spaces or other text.
    """
    if not text:
        return None
    match = _PORT_RANGE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text[:40]!r} is not a port range such as 40000-40999")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"{text!r} is not a port range: ports go from 1 to 65535, low to high")
    return low, high


def short_name(host: str) -> str:
    """The first label of a hostname (``cn017`` for ``cn017.cluster.example.edu``); IPs unchanged."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return host.split(".", 1)[0]


def check_address_template(field: str, template: str) -> str:
    """A :attr:`connect_address` format string that names only :data:`ADDRESS_FIELDS`."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ConfigError(field, f"{template[:80]!r} is not a format string: {e}") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in ADDRESS_FIELDS or spec or conversion:
            raise ConfigError(
                field,
                f"{template[:80]!r} may only use {', '.join('{' + f + '}' for f in ADDRESS_FIELDS)}, "
                f"not {{{name}}}",
            )
    return template


def check_address(field: str, address: str) -> str:
    """An address the hub connects to: a hostname or an IP address, nothing else."""
    if not isinstance(address, str) or not valid_host(address):
        raise ConfigError(field, f"{str(address)[:80]!r} is not a hostname or an IP address")
    return address


def map_address(template: str, host: str, node: str = "") -> str:
    """The address the hub connects to, from a format string.

    ``{host}`` is the host the job reported, ``{short}`` its first label and
    ``{node}`` the node the scheduler says the job runs on (empty if unknown).
    Example: ``"{short}.ib.cluster.example.edu"`` turns ``cn017.cluster`` into
    ``cn017.ib.cluster.example.edu``.
    """
    check_address_template("connect_address", template)
    if "{node}" in template and not node:
        raise ConfigError("connect_address", f"{template!r} uses {{node}}, but the scheduler named no node")
    address = template.format(host=host, short=short_name(host), node=node)
    return check_address("connect_address", address)


def unreachable_message(address: str, port: int, error: str, *, login_reaches: bool | None) -> str:
    """What the user (and the admin) sees when the hub cannot open a connection to the server.

    ``login_reaches``: whether the login node could connect to the server (None: not known).
    """
    text = f"The hub cannot reach the notebook server at {address}:{port} ({error})."
    if login_reaches:
        text += (
            " The server is running: the login node reaches it, so the compute node is not reachable"
            " from the hub."
        )
    return text + (
        " Set c.BatchSpawnerBase.tunnel = True to reach servers through the login node's SSH"
        " connection, or c.BatchSpawnerBase.connect_address to map node names to addresses the hub"
        " can reach (see the networking page of the documentation)."
    )


__all__ = [
    "ADDRESS_FIELDS",
    "check_address",
    "check_address_template",
    "map_address",
    "parse_port_range",
    "short_name",
    "unreachable_message",
    "valid_host",
]
