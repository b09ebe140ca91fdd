"""Which cluster accounts the hub may act as.

The hub logs in (or, with ``connection = "local"``, runs commands) as whatever
account :attr:`~batchspawner_x.spawner.BatchSpawnerBase.ssh_username` maps a
JupyterHub user to, and with an SSH certificate authority it signs a
certificate for that name. An authenticator whose names users choose could
then hand out ``root`` or a daemon's account. :func:`check_account` refuses
those before anything is sent or signed: ``root`` by name and by uid 0, names
on a deny list, and accounts whose uid (looked up in the hub's own account
database) is below a floor.
"""

from __future__ import annotations

import pwd
from collections.abc import Callable, Collection

from .errors import ConfigError

#: Accounts of the base system and of the services a cluster runs: nobody logs in as these.
DEFAULT_DENIED_ACCOUNTS = (
    "root",
    "toor",
    "daemon",
    "bin",
    "sys",
    "sync",
    "games",
    "man",
    "lp",
    "mail",
    "news",
    "uucp",
    "proxy",
    "www-data",
    "backup",
    "list",
    "irc",
    "gnats",
    "nobody",
    "nfsnobody",
    "operator",
    "adm",
    "halt",
    "shutdown",
    "sshd",
    "messagebus",
    "systemd-network",
    "systemd-resolve",
    "systemd-timesync",
    "polkitd",
    "dbus",
    "ntp",
    "chrony",
    "postfix",
    "exim",
    "sssd",
    "ldap",
    "openldap",
    "nslcd",
    "munge",
    "slurm",
    "slurmdbd",
    "mysql",
    "postgres",
    "sgeadmin",
    "lsfadmin",
    "condor",
    "pbsadmin",
    "pbs",
    "moab",
    "jupyterhub",
)

#: The lowest uid of an ordinary user on most Linux distributions (``UID_MIN``).
DEFAULT_MIN_UID = 1000


class AccountRefused(ConfigError):
    """A cluster account the hub will not act as; ``field`` is the setting that named it."""


def lookup_uid(name: str) -> int | None:
    """The uid of ``name`` in the hub's account database (files, LDAP or SSSD through
    NSS), or None if the hub does not know the name."""
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def check_account(
    field: str,
    name: str,
    *,
    min_uid: int,
    denied: Collection[str],
    refuse_unknown: bool,
    uid_of: Callable[[str], int | None] = lookup_uid,
) -> str:
    """``name`` if the hub may act as that cluster account, else raise :class:`AccountRefused`.

    ``field`` is the setting that produced the name (``ssh_username``,
    ``status_ssh_username``); the message names it, the account and the setting that
    refuses it. ``root`` and uid 0 are always refused. A name the hub's account database
    does not know is refused only with ``refuse_unknown``; the deny list applies to it all
    the same.

    >>> check_account("status_ssh_username", "jupyter-status", min_uid=1000, denied=(), refuse_unknown=False)
    'jupyter-status'
    """
    if name == "root":
        raise AccountRefused(field, f"the cluster account {name!r} is refused: it is the superuser")
    if name in denied:
        raise AccountRefused(
            field,
            f"the cluster account {name!r} is refused: it is on cluster_denied_accounts "
            "(system and service accounts)",
        )
    uid = uid_of(name)
    if uid is None:
        if refuse_unknown:
            raise AccountRefused(
                field,
                f"the cluster account {name!r} is refused: the hub's account database does not know it "
                "and refuse_unknown_accounts is set",
            )
        return name
    if uid == 0:
        raise AccountRefused(field, f"the cluster account {name!r} is refused: its uid is 0 (the superuser)")
    if uid < min_uid:
        raise AccountRefused(
            field,
            f"the cluster account {name!r} is refused: its uid {uid} is below cluster_min_uid ({min_uid}),"
            " the range of system accounts",
        )
    return name


__all__ = ["DEFAULT_DENIED_ACCOUNTS", "DEFAULT_MIN_UID", "AccountRefused", "check_account", "lookup_uid"]
