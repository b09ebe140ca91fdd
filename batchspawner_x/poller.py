"""One shared, batched status query per cluster and status identity.

Every spawner whose status queries go to the same cluster as the same account
registers its job with one :class:`StatusPoller`. The poller's background loop
asks the scheduler about *all* of those jobs in one command (one "round"):

- every ``interval`` seconds while all tracked jobs run (steady state: one
  command per interval, whatever the number of jobs);
- every ``fast_interval`` seconds while at least one job is starting;
- sooner when a caller needs fresher data than the cache holds (a new job, a
  job just cancelled), but never sooner than ``min_spacing`` after the
  previous round: callers that ask meanwhile share the next round.

``poll()`` and ``progress()`` read the cache. A job counts as asked from the
moment a round that included it completed, successfully or not, so a failing
scheduler is not asked more often than a healthy one.

A failed query changes nothing but the ``stale`` flag: the last known state is
kept, and a job is only reported finished when the scheduler says so.

A slow or hanging status command does not hold the next round back: the next
round starts when it is due, beside it (at most :data:`MAX_ROUNDS_IN_FLIGHT`
rounds at once; an older round's answer never replaces a newer one's), and a
caller waits at most :data:`ROUND_PATIENCE` seconds for a round's answer (once
that round has started) before it gets the last known state. So ``poll()``
answers promptly from the cache whatever ``status_timeout`` is, and a hanging
scheduler is asked again every interval.
Lines a status command printed that the backend does not recognise (a login
shell's greeting) are logged once each.

Very long lists of job ids are split over several commands so that no
command line exceeds ``max_argv_bytes`` (Linux refuses a single argument over
128 kB).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

from traitlets.log import get_logger

from .errors import TransportError
from .schedulers.base import Scheduler
from .states import JobState, JobStatus, StatusUnavailable
from .transport import Transport

#: Largest status command line, in bytes, before the job ids are split over several commands.
MAX_ARGV_BYTES = 100_000
#: Rounds of one poller that may run at once: a hanging scheduler gets a new command every
#: interval, but no more than this many of them wait at once.
MAX_ROUNDS_IN_FLIGHT = 2
#: Longest time, in seconds, a caller waits for a started round's answer; then the caller gets
#: the last known state and the round goes on.
ROUND_PATIENCE = 5.0
#: Distinct unrecognised output lines logged per poller; later new ones are counted only.
MAX_LOGGED_LINES = 20


@dataclass(frozen=True)
class CachedStatus:
    """A job's last known status, since when it holds, and whether reads are failing."""

    status: JobStatus
    #: When (monotonic) the round that first reported this status started.
    since: float
    stale: bool = False
    error: str | None = None


class StatusPoller:
    """Batched, cached job status for one (status transport, scheduler)."""

    _registry: dict[Hashable, StatusPoller] = {}

    def __init__(
        self,
        transport: Transport,
        scheduler: Scheduler,
        *,
        interval: float,
        timeout: float,
        fast_interval: float | None = None,
        min_spacing: float = 0.5,
        max_argv_bytes: int = MAX_ARGV_BYTES,
        patience: float = ROUND_PATIENCE,
    ) -> None:
        self.transport = transport
        self.scheduler = scheduler
        self.interval = interval
        self.fast_interval = min(fast_interval or interval, interval)
        self.timeout = timeout
        self.min_spacing = min_spacing
        self.max_argv_bytes = max_argv_bytes
        #: Longest wait, in seconds, for a started round's answer before a caller gets the
        #: last known state.
        self.patience = patience
        self.cache: dict[str, CachedStatus] = {}
        self.tracked: set[str] = set()
        self.starting: set[str] = set()
        #: When (monotonic) the last completed round that included each job started.
        self.asked: dict[str, float] = {}
        #: Status commands run (more than rounds only when long id lists were split).
        self.queries = 0
        #: Rounds of status queries: one per interval in steady state.
        self.rounds = 0
        self.last_error: str | None = None
        self.last_round = float("-inf")
        self._demand = False
        self._wake: asyncio.Event | None = None
        # Set when the round that starts next (resp. each running round) has ended. Events,
        # not shielded futures: a waiter that is cancelled leaves the others waiting, and
        # a thousand waiters cost one wake-up each.
        self._next: asyncio.Event | None = None
        #: Running rounds, oldest first: (done, the job ids it asks about, when it started).
        self._running: list[tuple[asyncio.Event, frozenset[str], float]] = []
        self._round_tasks: set[asyncio.Task[None]] = set()
        self._logged_lines: set[str] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._exit_lookups: dict[str, asyncio.Task[None]] = {}
        #: Set by :meth:`close`; a closed poller is not handed out again.
        self.closed = False

    @classmethod
    def get(
        cls,
        transport: Transport,
        scheduler: Scheduler,
        *,
        interval: float,
        timeout: float,
        fast_interval: float | None = None,
    ) -> StatusPoller:
        """The shared poller for this account and scheduler, created on first use.

        Spawners configured with different intervals share the shortest.
        """
        key = (
            transport.key,
            scheduler.name,
            tuple(sorted(scheduler.commands.items())),
            scheduler.all_users,
        )
        poller = cls._registry.get(key)
        if poller is None or poller.closed:
            poller = cls._registry[key] = cls(
                transport, scheduler, interval=interval, timeout=timeout, fast_interval=fast_interval
            )
        else:
            poller.interval = min(poller.interval, interval)
            poller.fast_interval = min(poller.fast_interval, fast_interval or interval, poller.interval)
        return poller

    # -- registration ------------------------------------------------------
    def track(self, job_id: str, *, starting: bool = False) -> None:
        """Include ``job_id`` in every round; ``starting`` jobs make rounds come
        every ``fast_interval`` until :meth:`started` is called."""
        self.tracked.add(job_id)
        if starting and job_id not in self.starting:
            self.starting.add(job_id)
            self._poke()
        self._ensure_loop()

    def started(self, job_id: str) -> None:
        """``job_id`` no longer needs the fast interval (it runs, or its start was abandoned)."""
        self.starting.discard(job_id)

    def untrack(self, job_id: str) -> None:
        self.tracked.discard(job_id)
        self.starting.discard(job_id)
        self.cache.pop(job_id, None)
        self.asked.pop(job_id, None)
        self._exit_lookups.pop(job_id, None)

    # -- reading -----------------------------------------------------------
    def cached(self, job_id: str) -> CachedStatus | None:
        return self.cache.get(job_id)

    async def status(self, job_id: str, max_age: float) -> CachedStatus | None:
        """The job's status from a round no older than ``max_age`` seconds.

        Waits for the next round when the cache is older (that round may be
        shared with other callers and comes at most ``min_spacing`` after the
        previous one), but no longer than :attr:`patience` once that round has
        started: a scheduler that does not answer in time does not hold the
        caller. Returns the last
        known, possibly stale, status when the scheduler cannot be asked (or
        has not answered yet), or None if nothing was ever known.
        """
        self.tracked.add(job_id)
        asked = self.asked.get(job_id)
        if asked is None or time.monotonic() - asked > max_age:
            await self._wait_for_round(job_id)
        # also for a fresh answer from a round somebody else asked for: a finished job
        # read from the cache must come with its exit code
        entry = self.cache.get(job_id)
        if entry is not None and entry.status.state is JobState.FINISHED and entry.status.exit_code is None:
            lookup = self._exit_lookups.get(job_id)
            if lookup is None:
                lookup = self._exit_lookups[job_id] = asyncio.ensure_future(self._exit_code(job_id))
            await asyncio.shield(lookup)
            entry = self.cache.get(job_id)
        return entry

    async def _wait_for_round(self, job_id: str) -> None:
        """Wait for the newest running round that asks about ``job_id``, else for the next
        round; in either case at most :attr:`patience` after that round starts."""
        now = time.monotonic()
        for done, ids, started in reversed(self._running):
            if job_id in ids and not done.is_set():
                if started + self.patience > now:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(done.wait(), started + self.patience - now)
                return
        # the next round starts after min_spacing, unless rounds that hang hold it back
        limit = max(0.0, self.last_round + self.min_spacing - now) + self.patience
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.refresh(), limit)

    async def refresh(self) -> None:
        """Wait for a round that starts from now on and asks about every tracked job.

        Concurrent callers share one round.
        """
        waiter = self._next
        if waiter is None or waiter.is_set():
            # the first caller asks for a round; the others (a thousand spawners polled
            # at once) only wait for it
            waiter = self._next = asyncio.Event()
            self._demand = True
            self._ensure_loop()
            self._poke()
        await waiter.wait()

    def invalidate(self) -> None:
        """Take every cached status as old: the next read waits for a new round.

        The last known states stay (they are what a failing scheduler leaves).
        """
        self.asked.clear()

    # -- internals ---------------------------------------------------------
    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _ensure_loop(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.ensure_future(self._loop())

    def _due(self) -> float:
        """When the next round should start (monotonic)."""
        period = self.fast_interval if self.starting else self.interval
        due = self.last_round + period
        if self._demand:
            due = min(due, self.last_round + self.min_spacing)
        return due

    async def _loop(self) -> None:
        self._wake = wake = asyncio.Event()
        try:
            while self.tracked or self._demand:
                wait = self._due() - time.monotonic()
                if wait <= 0 and len(self._round_tasks) >= MAX_ROUNDS_IN_FLIGHT:
                    # as many rounds hang as may: the next starts when one of them ends
                    wake.clear()
                    await wake.wait()
                    continue
                if wait > 0:
                    # (not asyncio.wait_for: on Python < 3.12 it can swallow a cancellation
                    # that arrives as the event is set, and this loop would never end)
                    wake.clear()
                    timer = asyncio.get_running_loop().call_later(wait, wake.set)
                    try:
                        await wake.wait()
                    finally:
                        timer.cancel()
                    continue
                # not awaited: a round that hangs must not hold back the next one
                task = asyncio.ensure_future(self._round())
                self._round_tasks.add(task)
                task.add_done_callback(self._round_ended)
                await asyncio.sleep(0)  # let the round take its waiters before looking again
        finally:
            # Nobody may wait forever on a loop that has ended.
            if self._next is not None:
                self._next.set()
            for task in self._round_tasks:
                task.cancel()

    def _round_ended(self, task: asyncio.Task[None]) -> None:
        self._round_tasks.discard(task)
        self._poke()

    async def _round(self) -> None:
        done = self._next if self._next is not None and not self._next.is_set() else asyncio.Event()
        self._next = None
        self._demand = False
        job_ids = sorted(self.tracked)
        started = time.monotonic()
        self.last_round = started
        running = (done, frozenset(job_ids), started)
        self._running.append(running)
        try:
            if job_ids:
                self.rounds += 1
                await asyncio.gather(*(self._query(chunk, started) for chunk in self._chunks(job_ids)))
        except Exception:  # never let the background loop die
            get_logger().exception("Status query on %s failed", self.transport.describe())
        finally:
            self._running.remove(running)
            done.set()

    def _argv_bytes(self, job_ids: Sequence[str]) -> int:
        return sum(len(arg.encode()) + 1 for arg in self.scheduler.status_argv(job_ids))

    def _chunks(self, job_ids: list[str]) -> list[list[str]]:
        """``job_ids`` split in halves until each status command fits ``max_argv_bytes``."""
        if len(job_ids) <= 1 or self._argv_bytes(job_ids) <= self.max_argv_bytes:
            return [job_ids]
        mid = len(job_ids) // 2
        return self._chunks(job_ids[:mid]) + self._chunks(job_ids[mid:])

    async def _query(self, job_ids: list[str], started: float) -> None:
        self.queries += 1
        try:
            result = await self.transport.run(
                self.scheduler.status_argv(job_ids), timeout=self.timeout, idempotent=True
            )
            # parsed in a thread: thousands of lines must not stall the hub's event loop
            statuses = await asyncio.to_thread(self.scheduler.parse_status, job_ids, result)
        except (StatusUnavailable, TransportError) as e:
            self._log_unrecognised()
            self.last_error = str(e)
            get_logger().warning(
                "Status query for %d job(s) on %s failed, keeping last known states: %s",
                len(job_ids),
                self.transport.describe(),
                e,
            )
            for jid in job_ids:
                if jid not in self.tracked or self._newer(jid, started):
                    continue
                self.asked[jid] = started
                old = self.cache.get(jid)
                if old is not None:
                    self.cache[jid] = replace(old, stale=True, error=str(e))
            return
        self._log_unrecognised()
        self.last_error = None
        tracked, cache = self.tracked, self.cache
        for jid, status in statuses.items():
            if jid not in tracked or self._newer(jid, started):
                continue  # (a later round, beside a slow one, already answered)
            old = cache.get(jid)
            if old is not None:
                if old.status is status and not old.stale:
                    continue  # unchanged (most jobs, most rounds): nothing to store
                if old.status.state is JobState.FINISHED:
                    if status.state is JobState.GONE:
                        # A purged job: keep what we knew of how it ended.
                        status = old.status
                    elif status.state is JobState.FINISHED and status.exit_code is None:
                        status = replace(status, exit_code=old.status.exit_code)
                if status == old.status:
                    cache[jid] = CachedStatus(status, old.since)
                    continue
            cache[jid] = CachedStatus(status, started)
        self.asked.update(
            (jid, started) for jid in job_ids if jid in tracked and not self._newer(jid, started)
        )

    def _newer(self, job_id: str, started: float) -> bool:
        """Whether a round that started after ``started`` has already answered for ``job_id``."""
        return self.asked.get(job_id, float("-inf")) > started

    def _log_unrecognised(self) -> None:
        """Log, once each, the lines the status command printed that the backend skipped."""
        seen = self.scheduler.unrecognised
        if not seen or len(self._logged_lines) > MAX_LOGGED_LINES:
            return
        for line in list(seen):
            if line in self._logged_lines:
                continue
            self._logged_lines.add(line)
            if len(self._logged_lines) > MAX_LOGGED_LINES:
                get_logger().warning(
                    "More lines that %s's status command printed were not recognised; "
                    "no more of them are logged",
                    self.transport.describe(),
                )
                return
            get_logger().warning(
                "Ignoring a line that %s's status command printed and %s does not recognise "
                "(a login shell's greeting?; logged once): %r",
                self.transport.describe(),
                self.scheduler.display_name,
                line,
            )

    async def _exit_code(self, job_id: str) -> None:
        """Ask once for the exit code of a job seen finished without one.

        Only done for a job somebody reads (``status()``), never in the rounds:
        a thousand jobs ending at once must not cost a thousand commands
        nobody needs.
        """
        entry = self.cache.get(job_id)
        argv = self.scheduler.exit_code_argv(job_id) if self.scheduler.looks_up_exit_codes else None
        if entry is None or argv is None:
            return
        try:
            result = await self.transport.run(argv, timeout=self.timeout)
        except TransportError:
            return
        code = self.scheduler.parse_exit_code(result.stdout) if result.returncode == 0 else None
        entry = self.cache.get(job_id)
        if code is not None and entry is not None and entry.status.exit_code is None:
            self.cache[job_id] = replace(entry, status=replace(entry.status, exit_code=code))

    # -- shutting down -----------------------------------------------------
    def close(self) -> None:
        """Stop the background loop and forget every job."""
        self.closed = True
        self.tracked.clear()
        self.starting.clear()
        if self._loop_task is not None:
            self._loop_task.cancel()
        for task in self._exit_lookups.values():
            task.cancel()

    @classmethod
    def close_all(cls) -> None:
        """Stop every shared poller (hub shutdown, tests, benchmarks)."""
        for poller in cls._registry.values():
            poller.close()
        cls._registry.clear()
