"""Resource profiles: what a site offers, what a user may change, and the spawn form.

A site describes its offers as plain dicts (:attr:`BatchSpawnerBase.profiles`);
:func:`parse_profiles` turns them into frozen :class:`Profile` objects, refusing
anything it does not understand with a :class:`~batchspawner_x.errors.ConfigError`
that names the profile and the key, so a typo stops the hub at startup.

A request (the form's fields, or ``user_options`` sent to the REST API) is turned
into a :class:`Choice` by :func:`resolve_choice`. Every value is parsed against the
bounds of its profile; nothing a user typed reaches the job script unparsed.
The spawn form is drawn and read back by :mod:`batchspawner_x.profile_form`.
Nothing here does I/O: the live
partition list comes in as :class:`~batchspawner_x.schedulers.base.PartitionInfo`
values read by the spawner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import environments as environment_model
from . import profile_scheduling as scheduling_model
from .errors import ConfigError, OptionError
from .profile_scheduling import SCHEDULING, ClusterLists, Scheduling
from .schedulers.base import PartitionInfo
from .units import format_memory, format_walltime, memory_mib, walltime_seconds
from .validation import check_name

#: The resources a profile sets and a field may let the user change.
RESOURCES = ("partition", "cpus", "memory", "walltime", "gpus")
#: ``fields[name] = {"choices": CLUSTER}`` offers the partitions the scheduler lists.
CLUSTER = "cluster"

_PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")
_INTEGER = re.compile(r"^\s*(\d{1,6})\s*$")
#: What else a request may name: an environment, and the scheduling settings of
#: :mod:`.profile_scheduling`.
OPTIONS = (*RESOURCES, "environment", *SCHEDULING)
_PROFILE_KEYS = {
    "name",
    "display_name",
    "description",
    "default",
    "groups",
    "cluster",
    "fields",
    "environments",
    "extra_directives",
    "max_walltime",
    *RESOURCES,
    *SCHEDULING,
}
_FIELD_KEYS = {
    "partition": {"choices"},
    "cpus": {"min", "max"},
    "memory": {"min", "max"},
    "walltime": {"min", "max"},
    "gpus": {"min", "max"},
}


#: The lowest value of a field without a ``min``: a core, no GPU, a MiB, a minute.
_LOWEST = {"cpus": 1, "gpus": 0, "memory": 1, "walltime": 60}


# -- units ---------------------------------------------------------------------------
def memory_mb_from_text(option: str, value: object) -> int:
    """An amount of memory in a profile or a request, as MiB: ``"4G"``, ``"512M"``,
    ``"1.5G"``, ``"4GiB"``. A bare number is refused: it meant GiB here before it
    meant MiB everywhere (see :mod:`batchspawner_x.units`).

    >>> memory_mb_from_text("memory", "1.5G")
    1536
    """
    return memory_mib(option, value, bare_number=False)


def _integer(option: str, value: object) -> int:
    if isinstance(value, bool):
        raise OptionError(option, f"{value!r} is not a whole number")
    match = _INTEGER.fullmatch(str(value))
    if match is None:
        raise OptionError(option, f"{str(value)[:40]!r} is not a whole number")
    return int(match.group(1))


# -- the site's profiles -----------------------------------------------------------------
@dataclass(frozen=True)
class Bounds:
    """What the user may choose for one resource inside a profile.

    Numbers are in the resource's unit: cores, MiB, seconds, GPUs. ``choices`` is
    the partitions offered, or ``("cluster",)`` for those the scheduler lists.
    """

    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()

    @property
    def from_cluster(self) -> bool:
        return self.choices == (CLUSTER,)


@dataclass(frozen=True)
class Profile:
    """One offer of the site, such as "Small: 1 CPU, 2G, 2 h"."""

    name: str
    display_name: str
    description: str = ""
    default: bool = False
    groups: frozenset[str] = frozenset()
    #: The resources the profile sets, in their units (partition name, cores, MiB,
    #: seconds, GPUs). Those missing keep the spawner's own setting.
    values: Mapping[str, str | int] = field(default_factory=dict)
    #: The resources the user may change, and how far.
    fields: Mapping[str, Bounds] = field(default_factory=dict)
    #: The cluster it runs on (a name in the spawner's ``clusters``); empty for the first.
    cluster: str = ""
    #: The environments it offers, by name (see :mod:`.environments`), the first the default.
    environments: tuple[str, ...] = ()
    #: Its own account, QOS, reservation, constraint, GPU type and directives, and the
    #: ones the user may choose (see :mod:`.profile_scheduling`).
    scheduling: Scheduling = field(default_factory=Scheduling)
    #: The most walltime, in seconds, a job of this profile may reach by extending it (see
    #: :mod:`.extension`); None for the spawner's ``max_walltime``.
    max_walltime: int | None = None

    def allowed_for(self, groups: Iterable[str]) -> bool:
        """Whether a member of ``groups`` may choose this profile (empty ``groups``: everyone)."""
        return not self.groups or bool(self.groups.intersection(groups))


def _parse_value(where: str, resource: str, value: object) -> str | int:
    if resource == "partition":
        if not isinstance(value, str) or not value:
            raise ConfigError(where, f"partition must be a non-empty string, not {value!r}")
        return check_name(where, value)
    if resource == "memory":
        return memory_mb_from_text(where, value)
    if resource == "walltime":
        return walltime_seconds(where, value)
    number = _integer(where, value)
    if resource == "cpus" and number < 1:
        raise ConfigError(where, "cpus must be at least 1")
    return number


def _parse_bounds(where: str, resource: str, spec: object) -> Bounds:
    if spec is True:
        spec = {}
    if not isinstance(spec, Mapping):
        raise ConfigError(where, f"must be a dict such as {{'max': ...}}, not {spec!r}")
    unknown = set(spec) - _FIELD_KEYS[resource]
    if unknown:
        raise ConfigError(where, f"unknown keys {sorted(unknown)}; allowed: {sorted(_FIELD_KEYS[resource])}")
    if resource == "partition":
        choices = spec.get("choices")
        if choices == CLUSTER:
            return Bounds(choices=(CLUSTER,))
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ConfigError(where, f"choices must be a list of partitions or {CLUSTER!r}")
        return Bounds(choices=tuple(str(_parse_value(where, "partition", c)) for c in choices))
    low = spec.get("min")
    high = spec.get("max")
    minimum = int(_parse_value(where + ".min", resource, low)) if low is not None else _LOWEST[resource]
    maximum = int(_parse_value(where + ".max", resource, high)) if high is not None else None
    if maximum is None:
        raise ConfigError(where, "a field needs a 'max'")
    if minimum is not None and minimum > maximum:
        raise ConfigError(where, "min is above max")
    return Bounds(minimum=minimum, maximum=maximum)


def is_wrapspawner_profiles(value: Sequence[Any]) -> bool:
    """Whether ``value`` is wrapspawner's ``ProfilesSpawner.profiles``: a non-empty list of
    ``(display name, key, spawner class, config dict)`` tuples, never a list of our dicts."""
    return bool(value) and all(
        isinstance(item, tuple)
        and len(item) == 4
        and isinstance(item[0], str)
        and isinstance(item[1], str)
        and isinstance(item[2], (type, str))
        and isinstance(item[3], Mapping)
        for item in value
    )


def parse_profiles(raw: Sequence[Mapping[str, Any]]) -> tuple[Profile, ...]:
    """Check the site's profile dicts and build :class:`Profile` objects.

    Raises :class:`ConfigError` naming ``profiles[i]`` and the key at fault.
    """
    profiles: list[Profile] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"profiles[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(where, f"must be a dict, not {type(item).__name__}")
        unknown = set(item) - _PROFILE_KEYS
        if unknown:
            raise ConfigError(where, f"unknown keys {sorted(unknown)}; allowed: {sorted(_PROFILE_KEYS)}")
        name = item.get("name")
        if not isinstance(name, str) or not _PROFILE_NAME.fullmatch(name):
            raise ConfigError(where + ".name", f"{name!r} must be 1-30 characters of a-z, 0-9 and -")
        if name in seen:
            raise ConfigError(where + ".name", f"{name!r} is used twice")
        seen.add(name)
        where = f"profiles[{name}]"
        values = {r: _parse_value(f"{where}.{r}", r, item[r]) for r in RESOURCES if r in item}
        raw_fields = item.get("fields", {})
        if not isinstance(raw_fields, Mapping):
            raise ConfigError(where + ".fields", "must be a dict of resource name to bounds")
        fields = {}
        for resource, spec in raw_fields.items():
            if resource in SCHEDULING:
                continue  # read by parse_scheduling below
            if resource not in RESOURCES:
                raise ConfigError(
                    where + ".fields", f"{resource!r} is not one of {', '.join((*RESOURCES, *SCHEDULING))}"
                )
            bounds = _parse_bounds(f"{where}.fields.{resource}", resource, spec)
            default = values.get(resource)
            if default is not None and not bounds.from_cluster and not _within(default, bounds):
                raise ConfigError(f"{where}.{resource}", "the profile's own value is outside its field")
            fields[resource] = bounds
        groups = item.get("groups", [])
        if isinstance(groups, str) or not all(isinstance(g, str) for g in groups):
            raise ConfigError(where + ".groups", "must be a list of group names")
        display_name = item.get("display_name", name)
        description = item.get("description", "")
        if not isinstance(display_name, str) or not isinstance(description, str):
            raise ConfigError(where, "display_name and description must be strings")
        cluster = item.get("cluster", "")
        if not isinstance(cluster, str) or (cluster and not _PROFILE_NAME.fullmatch(cluster)):
            raise ConfigError(where + ".cluster", f"{cluster!r} is not the name of a cluster")
        max_walltime = (
            walltime_seconds(where + ".max_walltime", item["max_walltime"])
            if "max_walltime" in item
            else None
        )
        if max_walltime is not None and max_walltime < int(values.get("walltime", 0)):
            raise ConfigError(where + ".max_walltime", "is below the profile's own walltime")
        profiles.append(
            Profile(
                name=name,
                display_name=display_name,
                description=description,
                default=bool(item.get("default", False)),
                groups=frozenset(groups),
                values=values,
                fields=fields,
                cluster=cluster,
                environments=(
                    environment_model.parse_offer(where + ".environments", item["environments"])
                    if "environments" in item
                    else ()
                ),
                scheduling=scheduling_model.parse_scheduling(where, item),
                max_walltime=max_walltime,
            )
        )
    if sum(p.default for p in profiles) > 1:
        raise ConfigError("profiles", "only one profile may be the default")
    return tuple(profiles)


def profiles_on(profiles: Sequence[Profile], cluster: str, default_cluster: str) -> tuple[Profile, ...]:
    """The profiles that run on ``cluster`` (those without a ``cluster`` run on
    ``default_cluster``)."""
    return tuple(p for p in profiles if (p.cluster or default_cluster) == cluster)


def _within(value: str | int, bounds: Bounds) -> bool:
    if bounds.choices:
        return value in bounds.choices
    assert isinstance(value, int)
    return (bounds.minimum is None or value >= bounds.minimum) and (
        bounds.maximum is None or value <= bounds.maximum
    )


def available_profiles(profiles: Sequence[Profile], groups: Iterable[str]) -> list[Profile]:
    """The profiles a member of ``groups`` may choose, default first."""
    group_set = set(groups)
    allowed = [p for p in profiles if p.allowed_for(group_set)]
    return sorted(allowed, key=lambda p: not p.default)


# -- live limits -----------------------------------------------------------------------
def effective_bounds(
    profile: Profile, resource: str, partition: str | None, cluster: Mapping[str, PartitionInfo] | None
) -> Bounds:
    """The bounds of one field, narrowed by what the cluster reports for ``partition``
    (its time limit, the CPUs, memory and GPUs of its largest node)."""
    bounds = profile.fields[resource]
    if resource == "partition":
        if bounds.from_cluster:
            names = tuple(n for n, info in (cluster or {}).items() if info.available)
            fallback = profile.values.get("partition")
            return Bounds(choices=names or ((str(fallback),) if fallback else ()))
        return bounds
    info = (cluster or {}).get(partition or "")
    if info is None:
        return bounds
    limit = {
        "cpus": info.cpus,
        "memory": info.memory_mb,
        "walltime": info.max_walltime_seconds,
        "gpus": info.gpus,
    }[resource]
    if limit is None or bounds.maximum is None or limit >= bounds.maximum:
        return bounds
    return Bounds(minimum=bounds.minimum, maximum=limit)


# -- a user's request -------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    """What one spawn asks for; ``None`` keeps the spawner's own setting."""

    profile: str
    partition: str | None = None
    cpus: int | None = None
    memory_mb: int | None = None
    walltime: str | None = None
    gpus: int | None = None
    #: The chosen environment's name (see :mod:`.environments`).
    environment: str | None = None
    account: str | None = None
    qos: str | None = None
    reservation: str | None = None
    constraint: str | None = None
    gpu_type: str | None = None
    #: The profile's own directives, after the spawner's ``extra_directives``.
    extra_directives: tuple[str, ...] = ()

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dict for the spawner's state."""
        state = {k: v for k, v in self.__dict__.items() if v is not None and k != "extra_directives"}
        if self.extra_directives:
            state["extra_directives"] = list(self.extra_directives)
        return state

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> Choice | None:
        """The choice saved by :meth:`to_state`, or None if ``data`` holds none."""
        if not isinstance(data, Mapping) or not isinstance(data.get("profile"), str):
            return None
        names = ("partition", "cpus", "memory_mb", "walltime", "gpus", "environment", *SCHEDULING)
        known = {k: data[k] for k in names if k in data}
        directives = data.get("extra_directives") or ()
        return cls(profile=data["profile"], extra_directives=tuple(str(d) for d in directives), **known)

    def summary(self) -> str:
        """``"small: partition debug, 2 CPUs, 4G, 01:00:00"`` for messages."""
        parts = []
        if self.partition:
            parts.append(f"partition {self.partition}")
        if self.cpus:
            parts.append(f"{self.cpus} CPU{'s' if self.cpus != 1 else ''}")
        if self.memory_mb:
            parts.append(format_memory(self.memory_mb))
        if self.gpus:
            parts.append(f"{self.gpus} GPU{'s' if self.gpus != 1 else ''}")
        if self.walltime:
            parts.append(self.walltime)
        if self.environment:
            parts.append(f"environment {self.environment}")
        for setting in SCHEDULING:
            value = getattr(self, setting)
            if value:
                parts.append(f"{setting.replace('_', ' ')} {value}")
        return f"{self.profile}: {', '.join(parts)}" if parts else self.profile


def _parse_request(resource: str, value: object) -> int | str:
    if resource == "partition":
        return str(value)
    try:
        if resource == "memory":
            return memory_mb_from_text(resource, value)
        if resource == "walltime":
            return walltime_seconds(resource, value)
    except ConfigError as e:  # the units' error, as the user's: a 400 naming the option
        raise OptionError(e.field, e.message) from None
    return _integer(resource, value)


def _describe(resource: str, value: int | str) -> str:
    if resource == "memory" and isinstance(value, int):
        return format_memory(value)
    if resource == "walltime" and isinstance(value, int):
        return format_walltime(value)
    return str(value)


def resolve_choice(
    profiles: Sequence[Profile],
    groups: Iterable[str],
    options: Mapping[str, Any] | None,
    cluster: Mapping[str, PartitionInfo] | None = None,
    lists: ClusterLists | None = None,
) -> Choice:
    """Check a user's request and return what the job asks for.

    ``options`` is ``{"profile": NAME, RESOURCE: VALUE, ...}``, and may name an
    ``environment`` among the profile's and a scheduling setting the profile lets the user
    choose (see :mod:`.profile_scheduling`; ``lists`` is what the cluster read for the
    user); an empty request gets the default profile. Raises :class:`OptionError` naming
    the option at fault for an unknown profile, a profile the user's groups may not use,
    an unknown option, a resource the profile does not let the user change, or a value
    out of bounds or not offered.
    """
    options = dict(options or {})
    groups = list(groups)
    offered = available_profiles(profiles, groups)
    if not offered:
        raise OptionError("profile", "no profile is available to you; ask the site's administrators")
    unknown = sorted(set(options) - {"profile", *OPTIONS})
    if unknown:
        raise OptionError(unknown[0], "is not an option of this hub")
    name = options.pop("profile", None) or offered[0].name
    by_name = {p.name: p for p in offered}
    if not isinstance(name, str) or name not in by_name:
        choices = ", ".join(by_name)
        raise OptionError("profile", f"{str(name)[:40]!r} is not a profile you can choose ({choices})")
    profile = by_name[name]
    values: dict[str, int | str] = dict(profile.values)
    if "partition" in options and "partition" in profile.fields:
        chosen_partition = str(options["partition"])
    else:
        chosen_partition = str(values.get("partition", ""))
    for resource in RESOURCES:
        if resource not in options:
            continue
        if resource not in profile.fields:
            raise OptionError(resource, f"cannot be changed in profile {profile.display_name!r}")
        bounds = effective_bounds(profile, resource, chosen_partition, cluster)
        value = _parse_request(resource, options[resource])
        if bounds.choices and value not in bounds.choices:
            raise OptionError(
                resource, f"{str(value)[:40]!r} is not one of {', '.join(bounds.choices) or '(none)'}"
            )
        if isinstance(value, int):
            if bounds.minimum is not None and value < bounds.minimum:
                low = _describe(resource, bounds.minimum)
                raise OptionError(resource, f"{_describe(resource, value)} is below the minimum of {low}")
            if bounds.maximum is not None and value > bounds.maximum:
                high = _describe(resource, bounds.maximum)
                raise OptionError(resource, f"{_describe(resource, value)} is above the maximum of {high}")
        values[resource] = value
    walltime = values.get("walltime")
    environment = environment_model.resolve_environment(profile.environments, options.get("environment"))
    scheduling = scheduling_model.resolve_scheduling(
        profile.display_name,
        profile.scheduling,
        groups,
        options,
        lists,
        cluster,
        partition=str(values.get("partition", "")),
    )
    return Choice(
        profile=profile.name,
        partition=str(values["partition"]) if "partition" in values else None,
        cpus=_int_or_none(values.get("cpus")),
        memory_mb=_int_or_none(values.get("memory")),
        walltime=format_walltime(walltime) if isinstance(walltime, int) else None,
        gpus=_int_or_none(values.get("gpus")),
        environment=environment,
        extra_directives=profile.scheduling.extra_directives,
        **{s: scheduling.get(s) for s in SCHEDULING},
    )


def _int_or_none(value: int | str | None) -> int | None:
    return value if isinstance(value, int) else None


__all__ = [
    "CLUSTER",
    "OPTIONS",
    "RESOURCES",
    "Bounds",
    "Choice",
    "OptionError",
    "Profile",
    "available_profiles",
    "effective_bounds",
    "memory_mb_from_text",
    "parse_profiles",
    "profiles_on",
    "resolve_choice",
]
