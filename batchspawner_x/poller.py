"""One shared, batched status query per cluster account.

Every spawner that talks to the same cluster as the same account registers
its job with one :class:`StatusPoller`. The poller asks the scheduler about
all of those jobs in one command, at most once per interval in the
background, and on demand when a caller needs fresher data than the cache
holds; concurrent demands share one query. ``poll()`` and ``progress()`` read
the cache.

A failed query changes nothing but the ``stale`` flag: the last known state is
kept, and a job is only reported finished when the scheduler says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Hashable
from dataclasses import dataclass, replace

from traitlets.log import get_logger

from .errors import TransportError
from .schedulers.base import Scheduler
from .states import JobState, JobStatus, StatusUnavailable
from .transport import Transport


@dataclass(frozen=True)
class CachedStatus:
    """A job's last known status, when it was read, and whether reads are failing."""

    status: JobStatus
    fetched_at: float
    stale: bool = False
    error: str | None = None


class StatusPoller:
    """Batched, cached job status for one (transport, scheduler)."""

    _registry: dict[Hashable, StatusPoller] = {}

    def __init__(
        self, transport: Transport, scheduler: Scheduler, *, interval: float, timeout: float
    ) -> None:
        self.transport = transport
        self.scheduler = scheduler
        self.interval = interval
        self.timeout = timeout
        self.cache: dict[str, CachedStatus] = {}
        self.tracked: set[str] = set()
        self.queries = 0
        self.last_error: str | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._loop_task: asyncio.Task[None] | None = None

    @classmethod
    def get(
        cls, transport: Transport, scheduler: Scheduler, *, interval: float, timeout: float
    ) -> StatusPoller:
        """The shared poller for this account and scheduler, created on first use."""
        key = (transport.key, scheduler.name, tuple(sorted(scheduler.commands.items())))
        poller = cls._registry.get(key)
        if poller is None:
            poller = cls._registry[key] = cls(transport, scheduler, interval=interval, timeout=timeout)
        else:
            poller.interval = min(poller.interval, interval)
        return poller

    # -- registration ------------------------------------------------------
    def track(self, job_id: str) -> None:
        self.tracked.add(job_id)
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.ensure_future(self._loop())

    def untrack(self, job_id: str) -> None:
        self.tracked.discard(job_id)
        self.cache.pop(job_id, None)

    # -- reading -----------------------------------------------------------
    def cached(self, job_id: str) -> CachedStatus | None:
        return self.cache.get(job_id)

    async def status(self, job_id: str, max_age: float) -> CachedStatus | None:
        """The job's status no older than ``max_age`` seconds if it can be had.

        Returns the last known (possibly stale) status when the scheduler
        cannot be asked, or None if nothing was ever known.
        """
        self.tracked.add(job_id)
        entry = self.cache.get(job_id)
        if entry is not None and not entry.stale and time.monotonic() - entry.fetched_at <= max_age:
            return entry
        await self.refresh()
        return self.cache.get(job_id)

    async def refresh(self) -> None:
        """Query every tracked job now, or wait for the query already running."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._query())
        # shield: one caller being cancelled must not cancel everybody's query
        await asyncio.shield(self._inflight)

    # -- internals ---------------------------------------------------------
    async def _loop(self) -> None:
        while self.tracked:
            await asyncio.sleep(self.interval)
            oldest = min((self.cache[j].fetched_at for j in self.tracked if j in self.cache), default=0.0)
            if time.monotonic() - oldest >= self.interval * 0.5:
                try:
                    await self.refresh()
                except Exception:  # never let the background loop die
                    get_logger().exception("Background status query failed")

    async def _query(self) -> None:
        job_ids = sorted(self.tracked)
        if not job_ids:
            return
        now = time.monotonic()
        self.queries += 1
        try:
            result = await self.transport.run(
                self.scheduler.status_argv(job_ids), timeout=self.timeout, idempotent=True
            )
            statuses = self.scheduler.parse_status(job_ids, result)
        except (StatusUnavailable, TransportError) as e:
            self.last_error = str(e)
            get_logger().warning(
                "Status query for %d job(s) on %s failed, keeping last known states: %s",
                len(job_ids),
                self.transport.describe(),
                e,
            )
            for jid in job_ids:
                old = self.cache.get(jid)
                if old is not None:
                    self.cache[jid] = replace(old, stale=True, error=str(e))
            return
        self.last_error = None
        for jid, status in statuses.items():
            if jid not in self.tracked:
                continue
            if status.state is JobState.GONE:
                # A purged job: keep what we knew of how it ended.
                old = self.cache.get(jid)
                if old is not None and old.status.state is JobState.FINISHED:
                    status = old.status
            elif status.state is JobState.FINISHED and status.exit_code is None:
                status = await self._with_exit_code(status)
            self.cache[jid] = CachedStatus(status, now)

    async def _with_exit_code(self, status: JobStatus) -> JobStatus:
        argv_builder = getattr(self.scheduler, "exit_code_argv", None)
        parser = getattr(self.scheduler, "parse_exit_code", None)
        old = self.cache.get(status.job_id)
        if old is not None and old.status.exit_code is not None:
            return replace(status, exit_code=old.status.exit_code)
        if argv_builder is None or parser is None:
            return status
        try:
            result = await self.transport.run(argv_builder(status.job_id), timeout=self.timeout)
        except TransportError:
            return status
        code = parser(result.stdout) if result.returncode == 0 else None
        return replace(status, exit_code=code)
