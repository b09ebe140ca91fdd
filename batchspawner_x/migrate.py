"""``batchspawner-x migrate OLD_CONFIG``: a predecessor's configuration, written natively.

The old file is loaded by JupyterHub's own application, as the hub loads it (the
command does that, see :mod:`batchspawner_x.cli`); :func:`migrate` reads the resulting
``Config`` object and writes a new ``jupyterhub_config.py``:

- settings of other sections (the hub, the authenticator ...) are written back as they
  are;
- each setting of the predecessor (``req_*``, ``exec_prefix``, ``batch_*_cmd``) becomes
  the settings the compatibility layer would set (:mod:`batchspawner_x.compat`), on the
  same section, with a comment naming the old line; one it cannot express stays as a
  comment with the reason;
- ``batch_script`` stays (it is still rendered), with a comment;
- our own older settings are brought up to date: a bare number of memory in a
  ``profiles`` entry meant GiB and is written with its unit;
- wrapspawner's ``ProfilesSpawner`` becomes native profiles
  (:mod:`batchspawner_x.migrate_wrapper`).

The new file renders the same job script as the old one did through the compatibility
layer (tested on the corpus of site patterns in ``tests/corpus``).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from jupyterhub.spawner import Spawner
from traitlets.config import Config

from . import compat, migrate_wrapper
from .errors import CliError, ConfigError, SettingIgnored
from .migrate_values import NOTE, Output, build, class_name, convert, is_wrapspawner, resolve_class, short
from .migrate_wrapper import SCRIPT_VARIABLES
from .spawner import BatchSpawnerBase
from .ssh_prefix import is_ssh
from .units import format_memory

#: Settings several old names add to, written once per spawner class.
MERGED = ("extra_directives", "scheduler_commands")
#: Old settings that add to them.
_MERGING = {
    "req_options": "extra_directives",
    "req_gres": "extra_directives",
    "req_reservation": "extra_directives",
    "batch_submit_cmd": "scheduler_commands",
    "batch_query_cmd": "scheduler_commands",
    "batch_cancel_cmd": "scheduler_commands",
}
#: JupyterHub's own spawner settings: a wrapspawner parent has them too, and links them.
_SPAWNER_SETTINGS = frozenset(Spawner.class_trait_names(config=True))

#: Sections of wrapspawner's classes.
WRAPPER_SECTIONS = ("WrapSpawner", "ProfilesSpawner")


def spawner_sections(cls: type[BatchSpawnerBase], config: Config) -> list[str]:
    """The sections of ``config`` that configure ``cls``, least specific first."""
    names = [base.__name__ for base in reversed(cls.__mro__)]
    return [name for name in names if name in config]


class SpawnerMigration:
    """The spawner sections of one configuration, for one spawner class of ours."""

    def __init__(
        self, config: Config, cls: type[BatchSpawnerBase], out: Output, *, wrapped: bool = False
    ) -> None:
        #: Under wrapspawner, which copies its own Spawner settings onto the child.
        self.wrapped = wrapped
        self.config = config
        self.cls = cls
        self.out = out
        self.sections = spawner_sections(cls, config)
        self.req_host = self.resolved("req_host") or ""
        self.spawner = build(cls, self._without_refused())
        self.batch_script = bool(self.spawner.batch_script)
        #: merged setting -> (section to write it in, the old lines it comes from)
        self.merged: dict[str, tuple[str, list[str]]] = {}
        self._plan_merges()

    def resolved(self, key: str) -> Any:
        """The value of ``key`` for this class: its most specific section's."""
        for section in reversed(self.sections):
            if key in self.config[section]:
                return self.config[section][key]
        return None

    def _without_refused(self) -> Config:
        """The configuration without the old settings compat refuses (an ``exec_prefix`` it
        cannot translate ...), which become comments, and with our older profiles upgraded:
        the rest still loads."""
        config = copy.deepcopy(self.config)
        for section in self.sections:
            if isinstance(self.config[section].get("profiles"), list):
                config[section]["profiles"] = upgrade_profiles(self.config[section]["profiles"])[0]
            for key, value in self.config[section].items():
                if key in compat._RENAMED and value and isinstance(value, str):
                    try:
                        convert(self.cls, key, value, self.req_host)
                    except ConfigError:
                        del config[section][key]
                    except SettingIgnored:
                        pass
        return config

    def set_natively(self, trait: str) -> bool:
        return any(trait in self.config[s] for s in self.sections)

    def _kept_for_script(self, key: str) -> bool:
        return key in SCRIPT_VARIABLES and self.batch_script

    def _plan_merges(self) -> None:
        for section in self.sections:
            for key, value in self.config[section].items():
                trait = _MERGING.get(key)
                if trait is None or self._kept_for_script(key) or not value:
                    continue
                if key in compat._SLURM_ONLY and self.cls.scheduler_class.name != "slurm":
                    continue
                try:
                    convert(self.cls, key, value, self.req_host)
                except (SettingIgnored, ConfigError):
                    continue
                _, sources = self.merged.get(trait, (section, []))
                self.merged[trait] = (section, [*sources, f"c.{section}.{key}"])
        for trait, (section, sources) in list(self.merged.items()):
            native = [s for s in self.sections if trait in self.config[s]]
            target = max([section, *native], key=self.sections.index)
            self.merged[trait] = (target, sources + [f"c.{s}.{trait}" for s in native])

    # -- one section ---------------------------------------------------------------------
    def write_section(self, section: str) -> None:
        for key, value in self.config[section].items():
            self.write_setting(section, key, value)
        for trait, (target, sources) in self.merged.items():
            if target == section:
                value = getattr(self.spawner, trait)
                self.out.setting(section, trait, value, "from " + ", ".join(sources))

    def write_setting(self, section: str, key: str, value: Any) -> None:
        out = self.out
        if key in MERGED and key in self.merged:
            return  # written once, with what the old names added
        if self._kept_for_script(key):
            variable = SCRIPT_VARIABLES[key]
            out.setting(section, key, value, f"kept: batch_script uses it as {{{{{variable}}}}}")
            return
        if key == "req_host" and is_ssh(self.resolved("exec_prefix") or ""):
            out.kept(section, key, value, "it was the {host} of exec_prefix, now in ssh_host")
            return
        if key in compat._IGNORED:
            out.kept(section, key, value, compat._IGNORED[key].replace("{{", "{").replace("}}", "}"))
            return
        if key in compat._RENAMED:
            self.write_renamed(section, key, value)
            return
        if key == "batch_script":
            template = "batchspawner_x/" + self.spawner.template
            out.setting(
                section,
                key,
                value,
                f"still rendered with the old variable names; move it to a template that extends "
                f"{template} (docs: migration)",
            )
            out.note(f"c.{section}.batch_script is kept: a template file of your own is the way forward")
            return
        if key == "profiles" and isinstance(value, list):
            write_profiles(out, section, value)
            return
        if key not in self.cls.class_trait_names(config=True) and section == self.cls.__name__:
            out.kept(section, key, value, f"not a setting of {self.cls.__name__}")
            return
        if self.wrapped and section != "Spawner" and key in _SPAWNER_SETTINGS:
            out.setting(
                section,
                key,
                value,
                "under wrapspawner this had no effect (the wrapper copied its own value onto the child); "
                "it applies now",
            )
            return
        out.setting(section, key, value)

    def write_renamed(self, section: str, key: str, value: Any) -> None:
        out = self.out
        if key in compat._SLURM_ONLY and self.cls.scheduler_class.name != "slurm":
            out.kept(section, key, value, "a Slurm option; write it in extra_directives")
            return
        if not value:
            out.kept(section, key, value, "empty: it set nothing")
            return
        try:
            updates = convert(self.cls, key, value, self.req_host)
        except SettingIgnored as e:
            out.kept(section, key, value, str(e))
            return
        except ConfigError as e:
            out.kept(section, key, value, str(e))
            return
        note = str(updates.pop(NOTE, "")).strip("; ")
        if key in _MERGING:
            if note:
                out.note(f"c.{section}.{key}: {note}")
            return  # written with the merged setting
        plain = [t for t in updates if t not in MERGED]
        taken = [t for t in plain if self.set_natively(t)]
        if taken:
            out.kept(section, key, value, f"{taken[0]} is also set, and the new name wins")
            return
        origin = f"was c.{section}.{key} = {short(value, 60)}"
        for trait in plain:
            out.setting(section, trait, _tidy(trait, updates[trait]), origin)
        if is_ssh(value):
            remarks = note.split("; write:")[0]
            out.note(
                "exec_prefix ran ssh: the hub now connects itself and checks the login node's host key "
                "against ssh_known_hosts; `batchspawner-x check` shows it"
                + (f" ({remarks})" if remarks else "")
            )
        elif note:
            out.note(f"c.{section}.{key}: {note}")


def _tidy(trait: str, value: Any) -> Any:
    """A converted value as a person writes it: ``8G`` rather than ``8192M``, ``4`` cores."""
    if trait == "mem_limit" and isinstance(value, str) and value.endswith("M") and value[:-1].isdigit():
        return format_memory(int(value[:-1])) if int(value[:-1]) else value
    if trait == "cpu_limit" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- our own profiles of older releases -------------------------------------------------------
_BARE = re.compile(r"^\s*\d+(\.\d+)?\s*$")


def _gib(value: Any) -> Any:
    """A bare number of memory (GiB in profiles before 0.1) with its unit."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) or (isinstance(value, str) and _BARE.match(value)):
        return f"{str(value).strip()}G"
    return value


def upgrade_profiles(profiles: list[Any]) -> tuple[list[Any], list[str]]:
    """Our ``profiles`` with the memory of earlier releases given its unit, and what changed."""
    changed = []
    result = []
    for item in profiles:
        if not isinstance(item, Mapping):
            result.append(item)
            continue
        item = dict(item)
        name = item.get("name", "?")
        if "memory" in item and _gib(item["memory"]) != item["memory"]:
            changed.append(f"profiles[{name}].memory {item['memory']!r}")
            item["memory"] = _gib(item["memory"])
        fields = item.get("fields")
        if isinstance(fields, Mapping) and isinstance(fields.get("memory"), Mapping):
            bounds = dict(fields["memory"])
            for end in ("min", "max"):
                if end in bounds and _gib(bounds[end]) != bounds[end]:
                    changed.append(f"profiles[{name}].fields.memory.{end} {bounds[end]!r}")
                    bounds[end] = _gib(bounds[end])
            item["fields"] = {**fields, "memory": bounds}
        result.append(item)
    return result, changed


def write_profiles(out: Output, section: str, profiles: list[Any]) -> None:
    """Our ``profiles``, upgraded (see :func:`upgrade_profiles`), with a comment on what changed."""
    result, changed = upgrade_profiles(profiles)
    comment = ""
    if changed:
        comment = "a bare number of memory meant GiB in profiles; now written with its unit: " + ", ".join(
            changed
        )
    out.setting(section, "profiles", result, comment)


# -- the whole file ---------------------------------------------------------------------------
HEADER = """\
# Written by `batchspawner-x migrate` from {source}.
# Each changed line says what it came from; settings that cannot be carried over are kept
# as comments with the reason. The old file's code (imports, functions, classes) is not
# reproduced: see "left for you" at the end.
c = get_config()  # noqa: F821
"""


def migrate(config: Config, source: str) -> str:
    """The native configuration for the old ``config`` (loaded from ``source``), as text."""
    out = Output()
    out.lines.append(HEADER.format(source=source).rstrip("\n"))
    configured = config["JupyterHub"].get("spawner_class") if "JupyterHub" in config else None
    if configured is None:
        raise CliError("c.JupyterHub.spawner_class is not set: this is not a batchspawner configuration")
    wrapper = migrate_wrapper.WrapperPlan.read(config, configured) if is_wrapspawner(configured) else None
    found = wrapper.classes if wrapper else [resolve_class(configured)]
    classes = [c for c in found if c is not None]
    if not classes:
        raise CliError(
            f"c.JupyterHub.spawner_class is {class_name(configured)}, not a batchspawner spawner "
            "(batchspawner.SlurmSpawner, ...) nor wrapspawner's ProfilesSpawner: nothing to migrate"
        )
    main = classes[0]
    own = configured.__name__ if isinstance(configured, type) else ""
    if own and own in config and own not in (main.__name__, *WRAPPER_SECTIONS):
        config = copy.deepcopy(config)  # a site's subclass: its section is the class's it extends
        config[main.__name__].merge(config.pop(own))
        out.note(f"the settings of c.{own} are written under c.{main.__name__}, the class it extended")
    ours = {*[c.__name__ for c in classes], "Spawner", "BatchSpawnerBase", *WRAPPER_SECTIONS}
    if isinstance(configured, type):
        ours.add(configured.__name__)
    out.heading("the hub and everything but the spawner, as loaded")
    for section, values in config.items():
        if section in ours or not isinstance(values, Mapping):
            continue
        for key, value in values.items():
            if section == "JupyterHub" and key == "spawner_class":
                new = f"batchspawner_x.{main.__name__}"
                comment = f"was {class_name(configured)}" if class_name(configured) != new else ""
                out.setting(section, key, new, comment)
                if isinstance(configured, type) and configured.__name__ != main.__name__:
                    out.note(
                        f"{configured.__name__} was a class of the old file: its own code is not carried "
                        f"over; extend batchspawner_x.{main.__name__} if you still need it"
                    )
            else:
                out.setting(section, key, value)
    out.heading("the spawner")
    migrations = [SpawnerMigration(config, cls, out, wrapped=wrapper is not None) for cls in classes]
    written: set[str] = set()
    for migration in migrations:
        for section in migration.sections:
            if section not in written and section not in WRAPPER_SECTIONS:
                written.add(section)
                migration.write_section(section)
    if wrapper is not None:
        wrapper.write(out, migrations)
    return out.text()


__all__ = ["SpawnerMigration", "migrate", "spawner_sections"]
