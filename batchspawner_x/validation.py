"""Checks and conversions for values that end up in a job script.

Each function takes the name of the setting it checks, so that an error says
which one is wrong. Nothing here does I/O. Walltimes and amounts of memory are
checked by :mod:`batchspawner_x.units`.
"""

from __future__ import annotations

import hashlib
import math
import re

from .errors import ConfigError

#: Scheduler object names (partitions, accounts, QOS, queues).
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.,+:=@-]*$")
#: A path we are willing to put in a directive line.
_PATH = re.compile(r"^/[A-Za-z0-9_./@%+=,:~-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_name(field: str, value: str) -> str:
    """A scheduler object name: no spaces, quotes or line breaks; may be empty."""
    if value and not _NAME.fullmatch(value):
        raise ConfigError(field, f"{value[:80]!r} is not a valid name (letters, digits and _ . , + : = @ -)")
    return value


def check_path(field: str, value: str) -> str:
    if not _PATH.fullmatch(value) or "/../" in value + "/":
        raise ConfigError(
            field, f"{value[:120]!r} is not an absolute path without spaces or special characters"
        )
    return value


def check_line(field: str, value: str) -> str:
    """Free text that must stay on one line (an extra directive)."""
    if _CONTROL.search(value):
        raise ConfigError(field, f"{value[:80]!r} contains a line break or control character")
    return value


def check_username(field: str, value: str, pattern: str) -> str:
    if not re.fullmatch(pattern, value):
        raise ConfigError(field, f"{value[:80]!r} does not match the allowed cluster user names ({pattern})")
    return value


def cpu_count(limit: float | None) -> int | None:
    """JupyterHub's fractional cpu_limit to whole cores, rounded up."""
    if not limit:
        return None
    return max(1, math.ceil(limit))


_SLUG_KEEP = re.compile(r"[^A-Za-z0-9_.-]+")


def slug(text: str, max_length: int = 40) -> str:
    """A file- and job-name-safe form of ``text``; altered names get a hash suffix."""
    cleaned = _SLUG_KEEP.sub("-", text).strip(".-")[:max_length] or "x"
    if cleaned != text:
        cleaned = f"{cleaned}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return cleaned
