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
from dataclasses import dataclass

from .errors import CommandTimeout, TransportError
from .schedulers.base import Scheduler
from .states import StatusUnavailable
from .transport import Transport

#: Longest pause between two attempts to ask the scheduler about a lost submission.
MAX_LOOKUP_DELAY = 8.0


def new_identity() -> str:
    """A fresh submission identity: ``bsx-`` and 16 hex digits, safe in any argv or script."""
    return "bsx-" + secrets.token_hex(8)


@dataclass(frozen=True)
class Submitted:
    """The job a submission made."""

    job_id: str
    #: True when the submission's answer was lost and the job was found by its identity:
    #: the submission may have made another job (see the spawner's ``stop()``).
    answer_lost: bool = False


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
) -> Submitted:
    """Submit ``script`` and return its job; never send it again while a job it made may
    still appear.

    A lost connection (sshd, and with it the submit command, gone) is followed by a
    lookup; only when that shows no job is the submission sent again. A submit command
    that timed out may still be running: it is looked up for ``lookup_timeout`` seconds
    and never sent again. Raises :class:`~batchspawner_x.errors.SubmitError` when the
    scheduler refuses the job, :class:`~batchspawner_x.errors.TransportError` when
    nothing was sent, and :class:`SubmissionUnknown` when it is not known whether the
    job arrived.
    """
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            result = await transport.run(
                scheduler.submit_argv(identity, script), input=script, timeout=timeout, idempotent=False
            )
        except TransportError as lost:
            if not lost.maybe_sent:
                raise  # nothing reached the login node
            still_running = isinstance(lost, CommandTimeout)
            found = await find(
                transport,
                scheduler,
                identity,
                cause=lost,
                timeout=lookup_timeout,
                command_timeout=command_timeout,
                job_name=job_name,
                settle=still_running,
            )
            if found:
                job_id, *extra = found
                log.warning("The answer to submission %s was lost (%s); it is job %s", identity, lost, job_id)
                for other in extra:
                    await _cancel_extra(transport, scheduler, other, identity, command_timeout, log)
                return Submitted(job_id, answer_lost=True)
            if still_running:
                raise SubmissionUnknown(
                    f"{lost}; no job of submission {identity} appeared within {lookup_timeout:g}s, "
                    "and it is not sent again while the first attempt may still arrive"
                ) from None
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
        return Submitted(scheduler.parse_submit(result))
    raise AssertionError("unreachable")  # pragma: no cover


async def _cancel_extra(
    transport: Transport,
    scheduler: Scheduler,
    job_id: str,
    identity: str,
    timeout: float,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
) -> None:
    log.warning("Cancelling job %s, a second job of submission %s", job_id, identity)
    try:
        await transport.run(scheduler.cancel_argv(job_id), timeout=timeout)
    except TransportError as e:  # the job found first is what matters
        log.warning("Cannot cancel job %s: %s", job_id, e)


async def find(
    transport: Transport,
    scheduler: Scheduler,
    identity: str,
    *,
    cause: Exception | None = None,
    timeout: float,
    command_timeout: float,
    job_name: str = "",
    settle: bool = False,
) -> list[str]:
    """The ids of the user's jobs carrying ``identity``, lowest first.

    Asks again, with growing pauses, while the login node or the scheduler cannot
    answer, for up to ``timeout`` seconds (0: ask once); then raises
    :class:`SubmissionUnknown`. With ``settle``, an answer that shows no job is asked
    again too, until a job shows or the time is up (a submit command that timed out
    may still be running). Each query may take ``command_timeout`` seconds.
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
    answered = False
    error: Exception | None = None
    while True:
        try:
            result = await transport.run(argv, timeout=command_timeout)
            found = scheduler.parse_lookup(identity, result)
            answered = True
            if found or not settle:
                return sorted(found, key=_job_order)
        except (TransportError, StatusUnavailable) as e:
            error = e
        if time.monotonic() + delay > deadline:
            if answered:
                return []
            because = f"{cause}; " if cause is not None else ""
            raise SubmissionUnknown(
                f"{because}cannot ask {scheduler.display_name} whether submission {identity} "
                f"arrived ({error}); {what} carries that identity"
            ) from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_LOOKUP_DELAY)


def _job_order(job_id: str) -> tuple[int, str]:
    head = job_id.split(".", 1)[0].split("_", 1)[0]
    return (int(head), job_id) if head.isdigit() else (2**63, job_id)
