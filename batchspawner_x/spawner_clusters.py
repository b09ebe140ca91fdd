"""Which of the site's clusters a spawner runs its job on (see :mod:`batchspawner_x.clusters`).

A spawner serves one user's server on one cluster at a time. With
:attr:`ClusterChoice.clusters` set, the cluster is chosen at each start (from the
profile or ``user_options["cluster"]``) and kept in the spawner's state, so that
after a hub restart the job is looked for, polled and cancelled on the cluster that
runs it.

Choosing a cluster sets this spawner's settings to that cluster's: its scheduler,
every setting its entry gives, and the settings that say how the cluster is reached,
as the cluster's scheduler's spawner class has them (its entry, then
``c.<SchedulerSpawner>.*``, then ``c.BatchSpawnerBase.*``). Each cluster's settings are
checked once, by building a spawner of the cluster's scheduler with them (its
*prototype*), so a bad value is refused with the cluster's name, as any setting is.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import json
from collections.abc import Mapping
from typing import Any

from traitlets import Dict, TraitError, validate
from traitlets.config import Config

from . import clusters as cluster_model
from .cluster import Cluster
from .clusters import ClusterSpec
from .errors import ConfigError
from .spawner_traits import SpawnerTraits

#: The concrete spawner of each scheduler, by backend name (filled by :mod:`.spawners`).
_SPAWNER_CLASSES: dict[str, type[SpawnerTraits]] = {}

#: The settings a :class:`~batchspawner_x.cluster.ClusterConfig` is made of: a change to
#: one of them makes the spawner find its cluster again.
CLUSTER_SETTINGS = (
    "connection",
    "ssh_host",
    "ssh_port",
    "ssh_keys",
    "ssh_known_hosts",
    "ssh_connect_timeout",
    "ssh_keepalive_interval",
    "ssh_max_sessions",
    "ssh_idle_timeout",
    "ssh_reconnect_max_delay",
    "ssh_ca_key",
    "ssh_certificate_validity",
    "ssh_certificate_source_address",
    "tunnel",
    "login_hosts",
    "login_order",
    "login_down_time",
    "local_prefix",
    "local_env_keep",
    "status_ssh_username",
    "status_ssh_keys",
    "scheduler_commands",
)

#: Settings that say how a cluster is reached: a spawner on a cluster always has the
#: cluster's own (see the module's docstring). Those that make its
#: :class:`~.cluster.Cluster`, except ``tunnel`` (a cluster's entry gives it, or the
#: spawner's own applies), and the account and template the cluster's spawner class has.
REACH_SETTINGS = (
    *(name for name in CLUSTER_SETTINGS if name != "tunnel"),
    "ssh_username",
    "template",
    "template_paths",
    "walltime_operator_username",
    "walltime_operator_keys",
)

#: Validated cluster lists, by their configuration's text and spawner class.
_checked: dict[tuple[type, str], tuple[ClusterSpec, ...]] = {}


def register_spawner_class(cls: type[SpawnerTraits]) -> type[SpawnerTraits]:
    """Make ``cls`` the spawner of its scheduler for clusters that name it."""
    _SPAWNER_CLASSES[cls.scheduler_class.name] = cls
    return cls


def spawner_class_for(scheduler: str) -> type[SpawnerTraits]:
    """The concrete spawner class of the scheduler called ``scheduler``."""
    if scheduler not in _SPAWNER_CLASSES:
        # the concrete classes register when their module is imported; a site's own
        # subclass of BatchSpawnerBase may not have imported it yet
        importlib.import_module("batchspawner_x.spawners")
    return _SPAWNER_CLASSES[scheduler]


def _without_clusters(config: Config) -> Config:
    """``config`` without any ``clusters`` setting: a prototype is one cluster."""
    result = copy.deepcopy(config)
    for section in result.values():
        if isinstance(section, Config):
            section.pop("clusters", None)
    return result


class ClusterChoice(SpawnerTraits):
    """The ``clusters`` setting and the choice of one of them for each start."""

    clusters = Dict(
        config=True,
        help="""The clusters this hub runs servers on, by name; empty (the default) for one
        cluster described by this spawner's own settings.

        Each entry is a dict: ``display_name``, ``description``, ``scheduler`` (``slurm``,
        ``pbs``, ``torque``, ``moab``, ``gridengine``, ``lsf`` or ``condor``; default: this
        spawner class's own), ``groups`` (JupyterHub groups whose members may use it; empty
        for everyone), and any setting of that scheduler's spawner that differs on this
        cluster: ``ssh_host`` or ``login_hosts``, ``ssh_keys``, ``ssh_known_hosts``,
        ``status_ssh_username``, ``template``, ``partition``, ``walltime``,
        ``extra_directives``, ``hub_connect_url``, ``tunnel``, ``parallel_environment``...
        The first cluster is the default: profiles without a ``cluster`` key run there, and
        so do requests that name none. Names are 1-30 characters of ``a-z``, ``0-9`` and ``-``,
        as ``user_options["cluster"]`` and a profile's ``cluster`` give them.

        A cluster's settings are checked when the spawner is built, each as the setting
        itself is: a bad one is refused with the cluster's name (``batchspawner-x check``
        shows it).

        Example::

            c.BatchSpawnerBase.clusters = {
                "flagship": {"display_name": "Flagship (Slurm)", "scheduler": "slurm",
                             "login_hosts": ["login1.example.edu", "login2.example.edu"]},
                "legacy": {"display_name": "Legacy (Grid Engine)",
                           "scheduler": "gridengine", "ssh_host": "sge.example.edu",
                           "partition": "all.q", "groups": ["legacy"]},
            }
        """,
    )

    #: The name of the cluster of the current (or last) job; "" without :attr:`clusters`.
    cluster_name: str = ""
    #: The cluster a saved job runs on when the configuration no longer has it.
    cluster_missing: str = ""

    def __init__(self, **kwargs: Any) -> None:
        self._cluster: Cluster | None = None
        self._cluster_originals: dict[str, Any] = {}
        self._prototypes: dict[str, SpawnerTraits] = {}
        super().__init__(**kwargs)

    @validate("clusters")
    def _check_clusters(self, proposal: Any) -> dict[str, Any]:
        try:
            self._checked_clusters(proposal["value"])
        except ConfigError as e:
            raise TraitError(str(e)) from None
        return dict(proposal["value"])

    def _checked_clusters(self, raw: Mapping[str, Any]) -> tuple[ClusterSpec, ...]:
        """``raw`` parsed, and each cluster's settings checked by its prototype."""
        try:
            text = json.dumps(raw, sort_keys=True, default=repr)
        except (TypeError, ValueError):
            text = repr(raw)
        key = (type(self), text)
        if key in _checked:
            return _checked[key]
        specs = cluster_model.parse_clusters(raw)
        for spec in specs:
            cls = self._class_of(spec)
            known = set(cls.class_trait_names(config=True))
            for name in spec.settings:
                if name not in known:
                    close = difflib.get_close_matches(name, known, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise ConfigError(
                        f"clusters[{spec.name}].{name}", f"is not a setting of {cls.__name__}{hint}"
                    )
            self._build_prototype(spec)
        _checked[key] = specs
        return specs

    def cluster_specs(self) -> tuple[ClusterSpec, ...]:
        """The site's clusters, checked; empty without :attr:`clusters`."""
        if not self.clusters:
            return ()
        return self._checked_clusters(self.clusters)

    def _class_of(self, spec: ClusterSpec) -> type[SpawnerTraits]:
        if not spec.scheduler or spec.scheduler == self.scheduler_class.name:
            return type(self)
        return spawner_class_for(spec.scheduler)

    def _build_prototype(self, spec: ClusterSpec) -> SpawnerTraits:
        """A spawner of ``spec``'s scheduler with its settings, never started."""
        cls = self._class_of(spec)
        try:
            return cls(config=_without_clusters(self.config), **spec.settings)
        except (TraitError, ConfigError) as e:
            raise ConfigError(f"clusters[{spec.name}]", str(e)) from None

    def cluster_prototype(self, name: str) -> SpawnerTraits:
        """This user's spawner of the cluster called ``name``, for reading that cluster's
        settings and partitions without choosing it."""
        proto = self._prototypes.get(name)
        if proto is None:
            spec = cluster_model.find_cluster(self.cluster_specs(), name)
            if spec is None:
                raise ConfigError("cluster", f"{name!r} is not a configured cluster")
            proto = self._build_prototype(spec)
            proto.user = self.user
            self._prototypes[name] = proto
        return proto

    def use_cluster(self, name: str) -> None:
        """Take the settings of the cluster called ``name`` for this spawner's job."""
        if name == self.cluster_name and (name or not self._cluster_originals):
            return
        self._restore_settings()
        self._forget_connections()
        self.cluster_name = name
        if not name:
            return
        spec = cluster_model.find_cluster(self.cluster_specs(), name)
        if spec is None:
            raise ConfigError("cluster", f"{name!r} is not a configured cluster")
        proto = self.cluster_prototype(name)
        if proto.scheduler_class is not type(self).scheduler_class:
            self.scheduler_class = proto.scheduler_class
        for setting in (*REACH_SETTINGS, *spec.settings):
            if self._shares_setting(proto, setting) and setting not in self._cluster_originals:
                self._cluster_originals[setting] = getattr(self, setting)
                setattr(self, setting, getattr(proto, setting))

    def _shares_setting(self, proto: SpawnerTraits, name: str) -> bool:
        """Whether ``name`` is one setting on this spawner and on ``proto`` (not two
        schedulers' settings of the same name, such as PBS's and Grid Engine's
        ``gpu_resource``)."""
        mine = type(self).class_traits().get(name)
        return mine is not None and mine is type(proto).class_traits().get(name)

    def _restore_settings(self) -> None:
        for setting, value in self._cluster_originals.items():
            setattr(self, setting, value)
        self._cluster_originals = {}
        self.__dict__.pop("scheduler_class", None)

    def _forget_connections(self) -> None:
        """Drop what belongs to the previous cluster: its connections, poller and home."""
        self._cluster = None
        self._transport = None
        self._status_transport = None
        self._poller = None
        self._home = None

    def scheduler_setting(self, name: str) -> Any:
        """A setting the scheduler reads (its ``context_settings``): this spawner's own, or
        the cluster's when the cluster's scheduler is not this spawner class's."""
        if not self.cluster_name or self.scheduler_class is type(self).scheduler_class:
            return getattr(self, name)
        return getattr(self.cluster_prototype(self.cluster_name), name)

    _transport: Any
    _status_transport: Any
    _poller: Any
    _home: str | None


__all__ = [
    "CLUSTER_SETTINGS",
    "REACH_SETTINGS",
    "ClusterChoice",
    "register_spawner_class",
    "spawner_class_for",
]
