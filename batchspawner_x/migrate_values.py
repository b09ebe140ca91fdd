"""Pieces of ``batchspawner-x migrate``: class names, Python literals, and the output lines.

A loaded configuration holds values, not source text: :func:`literal` writes a value back
as Python that evaluates to the same value (or says it cannot), :func:`resolve_class` maps
a spawner class of the predecessor (``batchspawner.SlurmSpawner``), of wrapspawner's
profiles or of ours to our class, and :class:`Output` collects the lines of the new file,
each with the comment that says where it came from.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import logging
import pprint
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from traitlets.config import Config
from traitlets.config.loader import LazyConfigValue

from . import compat, spawners
from .errors import CliError
from .spawner import BatchSpawnerBase

if TYPE_CHECKING:
    from .schedulers import Scheduler

#: Our spawner classes by name; the predecessor's classes have the same names.
SPAWNER_CLASSES: dict[str, type[BatchSpawnerBase]] = {
    cls.__name__: cls
    for cls in vars(spawners).values()
    if isinstance(cls, type) and issubclass(cls, BatchSpawnerBase) and not cls.__name__.startswith("_")
}
#: The predecessor's classes that have another name here.
PREDECESSOR_ALIASES = {"MultiSlurmSpawner": "SlurmSpawner"}
#: Modules whose spawner classes are ours under the same names.
OUR_MODULES = ("batchspawner", "batchspawner.batchspawner", "batchspawner_x", "batchspawner_x.spawners")


@contextlib.contextmanager
def predecessor_modules() -> Iterator[bool]:
    """While loading an old configuration: ``import batchspawner`` gives this package,
    when the predecessor is not installed (its class names are ours). Yields whether the
    alias was made."""
    if importlib.util.find_spec("batchspawner") is not None:
        yield False
        return
    import batchspawner_x

    sys.modules["batchspawner"] = batchspawner_x
    sys.modules["batchspawner.batchspawner"] = spawners
    try:
        yield True
    finally:
        sys.modules.pop("batchspawner", None)
        sys.modules.pop("batchspawner.batchspawner", None)


def class_name(value: object) -> str:
    """A class or a dotted name, as ``module.Name``."""
    if isinstance(value, type):
        if value.__module__ in ("builtins", "__main__"):
            return f"{value.__qualname__} (a class of the old file)"
        return f"{value.__module__}.{value.__qualname__}"
    return str(value)


def resolve_class(value: object) -> type[BatchSpawnerBase] | None:
    """Our spawner class for a configured spawner class (a class or a dotted name), or None
    when it is not a batch spawner (wrapspawner, LocalProcessSpawner, DockerSpawner ...).

    A site's own subclass (``class MySpawner(SlurmSpawner)`` in the configuration) gives
    the class of ours it extends.
    """
    if isinstance(value, type):
        for base in value.__mro__:
            if base.__name__ in SPAWNER_CLASSES and base.__module__.split(".")[0] in ("batchspawner_x",):
                return SPAWNER_CLASSES[base.__name__]
            if base.__module__.split(".")[0] == "batchspawner":
                name = PREDECESSOR_ALIASES.get(base.__name__, base.__name__)
                if name in SPAWNER_CLASSES:
                    return SPAWNER_CLASSES[name]
        return None
    module, _, name = str(value).rpartition(".")
    name = PREDECESSOR_ALIASES.get(name, name)
    if module in OUR_MODULES and name in SPAWNER_CLASSES:
        return SPAWNER_CLASSES[name]
    return None


def is_wrapspawner(value: object) -> bool:
    """Whether a configured spawner class is wrapspawner's ``ProfilesSpawner`` (or a subclass)."""
    if isinstance(value, type):
        return any(base.__name__ == "ProfilesSpawner" for base in value.__mro__)
    return str(value).rpartition(".")[2] == "ProfilesSpawner"


def _layout(value: object) -> str:
    """Python source for a plain value; a list or dict of several dicts, one item a line."""

    def item(lead: str, v: object) -> str:
        text = pprint.pformat(v, width=100 - len(lead), sort_dicts=False)
        return lead + text.replace("\n", "\n" + " " * len(lead)) + ",\n"

    if isinstance(value, list) and len(value) > 1 and all(isinstance(v, dict) for v in value):
        return "[\n" + "".join(item("    ", v) for v in value) + "]"
    if isinstance(value, dict) and len(value) > 1 and all(isinstance(v, dict) for v in value.values()):
        return "{\n" + "".join(item(f"    {k!r}: ", v) for k, v in value.items()) + "}"
    return pprint.pformat(value, width=100, sort_dicts=False)


def _triple_quotable(text: str) -> bool:
    return not text.endswith("'") and "'''" not in text and "\\" not in text


def literal(value: object) -> str | None:
    """``value`` as Python source that evaluates to an equal value, or None if it cannot be
    written so (a function, an object, a class defined in the configuration file).

    Classes that can be imported are written as their dotted name, which every class
    setting of JupyterHub accepts. Long values are spread over lines; a text of several
    lines is written between triple quotes when that gives the same text.
    """
    if isinstance(value, type):
        name = class_name(value)
        found: object = sys.modules.get(value.__module__)
        for part in value.__qualname__.split("."):
            found = getattr(found, part, None)
        return repr(name) if found is value and value.__module__ != "builtins" else None
    if isinstance(value, (set, frozenset)) and not value:
        return "set()"
    if isinstance(value, str) and "\n" in value and _triple_quotable(value):
        return "'''" + value + "'''"
    text = _layout(value)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        same = False
    return text if same else None


def short(value: object, limit: int = 70) -> str:
    """A value for a comment: its repr on one line, cut at ``limit`` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def comment_out(text: str) -> str:
    """``text`` (one or more lines) as comment lines."""
    return "\n".join("# " + line if line else "#" for line in text.splitlines())


_QUIET = logging.getLogger("batchspawner_x.migrate.quiet")
_QUIET.propagate = False
_QUIET.addHandler(logging.NullHandler())


def build(cls: type[BatchSpawnerBase], config: Config, **kwargs: Any) -> BatchSpawnerBase:
    """A spawner of ``cls`` with the old configuration, as the compatibility layer reads it."""
    try:
        return cls(config=config, log=_QUIET, **kwargs)
    except Exception as e:  # a value the compatibility layer refuses
        raise CliError(f"the old configuration does not load as {cls.__name__}: {e}") from None


class _Probe:
    """What compat's conversions read of a spawner (see ``compat.PredecessorSpawner``)."""

    def __init__(self, cls: type[BatchSpawnerBase], req_host: str) -> None:
        self.scheduler_class: type[Scheduler] = cls.scheduler_class
        self.scheduler_commands: dict[str, str] = {}
        self.extra_directives: list[str] = []
        self.template = cls.class_traits()["template"].default_value
        self.batch_script = ""
        self.req_host = req_host
        self.req_cluster = self.req_reservation = self.req_gres = self.req_srun = ""
        self._predecessor_directives: list[str] = []


def convert(cls: type[BatchSpawnerBase], name: str, value: str, req_host: str) -> dict[str, Any]:
    """The native settings an old setting stands for, as compat sets them, and under
    :data:`NOTE` compat's remark for its warning (empty when it has none).

    Raises :class:`SettingIgnored` (compat ignores it, the message says why) or
    :class:`ConfigError` (compat refuses the value).
    """
    # compat's table of renames is the one source of what each old name becomes
    named = type(cls.__name__, (_Probe,), {})  # the section compat's advice names
    probe = cast("compat.PredecessorSpawner", named(cls, req_host))
    updates = compat._RENAMED[name].convert(probe, name, value)
    return {k: v for k, v in updates.items() if k != compat._NEW}


#: The key of :func:`convert`'s result that holds compat's remark, not a setting.
NOTE = compat._NOTE


@dataclass
class Output:
    """The lines of the migrated configuration, in sections with a heading each."""

    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def heading(self, text: str) -> None:
        if self.lines:
            self.lines.append("")
        self.lines.append(f"# -- {text}")

    def setting(self, section: str, key: str, value: object, comment: str = "") -> bool:
        """``c.section.key = value``, with ``comment`` after it; False (and a commented line
        with the reason) when the value cannot be written as Python."""
        if isinstance(value, LazyConfigValue):
            return self._lazy(section, key, value, comment)
        text = literal(value)
        if text is None:
            self.kept(
                section,
                key,
                value,
                "not written back: it is code in the old file (a function, a class or an object); "
                "copy its definition from there",
            )
            return False
        line = f"c.{section}.{key} = {text}"
        if comment:
            if "\n" in line:
                self.lines.append(f"# {comment}")
            else:
                line = f"{line}  # {comment}"
        self.lines.append(line)
        return True

    def _lazy(self, section: str, key: str, value: LazyConfigValue, comment: str) -> bool:
        """``c.S.k.append(...)`` and friends: the same calls, from what traitlets recorded."""
        steps = value.to_dict()
        texts = {op: literal(arg) for op, arg in steps.items()}
        if (
            getattr(value, "_inserts", None)
            or set(steps) - {"extend", "prepend", "update"}
            or None in texts.values()
        ):
            self.kept(section, key, steps, "a change to the default that cannot be written back; copy it")
            return False
        for op, text in texts.items():
            self.lines.append(f"c.{section}.{key}.{op}({text})" + (f"  # {comment}" if comment else ""))
        return True

    def kept(self, section: str, key: str, value: object, reason: str) -> None:
        """A setting that cannot be carried over, as a comment with the reason."""
        self.lines.append(f"# c.{section}.{key} = {short(value)}")
        self.lines.append(f"#   not carried over: {reason}")

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def text(self) -> str:
        body = "\n".join(self.lines)
        if self.notes:
            body += "\n\n# -- left for you\n" + "\n".join(comment_out("- " + n) for n in self.notes)
        return body + "\n"


__all__ = [
    "SPAWNER_CLASSES",
    "Output",
    "build",
    "class_name",
    "convert",
    "is_wrapspawner",
    "literal",
    "predecessor_modules",
    "resolve_class",
    "short",
]
