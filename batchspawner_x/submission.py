"""Submitting a job exactly once, over a connection that may drop.

A submission whose answer is lost (the connection dropped, or the command
timed out) may or may not have created a job. Sending it again blindly could
start two servers for one spawn; giving up could leave a job nobody tracks.
So every submission carries an *identity*, a random name the scheduler keeps
with the job (Slurm: its comment). When the answer is lost, the scheduler is
asked for the user's jobs carrying that identity: a job found is the one that
was submitted; only when none is found is the same submission sent again.

Backends that cannot look a job up by its identity never resend: the error
says that the outcome is unknown and how to recognise the job.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from .errors import TransportError
from .schedulers.base import Scheduler
from .states import StatusUnavailable
from .transport import ConnectFailed, Transport

#: Longest pause between two attempts to ask the scheduler about a lost submission.
MAX_LOOKUP_DELAY = 8.0


def new_identity() -> str:
    """A fresh submission identity: ``bsx-`` and 16 hex digits, safe in any argv or script."""
    return "bsx-" + secrets.token_hex(8)


class SubmissionUnknown(TransportError):
    """A submission's answer was lost and the scheduler could not be asked whether it
    arrived; the job, if any, carries the submission's identity."""


async def submit(
    transport: Transport,
    scheduler: Scheduler,
    script: str,
    identity: str,
    *,
    timeout: float,
    lookup_timeout: float,
    command_timeout: float,
    attempts: int,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    job_name: str = "",
) -> str:
    """Submit ``script`` and return the job id; never two jobs for one ``identity``.

    Raises :class:`~batchspawner_x.errors.SubmitError` when the scheduler refuses the
    job, :class:`~batchspawner_x.errors.TransportError` when it cannot be reached
    (nothing was sent), and :class:`SubmissionUnknown` when it is not known whether the
    job arrived.
    """
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            result = await transport.run(
                scheduler.submit_argv(identity, script), input=script, timeout=timeout, idempotent=False
            )
        except ConnectFailed:
            raise  # nothing reached the login node
        except TransportError as lost:
            found = await find(
                transport,
                scheduler,
                identity,
                cause=lost,
                timeout=lookup_timeout,
                command_timeout=command_timeout,
                job_name=job_name,
            )
            if found:
                job_id, *extra = found
                log.warning("The answer to submission %s was lost (%s); it is job %s", identity, lost, job_id)
                for other in extra:  # cannot happen unless someone resubmitted by hand
                    log.warning("Cancelling job %s, a second job of submission %s", other, identity)
                    await transport.run(scheduler.cancel_argv(other), timeout=command_timeout)
                return job_id
            if attempt >= attempts:
                raise SubmissionUnknown(
                    f"{lost}; {scheduler.display_name} shows no job of submission {identity} "
                    f"after {attempt} attempts"
                ) from None
            log.warning(
                "The answer to submission %s was lost (%s) and %s shows no such job; submitting again",
                identity,
                lost,
                scheduler.display_name,
            )
            continue
        return scheduler.parse_submit(result)
    raise AssertionError("unreachable")  # pragma: no cover


async def find(
    transport: Transport,
    scheduler: Scheduler,
    identity: str,
    *,
    cause: Exception | None = None,
    timeout: float,
    command_timeout: float,
    job_name: str = "",
) -> list[str]:
    """The ids of the user's jobs carrying ``identity``, lowest first.

    Asks again, with growing pauses, while the login node or the scheduler cannot
    answer, for up to ``timeout`` seconds (0: ask once); then raises
    :class:`SubmissionUnknown`. Each query may take ``command_timeout`` seconds.
    """
    argv = scheduler.lookup_argv(identity)
    what = f"job {job_name!r}" if job_name else "the job"
    if argv is None:
        raise SubmissionUnknown(
            f"{cause}; {scheduler.display_name} cannot be asked whether the submission arrived: "
            f"if it did, {what} is not tracked by the hub and needs to be cancelled by hand"
        )
    deadline = time.monotonic() + timeout
    delay = 0.5
    while True:
        try:
            result = await transport.run(argv, timeout=command_timeout)
            found = scheduler.parse_lookup(identity, result)
            return sorted(found, key=_job_order)
        except (TransportError, StatusUnavailable) as e:
            if time.monotonic() + delay > deadline:
                because = f"{cause}; " if cause is not None else ""
                raise SubmissionUnknown(
                    f"{because}cannot ask {scheduler.display_name} whether submission {identity} "
                    f"arrived ({e}); {what} carries that identity"
                ) from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_LOOKUP_DELAY)


def _job_order(job_id: str) -> tuple[int, str]:
    head = job_id.split(".", 1)[0].split("_", 1)[0]
    return (int(head), job_id) if head.isdigit() else (2**63, job_id)
