"""A job that ends while its server starts: when that counts, and what the user is told.

The spawner fails the spawn as soon as the scheduler lists the job as ending, whether the
job had reported its address or not, with one error (:class:`~batchspawner_x.errors.JobEndedError`)
that names the job's final state, its exit code and the last lines of its output.

A scheduler may show an ending job as finishing for a moment (Slurm's ``COMPLETING``) and
know its exit code only once it has finished, so :func:`job_ended_error` waits up to
:data:`FINAL_STATE_WAIT` seconds for the final state before it builds the message.
"""

from __future__ import annotations

import asyncio
import time

from .errors import JobEndedError, TransportError
from .poller import CachedStatus, StatusPoller
from .states import JobState, JobStatus
from .transport import Transport

#: Seconds to wait for a finishing job's final state (and so its exit code). Slurm moves a
#: job from COMPLETING to COMPLETED or FAILED well within this on a healthy node; a job still
#: finishing after it is reported with what is known then.
FINAL_STATE_WAIT = 5.0


def has_ended(status: JobStatus) -> bool:
    """True once the job's server is gone or going: the job finished, was purged, or is
    finishing (completing, exiting, being deleted). A job that can still serve, including
    one in a state the spawner does not know, has not ended."""
    return not status.alive or status.state is JobState.FINISHING


def output_tail(data: bytes | None, max_bytes: int) -> str:
    """The last lines of a job's output as text, from its last ``max_bytes`` bytes.

    A first line cut by the byte limit is dropped; undecodable bytes are replaced.

    >>> output_tail(b"line one\\nline two\\nline three\\n", 20)
    'line two\\nline three'
    """
    if not data:
        return ""
    if len(data) >= max_bytes and b"\n" in data:
        data = data.split(b"\n", 1)[1]
    return data.decode("utf-8", "replace").strip()


async def final_status(
    poller: StatusPoller, job_id: str, last: CachedStatus, *, wait: float = FINAL_STATE_WAIT
) -> CachedStatus:
    """The job's status once it no longer finishes, or the last known after ``wait`` seconds.

    Each read while it finishes waits for a new status round (shared with other callers, at
    most one every half second); a finished job's exit code is looked up if the round did
    not carry it.
    """
    deadline = time.monotonic() + wait
    current = last
    max_age = float("inf")  # first, only the exit code may need asking for
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return current
        try:
            # (a status command that hangs must not hold the failure back)
            fresh = await asyncio.wait_for(poller.status(job_id, max_age=max_age), remaining)
        except asyncio.TimeoutError:
            return current
        current = fresh or current
        if current.status.state is not JobState.FINISHING:
            return current
        max_age = 0


async def job_ended_error(
    poller: StatusPoller,
    transport: Transport,
    last: CachedStatus,
    output_path: str,
    max_bytes: int,
    *,
    wait: float = FINAL_STATE_WAIT,
) -> JobEndedError | None:
    """The error for a job seen ending (``last``): its final state and exit code (waiting up
    to ``wait`` seconds for them), and the last ``max_bytes`` of its output at ``output_path``.

    None if the job did not end after all: a job that the scheduler requeues (a node
    failure, a preemption) passes through a finishing state and is then pending again.
    """
    job_id = last.status.job_id
    status = (await final_status(poller, job_id, last, wait=wait)).status
    if not has_ended(status):
        return None
    try:
        data = await transport.read_tail(output_path, max_bytes)
    except TransportError:
        data = None
    return JobEndedError(
        job_id, status.raw_state or status.state.value, status.exit_code, output_tail(data, max_bytes)
    )


__all__ = ["FINAL_STATE_WAIT", "final_status", "has_ended", "job_ended_error", "output_tail"]
