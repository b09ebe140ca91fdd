"""Short-lived SSH user certificates, minted by the hub for each connection.

Instead of (or beside) one long-lived private key per user, the hub may hold an
SSH certificate authority whose public half the login node trusts
(``TrustedUserCAKeys`` in its ``sshd_config``). For every new connection the
hub then makes a throw-away key pair and signs it for one principal, the
cluster user name, valid for a few minutes. A certificate that leaks is useless
soon after; nothing per user has to be distributed or revoked.

sshd checks a certificate only when the connection logs in, so a pooled
connection outlives its certificate; the next connection gets a new one.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Sequence

import asyncssh

from .errors import ConfigError

#: Seconds a certificate is valid *before* it is minted, so that a login node whose clock
#: runs a little behind the hub's still accepts it.
CLOCK_SKEW = 60


def load_ca_key(path: str) -> asyncssh.SSHKey:
    """Read the certificate authority's private key, or raise a :class:`ConfigError` that
    names the file and what is wrong with it."""
    try:
        return asyncssh.read_private_key(path)
    except (OSError, asyncssh.KeyImportError) as e:
        message = f"cannot read the SSH certificate authority key {path}: {e}"
        raise ConfigError("ssh_ca_key", message) from None


def check_source_addresses(field: str, values: Sequence[str]) -> tuple[str, ...]:
    """Networks for a certificate's ``source-address`` option, each an IPv4 or IPv6 address
    or CIDR block (``10.0.0.5``, ``10.0.0.0/24``, ``2001:db8::/32``), normalised; raises a
    :class:`ConfigError` naming ``field`` and the bad entry.

    >>> check_source_addresses("ssh_certificate_source_address", ["10.0.0.5", "10.1.0.0/16"])
    ('10.0.0.5/32', '10.1.0.0/16')
    """
    networks = []
    for value in values:
        try:
            networks.append(str(ipaddress.ip_network(str(value).strip(), strict=True)))
        except ValueError as e:
            raise ConfigError(
                field, f"{str(value)[:60]!r} is not an IP address or network such as 10.0.0.0/24: {e}"
            ) from None
    return tuple(networks)


def mint_user_certificate(
    ca_key: asyncssh.SSHKey,
    principal: str,
    validity: float,
    *,
    now: float | None = None,
    source_addresses: Sequence[str] = (),
    port_forwarding: bool = False,
) -> tuple[asyncssh.SSHKey, asyncssh.SSHCertificate]:
    """A new ed25519 key and a certificate for it that logs in as ``principal`` only.

    The certificate is valid from ``CLOCK_SKEW`` seconds before ``now`` until
    ``validity`` seconds after it. It allows nothing optional: no pty, X11, agent
    forwarding, ``~/.ssh/rc``, and port forwarding only with ``port_forwarding`` (what a
    :attr:`~batchspawner_x.reach.ReachMixin.tunnel` needs). With ``source_addresses``
    (networks, see :func:`check_source_addresses`) sshd accepts it only from a client
    address inside one of them. Its key id names the principal and the time, for sshd's
    log. ``root`` is never a principal.
    """
    if validity <= 0:
        raise ConfigError("ssh_certificate_validity", f"must be a positive number of seconds, not {validity}")
    if principal == "root":
        raise ConfigError("ssh_username", "the certificate authority never signs a certificate for root")
    networks = check_source_addresses("ssh_certificate_source_address", source_addresses)
    issued = time.time() if now is None else now
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    cert = ca_key.generate_user_certificate(
        user_key,
        key_id=f"batchspawner_x {principal} {int(issued)}",
        serial=secrets.randbits(63),
        principals=[principal],
        valid_after=int(issued - CLOCK_SKEW),
        valid_before=int(issued + validity),
        permit_x11_forwarding=False,
        permit_agent_forwarding=False,
        source_address=list(networks) or None,
        permit_port_forwarding=port_forwarding,
        permit_pty=False,
        permit_user_rc=False,
    )
    return user_key, cert
