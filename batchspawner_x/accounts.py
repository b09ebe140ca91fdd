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

from traitlets import Bool, Integer, List, Unicode
from traitlets.config import LoggingConfigurable

from .errors import AccountRefused

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
)

#: The lowest uid of an ordinary user on most Linux distributions (``UID_MIN``).
DEFAULT_MIN_UID = 1000


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


class AccountsMixin(LoggingConfigurable):
    """The settings that say which cluster accounts the hub may act as (mixed into the spawner)."""

    cluster_min_uid = Integer(
        DEFAULT_MIN_UID,
        min=0,
        max=2**32 - 1,
        config=True,
        help="""Lowest uid a cluster account may have, as the hub's account database
        (``getent passwd NAME``: files, LDAP, SSSD) gives it; 0 turns the floor off.

        Checked for :attr:`ssh_username` and :attr:`status_ssh_username` before any connection
        is opened or certificate signed. Example: ``1000``, where ordinary accounts start on
        Debian and Red Hat. An account below it fails the spawn with a message naming the
        account and this setting. ``root`` (by name or uid 0) is refused whatever this is.
        A name the hub does not know is let through unless :attr:`refuse_unknown_accounts`.""",
    )
    cluster_denied_accounts = List(
        Unicode(),
        default_value=list(DEFAULT_DENIED_ACCOUNTS),
        config=True,
        help="""Cluster accounts the hub never acts as, whatever their uid: the base system's
        and the cluster services' accounts (``root``, ``daemon``, ``bin``, ``sys``, ``nobody``,
        ``sshd``, ``munge``, ``slurm``, ...; see :data:`batchspawner_x.accounts.DEFAULT_DENIED_ACCOUNTS`).

        Applies to :attr:`ssh_username` and :attr:`status_ssh_username`, also to names the hub's
        account database does not know. To add names, extend the default:
        ``c.BatchSpawnerBase.cluster_denied_accounts.extend(["backupsvc"])``. ``root`` is
        refused even if removed from the list.""",
    )
    refuse_unknown_accounts = Bool(
        False,
        config=True,
        help="""Refuse a cluster account that the hub's own account database does not know.

        False (the default): such a name is let through, with :attr:`cluster_denied_accounts`
        still applied, for hubs that do not share the cluster's LDAP or SSSD; the login node's
        sshd (``PermitRootLogin no``, ``AuthorizedPrincipalsCommand``) remains the last check.
        True: only accounts the hub can look up, and so check against :attr:`cluster_min_uid`,
        are used. Set it when the hub resolves the cluster's accounts.""",
    )

    def check_cluster_account(self, field: str, name: str) -> str:
        """``name`` if the hub may act as that account (see :func:`check_account`)."""
        return check_account(
            field,
            name,
            min_uid=self.cluster_min_uid,
            denied=self.cluster_denied_accounts,
            refuse_unknown=self.refuse_unknown_accounts,
        )


__all__ = [
    "DEFAULT_DENIED_ACCOUNTS",
    "DEFAULT_MIN_UID",
    "AccountRefused",
    "AccountsMixin",
    "check_account",
    "lookup_uid",
]
