"""The job's own news to the hub and to the notebook: warnings and the job's end.

A job tells of two kinds of event:

- a **warning**: the scheduler's early signal (Slurm's ``--signal=B:USR1@SECONDS``)
  reached the job, ``seconds_left`` before its time limit;
- the **end**: the scheduler ends the job (``term``: it sent SIGTERM, for a time limit,
  a cancel, a preemption), the server exited by itself with its exit code (``exit``),
  or the server died of a signal nobody sent through the job (``signal``: the kernel's
  out-of-memory killer, say).

The node side (:mod:`batchspawner_x.supervise`) appends each warning as one JSON line
to the file named by :data:`EVENTS_VAR` (0600, in the job directory; the JupyterLab
extension's server part reads it) and posts each event, once, to :data:`EVENT_PATH`
below the hub's API URL with the server's own API token. The hub side
(:mod:`batchspawner_x.job_events_api`) checks the body with :func:`validate_event`.

Standard library only, and nothing else of this package: it travels in the job script.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Where the node side posts an event, below the hub's API URL (``.../hub/api``).
EVENT_PATH = "/batchspawner_x/job/end"
#: The events file's name in the job directory (0600).
EVENTS_FILE = "events.jsonl"
#: The events file's absolute path, in the server's environment: the node side sets it
#: to :data:`EVENTS_FILE` in the job directory unless the job script names another.
EVENTS_VAR = "BATCHSPAWNER_X_EVENTS"
#: Seconds before the time limit at which the scheduler sends its early signal, in the
#: environment file the hub writes; unset when the job asked for none.
SIGNAL_SECONDS_VAR = "BATCHSPAWNER_X_SIGNAL_SECONDS"

#: The events a job posts, and the ways a job ends.
END_EVENTS = ("term", "exit", "signal")
EVENTS = ("warning", *END_EVENTS)
#: Longest wait, in seconds, for the hub's answer to a post: the job is ending.
POST_TIMEOUT = 5.0

_JOB_ID = re.compile(r"[A-Za-z0-9_.\[\]+-]{1,128}")


@dataclass(frozen=True)
class JobEvent:
    """One event as the hub takes it. ``exit_code`` only for ends, ``seconds_left`` only
    for warnings."""

    job_id: str
    event: str
    exit_code: int | None = None
    seconds_left: int | None = None

    @property
    def is_end(self) -> bool:
        return self.event in END_EVENTS


def _int_or_none(body: Mapping[str, Any], name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, or null")
    return value


def validate_event(body: Any) -> JobEvent:
    """Check a posted event; raise ValueError saying why.

    An end is ``{"job_id": str, "event": "term"|"exit"|"signal", "exit_code": int|null}``;
    a warning ``{"job_id": str, "event": "warning", "seconds_left": int}``; nothing else.

    >>> validate_event({"job_id": "12", "event": "exit", "exit_code": 3}).exit_code
    3
    """
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    event = body.get("event")
    if event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(EVENTS)}")
    allowed = {"job_id", "event", "seconds_left" if event == "warning" else "exit_code"}
    extra = set(body) - allowed
    if extra:
        raise ValueError(f"unexpected fields: {', '.join(sorted(map(str, extra)))}")
    job_id = body.get("job_id")
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise ValueError("job_id must be a batch job id")
    if event == "warning":
        seconds = _int_or_none(body, "seconds_left", 0, 10**9)
        if seconds is None:
            raise ValueError("a warning needs seconds_left")
        return JobEvent(job_id, event, seconds_left=seconds)
    return JobEvent(job_id, event, exit_code=_int_or_none(body, "exit_code", -255, 255))


def event_url(api_url: str) -> str:
    """Where events go, from the hub's API URL (``JUPYTERHUB_API_URL``)."""
    return api_url.rstrip("/") + EVENT_PATH


def end_body(job_id: str, event: str, exit_code: int | None) -> bytes:
    """The body of an end post."""
    return json.dumps({"job_id": job_id, "event": event, "exit_code": exit_code}).encode()


def warning_body(job_id: str, seconds_left: int) -> bytes:
    """The body of a warning post."""
    return json.dumps({"job_id": job_id, "event": "warning", "seconds_left": seconds_left}).encode()


def warning_line(seconds_left: int, when: float, source: str = "scheduler") -> str:
    """One line of the events file for a warning, its line break included.

    >>> warning_line(900, 1796400000.5)
    '{"event": "warning", "seconds_left": 900, "time": 1796400000, "source": "scheduler"}\\n'
    """
    record = {"event": "warning", "seconds_left": seconds_left, "time": int(when), "source": source}
    return json.dumps(record) + "\n"


__all__ = [
    "END_EVENTS",
    "EVENTS",
    "EVENTS_FILE",
    "EVENTS_VAR",
    "EVENT_PATH",
    "POST_TIMEOUT",
    "SIGNAL_SECONDS_VAR",
    "JobEvent",
    "end_body",
    "event_url",
    "validate_event",
    "warning_body",
    "warning_line",
]
