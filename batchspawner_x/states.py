"""Scheduler-independent job states and parsed job status.

Every scheduler module maps its own state names onto :class:`JobState`; the
spawner only ever reasons about these. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from .errors import StatusUnavailable as StatusUnavailable  # defined there; importable here too


class JobState(enum.Enum):
    """Where a batch job is in its life, as far as the spawner cares."""

    #: Waiting in the queue (includes configuring / booting nodes).
    PENDING = "pending"
    #: Held in the queue by a user, an admin or the system; it may still run.
    HELD = "held"
    #: Running.
    RUNNING = "running"
    #: Suspended or preempted-and-requeueing: alive, but not executing now.
    SUSPENDED = "suspended"
    #: Finishing (completing, exiting, staging out): the server is going away.
    FINISHING = "finishing"
    #: Finished, successfully or not. The job will not run again.
    FINISHED = "finished"
    #: The scheduler no longer knows the job (purged from its memory).
    GONE = "gone"
    #: The scheduler printed a state we do not know. Treated as alive: an
    #: unrecognised word is never a reason to declare a server dead.
    UNKNOWN = "unknown"

    @property
    def alive(self) -> bool:
        """True while the job can still be (or become) a running server."""
        return self in _ALIVE

    @property
    def queued(self) -> bool:
        """True while the job waits for resources and has not started yet."""
        return self in (JobState.PENDING, JobState.HELD)


_ALIVE = frozenset(
    {
        JobState.PENDING,
        JobState.HELD,
        JobState.RUNNING,
        JobState.SUSPENDED,
        JobState.FINISHING,
        JobState.UNKNOWN,
    }
)


@dataclass(frozen=True)
class JobStatus:
    """One job's status as reported by the scheduler.

    ``raw_state`` keeps the scheduler's own word (``PENDING``, ``qw``, ``RUN``)
    for messages and logs; ``state`` is what the spawner acts on.
    """

    job_id: str
    state: JobState
    raw_state: str = ""
    host: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    #: When the job started (or, while it waits, is expected to), as the scheduler prints
    #: it: ISO 8601, with or without a zone.
    start_time: str | None = None
    #: The job's time limit in seconds; None if the scheduler did not say or sets none.
    time_limit_seconds: int | None = None
    #: When the job's time limit runs out (or, while it waits, is expected to), as
    #: :attr:`start_time`; None if unknown.
    end_time: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def alive(self) -> bool:
        return self.state.alive
