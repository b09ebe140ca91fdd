"""wrapspawner's ``ProfilesSpawner`` configuration, written as native profiles.

Each ``(display name, key, spawner class, settings)`` tuple becomes one entry of
``profiles``: its name is the key (in lower case, with ``-`` for other characters), its
display name the tuple's, and the settings a profile carries (partition, cores, memory,
walltime, GPUs, under their old or new names) become the profile's values.

The other settings of a tuple (an account, directives, a template ...) cannot be a
profile's. Profiles that share them, and use one scheduler, make one group; when there
are several groups (several schedulers, or profiles that differ in such settings), each
group becomes a cluster of ``clusters`` (with those settings, and the settings of its
scheduler's own section) and its profiles name it, so the form offers the clusters and
then their profiles. With one group, its settings go to the spawner's section.

A tuple whose class is not a batch spawner (``LocalProcessSpawner``, ``DockerSpawner``,
``SSHSpawner``) cannot run here: it is kept as a comment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from traitlets.config import Config

from . import compat
from .errors import CliError, ConfigError, SettingIgnored
from .migrate_values import NOTE, Output, build, class_name, convert, resolve_class, short
from .spawner import BatchSpawnerBase
from .units import bytes_to_mib, format_memory


class SpawnerMigration(Protocol):
    """What the profiles read of :class:`batchspawner_x.migrate.SpawnerMigration` (a
    structural type: that module imports this one)."""

    cls: type[BatchSpawnerBase]
    config: Config
    spawner: BatchSpawnerBase
    req_host: str
    batch_script: bool


#: The settings of a tuple that become a profile's values, by the profile's key.
RESOURCE_SETTINGS = {
    "partition": ("partition", "req_partition", "req_queue"),
    "cpus": ("cpu_limit", "req_nprocs"),
    "memory": ("mem_limit", "req_memory"),
    "walltime": ("walltime", "req_runtime"),
    "gpus": ("gpus", "req_ngpus"),
}
_RESOURCE_KEYS = {key for keys in RESOURCE_SETTINGS.values() for key in keys}

#: Old settings that are variables of a batch_script (``{{gres}}`` ...): kept while one is used.
SCRIPT_VARIABLES = {
    "req_host": "host",
    "req_cluster": "cluster",
    "req_srun": "srun",
    "req_gres": "gres",
    "req_reservation": "reservation",
}

#: wrapspawner's own settings, which have no meaning here.
WRAPPER_ONLY = {
    "child_class": "the class comes from each profile",
    "child_config": "each profile's settings are written into the profile (or its cluster)",
    "form_template": "the profile form is drawn by batchspawner_x",
    "input_template": "the profile form is drawn by batchspawner_x",
    "first_template": "the first profile is chosen by default",
    "options_form": "the profile form is drawn by batchspawner_x",
}

_NOT_NAME = re.compile(r"[^a-z0-9-]+")


def profile_name(key: str, taken: set[str]) -> str:
    """A wrapspawner key as a profile name (1-30 of ``a-z``, ``0-9``, ``-``), unique."""
    name = _NOT_NAME.sub("-", key.lower()).strip("-")[:30].strip("-") or "profile"
    base, number = name, 2
    while name in taken:
        suffix = f"-{number}"
        name, number = base[: 30 - len(suffix)] + suffix, number + 1
    taken.add(name)
    return name


@dataclass
class Entry:
    """One tuple of ``ProfilesSpawner.profiles``."""

    display: str
    key: str
    name: str
    class_text: str
    cls: type[BatchSpawnerBase] | None
    settings: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)
    cluster: str = ""


@dataclass
class WrapperPlan:
    """What a ProfilesSpawner configuration becomes."""

    section: str
    entries: list[Entry]

    @property
    def classes(self) -> list[type[BatchSpawnerBase]]:
        """Our classes of the tuples, in the order of their first profile."""
        found: list[type[BatchSpawnerBase]] = []
        for entry in self.entries:
            if entry.cls is not None and entry.cls not in found:
                found.append(entry.cls)
        return found

    @classmethod
    def read(cls, config: Config, configured: object) -> WrapperPlan:
        names = ["WrapSpawner", "ProfilesSpawner"]
        if isinstance(configured, type) and configured.__name__ not in names:
            names.append(configured.__name__)
        sections = [n for n in names if n in config and "profiles" in config[n]]
        if not sections:
            raise CliError("c.ProfilesSpawner.profiles is not set: there are no profiles to migrate")
        section = sections[-1]
        raw = config[section]["profiles"]
        entries, taken = [], set[str]()
        for index, item in enumerate(raw if isinstance(raw, (list, tuple)) else []):
            if not (isinstance(item, (list, tuple)) and len(item) == 4 and isinstance(item[3], Mapping)):
                raise CliError(
                    f"c.{section}.profiles[{index}] is not a (display name, key, spawner class, "
                    f"settings) tuple: {short(item)}"
                )
            display, key, spawner, settings = item
            entries.append(
                Entry(
                    str(display),
                    str(key),
                    profile_name(str(key), taken),
                    class_name(spawner),
                    resolve_class(spawner),
                    dict(settings),
                )
            )
        plan = cls(section, entries)
        if not plan.classes:
            raise CliError(
                f"no profile of c.{section}.profiles uses a batchspawner class: nothing to migrate"
            )
        return plan

    # -- writing ------------------------------------------------------------------------------
    def write(self, out: Output, migrations: Sequence[SpawnerMigration]) -> None:
        by_class = {m.cls: m for m in migrations}
        config = by_class[self.classes[0]].config
        sections = dict.fromkeys(("WrapSpawner", "ProfilesSpawner", self.section))
        shared = [(s, k, v) for s in sections if s in config for k, v in config[s].items() if k != "profiles"]
        if shared:
            out.heading(f"wrapspawner's settings (c.{self.section} and its base)")
        for section, key, value in shared:
            if key in WRAPPER_ONLY:
                out.kept(section, key, value, WRAPPER_ONLY[key])
            else:
                origin = f"was c.{section}.{key}; wrapspawner copied it to the child"
                out.setting("Spawner", key, value, origin)
        for entry in self.entries:
            if entry.cls is None:
                continue
            known = set(entry.cls.class_trait_names())
            for key in [k for k in entry.settings if k not in known]:
                value = entry.settings.pop(key)
                entry.kept.append(
                    f"{key} = {short(value)} is not carried over: not a setting of {entry.cls.__name__}"
                )
            child = build(entry.cls, by_class[entry.cls].config, **entry.settings)
            self._split(entry, child, by_class[entry.cls])
        groups = self._groups()
        out.heading(f"the profiles, from c.{self.section}.profiles")
        if len(groups) == 1:
            (((cls, _), members),) = groups.items()
            for key, value in members[0].extras.items():
                out.setting(cls.__name__, key, value, "set by every profile")
        else:
            self._write_clusters(out, groups, by_class)
        profiles = []
        for entry in self.entries:
            if entry.cls is None:
                out.lines.append(
                    f"# profile {entry.key!r} ({entry.display}) is not carried over: its class "
                    f"{entry.class_text} is not a batch spawner; batchspawner_x runs servers as jobs only"
                )
                continue
            for note in entry.kept:
                out.lines.append(f"# profile {entry.key!r}: {note}")
            profile: dict[str, Any] = {"name": entry.name, "display_name": entry.display}
            if entry.cluster:
                profile["cluster"] = entry.cluster
            profile.update(entry.values)
            profiles.append(profile)
        renamed = [f"{e.key!r} is now {e.name!r}" for e in self.entries if e.cls and e.key != e.name]
        comment = f"was c.{self.section}.profiles" + ("; " + ", ".join(renamed) if renamed else "")
        out.setting("BatchSpawnerBase", "profiles", profiles, comment)

    def _split(self, entry: Entry, child: BatchSpawnerBase, migration: SpawnerMigration) -> None:
        """A tuple's settings as profile values and other (native) settings."""
        assert entry.cls is not None
        for resource, keys in RESOURCE_SETTINGS.items():
            if any(k in entry.settings for k in keys):
                value = _resource(resource, child)
                if value not in (None, "", 0):
                    entry.values[resource] = value
        for key, value in entry.settings.items():
            if key in _RESOURCE_KEYS:
                continue
            if key in compat._IGNORED:
                entry.kept.append(f"{key} = {short(value)} is not carried over: {compat._IGNORED[key]}")
                continue
            if key in SCRIPT_VARIABLES and migration.batch_script:
                entry.extras[key] = value  # the batch_script reads it as a variable of its own
                continue
            if key in compat._RENAMED:
                if not value:
                    continue  # compat sets nothing for an empty old setting
                try:
                    traits = convert(entry.cls, key, value, migration.req_host)
                except (SettingIgnored, ConfigError) as e:
                    entry.kept.append(f"{key} = {short(value)} is not carried over: {e}")
                    continue
                for trait, new in traits.items():
                    entry.extras[trait] = (
                        getattr(child, trait) if trait in ("extra_directives", "scheduler_commands") else new
                    )
                continue
            entry.extras[key] = value

    def _groups(self) -> dict[tuple[type[BatchSpawnerBase], str], list[Entry]]:
        groups: dict[tuple[type[BatchSpawnerBase], str], list[Entry]] = {}
        for entry in self.entries:
            if entry.cls is not None:
                groups.setdefault((entry.cls, repr(sorted(entry.extras.items()))), []).append(entry)
        return groups

    def _write_clusters(
        self,
        out: Output,
        groups: dict[tuple[type[BatchSpawnerBase], str], list[Entry]],
        by_class: dict[type[BatchSpawnerBase], SpawnerMigration],
    ) -> None:
        main = self.classes[0]
        per_class: dict[type[BatchSpawnerBase], int] = {}
        for cls, _ in groups:
            per_class[cls] = per_class.get(cls, 0) + 1
        clusters: dict[str, dict[str, Any]] = {}
        for (cls, _), members in groups.items():
            scheduler = cls.scheduler_class.name
            first = members[0].name
            own = first if first.startswith(scheduler) else f"{scheduler}-{first}"[:30].strip("-")
            name = scheduler if per_class[cls] == 1 else own
            display = cls.scheduler_class.display_name
            if per_class[cls] > 1:
                display += ": " + ", ".join(m.display for m in members)
            entry: dict[str, Any] = {"display_name": display, "scheduler": scheduler}
            if cls is not main:
                entry.update(_own_section(by_class[cls]))
            entry.update(members[0].extras)
            clusters[name] = entry
            for member in members:
                member.cluster = name
        out.setting(
            "BatchSpawnerBase",
            "clusters",
            clusters,
            "one cluster per scheduler (or per set of settings a profile cannot carry) of the profiles",
        )


def _resource(resource: str, child: BatchSpawnerBase) -> Any:
    """A profile's value for ``resource``, as the child spawner holds it."""
    if resource == "partition":
        return child.partition
    if resource == "cpus":
        return math.ceil(child.cpu_limit) if child.cpu_limit else None
    if resource == "memory":
        mib = bytes_to_mib(child.mem_limit)
        return format_memory(mib) if mib else None
    if resource == "walltime":
        return child.walltime
    return child.gpus


def _own_section(migration: SpawnerMigration) -> dict[str, Any]:
    """The settings of a scheduler's own section (``c.TorqueSpawner``), natively, for the
    entry of its cluster: a cluster of another scheduler than the spawner class's takes
    only what its entry gives."""
    section = migration.cls.__name__
    if section not in migration.config:
        return {}
    settings: dict[str, Any] = {}
    for key, value in migration.config[section].items():
        if key in compat._RENAMED:
            try:
                traits = convert(migration.cls, key, value, migration.req_host)
            except (SettingIgnored, ConfigError):
                continue
            traits.pop(NOTE, None)
            for trait, new in traits.items():
                merged = trait in ("extra_directives", "scheduler_commands")
                settings[trait] = getattr(migration.spawner, trait) if merged else new
        elif key not in compat._IGNORED and key != "profiles":
            settings[key] = value
    return settings


__all__ = ["Entry", "WrapperPlan", "profile_name"]
