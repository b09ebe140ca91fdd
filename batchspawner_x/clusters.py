"""Several clusters behind one hub: what a site declares, and which one a user may use.

A site lists its clusters in :attr:`~batchspawner_x.spawner.BatchSpawnerBase.clusters`,
a dict from each cluster's name to its description::

    c.BatchSpawnerBase.clusters = {
        "flagship": {"display_name": "Flagship (Slurm)", "scheduler": "slurm",
                     "login_hosts": ["login1.example.edu", "login2.example.edu"]},
        "legacy": {"display_name": "Legacy (Grid Engine)", "scheduler": "gridengine",
                   "groups": ["legacy-users"], "ssh_host": "sge-login.example.edu",
                   "partition": "all.q"},
    }

:func:`parse_clusters` checks the shape of that dict and turns it into frozen
:class:`ClusterSpec` objects: a name, a display name, the scheduler, the JupyterHub
groups that may use it, and ``settings``, the spawner settings that differ on that
cluster (login, keys, templates, partition, walltime, directives, ``hub_connect_url``,
``tunnel``, the scheduler's own settings). Whether each setting exists and has a valid
value is the spawner's to check (it knows the traits); nothing here does I/O.

A configuration without ``clusters`` describes one cluster, :data:`DEFAULT`, with the
spawner's own settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, OptionError
from .profiles import Profile, available_profiles

#: The name of the one cluster of a configuration without :attr:`clusters`.
DEFAULT = ""

#: The schedulers a cluster may name, as their backends call themselves.
SCHEDULERS = ("slurm", "pbs", "torque", "moab", "sge", "lsf", "condor")
#: Other names a site may write for them.
SCHEDULER_ALIASES = {"gridengine": "sge", "htcondor": "condor", "openpbs": "pbs"}

#: A cluster's own keys; every other key is a spawner setting for that cluster.
_META_KEYS = ("display_name", "description", "scheduler", "groups")

#: Settings a cluster cannot carry: they belong to the hub, not to one cluster.
_HUB_WIDE = {
    "clusters": "clusters do not nest",
    "profiles": "profiles are the hub's; give a profile a 'cluster' key instead",
    "cluster_username_pattern": "it guards every cluster alike",
    "min_cluster_uid": "it guards every cluster alike",
    "denied_cluster_accounts": "it guards every cluster alike",
}

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster a site declares."""

    name: str
    display_name: str
    description: str = ""
    #: The scheduler's backend name (one of :data:`SCHEDULERS`); empty for the spawner
    #: class's own.
    scheduler: str = ""
    #: JupyterHub groups whose members may use it; empty for everyone.
    groups: frozenset[str] = frozenset()
    #: The spawner settings that differ on this cluster, as written in the configuration.
    settings: Mapping[str, Any] = field(default_factory=dict)

    def allowed_for(self, groups: Iterable[str]) -> bool:
        """Whether a member of ``groups`` may use this cluster."""
        return not self.groups or bool(self.groups.intersection(groups))


def parse_clusters(raw: Mapping[str, Any]) -> tuple[ClusterSpec, ...]:
    """Check the site's ``clusters`` dict and build :class:`ClusterSpec` objects, in the
    order written (the first is the default cluster).

    Raises :class:`ConfigError` naming ``clusters[NAME]`` and the key at fault.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("clusters", f"must be a dict of cluster name to settings, not {type(raw).__name__}")
    specs = []
    for name, item in raw.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError("clusters", f"{name!r} must be 1-30 characters of a-z, 0-9 and -")
        where = f"clusters[{name}]"
        if not isinstance(item, Mapping):
            raise ConfigError(where, f"must be a dict of settings, not {type(item).__name__}")
        for key in item:
            if not isinstance(key, str):
                raise ConfigError(where, f"{key!r} is not a setting name")
            if key in _HUB_WIDE:
                raise ConfigError(f"{where}.{key}", f"cannot differ between clusters: {_HUB_WIDE[key]}")
        scheduler = item.get("scheduler", "")
        scheduler = SCHEDULER_ALIASES.get(scheduler, scheduler) if isinstance(scheduler, str) else scheduler
        if scheduler and scheduler not in SCHEDULERS:
            known = ", ".join([*SCHEDULERS, *SCHEDULER_ALIASES])
            raise ConfigError(f"{where}.scheduler", f"{scheduler!r} is not one of {known}")
        groups = item.get("groups", [])
        if (
            isinstance(groups, str)
            or not isinstance(groups, Iterable)
            or not all(isinstance(g, str) for g in groups)
        ):
            raise ConfigError(f"{where}.groups", "must be a list of JupyterHub group names")
        display_name = item.get("display_name", name)
        description = item.get("description", "")
        if not isinstance(display_name, str) or not isinstance(description, str):
            raise ConfigError(where, "display_name and description must be strings")
        specs.append(
            ClusterSpec(
                name=name,
                display_name=display_name,
                description=description,
                scheduler=scheduler,
                groups=frozenset(groups),
                settings={k: v for k, v in item.items() if k not in _META_KEYS},
            )
        )
    return tuple(specs)


def find_cluster(specs: Iterable[ClusterSpec], name: str) -> ClusterSpec | None:
    """The cluster called ``name``, or None."""
    return next((s for s in specs if s.name == name), None)


def usable_cluster(specs: tuple[ClusterSpec, ...], groups: Iterable[str], requested: object) -> ClusterSpec:
    """The cluster a request names (``user_options["cluster"]``), checked against the
    user's groups; the first one the user may use when it names none.

    Raises :class:`OptionError` (a 400 naming ``cluster``) for an unknown cluster or one
    the user's groups may not use.
    """
    groups = list(groups)
    offered = [s for s in specs if s.allowed_for(groups)]
    if not offered:
        raise OptionError("cluster", "no cluster is available to you; ask the site's administrators")
    if requested in (None, ""):
        return offered[0]
    found = find_cluster(offered, requested) if isinstance(requested, str) else None
    if found is None:
        names = ", ".join(s.name for s in offered)
        raise OptionError("cluster", f"{str(requested)[:40]!r} is not a cluster you can use ({names})")
    return found


def check_profile_clusters(specs: tuple[ClusterSpec, ...], profiles: Iterable[Profile]) -> None:
    """Refuse a profile that names a cluster the site did not declare (or any cluster,
    when it declared none)."""
    names = [s.name for s in specs]
    for p in profiles:
        if p.cluster and p.cluster not in names:
            known = ", ".join(names) if names else "none: 'clusters' is not set"
            raise ConfigError(f"profiles[{p.name}].cluster", f"{p.cluster!r} is not a cluster ({known})")


def requested_cluster(
    specs: tuple[ClusterSpec, ...],
    profiles: Iterable[Profile],
    groups: Iterable[str],
    options: Mapping[str, Any],
) -> ClusterSpec:
    """The cluster a request runs on: the one ``options["cluster"]`` names, else the
    cluster of the profile it names, else the first the user may use.

    Raises :class:`OptionError` (a 400 naming ``cluster``) for a cluster the user may not use.
    """
    groups = list(groups)
    requested = options.get("cluster")
    if requested in (None, "") and specs:
        named = options.get("profile")
        for p in available_profiles(list(profiles), groups):
            if p.name == named:
                requested = p.cluster or specs[0].name
    return usable_cluster(specs, groups, requested)


__all__ = [
    "DEFAULT",
    "SCHEDULERS",
    "ClusterSpec",
    "check_profile_clusters",
    "find_cluster",
    "parse_clusters",
    "requested_cluster",
    "usable_cluster",
]
