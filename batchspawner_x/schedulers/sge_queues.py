"""Grid Engine's cluster queues and their limits, as ``qconf -sq '*'`` prints them.

``qconf -sq '*'`` prints every cluster queue's configuration, one ``name value`` line
per attribute, each queue starting at its ``qname`` line; a long value continues on the
next line after a trailing backslash. A value may differ by host or host group
(``slots 1,[node01=16],[@gpu=32]``): the form offers the largest.

Times are ``INFINITY``, seconds, or ``[[h:]m:]s``; memory is ``INFINITY`` or a number
with ``K``/``M``/``G``/``T`` (powers of 1024) or ``k``/``m``/``g``/``t`` (powers of 1000),
bytes without one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ..states import StatusUnavailable
from .base import CommandResult, PartitionInfo

#: The per-host overrides of a queue attribute: ``[host=value]``.
_OVERRIDE = re.compile(r"\[[^=\]]+=([^\]]*)\]")
_MEMORY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTkmgt]?)$")
_BINARY = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_DECIMAL = {"k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def _values(text: str) -> list[str]:
    """The queue-wide value and every per-host override of one attribute."""
    first = text.split(",[", 1)[0].strip()
    return [first, *(v.strip() for v in _OVERRIDE.findall(text))]


def _seconds(value: str) -> int | None:
    if value.upper() == "INFINITY":
        return None
    parts = value.split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def _mib(value: str) -> int | None:
    match = _MEMORY.fullmatch(value)
    if match is None:
        return None
    number, unit = float(match.group(1)), match.group(2)
    factor = _BINARY.get(unit) or _DECIMAL[unit]
    return int(number * factor // 1024**2)


def _largest(text: str | None, parse: Callable[[str], int | None]) -> int | None:
    """The largest of an attribute's values; None if any is unlimited or unreadable."""
    if text is None:
        return None
    found = []
    for value in _values(text):
        number = parse(value)
        if number is None:
            return None
        found.append(number)
    return max(found) if found else None


def _slots(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def parse_queue_configs(text: str) -> dict[str, PartitionInfo]:
    """Every queue of ``qconf -sq '*'``'s output, by name.

    >>> q = parse_queue_configs("qname all.q\\nslots 1,[n1=16]\\nh_rt 08:00:00\\nh_vmem 64G\\n")
    >>> (q["all.q"].cpus, q["all.q"].max_walltime_seconds, q["all.q"].memory_mb)
    (16, 28800, 65536)
    """
    queues: list[dict[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1]
            continue
        pending = ""
        name, _, value = line.partition(" ")
        if not name:
            continue
        if name == "qname":
            queues.append({})
        if queues:
            queues[-1][name] = value.strip()
    found = {}
    for queue in queues:
        name = queue.get("qname", "")
        if not name:
            continue
        found[name] = PartitionInfo(
            name=name,
            max_walltime_seconds=_largest(queue.get("h_rt"), _seconds),
            cpus=_largest(queue.get("slots"), _slots),
            memory_mb=_largest(queue.get("h_vmem"), _mib),
        )
    return found


def parse_queues(result: CommandResult) -> dict[str, PartitionInfo]:
    """:func:`parse_queue_configs` of a ``qconf -sq '*'`` run; refused if it failed."""
    if result.returncode != 0:
        raise StatusUnavailable.of("qconf", result, f"qconf -sq failed: {result.message()}")
    return parse_queue_configs(result.stdout)


__all__ = ["parse_queue_configs", "parse_queues"]
