"""A server's job as its user sees it: start, time limit, end, time left, warnings.

Built from what the hub already holds, without asking the cluster: the spawner's saved
state (job id, cluster, node, profile, the walltime it asked for) and the last status the
shared poller cached for the job (the scheduler's start, time limit and expected end, read
by the same batched query as the job's state). The hub API (:mod:`.job_api`), the hub's
pages and the JupyterLab extension all show this one record.

Schedulers print times in the login node's local time, mostly without a zone: such a time
is read in the hub's local time zone, so a hub in another zone than its cluster must run
with ``TZ`` set to the cluster's. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .states import JobState, JobStatus

#: States in which the job has started: its start is when it started, not an estimate.
_STARTED = frozenset({JobState.RUNNING, JobState.SUSPENDED, JobState.FINISHING, JobState.FINISHED})


#: PBS's time form (``Tue Nov 25 21:00:00 2025``), read with one space or two before the day.
_CTIME = "%a %b %d %H:%M:%S %Y"


def parse_time(text: str | None, tz: dt.tzinfo | None = None) -> dt.datetime | None:
    """A scheduler's time as an aware datetime: ISO 8601 (Slurm, Grid Engine), PBS's
    ``Tue Nov 25 21:00:00 2025``, or seconds since the epoch (Torque, Moab, HTCondor);
    None for no time or another form.

    A time without a zone is read in ``tz`` (default: the hub's local time zone).

    >>> parse_time("2026-12-04T16:30:00", dt.timezone.utc).isoformat()
    '2026-12-04T16:30:00+00:00'
    >>> parse_time("Fri Dec  4 16:30:00 2026", dt.timezone.utc).isoformat()
    '2026-12-04T16:30:00+00:00'
    >>> parse_time("1796401800").isoformat()
    '2026-12-04T16:30:00+00:00'
    >>> parse_time("N/A") is None
    True
    """
    text = (text or "").strip()
    if not text:
        return None
    if text.isdigit():
        seconds = int(text)
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc) if 0 < seconds < 2**33 else None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            when = dt.datetime.strptime(" ".join(text.split()), _CTIME)
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=tz) if tz is not None else when.astimezone()
    return when


def iso_utc(when: dt.datetime | None) -> str | None:
    """``when`` in UTC, ISO 8601 with a ``Z``, to the second; None stays None.

    >>> iso_utc(dt.datetime(2026, 12, 4, 17, 30, 5, 120, dt.timezone(dt.timedelta(hours=1))))
    '2026-12-04T16:30:05Z'
    """
    if when is None:
        return None
    return when.astimezone(dt.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def describe_duration(seconds: int) -> str:
    """A duration in words a person reads at a glance: hours and minutes, or seconds
    under a minute.

    >>> describe_duration(4320), describe_duration(300), describe_duration(42), describe_duration(90000)
    ('1 h 12 min', '5 min', '42 s', '25 h')
    """
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    hours, minutes = divmod(seconds // 60, 60)
    if not hours:
        return f"{minutes} min"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True)
class ExtendOffer:
    """Whether this server's job may be extended now (see :mod:`.extension`), by how much
    and up to what.

    ``reason`` says in words why not when ``available`` is false, else None. Seconds are
    None when not set.
    """

    available: bool
    step_seconds: int | None = None
    max_seconds: int | None = None
    reason: str | None = None

    @property
    def button_words(self) -> str:
        """The hub page's button: ``"Extend by 1 h"``."""
        return f"Extend by {describe_duration(self.step_seconds or 0)}"

    @property
    def note(self) -> str:
        """Why not, where the site offers extending this job at all (a cap applies), else ``""``."""
        return (self.reason or "") if not self.available and self.max_seconds is not None else ""

    def to_json(self) -> dict[str, Any]:
        """The ``extend`` object of the job API (see docs/sessions.md)."""
        return {
            "available": self.available,
            "step_seconds": self.step_seconds,
            "max_seconds": self.max_seconds,
            "reason": self.reason,
        }


#: The offer of a job whose spawner says nothing about extending.
NOT_OFFERED = ExtendOffer(False, reason="Extending a session is not offered here.")


@dataclass(frozen=True)
class JobInfo:
    """One server's job, for the hub API, the hub's pages and the JupyterLab extension.

    Times are aware datetimes; durations are whole seconds. ``seconds_left`` and
    ``elapsed_seconds`` are counted at ``now``; both are None until the job has started.
    """

    job_id: str
    state: str
    now: dt.datetime
    cluster: str | None = None
    node: str | None = None
    profile: str | None = None
    start: dt.datetime | None = None
    time_limit_seconds: int | None = None
    end: dt.datetime | None = None
    #: The site's warning times, seconds before the end, largest first.
    warnings_seconds: tuple[int, ...] = ()
    #: Whether the user may extend the job's time limit now.
    extend: ExtendOffer = NOT_OFFERED

    @property
    def seconds_left(self) -> int | None:
        """Seconds until the time limit ends the job (0 once it has passed); None if unknown."""
        if self.end is None or self.start is None:
            return None
        return max(0, int((self.end - self.now).total_seconds()))

    @property
    def elapsed_seconds(self) -> int | None:
        """Seconds since the job started; None before it starts."""
        if self.start is None:
            return None
        return max(0, int((self.now - self.start).total_seconds()))

    @property
    def warning_seconds(self) -> int | None:
        """The smallest warning time already passed (the warning due now), or None."""
        left = self.seconds_left
        if left is None:
            return None
        passed = [w for w in self.warnings_seconds if left <= w]
        return min(passed) if passed else None

    @property
    def time_left_words(self) -> str:
        """``"1 h 12 min left"``; ``""`` when the time left is not known."""
        left = self.seconds_left
        if left is None:
            return ""
        return "time limit reached" if left == 0 else f"{describe_duration(left)} left"

    @property
    def elapsed_words(self) -> str:
        """``"25 min"``; ``""`` before the job starts."""
        elapsed = self.elapsed_seconds
        return "" if elapsed is None else describe_duration(elapsed)

    @property
    def warning_words(self) -> str:
        """The warning in words once a warning time has passed, else ``""``."""
        due = self.warning_seconds
        if due is None:
            return ""
        left = self.seconds_left or 0
        if left == 0:
            return f"Job {self.job_id} has reached its time limit: the scheduler is ending it."
        return (
            f"Job {self.job_id} ends in {describe_duration(left)}, when its time limit runs out: "
            "save your work now."
        )

    def to_json(self) -> dict[str, Any]:
        """The API's body (see docs/sessions.md); every time in UTC."""
        return {
            "job_id": self.job_id,
            "cluster": self.cluster,
            "node": self.node,
            "state": self.state,
            "profile": self.profile,
            "start": iso_utc(self.start),
            "time_limit_seconds": self.time_limit_seconds,
            "end": iso_utc(self.end),
            "seconds_left": self.seconds_left,
            "elapsed_seconds": self.elapsed_seconds,
            "warnings_seconds": list(self.warnings_seconds),
            "now": iso_utc(self.now),
            "extend": self.extend.to_json(),
        }


def build_job_info(
    job_id: str,
    status: JobStatus | None,
    *,
    now: dt.datetime,
    cluster: str | None = None,
    node: str | None = None,
    profile: str | None = None,
    requested_seconds: int | None = None,
    warnings: Iterable[int] = (),
    tz: dt.tzinfo | None = None,
    extend: ExtendOffer = NOT_OFFERED,
) -> JobInfo:
    """The job information from the poller's cached ``status`` (None before the first
    answer) and the spawner's own values.

    The time limit is the scheduler's, else the walltime the spawn asked for
    (``requested_seconds``); the end is the scheduler's expected end, else start plus time
    limit. Start and end are given only once the job has started: while it waits, the
    scheduler's times are estimates, and the time left would count a queue's wait.
    ``node`` (where the server reported it listens) is used when the status names none.
    """
    state = status.state if status is not None else JobState.UNKNOWN
    limit = status.time_limit_seconds if status is not None else None
    if limit is None:
        limit = requested_seconds
    start = end = None
    if status is not None and (state in _STARTED or state is JobState.UNKNOWN):
        start = parse_time(status.start_time, tz)
        if start is not None and start > now + dt.timedelta(minutes=1):
            start = None  # an unknown state's start still to come: an estimate
    if start is not None:
        end = parse_time(status.end_time, tz) if status is not None else None
        if end is None and limit is not None:
            end = start + dt.timedelta(seconds=limit)
    host = status.host if status is not None else None
    return JobInfo(
        job_id=job_id,
        state=state.value,
        now=now,
        cluster=cluster or None,
        node=host or node or None,
        profile=profile or None,
        start=start,
        time_limit_seconds=limit,
        end=end,
        warnings_seconds=tuple(sorted({int(w) for w in warnings}, reverse=True)),
        extend=extend,
    )


def job_info_json(info: JobInfo, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:meth:`JobInfo.to_json` with ``extra`` keys (a server's name and URL) added."""
    body = info.to_json()
    body.update(extra or {})
    return body


__all__ = [
    "NOT_OFFERED",
    "ExtendOffer",
    "JobInfo",
    "build_job_info",
    "describe_duration",
    "iso_utc",
    "job_info_json",
    "parse_time",
]
