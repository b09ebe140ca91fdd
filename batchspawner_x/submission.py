"""Submitting a job exactly once, over a connection that may drop.

A submission whose answer is lost (the connection dropped, or the command timed out)
may or may not have created a job, and its submit command may still be running on the
login node: sshd does not stop a command that has no terminal when the connection drops.
Sending it again blindly could start two servers for one spawn; giving up could leave a
job nobody tracks.

So the submit command runs under a *claim* (:mod:`batchspawner_x.claim`): a directory
named after the submission's *identity*, made with ``mkdir`` by the command itself, where
it keeps its pid and, once done, its output and exit code. After a lost answer the claim
is read:

- the exit code is there: the answer is in the claim (for every scheduler);
- the command still runs: it is waited for, up to the submit timeout; past that it is
  stopped (only a process whose command line names the claim, and its own child);
- the command died without an exit code: the scheduler is asked for the user's jobs
  carrying the identity (Slurm: in its comment); only when that shows none, after the
  command is known dead, is the submission sent again;
- there is no claim: no attempt got as far as ``mkdir``; sending again under the same
  claim is safe, as only one ``mkdir`` can succeed.

Backends that cannot look a job up by its identity never resend after a death without
an exit code: the error says that the outcome is unknown and how to recognise the job.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TypeAlias

from . import claim as claim_mod
from .claim import ClaimState, Holder
from .errors import ClaimFailed as ClaimFailed
from .errors import ClaimUnreadable, CommandTimeout, SubmitError, TransportError
from .errors import SubmissionUnknown as SubmissionUnknown
from .schedulers.base import CommandResult, Scheduler
from .states import StatusUnavailable
from .transport import Transport

#: Longest pause between two attempts to ask the scheduler about a lost submission.
MAX_LOOKUP_DELAY = 8.0
#: Longest pause between two readings of a claim whose submit command still runs.
MAX_CLAIM_DELAY = 4.0
#: Seconds to wait for a stopped submit command to die.
STOP_WAIT = 10.0
#: Seconds a job of a submit command that died is looked for (it may have sent its
#: request just before it died, and the scheduler may take a moment to list the job).
DEAD_SETTLE = 5.0
#: Bytes of a submit command's output read back from its claim.
MAX_ANSWER = 65536


def new_identity() -> str:
    """A fresh submission identity: ``bsx-`` and 16 hex digits, safe in any argv or script."""
    return "bsx-" + secrets.token_hex(8)


@dataclass(frozen=True)
class Submitted:
    """The job a submission made."""

    job_id: str
    #: True when the submission may have made another job than this one: its answer was
    #: lost and the job was found by its identity, or it was sent again after an attempt
    #: that died (see the spawner's ``poll()`` and ``stop()``).
    answer_lost: bool = False


Log: TypeAlias = "logging.Logger | logging.LoggerAdapter[logging.Logger]"


async def submit(
    transport: Transport,
    scheduler: Scheduler,
    script: str,
    identity: str,
    *,
    claim: str,
    timeout: float,
    lookup_timeout: float,
    command_timeout: float,
    attempts: int,
    log: Log,
    job_name: str = "",
) -> Submitted:
    """Submit ``script`` under the claim directory ``claim`` and return its job; never send
    it again while an attempt that may still make a job runs.

    A lost answer is settled by :func:`settle`: the claim holds the answer, or the first
    attempt is waited for (``timeout`` more seconds, then stopped), or, when it died without
    an answer, the scheduler is asked for the identity (for up to ``lookup_timeout`` seconds
    while it cannot answer). Only a submission known not to have made a job is sent again,
    at most ``attempts`` times in all. Raises :class:`~batchspawner_x.errors.SubmitError`
    when the scheduler refuses the job, :class:`~batchspawner_x.errors.TransportError` when
    nothing was sent, and :class:`SubmissionUnknown` when it is not known whether the job
    arrived.
    """
    argv = claim_mod.claim_argv(claim, script, scheduler.submit_argv(identity, script))
    resent = False  # sent again after an attempt that died: its job could still show late
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            result = await transport.run(argv, input=script, timeout=timeout, idempotent=False)
        except TransportError as lost:
            if not lost.maybe_sent:
                raise  # nothing reached the login node
            if isinstance(lost, CommandTimeout):  # (named after the claim's sh, not the command)
                submit = scheduler.command("submit")
                lost = CommandTimeout(
                    f"{submit} did not answer within {timeout:g}s", command=submit, timeout=timeout
                )
            cause = f"the answer to submission {identity} was lost ({lost})"
        else:
            problem = claim_mod.could_not_claim(result)
            if problem is not None:
                raise ClaimFailed(f"Cannot submit on {transport.describe()}: {problem}", identity=identity)
            if not claim_mod.was_taken(result):
                return Submitted(scheduler.parse_submit(result), answer_lost=resent)
            cause = f"an earlier attempt holds the claim of submission {identity}"
        submitted = await settle(
            transport,
            scheduler,
            identity,
            claim,
            cause=cause,
            wait=timeout,
            lookup_timeout=lookup_timeout,
            command_timeout=command_timeout,
            log=log,
            job_name=job_name,
        )
        if isinstance(submitted, Submitted):
            if resent:
                submitted = Submitted(submitted.job_id, answer_lost=True)
            return submitted
        if attempt >= attempts:
            raise SubmissionUnknown(
                f"{cause}; no job of it arrived, and it was sent {attempt} times without an answer",
                identity=identity,
            ) from None
        log.warning(
            "%s; its submit command %s and made no job; submitting again", cause, submitted.describe()
        )
        # a command that died may have sent its request just before: its job could show late
        resent = resent or submitted is Holder.DEAD
    raise AssertionError("unreachable")  # pragma: no cover


async def settle(
    transport: Transport,
    scheduler: Scheduler,
    identity: str,
    claim: str,
    *,
    cause: str,
    wait: float,
    lookup_timeout: float,
    command_timeout: float,
    log: Log,
    job_name: str = "",
) -> Submitted | Holder:
    """After a lost answer: the job the submission made; or, when it made none and will
    make none, what its submit command did (its claim is then free again, so that it may be
    sent once more): :attr:`Holder.ABSENT` (never started), :attr:`Holder.DONE` (stopped on
    an incomplete script) or :attr:`Holder.DEAD`.

    Raises :class:`~batchspawner_x.errors.SubmitError` when the claim shows the scheduler
    refused the job, and :class:`SubmissionUnknown` when it cannot be known.
    """
    state = await watch_claim(
        transport, claim, wait=wait, stop=True, command_timeout=command_timeout, read_timeout=lookup_timeout
    )
    what = f"job {job_name!r}" if job_name else "the job"
    if state.holder is Holder.DONE:
        if state.returncode is None:
            log.warning("%s: the job script arrived incomplete, so nothing was submitted", cause)
            await _free(transport, claim, command_timeout)
            return Holder.DONE
        result = await read_answer(transport, claim, state.returncode)
        try:
            job_id = scheduler.parse_submit(result)
        except SubmitError:
            if state.returncode < 128:
                raise  # the scheduler's own refusal
            # killed by a signal: it may have made its job before it could say so
        else:
            log.warning("%s; the claim on the login node holds the answer: job %s", cause, job_id)
            return Submitted(job_id)
    if state.holder is Holder.ABSENT:
        return Holder.ABSENT  # no attempt took the claim: one sent now takes it, or finds it taken
    if not scheduler.finds_by_identity():
        raise SubmissionUnknown(
            f"{cause}, and its submit command {state.holder.describe()}; "
            f"{scheduler.display_name} cannot be asked whether it arrived: if it did, {what} "
            "is not tracked by the hub and needs to be cancelled by hand",
            identity=identity,
        )
    still = state.holder.may_still_submit
    found = await find(
        transport,
        scheduler,
        identity,
        cause=cause,
        timeout=lookup_timeout if still else min(lookup_timeout, DEAD_SETTLE),
        command_timeout=command_timeout,
        job_name=job_name,
        settle=True,
    )
    if found:
        job_id, *extra = found
        log.warning("%s; it is job %s", cause, job_id)
        for other in extra:
            await _cancel_extra(transport, scheduler, other, identity, command_timeout, log)
        return Submitted(job_id, answer_lost=True)
    if still:
        raise SubmissionUnknown(
            f"{cause}; its submit command {state.holder.describe()}, and no job of it appeared "
            f"within {lookup_timeout:g}s; it is not sent again while the first attempt may still "
            "arrive",
            identity=identity,
        )
    await _free(transport, claim, command_timeout)
    return Holder.DEAD


@dataclass(frozen=True)
class Recovered:
    """What :func:`recover` found."""

    #: The submission's jobs, lowest first.
    jobs: list[str]
    #: True when the claim's own answer says so (the submission made no other job).
    certain: bool


async def recover(
    transport: Transport,
    scheduler: Scheduler,
    identity: str,
    claim: str,
    *,
    wait: float,
    stop: bool,
    command_timeout: float,
    job_name: str = "",
) -> Recovered:
    """The jobs of a submission whose answer never reached the spawner (the hub was killed
    while submitting), lowest first; none if it made none.

    Waits up to ``wait`` seconds for a submit command that still runs, and then stops it
    if ``stop``. Raises :class:`SubmissionUnknown` when it cannot be known yet.
    """
    state = await watch_claim(
        transport, claim, wait=wait, stop=stop, command_timeout=command_timeout, read_timeout=0
    )
    if state.holder is Holder.DONE:
        if state.returncode is None:
            return Recovered([], certain=True)
        result = await read_answer(transport, claim, state.returncode)
        try:
            return Recovered([scheduler.parse_submit(result)], certain=True)
        except SubmitError:
            if state.returncode < 128:
                return Recovered([], certain=True)
    if state.holder is Holder.ABSENT and not scheduler.finds_by_identity():
        return Recovered([], certain=True)  # (a claim is made before anything is submitted)
    found = await find(
        transport, scheduler, identity, timeout=0, command_timeout=command_timeout, job_name=job_name
    )
    if not found and state.holder.may_still_submit:
        raise SubmissionUnknown(
            f"the submit command of submission {identity} {state.holder.describe()}, "
            "and no job of it shows yet",
            identity=identity,
        )
    return Recovered(found, certain=False)


async def watch_claim(
    transport: Transport,
    claim: str,
    *,
    wait: float,
    stop: bool,
    command_timeout: float,
    read_timeout: float,
) -> ClaimState:
    """Read ``claim`` until its holder no longer runs, for up to ``wait`` seconds; then, if
    ``stop``, stop a holder still running and wait (up to :data:`STOP_WAIT`) for it to die.

    A claim that cannot be read is read again for up to ``read_timeout`` seconds, then
    :class:`SubmissionUnknown` is raised.
    """
    deadline = time.monotonic() + wait
    read_deadline = time.monotonic() + read_timeout
    delay = 0.25
    action = "look"
    stopping_since: float | None = None
    while True:
        try:
            state = claim_mod.parse_inspect(
                await transport.run(claim_mod.inspect_argv(claim, action), timeout=command_timeout)
            )
        except (TransportError, ClaimUnreadable) as e:
            if time.monotonic() + delay > max(read_deadline, deadline):
                raise SubmissionUnknown(f"cannot read the submission claim {claim}: {e}") from None
        else:
            action = "look"
            if state.holder not in (Holder.RUNNING, Holder.UNKNOWN):
                return state
            now = time.monotonic()
            if now + delay > deadline:
                if not stop or state.holder is Holder.UNKNOWN:
                    return state
                if stopping_since is None:
                    stopping_since, action = now, "kill"
                    continue
                if now - stopping_since > STOP_WAIT:
                    return state
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_CLAIM_DELAY)


async def read_answer(transport: Transport, claim: str, returncode: int) -> CommandResult:
    """The submit command's answer as the claim keeps it."""
    out, err = claim_mod.output_paths(claim)
    try:
        stdout = await transport.read_tail(out, MAX_ANSWER)
        stderr = await transport.read_tail(err, MAX_ANSWER)
    except TransportError as e:
        raise SubmissionUnknown(f"cannot read the answer kept in {claim}: {e}") from None
    return CommandResult(returncode, _text(stdout), _text(stderr))


async def _free(transport: Transport, claim: str, command_timeout: float) -> None:
    """Remove a claim whose holder is done or dead, so that a new attempt can take it."""
    try:
        state = claim_mod.parse_inspect(
            await transport.run(claim_mod.inspect_argv(claim, "clear"), timeout=command_timeout)
        )
    except (TransportError, ClaimUnreadable) as e:
        raise SubmissionUnknown(f"cannot free the submission claim {claim}: {e}") from None
    if state.holder is not Holder.ABSENT:  # pragma: no cover - only this spawner uses it
        raise SubmissionUnknown(f"the submission claim {claim} is {state.holder.value}, not free")


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", "replace") if data else ""


async def _cancel_extra(
    transport: Transport,
    scheduler: Scheduler,
    job_id: str,
    identity: str,
    timeout: float,
    log: Log,
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
    cause: object = None,
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
            f"if it did, {what} is not tracked by the hub and needs to be cancelled by hand",
            identity=identity,
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
                f"arrived ({error}); {what} carries that identity",
                identity=identity,
            ) from None
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_LOOKUP_DELAY)


def _job_order(job_id: str) -> tuple[int, str]:
    head = job_id.split(".", 1)[0].split("_", 1)[0]
    return (int(head), job_id) if head.isdigit() else (2**63, job_id)
