"""Cancelling a job so that it is cancelled, even across a login node's outage.

JupyterHub forgets a server's state when :meth:`Spawner.stop` returns *or
raises*, so a cancel that never reached the scheduler leaves a job running that
nobody tracks any more. Cancelling is safe to repeat, so instead of giving up at
the first dropped connection, :func:`cancel_job` keeps sending the cancel
command, waiting at least as long as the connection pool's back-off asks,
until the scheduler accepts it or a deadline passes. When even that fails,
:func:`keep_cancelling` goes on in the background (for
:data:`BACKGROUND_PERIOD` seconds, with growing pauses) while the log says
which job is left and how to cancel it by hand.

Errors that waiting cannot cure (a refused login, an unknown host key) end the
attempts at once.

:func:`cancel` is that one rule, for every job the spawner cancels: the job of a
stopped server, the job of a start that was cancelled or failed, and the other
jobs a submission whose answer was lost may have made. Only how long it waits
before handing over to the background differs. :func:`wait_until_ended` then
waits for the scheduler to list the cancelled job as ended.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
from collections.abc import Callable

from traitlets.log import get_logger

from .errors import CancelFailed as CancelFailed
from .errors import ConnectFailed, TransportError
from .poller import StatusPoller
from .schedulers.base import Scheduler
from .states import JobState, StatusUnavailable
from .transport import Transport

#: First pause between two attempts; it doubles after each failure.
FIRST_PAUSE = 1.0
#: Longest pause between two attempts while :meth:`stop` waits.
MAX_PAUSE = 8.0
#: How long, in seconds, a cancel that :meth:`stop` could not send is retried in the background.
BACKGROUND_PERIOD = 24 * 3600.0
#: Longest pause between two background attempts.
BACKGROUND_MAX_PAUSE = 300.0

#: Seconds between two looks at a cancelled job while :func:`wait_until_ended` waits.
ENDED_CHECK = 1.0

_Log = logging.Logger | logging.LoggerAdapter[logging.Logger]

#: Cancels being retried in the background (kept here so that they are not garbage-collected).
_background: set[asyncio.Task[None]] = set()
#: The same, by account and job: a job already being cancelled gets no second retry.
_retrying: dict[tuple[tuple[str, ...], str], asyncio.Task[None]] = {}


def is_permanent(error: TransportError) -> bool:
    """True for errors that waiting does not cure: nothing was sent, and the reason is not
    that the login node could not be reached (a refused login, an unknown host key)."""
    return not error.maybe_sent and not isinstance(error, ConnectFailed)


async def cancel(
    transport: Transport,
    scheduler: Scheduler,
    job_id: str,
    *,
    command_timeout: float,
    patience: float,
    log: _Log,
    log_prefix: str,
) -> bool:
    """Cancel ``job_id``: send its cancel until the scheduler accepts it, for up to
    ``patience`` seconds (0: one attempt). True once the scheduler accepted it.

    A cancel that still fails is logged as an error naming the job and the command that
    cancels it by hand, and, unless waiting cannot cure the failure, retried in the
    background (:func:`keep_cancelling`). It never raises: a spawner that gives up on a
    job must still forget it, so that JupyterHub revokes the server's token and removes
    its route, and the job, while it lasts, can no longer act for the user.

    A job that is already being cancelled in the background is left to that task (its
    attempts are logged there): no attempt and no error here.
    """
    if being_cancelled(transport, job_id):
        return False
    try:
        await cancel_job(
            transport,
            scheduler,
            job_id,
            command_timeout=command_timeout,
            deadline=time.monotonic() + patience,
            on_retry=retry_warning(log, log_prefix),
        )
        return True
    except CancelFailed as e:
        later = ""
        if not e.permanent:
            keep_cancelling(
                transport,
                scheduler,
                job_id,
                command_timeout=command_timeout,
                log_prefix=log_prefix,
            )
            later = f" Trying again in the background for {BACKGROUND_PERIOD / 3600:g} hours."
        log.error(
            "%s could not cancel the job on %s: %s.%s To cancel it by hand: %s",
            log_prefix,
            transport.describe(),
            e,
            later,
            manual_command(scheduler, job_id),
        )
        return False


async def wait_until_ended(
    poller: StatusPoller, job_id: str, *, timeout: float, now: bool, log: _Log, log_prefix: str
) -> None:
    """Wait, up to ``timeout`` seconds, for the scheduler to list a cancelled job as ended
    (as finishing is enough when ``now``)."""
    deadline = time.monotonic() + timeout
    while True:
        cached = await poller.status(job_id, max_age=0)
        if cached is not None and not cached.stale and not cached.status.alive:
            return
        if cached is not None and cached.status.state is JobState.FINISHING and now:
            return
        if time.monotonic() > deadline:
            log.warning("%s still listed %.0fs after cancelling it", log_prefix, timeout)
            return
        await asyncio.sleep(ENDED_CHECK)


async def cancel_job(
    transport: Transport,
    scheduler: Scheduler,
    job_id: str,
    *,
    command_timeout: float,
    deadline: float,
    max_pause: float = MAX_PAUSE,
    on_retry: Callable[[str, float], None] | None = None,
) -> None:
    """Send ``job_id``'s cancel command until the scheduler accepts it.

    A connection that cannot be opened or is lost, a command that times out and a
    scheduler that refuses (for example a controller that is down) while the job is
    still listed are tried again,
    after ``FIRST_PAUSE`` seconds, then twice as long each time up to ``max_pause``,
    and never before the connection pool's next attempt to connect. Raises
    :class:`CancelFailed` when the next attempt would come after ``deadline``
    (monotonic), or at once for an error that waiting does not cure.
    """
    argv = scheduler.cancel_argv(job_id)
    pause = FIRST_PAUSE
    while True:
        wait = pause
        try:
            result = await transport.run(argv, timeout=command_timeout)
        except TransportError as e:
            if is_permanent(e):
                raise CancelFailed(str(e), permanent=True, job_id=job_id) from None
            problem = str(e)
            if isinstance(e, ConnectFailed):
                wait = max(wait, e.retry_at - time.monotonic())
        else:
            refused = scheduler.cancel_failed(result)
            if refused is None or await is_gone(transport, scheduler, job_id, command_timeout):
                return
            problem = f"{argv[0]} failed: {refused}"
        if time.monotonic() + wait > deadline:
            raise CancelFailed(problem, job_id=job_id)
        if on_retry is not None:
            on_retry(problem, wait)
        await asyncio.sleep(wait)
        pause = min(pause * 2, max_pause)


async def is_gone(transport: Transport, scheduler: Scheduler, job_id: str, timeout: float) -> bool:
    """Whether the scheduler says ``job_id`` has left the running states: then a refused
    cancel (one whose wording :meth:`Scheduler.cancel_failed` does not know) is moot.
    False when the scheduler cannot tell."""
    try:
        result = await transport.run(scheduler.status_argv([job_id]), timeout=timeout)
        status = scheduler.parse_status([job_id], result).get(job_id)
    except (TransportError, StatusUnavailable):
        return False
    return status is not None and not status.alive


def retry_warning(log: _Log, log_prefix: str) -> Callable[[str, float], None]:
    """An ``on_retry`` callback for :func:`cancel_job` that logs each retry as a warning."""

    def warn(problem: str, wait: float) -> None:
        log.warning("%s cannot cancel the job yet (%s); trying again in %.1fs", log_prefix, problem, wait)

    return warn


def manual_command(scheduler: Scheduler, job_id: str) -> str:
    """The command an administrator runs to cancel ``job_id`` by hand."""
    return shlex.join(scheduler.cancel_argv(job_id))


def being_cancelled(transport: Transport, job_id: str) -> bool:
    """Whether a background task (:func:`keep_cancelling`) is cancelling ``job_id`` as
    ``transport``'s account."""
    running = _retrying.get((transport.key, job_id))
    return running is not None and not running.done()


def keep_cancelling(
    transport: Transport,
    scheduler: Scheduler,
    job_id: str,
    *,
    command_timeout: float,
    log_prefix: str,
) -> asyncio.Task[None]:
    """Go on cancelling ``job_id`` in the background for :data:`BACKGROUND_PERIOD`
    seconds. Every attempt and the outcome are logged. A job already being cancelled
    in the background keeps that one task (``poll()`` finds an extra job of a lost
    submission again every few seconds while its cancel fails).

    The job's files are left alone: by the time this succeeds the user may have
    started a new server that uses the same job directory."""
    key = (transport.key, job_id)
    running = _retrying.get(key)
    if running is not None and not running.done():
        return running
    log = get_logger()

    async def run() -> None:
        started = time.monotonic()
        try:
            await cancel_job(
                transport,
                scheduler,
                job_id,
                command_timeout=command_timeout,
                deadline=started + BACKGROUND_PERIOD,
                max_pause=BACKGROUND_MAX_PAUSE,
                on_retry=retry_warning(log, log_prefix),
            )
        except CancelFailed as e:
            log.error(
                "%s gave up cancelling the job after %.0fs: %s. Cancel it by hand: %s",
                log_prefix,
                time.monotonic() - started,
                e,
                manual_command(scheduler, job_id),
            )
            return
        log.info("%s cancelled, %.0fs after stop() gave up waiting", log_prefix, time.monotonic() - started)

    task = asyncio.ensure_future(run())
    _background.add(task)
    task.add_done_callback(_background.discard)
    _retrying[key] = task
    task.add_done_callback(lambda done: _retrying.pop(key) if _retrying.get(key) is done else None)
    return task
