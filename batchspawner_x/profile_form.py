"""The spawn form: the profiles a user may choose, grouped by cluster, and reading it back.

:func:`render_form` draws the form (Jinja with autoescape: every value a site or a
user wrote is escaped) from the profiles of :mod:`batchspawner_x.profiles` and the
partitions each cluster lists; :func:`options_from_form` turns the submitted form
into plain ``user_options``, which :func:`~batchspawner_x.profiles.resolve_choice`
then checks like any REST request. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jinja2

from .clusters import ClusterSpec
from .environments import Environment
from .errors import ConfigError
from .profile_scheduling import SCHEDULING, ClusterLists, offered
from .profiles import (
    OPTIONS,
    RESOURCES,
    Bounds,
    Choice,
    Profile,
    available_profiles,
    effective_bounds,
    profiles_on,
    resolve_choice,
)
from .schedulers.base import PartitionInfo
from .units import format_memory, walltime_seconds

#: A number as typed in the form: GiB or hours, with at most four decimals.
_NUMBER = re.compile(r"^\s*\d{1,5}(?:\.\d{1,4})?\s*$")

# -- the spawn form ----------------------------------------------------------------------
_FORM = """\
<div class="bsx-profiles">
{% if clusters %}
  <div class="bsx-cluster-choice mb-3">
    <label class="form-label" for="bsx-cluster"><strong>Cluster</strong></label>
    <select class="form-select" id="bsx-cluster" name="cluster">
    {% for c in clusters %}
      <option value="{{ c.name }}"{% if c.name == selected_cluster %} selected{% endif %}>
        {{- c.display_name }}</option>
    {% endfor %}
    </select>
  </div>
{% endif %}
{% for c in clusters or [{"name": "", "description": "", "profiles": profiles}] %}
<div class="bsx-cluster" data-cluster="{{ c.name }}">
  {% if c.description %}<p class="text-muted">{{ c.description }}</p>{% endif %}
{% for p in c.profiles %}
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
        {% if f.choices or f.select %}
        <select class="form-select" id="{{ f.id }}" name="{{ f.input_name }}">
          {% for c in f.choices %}
          <option value="{{ c }}"{% if c == f.value %} selected{% endif %}>{{ f.labels.get(c, c) }}</option>
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
{% endfor %}
</div>
<script>
(function () {
  var menu = document.getElementById("bsx-cluster");
  function sync() {
    // only the chosen cluster's profiles are shown and sent
    document.querySelectorAll(".bsx-cluster").forEach(function (section) {
      var shown = !menu || section.dataset.cluster === menu.value;
      section.hidden = !shown;
      var radios = section.querySelectorAll("input[name=profile]");
      radios.forEach(function (r) { r.disabled = !shown; });
      if (shown && radios.length && !section.querySelector("input[name=profile]:checked")) {
        radios[0].checked = true;
      }
    });
    document.querySelectorAll(".bsx-fields").forEach(function (fs) {
      var radio = document.getElementById("bsx-profile-" + fs.dataset.profile);
      fs.disabled = !(radio && radio.checked && !radio.disabled);
    });
  }
  if (menu) {
    menu.addEventListener("change", sync);
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
    "environment": "Environment",
    "account": "Account",
    "qos": "QOS",
    "reservation": "Reservation",
    "constraint": "Node features",
    "gpu_type": "GPU type",
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
        "labels": {},
        "select": False,
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


def _select(
    profile: Profile, name: str, choices: Sequence[str], value: object, labels: Mapping[str, str]
) -> dict[str, Any]:
    """A select of names (an environment, an account...): the value shown is the one chosen
    before if still offered, else the profile's, else the first."""
    chosen = value if value in choices else choices[0] if choices else ""
    return {
        "id": f"bsx-{profile.name}-{name}",
        "input_name": f"{profile.name}.{name}",
        "label": _LABELS[name],
        "choices": tuple(choices),
        "labels": dict(labels),
        "value": chosen,
        "hint": "" if choices else "none available to you",
        "select": True,
    }


def _choice_inputs(
    p: Profile,
    values: Mapping[str, Any],
    groups: Sequence[str],
    partitions: Mapping[str, PartitionInfo] | None,
    lists: ClusterLists | None,
    environments: Mapping[str, Environment],
) -> list[dict[str, Any]]:
    """The selects of a profile's environments (when it offers more than one) and of the
    scheduling settings its user may choose (see :mod:`.profile_scheduling`)."""
    inputs = []
    if len(p.environments) > 1:
        labels = {n: environments[n].display_name for n in p.environments if n in environments}
        inputs.append(_select(p, "environment", p.environments, values.get("environment"), labels))
    partition = str(values.get("partition") or p.values.get("partition") or "")
    for setting in SCHEDULING:
        field = p.scheduling.fields.get(setting)
        if field is None:
            continue
        account = str(values.get("account") or p.scheduling.values.get("account") or "")
        names = offered(setting, field, groups, lists, partitions, partition=partition, account=account)
        if field.optional:
            names = ("", *names)
        current = values.get(setting, p.scheduling.values.get(setting, ""))
        inputs.append(_select(p, setting, names, current or "", {"": "(none)"}))
    return inputs


def _last_values(choice: Choice) -> dict[str, int | str | None]:
    return {
        "environment": choice.environment,
        **{s: getattr(choice, s) for s in SCHEDULING},
        "partition": choice.partition,
        "cpus": choice.cpus,
        "memory": choice.memory_mb,
        "walltime": walltime_seconds("walltime", choice.walltime) if choice.walltime else None,
        "gpus": choice.gpus,
    }


def _items(
    profiles: Sequence[Profile],
    selected: str | None,
    last: Mapping[str, int | str | None],
    partitions: Mapping[str, PartitionInfo] | None,
    groups: Sequence[str] = (),
    lists: ClusterLists | None = None,
    environments: Mapping[str, Environment] | None = None,
) -> list[dict[str, Any]]:
    items = []
    for p in profiles:
        partition = p.values.get("partition")
        values: Mapping[str, int | str | None] = last if p.name == selected and last else p.values
        inputs = [
            _input(p, r, effective_bounds(p, r, str(partition or ""), partitions), values.get(r))
            for r in RESOURCES
            if r in p.fields
        ]
        inputs += _choice_inputs(p, values, groups, partitions, lists, environments or {})
        items.append(
            {"name": p.name, "display_name": p.display_name, "description": p.description, "inputs": inputs}
        )
    return items


def render_form(
    profiles: Sequence[Profile],
    groups: Iterable[str],
    previous: Mapping[str, Any] | None = None,
    cluster: Mapping[str, PartitionInfo] | None = None,
    *,
    clusters: Sequence[ClusterSpec] = (),
    partitions: Mapping[str, Mapping[str, PartitionInfo] | None] | None = None,
    lists: ClusterLists | None = None,
    lists_by_cluster: Mapping[str, ClusterLists | None] | None = None,
    environments: Mapping[str, Environment] | None = None,
) -> str:
    """The spawn form's HTML for a member of ``groups``: one radio button per profile,
    and under each the fields the user may change. Every value is escaped.

    ``previous``: the user's last ``user_options``; if they are still valid, that profile
    is selected and its fields show the values chosen then. ``cluster``: the partitions
    the (one) cluster lists.

    With ``clusters`` (those the user may use, the first being the default), the form
    starts with a cluster menu and groups the profiles by cluster; only the chosen
    cluster's profiles are shown and sent. ``partitions`` then gives each cluster's
    partitions, by name, and ``lists_by_cluster`` what each read for the user (``lists``
    with one cluster: see :mod:`.profile_scheduling`). ``environments`` gives the display
    names of the environments a profile offers.
    """
    groups = list(groups)
    if not clusters:
        return _render_one(profiles, groups, previous, cluster, lists, environments)
    lists_by_cluster = lists_by_cluster or {}
    default = clusters[0].name
    partitions = partitions or {}
    chosen = previous.get("cluster") if previous else None
    if not chosen and previous and previous.get("profile"):
        named = [p for p in profiles if p.name == previous.get("profile")]
        chosen = (named[0].cluster or default) if named else None
    selected_cluster = chosen if any(c.name == chosen for c in clusters) else default
    sections = []
    selected: str | None = None
    for c in clusters:
        own = profiles_on(profiles, c.name, default)
        offered = available_profiles(own, groups)
        last: dict[str, int | str | None] = {}
        pick = offered[0].name if offered else None
        if c.name == selected_cluster and previous and previous.get("profile"):
            request = {k: v for k, v in previous.items() if k != "cluster"}
            try:
                choice = resolve_choice(
                    own, groups, request, partitions.get(c.name), lists_by_cluster.get(c.name)
                )
            except ConfigError:
                choice = None
            if choice is not None:
                pick, last = choice.profile, _last_values(choice)
        if c.name == selected_cluster:
            selected = pick
        sections.append(
            {
                "name": c.name,
                "display_name": c.display_name,
                "description": c.description,
                "profiles": _items(
                    offered,
                    pick,
                    last,
                    partitions.get(c.name),
                    groups,
                    lists_by_cluster.get(c.name),
                    environments,
                ),
            }
        )
    return _environment.from_string(_FORM).render(
        clusters=sections, profiles=[], selected=selected, selected_cluster=selected_cluster
    )


def _render_one(
    profiles: Sequence[Profile],
    groups: Sequence[str],
    previous: Mapping[str, Any] | None,
    cluster: Mapping[str, PartitionInfo] | None,
    lists: ClusterLists | None = None,
    environments: Mapping[str, Environment] | None = None,
) -> str:
    """The form of a hub with one cluster: its profiles, without a cluster menu."""
    offered = available_profiles(profiles, groups)
    last: dict[str, int | str | None] = {}
    selected = offered[0].name if offered else None
    if previous and previous.get("profile"):
        try:
            choice = resolve_choice(profiles, groups, previous, cluster, lists)
        except ConfigError:
            choice = None
        if choice is not None:
            selected, last = choice.profile, _last_values(choice)
    items = _items(offered, selected, last, cluster, groups, lists, environments)
    return _environment.from_string(_FORM).render(
        clusters=[], profiles=items, selected=selected, selected_cluster=""
    )


def options_from_form(formdata: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The chosen cluster and profile and the profile's own fields from the submitted form, as plain
    ``user_options`` (memory in GiB becomes ``"NG"``, hours stay a number with a dot)."""
    profile = (formdata.get("profile") or [""])[0]
    options: dict[str, str] = {"profile": profile} if profile else {}
    cluster = (formdata.get("cluster") or [""])[0]
    if cluster:
        options["cluster"] = cluster
    prefix = f"{profile}."
    for key, values in formdata.items():
        if not key.startswith(prefix) or not values:
            continue
        resource = key[len(prefix) :]
        if resource not in OPTIONS:
            continue
        value = values[0].strip()
        if resource == "memory" and _NUMBER.fullmatch(value):
            value += "G"
        elif resource == "walltime" and _NUMBER.fullmatch(value) and "." not in value:
            value += ".0"
        options[resource] = value
    return options


__all__ = ["options_from_form", "render_form"]
