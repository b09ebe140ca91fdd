"""Resource profiles: what a site offers, what a user may change, and the spawn form.

A site describes its offers as plain dicts (:attr:`BatchSpawnerBase.profiles`);
:func:`parse_profiles` turns them into frozen :class:`Profile` objects, refusing
anything it does not understand with a :class:`~batchspawner_x.errors.ConfigError`
that names the profile and the key, so a typo stops the hub at startup.

A request (the form's fields, or ``user_options`` sent to the REST API) is turned
into a :class:`Choice` by :func:`resolve_choice`. Every value is parsed against the
bounds of its profile; nothing a user typed reaches the job script unparsed.
:func:`render_form` draws the spawn form (Jinja with autoescape) and
:func:`options_from_form` reads it back. Nothing here does I/O: the live
partition list comes in as :class:`~batchspawner_x.schedulers.base.PartitionInfo`
values read by the spawner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2

from .errors import ConfigError, OptionError
from .schedulers.base import PartitionInfo
from .units import format_memory, format_walltime, memory_mib, walltime_seconds
from .validation import check_name

#: The resources a profile sets and a field may let the user change.
RESOURCES = ("partition", "cpus", "memory", "walltime", "gpus")
#: ``fields[name] = {"choices": CLUSTER}`` offers the partitions the scheduler lists.
CLUSTER = "cluster"

_PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,29}$")
_INTEGER = re.compile(r"^\s*(\d{1,6})\s*$")
_NUMBER = re.compile(r"^\s*\d{1,5}(?:\.\d{1,4})?\s*$")
_PROFILE_KEYS = {"name", "display_name", "description", "default", "groups", "fields", *RESOURCES}
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
            if resource not in RESOURCES:
                raise ConfigError(where + ".fields", f"{resource!r} is not one of {', '.join(RESOURCES)}")
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
        profiles.append(
            Profile(
                name=name,
                display_name=display_name,
                description=description,
                default=bool(item.get("default", False)),
                groups=frozenset(groups),
                values=values,
                fields=fields,
            )
        )
    if sum(p.default for p in profiles) > 1:
        raise ConfigError("profiles", "only one profile may be the default")
    return tuple(profiles)


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

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dict for the spawner's state."""
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_state(cls, data: Mapping[str, Any]) -> Choice | None:
        """The choice saved by :meth:`to_state`, or None if ``data`` holds none."""
        if not isinstance(data, Mapping) or not isinstance(data.get("profile"), str):
            return None
        known = {k: data[k] for k in ("partition", "cpus", "memory_mb", "walltime", "gpus") if k in data}
        return cls(profile=data["profile"], **known)

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
) -> Choice:
    """Check a user's request and return what the job asks for.

    ``options`` is ``{"profile": NAME, RESOURCE: VALUE, ...}``; an empty request
    gets the default profile. Raises :class:`OptionError` naming the option at fault
    for an unknown profile, a profile the user's groups may not use, an unknown
    option, a resource the profile does not let the user change, or a value out of
    bounds.
    """
    options = dict(options or {})
    offered = available_profiles(profiles, groups)
    if not offered:
        raise OptionError("profile", "no profile is available to you; ask the site's administrators")
    unknown = sorted(set(options) - {"profile", *RESOURCES})
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
    return Choice(
        profile=profile.name,
        partition=str(values["partition"]) if "partition" in values else None,
        cpus=_int_or_none(values.get("cpus")),
        memory_mb=_int_or_none(values.get("memory")),
        walltime=format_walltime(walltime) if isinstance(walltime, int) else None,
        gpus=_int_or_none(values.get("gpus")),
    )


def _int_or_none(value: int | str | None) -> int | None:
    return value if isinstance(value, int) else None


# -- the spawn form ----------------------------------------------------------------------
_FORM = """\
<div class="bsx-profiles">
{% for p in profiles %}
  <div class="bsx-profile form-check mb-3">
    <input class="form-check-input" type="radio" name="profile" id="bsx-profile-{{ p.name }}"
           value="{{ p.name }}"{% if p.name == selected %} checked{% endif %}>
    <label class="form-check-label" for="bsx-profile-{{ p.name }}"><strong>{{ p.display_name }}</strong>
    {% if p.description %}<br><span class="text-muted">{{ p.description }}</span>{% endif %}</label>
    {% if p.inputs %}
    <fieldset class="bsx-fields row g-2 mt-1" data-profile="{{ p.name }}">
    {% for f in p.inputs %}
      <div class="col-auto">
        <label class="form-label" for="{{ f.id }}">{{ f.label }}</label>
        {% if f.choices %}
        <select class="form-select" id="{{ f.id }}" name="{{ f.input_name }}">
          {% for c in f.choices %}
          <option value="{{ c }}"{% if c == f.value %} selected{% endif %}>{{ c }}</option>
          {% endfor %}
        </select>
        {% else %}
        <input class="form-control" type="{{ f.type }}" id="{{ f.id }}" name="{{ f.input_name }}"
               value="{{ f.value }}"{% if f.min is not none %} min="{{ f.min }}"{% endif %}
               {%- if f.max is not none %} max="{{ f.max }}"{% endif %}
               {%- if f.step %} step="{{ f.step }}"{% endif %}>
        {% endif %}
        {% if f.hint %}<div class="form-text">{{ f.hint }}</div>{% endif %}
      </div>
    {% endfor %}
    </fieldset>
    {% endif %}
  </div>
{% endfor %}
</div>
<script>
(function () {
  function sync() {
    document.querySelectorAll(".bsx-fields").forEach(function (fs) {
      var radio = document.getElementById("bsx-profile-" + fs.dataset.profile);
      fs.disabled = !(radio && radio.checked);
    });
  }
  document.querySelectorAll("input[name=profile]").forEach(function (r) {
    r.addEventListener("change", sync);
  });
  sync();
})();
</script>
"""

_LABELS = {
    "partition": "Partition",
    "cpus": "CPUs",
    "memory": "Memory (GiB)",
    "walltime": "Hours",
    "gpus": "GPUs",
}

_environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def _hours(seconds: int) -> str:
    return f"{seconds / 3600:g}"


def _input(profile: Profile, resource: str, bounds: Bounds, value: int | str | None) -> dict[str, Any]:
    """One form input: numbers in the units a person types (GiB, hours)."""
    spec: dict[str, Any] = {
        "id": f"bsx-{profile.name}-{resource}",
        "input_name": f"{profile.name}.{resource}",
        "label": _LABELS[resource],
        "choices": bounds.choices,
        "type": "number",
        "min": None,
        "max": None,
        "step": None,
        "hint": "",
        "value": "",
    }
    if resource == "partition":
        spec["value"] = value if value is not None else (bounds.choices[0] if bounds.choices else "")
        return spec
    low = bounds.minimum if bounds.minimum is not None else (1 if resource == "cpus" else 0)
    high = bounds.maximum
    current = value if isinstance(value, int) else low
    if resource == "memory":
        spec.update(value=f"{current / 1024:g}", min=f"{max(low, 1) / 1024:g}", step="any")
        spec["max"] = f"{high / 1024:g}" if high is not None else None
        spec["hint"] = f"up to {format_memory(high)}" if high is not None else ""
    elif resource == "walltime":
        spec.update(value=_hours(current), min="0.25", step="0.25")
        spec["max"] = _hours(high) if high is not None else None
        spec["hint"] = f"up to {_hours(high)} h" if high is not None else ""
    else:
        spec.update(value=str(current), min=str(low), step="1")
        spec["max"] = str(high) if high is not None else None
        spec["hint"] = f"up to {high}" if high is not None else ""
    return spec


def render_form(
    profiles: Sequence[Profile],
    groups: Iterable[str],
    previous: Mapping[str, Any] | None = None,
    cluster: Mapping[str, PartitionInfo] | None = None,
) -> str:
    """The spawn form's HTML for a member of ``groups``: one radio button per profile,
    and under each the fields the user may change. Every value is escaped.

    ``previous``: the user's last ``user_options``; if they are still valid, that profile
    is selected and its fields show the values chosen then.
    """
    offered = available_profiles(profiles, groups)
    last: dict[str, int | str | None] = {}
    selected = offered[0].name if offered else None
    if previous and previous.get("profile"):
        try:
            choice = resolve_choice(profiles, groups, previous, cluster)
        except ConfigError:
            choice = None
        if choice is not None:
            selected = choice.profile
            last = {
                "partition": choice.partition,
                "cpus": choice.cpus,
                "memory": choice.memory_mb,
                "walltime": walltime_seconds("walltime", choice.walltime) if choice.walltime else None,
                "gpus": choice.gpus,
            }
    items = []
    for p in offered:
        partition = p.values.get("partition")
        values: Mapping[str, int | str | None] = last if p.name == selected and last else p.values
        inputs = [
            _input(p, r, effective_bounds(p, r, str(partition or ""), cluster), values.get(r))
            for r in RESOURCES
            if r in p.fields
        ]
        items.append(
            {"name": p.name, "display_name": p.display_name, "description": p.description, "inputs": inputs}
        )
    return _environment.from_string(_FORM).render(profiles=items, selected=selected)


def options_from_form(formdata: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The chosen profile and its own fields from the submitted form, as plain
    ``user_options`` (memory in GiB becomes ``"NG"``, hours stay a number with a dot)."""
    profile = (formdata.get("profile") or [""])[0]
    options: dict[str, str] = {"profile": profile} if profile else {}
    prefix = f"{profile}."
    for key, values in formdata.items():
        if not key.startswith(prefix) or not values:
            continue
        resource = key[len(prefix) :]
        if resource not in RESOURCES:
            continue
        value = values[0].strip()
        if resource == "memory" and _NUMBER.fullmatch(value):
            value += "G"
        elif resource == "walltime" and _NUMBER.fullmatch(value) and "." not in value:
            value += ".0"
        options[resource] = value
    return options


__all__ = [
    "CLUSTER",
    "RESOURCES",
    "Bounds",
    "Choice",
    "OptionError",
    "Profile",
    "available_profiles",
    "effective_bounds",
    "memory_mb_from_text",
    "options_from_form",
    "parse_profiles",
    "render_form",
    "resolve_choice",
]
