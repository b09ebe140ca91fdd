"""A profile's own scheduling: account, QOS, reservation, node features, GPU type.

A profile (see :mod:`batchspawner_x.profiles`) may set these beside its resources, and
its own ``extra_directives``::

    {"name": "class", "reservation": "intro-class", "account": "teaching",
     "extra_directives": ["--exclusive"]}

and let the user choose among what the site lists, per group, or what the cluster
reads for the user (``"cluster"``)::

    "fields": {"account": {"choices": "cluster"},
               "reservation": {"choices": "cluster", "optional": True},
               "gpu_type": {"choices": ["a100", "h100"]},
               "qos": {"by_group": {"physics": ["physics-high"]}, "choices": ["normal"]}}

Cluster-read lists come in as :class:`ClusterLists` (reservations the user may use,
the user's accounts and their QOS, from the scheduler) and as the partitions'
``features`` and ``gpu_types`` (:class:`~batchspawner_x.schedulers.base.PartitionInfo`).
A user's value must be a plain name (:data:`CHOICE_NAME`) *and* one of those offered:
anything else is an :class:`~batchspawner_x.errors.OptionError` naming the field (a 400).
Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, OptionError
from .schedulers.base import PartitionInfo
from .validation import check_line

#: The scheduling settings a profile may set and a field may let the user choose, in the
#: order they are resolved (a cluster-read QOS depends on the chosen account).
SCHEDULING = ("account", "qos", "reservation", "constraint", "gpu_type")
#: A name a user may choose: no spaces, commas, colons, quotes or shell characters.
CHOICE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+@-]{0,63}$")
#: A site's own node-feature expression (Slurm's ``--constraint``: ``a100|h100``, ``[ib&avx2]``).
CONSTRAINT_EXPRESSION = re.compile(r"^[A-Za-z0-9_.+@&|,()\[\]*-]{1,200}$")
#: ``fields[name] = {"choices": FROM_CLUSTER}`` offers what the cluster reads for the user.
FROM_CLUSTER = "cluster"

_FIELD_KEYS = {"choices", "by_group", "optional"}


@dataclass(frozen=True)
class ChoiceField:
    """What a user may choose for one scheduling setting in a profile."""

    #: The names the site lists for everyone.
    choices: tuple[str, ...] = ()
    #: Whether the cluster's own list is offered (``{"choices": "cluster"}``).
    from_cluster: bool = False
    #: More names for members of a group, by group.
    by_group: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Whether the user may choose none (an empty value: the scheduler's default).
    optional: bool = False


@dataclass(frozen=True)
class Scheduling:
    """A profile's own scheduling settings, and the ones its user may choose."""

    #: The profile's values, by setting (``{"account": "teaching"}``).
    values: Mapping[str, str] = field(default_factory=dict)
    #: The settings the user may choose, and among what.
    fields: Mapping[str, ChoiceField] = field(default_factory=dict)
    #: Directives added to the spawner's ``extra_directives`` for this profile.
    extra_directives: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterLists:
    """What the cluster reads for one user; None where it was not (or could not be) read.

    ``reservations``: those the user may use now or later; ``associations``: the
    user's accounts, each with the QOS names it may use.
    """

    reservations: tuple[str, ...] | None = None
    associations: Mapping[str, tuple[str, ...]] | None = None


def _name(where: str, value: object) -> str:
    if not isinstance(value, str) or not CHOICE_NAME.fullmatch(value):
        raise ConfigError(where, f"{value!r} is not a name of letters, digits and _ . + @ -")
    return value


def _value(where: str, setting: str, value: object) -> str:
    if setting == "constraint":
        if not isinstance(value, str) or not CONSTRAINT_EXPRESSION.fullmatch(value):
            raise ConfigError(
                where, f"{value!r} is not a feature expression (letters, digits, & | , [ ] ( ) *)"
            )
        return value
    return _name(where, value)


def _names(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(where, f"must be a list of names, not {value!r}")
    return tuple(_name(where, v) for v in value)


def _parse_field(where: str, spec: object) -> ChoiceField:
    if not isinstance(spec, Mapping):
        raise ConfigError(where, f"must be a dict such as {{'choices': [...]}}, not {spec!r}")
    unknown = set(spec) - _FIELD_KEYS
    if unknown:
        raise ConfigError(where, f"unknown keys {sorted(unknown)}; allowed: {sorted(_FIELD_KEYS)}")
    raw = spec.get("choices", [])
    from_cluster = raw == FROM_CLUSTER
    choices = () if from_cluster else _names(where + ".choices", raw)
    by_group_raw = spec.get("by_group", {})
    if not isinstance(by_group_raw, Mapping):
        raise ConfigError(where + ".by_group", "must be a dict of group name to a list of names")
    by_group = {str(g): _names(f"{where}.by_group[{g}]", names) for g, names in by_group_raw.items()}
    if not (from_cluster or choices or by_group):
        raise ConfigError(where, f"needs choices (a list, or {FROM_CLUSTER!r}) or by_group")
    optional = spec.get("optional", False)
    if not isinstance(optional, bool):
        raise ConfigError(where + ".optional", "must be true or false")
    return ChoiceField(choices=choices, from_cluster=from_cluster, by_group=by_group, optional=optional)


def parse_scheduling(where: str, item: Mapping[str, Any]) -> Scheduling:
    """A profile dict's scheduling keys and fields; ``where`` names the profile in errors."""
    values = {s: _value(f"{where}.{s}", s, item[s]) for s in SCHEDULING if s in item and item[s] != ""}
    raw_fields = item.get("fields", {})
    fields = {}
    if isinstance(raw_fields, Mapping):
        for setting in SCHEDULING:
            if setting in raw_fields:
                fields[setting] = _parse_field(f"{where}.fields.{setting}", raw_fields[setting])
    directives = item.get("extra_directives", [])
    if isinstance(directives, str) or not isinstance(directives, (list, tuple)):
        raise ConfigError(where + ".extra_directives", "must be a list of directives, one per entry")
    for d in directives:
        if not isinstance(d, str):
            raise ConfigError(where + ".extra_directives", f"{d!r} is not a string")
        check_line(where + ".extra_directives", d)
    return Scheduling(values=values, fields=fields, extra_directives=tuple(directives))


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def offered(
    setting: str,
    choice: ChoiceField,
    groups: Iterable[str],
    lists: ClusterLists | None,
    partitions: Mapping[str, PartitionInfo] | None,
    *,
    partition: str = "",
    account: str = "",
) -> tuple[str, ...]:
    """The names a member of ``groups`` may choose for ``setting``: the site's, those of
    the user's groups, and with ``from_cluster`` what the cluster read (``lists`` for
    reservations, accounts and QOS; the ``partition``'s features and GPU types, or every
    partition's without one). A cluster-read QOS is that of the chosen ``account``."""
    group_set = set(groups)
    names = list(choice.choices)
    for group, extra in choice.by_group.items():
        if group in group_set:
            names.extend(extra)
    if choice.from_cluster:
        names.extend(_from_cluster(setting, lists, partitions, partition, account))
    return _unique(names)


def _from_cluster(
    setting: str,
    lists: ClusterLists | None,
    partitions: Mapping[str, PartitionInfo] | None,
    partition: str,
    account: str,
) -> tuple[str, ...]:
    lists = lists or ClusterLists()
    if setting == "reservation":
        return lists.reservations or ()
    if setting == "account":
        return tuple(lists.associations or ())
    if setting == "qos":
        assoc = lists.associations or {}
        if account:
            return assoc.get(account, ())
        return _unique(q for names in assoc.values() for q in names)
    infos = [i for n, i in (partitions or {}).items() if not partition or n == partition]
    if setting == "constraint":
        return _unique(f for i in infos for f in i.features)
    return _unique(t for i in infos for t in i.gpu_types)  # gpu_type


def resolve_scheduling(
    profile_name: str,
    scheduling: Scheduling,
    groups: Iterable[str],
    options: Mapping[str, Any],
    lists: ClusterLists | None = None,
    partitions: Mapping[str, PartitionInfo] | None = None,
    *,
    partition: str = "",
) -> dict[str, str]:
    """The scheduling settings of a request: the profile's values, with each option the
    request gives checked (a plain name, one of those :func:`offered`).

    Raises :class:`OptionError` naming the option for a setting the profile does not let
    the user choose, a value that is not a plain name, or one not offered.
    """
    groups = list(groups)
    values = dict(scheduling.values)
    for setting in SCHEDULING:
        if setting not in options:
            continue
        choice = scheduling.fields.get(setting)
        if choice is None:
            raise OptionError(setting, f"cannot be chosen in profile {profile_name!r}")
        raw = options[setting]
        if raw is None or raw == "":
            if not choice.optional:
                raise OptionError(setting, "must be chosen")
            values.pop(setting, None)
            continue
        if not isinstance(raw, str) or not CHOICE_NAME.fullmatch(raw):
            raise OptionError(setting, f"{str(raw)[:40]!r} is not a name of letters, digits and _ . + @ -")
        names = offered(
            setting, choice, groups, lists, partitions, partition=partition, account=values.get("account", "")
        )
        if raw not in names:
            raise OptionError(setting, f"{raw!r} is not one you can choose ({', '.join(names) or 'none'})")
        values[setting] = raw
    return values


def check_supported(where: str, scheduling: Scheduling, supported: Sequence[str], scheduler: str) -> None:
    """Refuse a scheduling setting (a value or a field) that ``scheduler`` has no
    equivalent for; ``supported`` names those it has."""
    for setting in (*scheduling.values, *scheduling.fields):
        if setting not in supported:
            raise ConfigError(f"{where}.{setting}", f"{scheduler} has no {setting.replace('_', ' ')}")


__all__ = [
    "CHOICE_NAME",
    "FROM_CLUSTER",
    "SCHEDULING",
    "ChoiceField",
    "ClusterLists",
    "Scheduling",
    "check_supported",
    "offered",
    "parse_scheduling",
    "resolve_scheduling",
]
