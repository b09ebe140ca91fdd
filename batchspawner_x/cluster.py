"""One configured cluster: its scheduler, its login nodes and what every spawner of it shares.

A hub serves many users of the same cluster. What depends only on the cluster's
configuration, and not on the user, lives in one :class:`Cluster`: the scheduler
backend and its command overrides, how the login nodes are reached (SSH settings or
a local prefix) and which of them are healthy, the status identity, the connections to it, the shared status
poller and the partitions and limits read from the scheduler.

A :class:`Cluster` is built from a :class:`ClusterConfig`, a frozen, hashable
record of those settings, and :meth:`Cluster.of` returns the same object for
equal configurations: every spawner whose settings name the same cluster gets
the same :class:`Cluster`, whatever its class. The spawner gathers its traits
into a :class:`ClusterConfig` (see
:meth:`~batchspawner_x.spawner.BatchSpawnerBase.cluster`) and asks the cluster
for connections, statuses and limits; what belongs to one user (which account the
user's jobs run as, whether the hub may act as it) stays with the spawner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from .errors import ConfigError, TransportError
from .failover import Address, HostHealth, LoginHealth, login_addresses
from .poller import StatusPoller
from .pool import SSHTarget
from .schedulers.base import PartitionInfo, Scheduler
from .states import StatusUnavailable
from .transport import LocalTransport, SSHTransport, Transport

#: Partitions and limits as read at a time (monotonic), by cluster account.
_Limits = tuple[float, dict[str, PartitionInfo]]


#: The login of a configuration that names none (the spawner's defaults).
DEFAULT_LOGIN = SSHTarget(
    host="localhost", port=22, username="", keys=(), known_hosts="/etc/ssh/ssh_known_hosts"
)


def login_targets(base: SSHTarget, hosts: Sequence[str]) -> tuple[SSHTarget, ...]:
    """``base`` on each login node ``hosts`` names (``login_hosts``: ``host``, ``host:port``
    or ``[address]:port``, the port defaulting to ``base``'s); ``(base,)`` when it names none.
    Raises :class:`~batchspawner_x.errors.ConfigError` for a bad entry or the same node twice."""
    nodes = login_addresses("login_hosts", hosts, base.host, base.port)
    return tuple(replace(base, host=host, port=port) for host, port in nodes)


@dataclass(frozen=True)
class ClusterConfig:
    """The settings that name one cluster and say how it is reached (see the spawner's
    traits of the same meaning). Equal configurations are the same cluster."""

    scheduler_class: type[Scheduler]
    #: The scheduler's command overrides by role, sorted (``scheduler_commands``).
    commands: tuple[tuple[str, str], ...] = ()
    #: ``"ssh"`` or ``"local"``.
    connection: str = "ssh"
    #: The SSH login of every account of the cluster, one per login node (``login_hosts``;
    #: all fields but host and port equal), without the account: no user name, and key
    #: files with ``{username}`` for the account's name (``ssh_keys``).
    login: tuple[SSHTarget, ...] = (DEFAULT_LOGIN,)
    #: How the login nodes are chosen (``login_order``): ``first-healthy`` or ``round-robin``.
    login_order: str = "first-healthy"
    #: Seconds a login node that failed is skipped (``login_down_time``).
    login_down_time: float = 60.0
    local_prefix: tuple[str, ...] = ()
    local_env_keep: tuple[str, ...] = ()
    #: The account all status queries run as (``status_ssh_username``); empty for each user's own.
    status_username: str = ""
    #: Its key files (``status_ssh_keys``); empty for :attr:`keys`.
    status_keys: tuple[str, ...] = ()


class Cluster:
    """Everything that depends on a cluster's configuration only, shared by its spawners.

    Built once per :class:`ClusterConfig` by :meth:`of`. Connections are pooled per
    cluster account (:class:`~batchspawner_x.pool.SSHPool`), the status poller is
    shared per status account and scheduler (:meth:`poller`), and the partitions the
    scheduler lists are cached per cluster account (:meth:`partitions`: a scheduler may
    hide partitions a user's groups may not use).
    """

    _registry: ClassVar[dict[ClusterConfig, Cluster]] = {}

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self._limits: dict[tuple[str, ...], _Limits] = {}
        #: Other readings (reservations, associations), by kind and cluster account.
        self._readings: dict[tuple[str, tuple[str, ...]], tuple[float, Any]] = {}
        #: Which login nodes failed, for every account of the cluster at once.
        self.login_health = LoginHealth(config.login_order, config.login_down_time)

    @classmethod
    def of(cls, config: ClusterConfig) -> Cluster:
        """The cluster of ``config``, built on first use and shared afterwards."""
        cluster = cls._registry.get(config)
        if cluster is None:
            cluster = cls._registry[config] = cls(config)
        return cluster

    # -- the scheduler ---------------------------------------------------------
    @property
    def commands(self) -> Mapping[str, str]:
        """The executables to run instead of the scheduler's defaults, by role."""
        return dict(self.config.commands)

    def scheduler(self, *, all_users: bool = False) -> Scheduler:
        """A backend for this cluster's scheduler, with its command overrides.

        A new one on each call: a backend learns from the answers it parses (lines it
        does not recognise), so each user of it gets its own, and the shared poller its
        own (:meth:`poller`). ``all_users``: its status commands list every user's jobs.
        """
        return self.config.scheduler_class(self.commands, all_users=all_users)

    @property
    def shared_status(self) -> bool:
        """Whether one status account queries the jobs of all users."""
        return bool(self.config.status_username)

    # -- connections -------------------------------------------------------------
    def transport(self, username: str, keys: Sequence[str] | None = None) -> Transport:
        """A connection to the cluster's login nodes as ``username``, with ``keys``
        (``{username}`` replaced; default: the cluster's key files). SSH connections of
        equal targets share one pooled connection; with several login nodes, each
        operation goes to a live one (see :mod:`batchspawner_x.failover`)."""
        c = self.config
        if c.connection == "local":
            return LocalTransport(username, c.local_prefix, c.local_env_keep)
        keys = tuple(k.format(username=username) for k in (c.login[0].keys if keys is None else keys))
        targets = tuple(replace(login, username=username, keys=keys) for login in c.login)
        return SSHTransport(targets, health=self.login_health)

    def login_hosts(self) -> tuple[Address, ...]:
        """The login nodes (host, port), in the configured order."""
        return tuple((login.host, login.port) for login in self.config.login)

    def login_report(self) -> list[HostHealth]:
        """Whether each login node is used now or skipped, for how long, and why."""
        return self.login_health.report(self.login_hosts())

    # -- statuses ------------------------------------------------------------------
    def poller(
        self, transport: Transport, *, interval: float, timeout: float, fast_interval: float
    ) -> StatusPoller:
        """The status poller shared by every spawner whose queries run over ``transport``'s
        account: the status account's, or the user's own when there is none."""
        return StatusPoller.get(
            transport,
            self.scheduler(all_users=self.shared_status),
            interval=interval,
            timeout=timeout,
            fast_interval=fast_interval,
        )

    # -- limits ----------------------------------------------------------------------
    def cached_partitions(self, account: tuple[str, ...]) -> dict[str, PartitionInfo] | None:
        """The partitions last read for ``account`` (a transport's key), however old; None if
        never read."""
        entry = self._limits.get(account)
        return entry[1] if entry is not None else None

    async def partitions(
        self,
        transport: Transport,
        *,
        ttl: float,
        timeout: float,
        warn: Callable[[Exception], None],
    ) -> dict[str, PartitionInfo] | None:
        """The scheduler's partitions and their limits as ``transport``'s account sees them,
        read at most every ``ttl`` seconds for all spawners of this cluster.

        None if the scheduler cannot list them or ``ttl`` is 0. A failed reading is passed
        to ``warn`` and answered with the last one, if any.
        """
        scheduler = self.scheduler()
        argv = scheduler.partitions_argv()
        if argv is None or not ttl:
            return None
        entry = self._limits.get(transport.key)
        if entry is not None and time.monotonic() - entry[0] < ttl:
            return entry[1]
        try:
            result = await transport.run(argv, timeout=timeout)
            found = scheduler.parse_partitions(result)
        except (TransportError, StatusUnavailable, ConfigError) as e:
            warn(e)
            return entry[1] if entry is not None else None
        self._limits[transport.key] = (time.monotonic(), found)
        return found

    async def reading(
        self,
        kind: str,
        transport: Transport,
        argv: Sequence[str],
        parse: Callable[[Any], Any],
        *,
        ttl: float,
        timeout: float,
        warn: Callable[[Exception], None],
    ) -> Any:
        """What ``argv``, run as ``transport``'s account and read by ``parse`` (given the
        :class:`~batchspawner_x.schedulers.base.CommandResult`), says: the reservations a user
        may use, the user's accounts. Read at most every ``ttl`` seconds per ``kind`` and
        account; a failed reading is passed to ``warn`` and answered with the last one, or
        None. As :meth:`partitions`, for lists that differ per user."""
        key = (kind, transport.key)
        entry = self._readings.get(key)
        if entry is not None and time.monotonic() - entry[0] < ttl:
            return entry[1]
        try:
            found = parse(await transport.run(list(argv), timeout=timeout))
        except (TransportError, StatusUnavailable, ConfigError) as e:
            warn(e)
            return entry[1] if entry is not None else None
        self._readings[key] = (time.monotonic(), found)
        return found


__all__ = ["Cluster", "ClusterConfig", "login_targets"]
