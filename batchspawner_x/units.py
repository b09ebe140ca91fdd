"""The walltime and memory models: text is parsed once, into seconds and MiB.

Every setting, profile and user option that carries a time limit or an amount of
memory goes through this module; each scheduler backend then only *formats* the
numbers (``format_pbs_walltime(seconds)``, ``h_rt``, ``-W``, ``request_memory``).

Walltime
    Slurm's forms: ``M`` (a bare number is **minutes**), ``M:S``, ``H:M:S``, ``D-H``,
    ``D-H:M`` and ``D-H:M:S``. Where a person types hours (profiles, ``user_options``,
    the spawn form), a number with a dot is **hours**: ``1.5`` is 90 minutes.

Memory
    A number with a unit, ``K``, ``M``, ``G`` or ``T``, each a power of 1024, with an
    optional ``i`` and ``B`` in any case: ``4G``, ``512M``, ``1.5G``, ``16GiB``,
    ``16Gi``, ``4gb``. A bare number is **MiB**, as Slurm reads ``--mem=4000``. Amounts are
    rounded up to whole MiB; less than 1 MiB is refused.

Every error is a :class:`~batchspawner_x.errors.ConfigError` naming the setting or
option at fault. Nothing here does I/O; the only import from this package is the
error module, itself standard library only.
"""

from __future__ import annotations

import math
import re

from .errors import ConfigError

#: Slurm's walltime forms; the parts after the first have one or two digits.
_WALLTIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?")
#: A number of hours, told from a walltime in minutes by its dot: ``1.5``, ``8.0``.
_HOURS = re.compile(r"\d{1,5}\.\d{0,4}")
#: No walltime is longer; and ``int()`` refuses thousands of digits.
_WALLTIME_MAX_LENGTH = 24
_WALLTIME_EXAMPLE = "such as 08:00:00 or 1-12:00:00"

_MEMORY = re.compile(r"\s*(\d{1,12}(?:\.\d{1,6})?)\s*(?:([KMGT])I?B?)?\s*", re.IGNORECASE)
_MIB_PER_UNIT = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
_BYTES_PER_MIB = 2**20


# -- walltime ---------------------------------------------------------------------------
def _slurm_seconds(text: str) -> int | None:
    """Seconds in one of Slurm's forms, or None if ``text`` is not one."""
    match = _WALLTIME.fullmatch(text)
    if match is None:
        return None
    days, first, second, third = match.groups()
    a, b, c = int(first), int(second or 0), int(third or 0)
    if days is not None:  # D-H, D-H:M, D-H:M:S
        return int(days) * 86400 + a * 3600 + b * 60 + c
    if third is not None:  # H:M:S
        return a * 3600 + b * 60 + c
    return a * 60 + b  # M or M:S


def _refuse_walltime(field: str, text: str) -> ConfigError:
    shown = f"{text[:40]!r}..." if len(text) > _WALLTIME_MAX_LENGTH else repr(text[:80])
    return ConfigError(field, f"{shown} is not a walltime {_WALLTIME_EXAMPLE}")


def check_walltime(field: str, value: str) -> str:
    """A walltime setting in one of Slurm's forms, returned as written; may be empty.

    Stricter than :func:`walltime_seconds`: no hours with a dot and no spaces, since
    the text may be written into a Slurm script as it is.

    >>> check_walltime("walltime", "1-12:00:00")
    '1-12:00:00'
    """
    if value and (len(value) > _WALLTIME_MAX_LENGTH or _slurm_seconds(value) is None):
        raise _refuse_walltime(field, value)
    return value


def walltime_seconds(field: str, value: object) -> int:
    """A walltime as seconds: one of Slurm's forms, or hours with a dot (``"1.5"``).

    >>> walltime_seconds("walltime", "1-02:00:00"), walltime_seconds("walltime", "1.5")
    (93600, 5400)
    >>> walltime_seconds("walltime", "30")  # a bare number is minutes
    1800
    """
    text = str(value).strip()
    if not text:
        raise ConfigError(field, "a walltime is required")
    if len(text) > _WALLTIME_MAX_LENGTH:
        raise _refuse_walltime(field, text)
    if _HOURS.fullmatch(text):
        return round(float(text) * 3600)
    seconds = _slurm_seconds(text)
    if seconds is None:
        raise _refuse_walltime(field, text)
    return seconds


def optional_walltime_seconds(field: str, value: str) -> int | None:
    """:func:`walltime_seconds` of a setting that may be empty (no limit): None then."""
    return walltime_seconds(field, value) if value.strip() else None


def format_walltime(seconds: int) -> str:
    """Seconds as ``D-HH:MM:SS`` (``HH:MM:SS`` below a day), a form every parser here reads.

    >>> format_walltime(5400), format_walltime(93600)
    ('01:30:00', '1-02:00:00')
    """
    days, rest = divmod(seconds, 86400)
    clock = format_clock(rest)
    return f"{days}-{clock}" if days else clock


def format_clock(seconds: int) -> str:
    """Seconds as ``HH:MM:SS``, hours going past 24 (PBS's and Grid Engine's form).

    >>> format_clock(129600)
    '36:00:00'
    """
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# -- memory -----------------------------------------------------------------------------
def memory_mib(field: str, value: object, *, bare_number: bool = True, allow_zero: bool = False) -> int:
    """An amount of memory as whole MiB, rounded up: ``"1.5G"`` gives 1536.

    A bare number is MiB. With ``bare_number=False`` it is refused instead, with a
    message saying which unit to write: for settings where a bare number once meant
    something else, so that an old value fails loudly instead of asking for less.
    ``allow_zero`` lets an amount of exactly 0 through (JupyterHub's "no limit").

    >>> memory_mib("memory", "1.5G"), memory_mib("memory", "4000"), memory_mib("memory", "16GiB")
    (1536, 4000, 16384)
    """
    text = str(value)
    match = _MEMORY.fullmatch(text)
    if match is None:
        raise ConfigError(field, f"{text[:40]!r} is not an amount of memory such as 4G or 512M")
    number, unit = match.groups()
    if unit is None and not bare_number:
        raise ConfigError(field, f"{number} has no unit here: write {number}G for GiB or {number}M for MiB")
    mib = math.ceil(float(number) * _MIB_PER_UNIT[(unit or "M").upper()])
    if mib < 1 and not (allow_zero and mib == 0):
        raise ConfigError(field, f"{text.strip()!r} is less than 1M")
    return mib


def bytes_to_mib(limit_bytes: int | float | None) -> int | None:
    """Bytes (JupyterHub's ``mem_limit``) as whole MiB, rounded up; None if unset or 0.

    >>> bytes_to_mib(4 * 2**30), bytes_to_mib(1), bytes_to_mib(None)
    (4096, 1, None)
    """
    if not limit_bytes:
        return None
    return max(1, math.ceil(limit_bytes / _BYTES_PER_MIB))


def format_memory(mib: int) -> str:
    """MiB as a short amount that :func:`memory_mib` reads back: ``2G``, ``1536M``.

    >>> format_memory(2048), format_memory(1536)
    ('2G', '1536M')
    """
    return f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"


__all__ = [
    "bytes_to_mib",
    "check_walltime",
    "format_clock",
    "format_memory",
    "format_walltime",
    "memory_mib",
    "optional_walltime_seconds",
    "walltime_seconds",
]
