"""Waiting for a job's notebook server: its address report, and its port.

The job reports its address to the hub's API (:meth:`ServerWait.accept_server_report`)
or, for a hub that restarted meanwhile, in its ``server.json``;
:meth:`ServerWait._wait_for_server` waits for either while the shared poller watches
the job, and :meth:`ServerWait._wait_until_listening` until the server accepts
connections. A job that ends first raises
:class:`~batchspawner_x.errors.JobEndedError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import posixpath
import time

from . import handshake, job_end
from .errors import JobEndedError, TransportError
from .handshake import SERVER_FILE
from .network import unreachable_message
from .poller import CachedStatus
from .reach import ServerUnreachable, describe_error, is_unreachable
from .spawner_core import SpawnerCore, _wait_event
from .states import JobState


class ServerWait(SpawnerCore):
    """The port handshake and the wait for a job's server to listen."""

    # -- the port handshake ------------------------------------------------------------
    def accept_server_report(self, token: str, host: str, port: int, job_id: str = "") -> bool:
        """Called by the API handler: True if ``token`` is this server's own.

        A report is taken while the spawner waits for one; later, only a repeat
        of the address already known is accepted (the job may have reported
        late, after a restarted hub found it through ``server.json``). A report
        that names another job than this spawner's (a second job of a submission
        whose answer was lost carries the same token) is refused: that job ends.
        """
        if not (self.token_sha256 and (self.job_id or self.submission_id)):
            return False
        digest = hashlib.sha256(token.encode()).hexdigest()
        if not hmac.compare_digest(digest, self.token_sha256):
            return False
        if job_id and self.job_id and not self.scheduler.same_job(job_id, self.job_id):
            self.log.warning("%s refused a report from job %s, not its own", self._log_prefix(), job_id)
            return False
        if self._awaiting_report:
            self._reported = (host, port)
            self._reported_job = job_id
            self._report_event.set()
            return True
        return (host, port) == (self.server_host, self.server_port)

    async def _read_server_file(self, job_dir: str) -> tuple[str, int] | None:
        transport = await self.transport()
        try:
            data = await transport.read_tail(posixpath.join(job_dir, SERVER_FILE), 4096)
        except TransportError as e:
            self.log.warning("%s cannot read %s: %s", self._log_prefix(), SERVER_FILE, e)
            return None
        if not data:
            return None
        try:
            host, port, reported_job = handshake.parse_server_file(data)
        except ValueError:
            self.log.warning("%s ignoring a malformed %s", self._log_prefix(), SERVER_FILE)
            return None
        if reported_job and not self.scheduler.same_job(reported_job, self.job_id):
            return None  # left over from an earlier job
        return host, port

    async def _wait_for_server(self) -> tuple[str, int]:
        """Wait until the job reports its address; raise :class:`JobEndedError` if the job
        ends first. The job stays in the poller's fast interval: whoever waits for its server
        to answer next calls ``poller.started`` once it does (or gives up)."""
        poller = await self.poller()
        job_dir = await self.resolve_job_dir()
        self._awaiting_report = True
        poller.track(self.job_id, starting=True)
        last_file_check = 0.0
        try:
            while True:
                if self._reported is not None:
                    return self._reported
                cached = await poller.status(self.job_id, max_age=self.startup_poll_interval)
                if cached is not None:
                    status = cached.status
                    if job_end.has_ended(status) and (ended := await self._job_ended_error(cached, job_dir)):
                        raise ended
                    if cached.stale:
                        self._emit(
                            f"Cannot read the state of job {self.job_id} from the scheduler "
                            f"({cached.error}); still waiting"
                        )
                    else:
                        self._emit(self._describe_status(status), 40 if status.state.queued else 70)
                    if status.state is JobState.RUNNING and time.monotonic() - last_file_check > 5:
                        last_file_check = time.monotonic()
                        found = await self._read_server_file(job_dir)
                        if found is not None:
                            return found
                self._report_event.clear()
                await _wait_event(self._report_event, self.startup_poll_interval)
        finally:
            self._awaiting_report = False

    async def _job_ended_error(self, cached: CachedStatus, job_dir: str) -> JobEndedError | None:
        """The error for a job seen ending while its server starts, before or after its report:
        final state, exit code and the last lines of its output (see :mod:`.job_end`). None if
        it lives on (requeued)."""
        return await job_end.job_ended_error(
            await self.poller(),
            await self.transport(),
            cached,
            self.output_file(job_dir, cached.status.job_id),
            self.output_tail_bytes,
        )

    async def _job_node(self) -> str | None:
        """The node the job runs on, as the scheduler reports it (fresh if not yet known)."""
        poller = await self.poller()
        cached = poller.cached(self.job_id)
        if cached is None or not cached.status.host:
            cached = await poller.status(self.job_id, max_age=0)
        return cached.status.host if cached is not None else None

    async def _wait_until_listening(self, host: str, port: int) -> None:
        """Wait, checking every 0.1 s, until the server accepts connections.

        The job reports its address before the server listens. JupyterHub checks the server
        itself once start() returns, but with a back-off that grows to 5 s between checks, so
        returning as soon as the port is open saves the user up to that much. Gives up quietly
        after ``http_timeout`` (the hub's own check then reports it). When the job ends first
        (a server command that exits at once), raises :class:`JobEndedError` within seconds:
        the job is still in the poller's fast interval.

        Through a :attr:`tunnel` the local end accepts at once, so the login node is asked
        instead whether the server's port is open. Without one, a hub that cannot connect
        asks the login node every few seconds; if the login node reaches the server, or if the
        hub's error means no route or no such name until ``http_timeout``, this raises
        :class:`ServerUnreachable` with a message naming the settings that help.
        """
        poller = await self.poller()
        forward = self._forward
        deadline = time.monotonic() + self.http_timeout
        next_probe = time.monotonic() + 1.0
        error: BaseException | None = None
        while time.monotonic() < deadline:
            if forward is not None:
                dest = (forward.dest_host, forward.dest_port)
                if await forward.transport.can_connect(*dest, timeout=1.0):
                    return
            else:
                error = await _connect_error(host, port)
                if error is None:
                    return
            cached = poller.cached(self.job_id)
            if cached is not None and job_end.has_ended(cached.status):
                ended = await self._job_ended_error(cached, await self.resolve_job_dir())
                if ended is not None:
                    raise ended
            if error is not None and time.monotonic() >= next_probe:
                next_probe = time.monotonic() + 3.0
                if await self.diagnose_unreachable(self._transport, self.server_host or host, port):
                    # The server may have started listening just after the hub's try: try again.
                    error = await _connect_error(host, port)
                    if error is None:
                        return
                    raise ServerUnreachable(
                        unreachable_message(host, port, describe_error(error), login_reaches=True),
                        host=host,
                        port=port,
                    )
            await asyncio.sleep(0.1)
        if error is not None and is_unreachable(error):
            raise ServerUnreachable(
                unreachable_message(host, port, describe_error(error), login_reaches=None),
                host=host,
                port=port,
            )


async def _connect_error(host: str, port: int, timeout: float = 1.0) -> BaseException | None:
    """Open and close a TCP connection to ``host:port``; the error, or None if it worked."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError) as e:
        return e
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


__all__ = ["ServerWait"]
