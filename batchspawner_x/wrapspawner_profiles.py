"""wrapspawner's ``ProfilesSpawner``, read as the hub reads it: its profiles and a chosen child.

A predecessor site offers choices with ``c.ProfilesSpawner.profiles``, a list of
``(display name, key, spawner class, config dict)`` tuples. :func:`wrapper_profiles`
reads that list from a built wrapper (so the classes are resolved exactly as
wrapspawner resolves them), and :func:`build_child` builds the child a user's choice
``key`` gives, with wrapspawner's own ``construct_child``: the hub's configuration, the
tuple's dict as keyword arguments, and the wrapper's shared settings linked onto the
child. ``batchspawner-x render --profile KEY`` previews that child's job script.

Every failure is a :class:`~batchspawner_x.errors.CliError` naming what to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import CliError


def _no_db_notice(record: logging.LogRecord) -> bool:
    """Drop JupyterHub's notice that ``Spawner.db`` is deprecated: wrapspawner reads it to
    build every child, and the admin can do nothing about it."""
    return "Spawner.db is deprecated" not in record.getMessage()


@dataclass(frozen=True)
class WrapperProfile:
    """One tuple of ``ProfilesSpawner.profiles``: what the form shows, the key the user's
    choice sends, the child's class and the settings the child gets on top of the hub's."""

    display: str
    key: str
    spawner_class: type
    config: Mapping[str, Any] = field(default_factory=dict)


def is_wrapper(cls: object) -> bool:
    """Whether ``cls`` is wrapspawner's ``ProfilesSpawner`` (or a subclass): a spawner class
    that picks its child from a ``profiles`` list at spawn time."""
    return isinstance(cls, type) and all(
        hasattr(cls, name) for name in ("construct_child", "select_profile", "child_class")
    )


def wrapper_profiles(wrapper: Any) -> list[WrapperProfile]:
    """The profiles of a built ``ProfilesSpawner``, with their classes imported.

    Raises :class:`CliError` when the list cannot be read (a class that does not import,
    a tuple of the wrong shape), naming ``ProfilesSpawner.profiles``.
    """
    name = type(wrapper).__name__
    try:
        raw = list(wrapper.profiles)
    except Exception as e:  # traitlets' TraitError, an ImportError of a child class ...
        raise CliError(f"{name}.profiles cannot be read: {type(e).__name__}: {e}") from None
    profiles = []
    for index, item in enumerate(raw):
        try:
            display, key, spawner_class, config = item
        except (TypeError, ValueError):
            raise CliError(
                f"{name}.profiles[{index}] is not a (display name, key, spawner class, config) tuple"
            ) from None
        profiles.append(WrapperProfile(str(display), str(key), spawner_class, dict(config)))
    return profiles


def build_wrapper(cls: type, kwargs: Mapping[str, Any]) -> Any:
    """The wrapper spawner, built as the hub builds a spawner (``kwargs``: user, hub, config...)."""
    try:
        return cls(**kwargs)
    except Exception as e:
        raise CliError(f"cannot build {cls.__name__}: {type(e).__name__}: {e}") from None


def build_child(wrapper: Any, key: str | None) -> Any:
    """The child ``wrapper`` builds when a user chooses ``key`` on its form.

    ``key`` None or unknown is refused with the keys there are, so that
    ``render --profile KEY`` says what to write.
    """
    name = type(wrapper).__name__
    profiles = wrapper_profiles(wrapper)
    keys = ", ".join(p.key for p in profiles) or "none"
    if not key:
        raise CliError(
            f"c.JupyterHub.spawner_class is wrapspawner's {name}, which picks its child at spawn "
            f"time: choose one with --profile KEY (the keys of {name}.profiles: {keys})"
        )
    if key not in [p.key for p in profiles]:
        raise CliError(f"--profile {key!r} is not a key of {name}.profiles (they are: {keys})")
    wrapper.user_options = {"profile": key}
    quiet = logging.getLogger("batchspawner_x.wrapspawner")
    quiet.addFilter(_no_db_notice)
    wrapper.log = quiet
    try:
        wrapper.construct_child()
    except Exception as e:
        chosen = next(p for p in profiles if p.key == key)
        raise CliError(
            f"cannot build the child of {name} profile {key!r} ({chosen.spawner_class.__name__}): "
            f"{type(e).__name__}: {e}"
        ) from None
    return wrapper.child_spawner


__all__ = ["WrapperProfile", "build_child", "build_wrapper", "is_wrapper", "wrapper_profiles"]
