"""Rendering job scripts from Jinja templates.

Templates are looked up first in the site's ``template_paths``, then among the
packaged templates. The packaged ones are also reachable under the
``batchspawner_x/`` prefix, so a site template of the same name can extend
the original: ``{% extends "batchspawner_x/slurm.sh.j2" %}``. The packaged
scheduler templates in turn extend ``batchspawner_x/base.sh.j2``, the shell lines
every job script shares, by that prefixed name, so that a site directory holding a
``base.sh.j2`` of its own never takes its place.

Every value in the rendering context is checked by :func:`check_context`,
which refuses one that would add a line to the script (newline, carriage
return, NUL or any other control character). Values meant for the shell are quoted with the
``q`` filter (and argv lists joined with ``shjoin``); text an administrator
configured to be several lines long (a prologue) is marked :class:`Trusted`.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from .errors import TemplateError

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def packaged_template_dir() -> Path:
    """Where the packaged templates are: inside the wheel, or in a source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise TemplateError("the packaged job script templates are missing from this installation")


class Trusted(str):
    """Text from the site's configuration that may span several lines."""


def check_context(context: Mapping[str, Any]) -> None:
    """Refuse any value that could add a line to the script.

    Strings anywhere in the context (also inside lists and dicts) must be
    free of line breaks, NUL and other control characters, except
    :class:`Trusted` text from the site's configuration. The template text
    itself, and what its blocks render (``{{ super() }}``), is the site's and
    is not checked.
    """

    def check(name: str, value: Any) -> None:
        if isinstance(value, Trusted):
            return
        if isinstance(value, str):
            if _CONTROL.search(value):
                raise TemplateError(
                    f"refusing to put {name} into the job script: {value[:60]!r} "
                    "contains a line break or control character"
                )
        elif isinstance(value, Mapping):
            for key, item in value.items():
                check(f"{name}[{key!r}]", item)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                check(name, item)

    for key, value in context.items():
        check(key, value)


def _quote(value: Any) -> str:
    return shlex.quote(str(value))


def _shjoin(values: Iterable[Any]) -> str:
    return shlex.join(str(v) for v in values)


@functools.lru_cache(maxsize=32)
def environment(template_paths: tuple[str, ...]) -> jinja2.Environment:
    """A Jinja environment for these site template directories (cached)."""
    packaged = jinja2.FileSystemLoader(str(packaged_template_dir()))
    loader = jinja2.ChoiceLoader(
        [
            jinja2.PrefixLoader({"batchspawner_x": packaged}),
            jinja2.FileSystemLoader(list(template_paths)),
            packaged,
        ]
    )
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["q"] = _quote
    env.filters["shjoin"] = _shjoin
    return env


def render(
    template_name: str,
    context: Mapping[str, Any],
    template_paths: Sequence[str] = (),
    *,
    require_shebang: bool = True,
) -> str:
    """Render ``template_name`` with ``context``; errors name the template and the cause.

    ``require_shebang``: the result must be a script starting with ``#!`` (false for
    schedulers whose submit file is not a script, such as HTCondor).
    """
    check_context(context)
    env = environment(tuple(template_paths))
    try:
        template = env.get_template(template_name)
        script = template.render(**context)
    except jinja2.TemplateNotFound as e:
        searched = ", ".join([*template_paths, str(packaged_template_dir())])
        raise TemplateError(f"job script template {e.name!r} not found (searched {searched})") from None
    except jinja2.UndefinedError as e:
        raise TemplateError(f"template {template_name!r} uses an undefined variable: {e.message}") from None
    except jinja2.TemplateSyntaxError as e:
        raise TemplateError(f"template {e.name or template_name!r} line {e.lineno}: {e.message}") from None
    except TemplateError:
        raise
    except Exception as e:  # a filter or test in a site template failed
        raise TemplateError(f"template {template_name!r} failed to render: {e}") from None
    if require_shebang and not script.startswith("#!"):
        raise TemplateError(f"template {template_name!r} must render a script starting with '#!'")
    return script
