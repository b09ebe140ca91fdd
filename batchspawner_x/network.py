"""How the hub finds a server on a compute node: addresses, port ranges, messages.

Pure functions only (no sockets, no DNS). The checks the job and the hub share,
:func:`valid_host` and :func:`parse_port_range`, belong to the handshake protocol
and live in :mod:`batchspawner_x.handshake`; they are offered here too.
"""

from __future__ import annotations

import ipaddress
import string

from .errors import ConfigError
from .handshake import parse_port_range, valid_host

#: The fields a :attr:`connect_address` format string may use.
ADDRESS_FIELDS = ("host", "short", "node")


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
