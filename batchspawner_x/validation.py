"""Checks and conversions for values that end up in a job script.

Each function takes the name of the setting it checks, so that an error says
which one is wrong. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import math
import re

from .errors import ConfigError

#: Scheduler object names (partitions, accounts, QOS, queues).
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.,+:=@-]*$")
#: Slurm-style walltimes: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S.
_WALLTIME = re.compile(r"^(?:\d+-)?\d+(?::\d{1,2}){0,2}$")
#: A path we are willing to put in a directive line.
_PATH = re.compile(r"^/[A-Za-z0-9_./@%+=,:~-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A number of hours, told from a Slurm walltime in minutes by its dot: ``1.5``, ``8.0``.
_HOURS = re.compile(r"^\d{1,5}\.\d{0,4}$")


def check_name(field: str, value: str) -> str:
    """A scheduler object name: no spaces, quotes or line breaks; may be empty."""
    if value and not _NAME.fullmatch(value):
        raise ConfigError(field, f"{value[:80]!r} is not a valid name (letters, digits and _ . , + : = @ -)")
    return value


def check_walltime(field: str, value: str) -> str:
    if value and not _WALLTIME.fullmatch(value):
        raise ConfigError(field, f"{value[:80]!r} is not a walltime such as 08:00:00 or 1-12:00:00")
    return value


def walltime_seconds(option: str, value: object) -> int:
    """A walltime to seconds: Slurm's forms (``M``, ``M:S``, ``H:M:S``, ``D-H``,
    ``D-H:M``, ``D-H:M:S``), or a bare number of hours with a dot (``"1.5"``).

    >>> walltime_seconds("walltime", "1-02:00:00"), walltime_seconds("walltime", "1.5")
    (93600, 5400)
    """
    text = str(value).strip()
    if len(text) > 24:  # no walltime is longer; and int() refuses thousands of digits
        raise ConfigError(option, f"{text[:40]!r}... is not a walltime such as 08:00:00 or 1-12:00:00")
    if _HOURS.fullmatch(text):
        return round(float(text) * 3600)
    check_walltime(option, text)
    if not text:
        raise ConfigError(option, "a walltime is required")
    days = 0
    if "-" in text:
        day_text, text = text.split("-", 1)
        days = int(day_text)
        parts = [int(p) for p in text.split(":")]  # D-H, D-H:M, D-H:M:S
        h, m, s = [*parts, 0, 0][:3]
    else:
        parts = [int(p) for p in text.split(":")]
        if len(parts) == 1:
            h, m, s = 0, parts[0], 0
        elif len(parts) == 2:
            h, m, s = 0, parts[0], parts[1]
        else:
            h, m, s = parts
    return ((days * 24 + h) * 60 + m) * 60 + s


def format_walltime(seconds: int) -> str:
    """Seconds as ``D-HH:MM:SS`` (``HH:MM:SS`` below a day), a form every scheduler
    module of this package understands.

    >>> format_walltime(5400), format_walltime(93600)
    ('01:30:00', '1-02:00:00')
    """
    days, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    clock = f"{h:02d}:{m:02d}:{s:02d}"
    return f"{days}-{clock}" if days else clock


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


def memory_mb(limit_bytes: int | float | None) -> int | None:
    """Bytes (JupyterHub's mem_limit) to whole MiB, rounded up: 4G gives 4096."""
    if not limit_bytes:
        return None
    return max(1, math.ceil(limit_bytes / 2**20))


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
