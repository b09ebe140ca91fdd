"""What the spawn page says about a job: pure functions of its status.

The spawner emits a new progress message only when the text changes, so the
text depends only on what the scheduler reports (state, reason, estimate, node)
and never on the clock: an unchanged estimate gives an unchanged message.
"""

from __future__ import annotations

import datetime as dt

from .schedulers.base import Scheduler
from .states import JobState, JobStatus


def describe_start_time(text: str, today: dt.date | None = None) -> str:
    """The scheduler's expected start in words: ``today at 14:05``, ``on 2026-11-27 at 09:00``.

    Slurm prints ``2026-11-26T14:05:00``; anything else is shown as the scheduler wrote it.

    >>> describe_start_time("2026-11-26T14:05:00", dt.date(2026, 11, 26))
    'today at 14:05'
    """
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    clock = when.strftime("%H:%M")
    if today is not None and when.date() == today:
        return f"today at {clock}"
    return f"on {when.date().isoformat()} at {clock}"


def describe_status(
    status: JobStatus, scheduler: Scheduler, *, gpus: int = 0, today: dt.date | None = None
) -> str:
    """One progress message for ``status``.

    A waiting job gets the scheduler's reason in words, with the scheduler's own code
    in parentheses ("waiting for a free GPU node (Resources)"), and the expected start
    when the scheduler has one; a running job gets its node.
    """
    if status.state.queued:
        text = f"Job {status.job_id} is waiting in the queue"
        if status.reason:
            describe = scheduler.describe_gpu_reason if gpus else scheduler.describe_reason
            words = describe(status.reason)
            text += (
                f": {words} ({status.reason})" if words and words != status.reason else f": {status.reason}"
            )
        if status.start_time and status.state is not JobState.HELD:
            # a held job starts when it is released, whatever the scheduler estimates
            text += f"; expected start {describe_start_time(status.start_time, today)}"
        return text
    if status.state is JobState.RUNNING:
        where = f" on {status.host}" if status.host else ""
        return f"Job {status.job_id} is running{where}; waiting for the notebook server to start"
    return f"Job {status.job_id} is {status.raw_state or status.state.value}"


__all__ = ["describe_start_time", "describe_status"]
