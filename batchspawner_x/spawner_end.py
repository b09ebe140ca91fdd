"""The hub's side of a session's end: why it ended, and the job's own news.

- :meth:`SessionEnd.record_end` asks the scheduler once how a job that ``poll()`` found
  ended (see :mod:`batchspawner_x.end_reasons`), reads the last lines of its output, logs
  the reason (a warning for a failure) and keeps it as :attr:`SessionEnd.last_end`, which
  the spawner's state carries across hub restarts and the spawn form shows on its top line.
- :meth:`SessionEnd.job_event` takes what the node side posts
  (:mod:`batchspawner_x.job_events_api`): a warning is kept as
  :attr:`SessionEnd.last_warning`; an end makes the hub look at the job at once and, if it
  has ended, tell JupyterHub now (``poll_and_notify``) instead of at its next poll.
"""

from __future__ import annotations

import asyncio
import html
import time
from typing import Any

from .end_reasons import EndReason, JobEndFacts, classify, parse_sacct, parse_scontrol, slurm_end_argvs
from .end_reasons import stopped_from_the_hub as stopped_reason
from .errors import TransportError
from .job_end import output_tail
from .job_events import JobEvent
from .poller import CachedStatus
from .spawner_core import SpawnerCore
from .states import JobStatus

#: Longest time, in seconds, the hub keeps looking at a job after its node side said it
#: ends: a job still running after this was not ending (polling remains the safety net).
PUSH_WATCH = 20.0
#: Tries, a second apart, while ``sacct`` does not show a job's end yet (slurmdbd hears of
#: it a moment after slurmctld).
SACCT_TRIES = 3


class SessionEnd(SpawnerCore):
    """Why the last session ended, and the job's warnings and end as its node side tells."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Why the last job of this spawner ended (None until one did).
        self.last_end: EndReason | None = None
        #: The last warning the job's node side sent: ``{"job_id", "seconds_left", "time",
        #: "source"}`` (``time`` the hub's epoch seconds on arrival), or None.
        self.last_warning: dict[str, Any] | None = None
        self._push_watch: asyncio.Task[None] | None = None

    # -- why it ended --------------------------------------------------------------
    async def record_end(self, cached: CachedStatus) -> EndReason:
        """Ask how the job seen ended in ``cached`` ended; keep, log and return the reason
        (once per job: a second call returns what the first found)."""
        status = cached.status
        if self.last_end is not None and self.last_end.job_id == status.job_id:
            return self.last_end
        facts = await self._end_facts(status)
        tail = await self._output_tail(status.job_id)
        reason = classify(facts, job_id=status.job_id, output_tail=tail, when=time.time())
        self.last_end = reason
        log = self.log.warning if reason.failure else self.log.info
        log(
            "%s ended: %s (state %s, exit code %s, from %s)%s",
            self._log_prefix(),
            reason.summary,
            reason.state or "unknown",
            reason.exit_code,
            facts.source,
            f"; last lines of its output:\n{tail}" if reason.failure and tail else "",
        )
        return reason

    def note_stopped_from_the_hub(self) -> None:
        """Record that the hub itself is stopping the running job (its stop())."""
        if self.job_id and self.server_port and not (self.last_end and self.last_end.job_id == self.job_id):
            self.last_end = stopped_reason(self.job_id, time.time())

    async def _end_facts(self, status: JobStatus) -> JobEndFacts:
        fallback = JobEndFacts(state=status.raw_state, exit_code=status.exit_code, source="status")
        if self.scheduler_class.name != "slurm":
            return fallback
        try:
            transport = await self.transport()
        except Exception as e:  # (no connection: what the poller saw is what there is)
            self.log.warning("%s cannot ask how the job ended: %s", self._log_prefix(), e)
            return fallback
        for name, argv in slurm_end_argvs(status.job_id, self.scheduler.commands):
            for attempt in range(SACCT_TRIES if name == "sacct" else 1):
                try:
                    result = await transport.run(argv, timeout=self.status_timeout)
                except TransportError:
                    break
                if result.returncode != 0:
                    break  # (sacct without slurmdbd: "accounting storage is disabled")
                facts = (
                    parse_sacct(result.stdout, status.job_id)
                    if name == "sacct"
                    else parse_scontrol(result.stdout)
                )
                if facts is not None:
                    return facts
                if not any(line.startswith(status.job_id + "|") for line in result.stdout.splitlines()):
                    break  # (accounting does not know the job: another cluster's, say)
                if attempt + 1 < SACCT_TRIES:
                    await asyncio.sleep(1)  # listed, not ended yet: slurmdbd is a moment behind
        return fallback

    async def _output_tail(self, job_id: str) -> str:
        if not self.job_dir_path:
            return ""
        path = self.output_file(self.job_dir_path, job_id)
        try:
            data = await (await self.transport()).read_tail(path, self.output_tail_bytes)
        except (TransportError, OSError):
            return ""
        return output_tail(data, self.output_tail_bytes)

    # -- the job's own news --------------------------------------------------------
    def job_event(self, event: JobEvent) -> bool:
        """Take an event the node side of this spawner's job posted; False if it is not
        this spawner's running job's (the caller then says so)."""
        if not self.job_id or not self.scheduler.same_job(event.job_id, self.job_id):
            return False
        if not event.is_end:
            self.last_warning = {
                "job_id": event.job_id,
                "seconds_left": event.seconds_left,
                "time": time.time(),
                "source": "scheduler",
            }
            self.log.info(
                "%s the scheduler warns: the job ends in about %s s", self._log_prefix(), event.seconds_left
            )
            return True
        self.log.info("%s its node side says the job ends (%s)", self._log_prefix(), event.event)
        if self._push_watch is None or self._push_watch.done():
            self._push_watch = asyncio.ensure_future(self._watch_for_end(self.job_id))
        return True

    async def _watch_for_end(self, job_id: str) -> None:
        """Ask the scheduler about ``job_id`` (rounds shared with everyone, at most one
        every half second) until it has ended, then let JupyterHub know; give up after
        :data:`PUSH_WATCH` seconds."""
        deadline = time.monotonic() + PUSH_WATCH
        try:
            poller = await self.poller()
            while time.monotonic() < deadline and self.job_id == job_id:
                if getattr(self, "_stop_pending", False) or getattr(self, "_spawn_pending", False):
                    return  # stopping or starting: those paths see the end themselves
                cached = await poller.status(job_id, max_age=0)
                if cached is not None and not cached.status.alive:
                    if getattr(self, "_callbacks", None):  # (JupyterHub watches this server)
                        await self.poll_and_notify()  # type: ignore[attr-defined]
                    return
                await asyncio.sleep(0.5)
        except Exception:
            self.log.exception("%s failed to act on the job's end", self._log_prefix())

    # -- state and the form --------------------------------------------------------
    def _load_end(self, state: dict[str, Any]) -> None:
        self.last_end = EndReason.from_state(state.get("last_end")) or self.last_end

    def _end_state(self) -> dict[str, Any]:
        return {"last_end": self.last_end.to_state()} if self.last_end is not None else {}

    async def _form_with_last_end(self) -> str:
        """The spawn form, its top line saying why the last session ended."""
        form: str = await self._render_options_form()
        if self.last_end is None:
            return form
        line = html.escape(self.last_end.message)
        return f'<p class="bsx-last-end alert alert-info">{line}</p>\n{form}'


__all__ = ["PUSH_WATCH", "SACCT_TRIES", "SessionEnd"]
