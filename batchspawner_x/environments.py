"""Named environments: where the single-user server runs on the node.

A site describes its environments as plain dicts
(:attr:`~batchspawner_x.spawner_traits.SpawnerTraits.environments`), by name::

    {"py311": {"display_name": "Python 3.11 (modules)",
               "setup": "module load python/3.11 jupyterlab/4.2"},
     "torch": {"display_name": "PyTorch (Apptainer)",
               "wrap": ["apptainer", "exec", "--bind", "{job_dir}", "/opt/images/torch.sif"]}}

:func:`parse_environments` turns them into frozen :class:`Environment` objects, refusing
anything it does not understand with a :class:`~batchspawner_x.errors.ConfigError` that
names the environment and the key. Users choose an environment by its name only
(:func:`resolve_environment`); the text of an environment is the site's and reaches the
job script as written, after :func:`check_setup` has refused what would break the script
(a line that ends the node side's here-documents, NUL or other control characters).

An environment changes the job script in three places (see
:func:`~batchspawner_x.jobspec.make_job_spec`):

- ``setup``: shell lines run before the server starts (``module load ...``, ``source
  .../conda.sh; conda activate ...``), with ``set -u`` lifted around them because module
  and conda scripts read unset variables;
- ``cmd``: the server command, in place of ``Spawner.cmd`` (its arguments stay);
- ``wrap``: an argv put in front of the node command, so the server (and the node side,
  which must run with the server's Python) runs inside it: ``apptainer exec IMAGE``,
  ``podman-hpc run ... IMAGE``, ``srun --pty``. ``{job_dir}``, ``{home}`` and ``{workdir}``
  in it become those paths of the job.

Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, OptionError
from .node_side import HEREDOC_END
from .validation import check_line

#: An environment's name, as a profile and ``user_options["environment"]`` give it.
ENVIRONMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
#: The placeholders a ``wrap`` argument may hold, replaced by the job's paths.
WRAP_PLACEHOLDERS = ("{job_dir}", "{home}", "{workdir}")

_KEYS = {"display_name", "description", "setup", "cmd", "wrap"}
#: Control characters a setup snippet may not hold: all but tab and newline.
_SETUP_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BRACES = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True)
class Environment:
    """One environment of the site, such as "Python 3.11 (modules)"."""

    name: str
    display_name: str
    description: str = ""
    #: Shell lines run in the job script before the server starts; may span lines.
    setup: str = ""
    #: The server command in place of ``Spawner.cmd``; empty keeps it.
    cmd: tuple[str, ...] = ()
    #: An argv put in front of the node command (placeholders not yet replaced).
    wrap: tuple[str, ...] = ()

    def wrap_for(self, *, job_dir: str, home: str, workdir: str) -> tuple[str, ...]:
        """:attr:`wrap` with its placeholders replaced by these (checked) paths."""
        values = {"{job_dir}": job_dir, "{home}": home, "{workdir}": workdir}
        result = []
        for word in self.wrap:
            for placeholder, value in values.items():
                word = word.replace(placeholder, value)
            result.append(word)
        return tuple(result)


def check_setup(where: str, text: str) -> str:
    """A site's setup snippet, if it cannot break the job script around it.

    Refused: NUL and control characters other than tab and newline (a carriage return
    would hide a line from a reader of the script), and a line that is the node side's
    here-document end marker (it would cut the node side short).

    >>> check_setup("setup", "module load python/3.11")
    'module load python/3.11'
    """
    if _SETUP_CONTROL.search(text):
        raise ConfigError(where, "holds NUL, a carriage return or another control character")
    if any(line.strip() == HEREDOC_END for line in text.splitlines()):
        raise ConfigError(where, f"holds a line {HEREDOC_END!r}, which ends the job script's here-documents")
    return text


def _argv(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(where, f"must be a list of strings (an argv), not {value!r}")
    words = []
    for word in value:
        if not isinstance(word, str) or not word:
            raise ConfigError(where, f"every word must be a non-empty string, not {word!r}")
        words.append(check_line(where, word))
    return tuple(words)


def parse_environments(raw: Mapping[str, Any]) -> dict[str, Environment]:
    """Check the site's environment dicts and build :class:`Environment` objects, by name.

    Raises :class:`ConfigError` naming ``environments[NAME]`` and the key at fault.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("environments", "must be a dict of name to environment")
    found: dict[str, Environment] = {}
    for name, item in raw.items():
        where = f"environments[{name}]"
        if not isinstance(name, str) or not ENVIRONMENT_NAME.fullmatch(name):
            raise ConfigError(where, f"{name!r} must be 1-40 characters of a-z, 0-9, '.', '_' and '-'")
        if not isinstance(item, Mapping):
            raise ConfigError(where, f"must be a dict, not {type(item).__name__}")
        unknown = set(item) - _KEYS
        if unknown:
            raise ConfigError(where, f"unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
        display_name = item.get("display_name", name)
        description = item.get("description", "")
        setup = item.get("setup", "")
        if isinstance(setup, (list, tuple)) and all(isinstance(line, str) for line in setup):
            setup = "\n".join(setup)
        if not all(isinstance(v, str) for v in (display_name, description, setup)):
            raise ConfigError(where, "display_name, description and setup must be strings")
        cmd = _argv(where + ".cmd", item["cmd"]) if "cmd" in item else ()
        wrap = _argv(where + ".wrap", item["wrap"]) if "wrap" in item else ()
        for word in wrap:
            unknown_placeholders = [p for p in _BRACES.findall(word) if p not in WRAP_PLACEHOLDERS]
            if unknown_placeholders:
                raise ConfigError(
                    where + ".wrap",
                    f"{unknown_placeholders[0]} is not one of {', '.join(WRAP_PLACEHOLDERS)}",
                )
        found[name] = Environment(
            name=name,
            display_name=display_name,
            description=description,
            setup=check_setup(where + ".setup", setup.strip("\n")),
            cmd=cmd,
            wrap=wrap,
        )
    return found


def check_environment_names(
    where: str, names: Iterable[str], environments: Mapping[str, Environment]
) -> None:
    """Refuse a name in ``names`` (a profile's list, a default) that no environment has."""
    for name in names:
        if name not in environments:
            known = ", ".join(environments) or "none are configured"
            raise ConfigError(where, f"{name!r} is not an environment ({known})")


def parse_offer(where: str, value: object) -> tuple[str, ...]:
    """A profile's ``environments``: one name or a list of names, the first the default."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names:
        raise ConfigError(where, "must be an environment's name or a non-empty list of names")
    for name in names:
        if not isinstance(name, str) or not ENVIRONMENT_NAME.fullmatch(name):
            raise ConfigError(where, f"{name!r} is not an environment's name")
    if len(set(names)) != len(names):
        raise ConfigError(where, "names an environment twice")
    return tuple(names)


def resolve_environment(offered: Sequence[str], requested: object) -> str | None:
    """The environment a request chooses among a profile's ``offered`` names (the first
    when it names none); None when the profile offers none.

    Raises :class:`OptionError` for ``environment`` when the request names one the profile
    does not offer (or offers none).
    """
    if requested is None or requested == "":
        return offered[0] if offered else None
    if not isinstance(requested, str) or requested not in offered:
        choices = ", ".join(offered) or "none"
        raise OptionError("environment", f"{str(requested)[:40]!r} is not one of {choices}")
    return requested


__all__ = [
    "ENVIRONMENT_NAME",
    "WRAP_PLACEHOLDERS",
    "Environment",
    "check_environment_names",
    "check_setup",
    "parse_environments",
    "parse_offer",
    "resolve_environment",
]
