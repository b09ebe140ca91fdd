"""The spawner: a notebook server as a batch job on an HPC cluster.

:class:`BatchSpawnerBase` holds everything that does not depend on the
scheduler; each scheduler's spawner only names its
:class:`~batchspawner_x.schedulers.base.Scheduler` and its scheduler-specific
settings. This module has the spawner's life: its state, and starting, polling
and stopping the job. It builds, one layer on the other, on
:mod:`~batchspawner_x.spawner_traits` (the settings),
:mod:`~batchspawner_x.spawner_core` (connections through the
:class:`~batchspawner_x.cluster.Cluster`, the job's files and script, the user's
choice, progress) and :mod:`~batchspawner_x.server_wait` (the port handshake and
the wait for the server).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import hashlib
import posixpath
import time
from typing import Any

from jupyterhub.spawner import Spawner
from sqlalchemy import inspect as sa_inspect
from tornado import web
from traitlets import default

from . import api, cancel, handshake, job_api, job_events_api, node_side, profile_form, submission
from . import profiles as profile_model
from .accounts import AccountRefused
from .claim import claim_dir
from .compat import render_batch_script
from .errors import (
    BatchSpawnerError,
    ConfigError,
    JobEndedError,
    SubmitError,
    TemplateError,
    TransportError,
)
from .handshake import CERT_DIR, CERT_FILES, ENV_FILE, SERVER_FILE
from .job_info import JobInfo, build_job_info
from .reach import ServerUnreachable
from .script import render
from .server_wait import ServerWait
from .spawner_end import SessionEnd
from .spawner_extend import WalltimeExtension
from .states import StatusUnavailable
from .submission import SubmissionUnknown, Submitted, new_identity
from .transport import Transport
from .units import walltime_seconds

api.register()
job_api.register()
job_events_api.register()

#: Seconds between two looks, while a submission's answer was lost, for other jobs it made.
EXTRA_JOB_CHECK = 10.0


def spawn_error(message: str, *, reason: str, status: int = 400) -> Exception:
    """An error JupyterHub shows to the user as is (SpawnException on 6.x)."""
    try:
        from jupyterhub.spawner import SpawnException
    except ImportError:  # JupyterHub 5
        err = web.HTTPError(status, message)
        err.jupyterhub_message = message  # type: ignore[attr-defined]
        return err
    exc: Exception = SpawnException(message, reason=reason, status_code=status)
    return exc


class BatchSpawnerBase(SessionEnd, WalltimeExtension, ServerWait, Spawner):
    """Runs each notebook server as a job of a batch scheduler.

    Scheduler-independent settings live here, so a site may keep them under
    ``c.BatchSpawnerBase`` whichever scheduler it uses.
    """

    @default("options_form")
    def _default_options_form(self) -> Any:
        return BatchSpawnerBase._form_with_last_end if self.profiles or self.clusters else ""

    @default("options_from_form")
    def _default_options_from_form(self) -> Any:
        if not self.profiles and not self.clusters:
            return self._passthrough_options_from_form
        return profile_form.options_from_form

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return BatchSpawnerBase._apply_profile

    # -- the job script ------------------------------------------------------------
    async def render_script(self, home: str | None = None) -> str:
        """The job script this spawner would submit now (also used by the preview command).

        ``home``: the user's home directory on the cluster, if known; then nothing is
        asked of the cluster (``batchspawner-x render`` works offline).
        """
        if home is not None:
            self._home = home
        job_dir = await self.resolve_job_dir()
        home = self._home or await (await self.transport()).home()
        context = self.job_context(job_dir, home)
        if self.batch_script:  # the predecessor's setting (compat.py)
            return render_batch_script(self, context, home)
        return await asyncio.to_thread(
            functools.partial(
                render,
                self.template,
                context,
                tuple(self.template_paths),
                require_shebang=self.scheduler_class.script_is_shell,
            )
        )

    # -- state ------------------------------------------------------------------
    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.job_id = str(state.get("job_id", ""))
        self.job_dir_path = str(state.get("job_dir", ""))
        self.token_sha256 = str(state.get("token_sha256", ""))
        self.server_host = str(state.get("host", ""))
        self.server_port = int(state.get("port", 0) or 0)
        self.submission_id = str(state.get("submission", ""))
        self.submission_uncertain = bool(state.get("submission_uncertain", False))
        self._choice = profile_model.Choice.from_state(state.get("resources", {}))
        self._load_cluster(state)
        self._load_end(state)

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self.job_id:
            state.update(
                job_id=self.job_id,
                job_dir=self.job_dir_path,
                token_sha256=self.token_sha256,
                scheduler=self.scheduler_class.name,
            )
            if self.server_port:
                state.update(host=self.server_host, port=self.server_port)
        if self.submission_id:
            # saved before the job id exists: a hub killed during the submission finds the job
            state.update(
                submission=self.submission_id, job_dir=self.job_dir_path, token_sha256=self.token_sha256
            )
            if self.submission_uncertain:
                state["submission_uncertain"] = True
        if (self.job_id or self.submission_id) and self._choice is not None:
            state["resources"] = self._choice.to_state()
        if (self.job_id or self.submission_id) and self.cluster_name:
            state["cluster"] = self.cluster_name
        state.update(self._end_state())  # kept after the job, until the next one ends
        return state

    def clear_state(self) -> None:
        super().clear_state()
        self.job_id = ""
        self.job_dir_path = ""
        self.token_sha256 = ""
        self.server_host = ""
        self.server_port = 0
        self.submission_id = ""
        self.submission_uncertain = False
        self._reported = None
        self._choice = None

    def job_info(self, now: dt.datetime | None = None) -> JobInfo | None:
        """This server's job for its user (:mod:`batchspawner_x.job_info`): start, time
        limit, end and time left, from the saved state and the shared poller's last answer;
        no command runs. None while there is no job."""
        if not self.job_id:
            return None
        cached = self._poller.cached(self.job_id) if self._poller is not None else None
        walltime = (self._choice.walltime if self._choice is not None else None) or self.walltime
        try:
            requested: int | None = walltime_seconds("walltime", walltime) if walltime else None
        except ConfigError:
            requested = None
        info = build_job_info(
            self.job_id,
            cached.status if cached is not None else None,
            now=now or dt.datetime.now(dt.timezone.utc),
            cluster=self.cluster_name,
            node=self.server_host,
            profile=self._choice.profile if self._choice is not None else None,
            requested_seconds=requested,
            warnings=self.walltime_warnings,
        )
        return dataclasses.replace(info, extend=self.extend_offer(info.time_limit_seconds))

    def _save_state(self) -> None:
        """Persist state now, not only when start() returns: a hub killed while the job
        waits in the queue must find it again."""
        orm_spawner = self.orm_spawner
        if orm_spawner is None:
            return
        orm_spawner.state = self.get_state()
        session = sa_inspect(orm_spawner).session
        if session is not None:
            session.commit()

    async def _job_ended_failure(self, error: JobEndedError) -> Exception:
        """Cancel and clean up after a job that ended while starting; the spawn's error."""
        await self._cancel_quietly()
        return spawn_error(str(error), reason="job_ended", status=500)

    # -- Spawner API ---------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
        if self.refused_setting is not None:
            raise self.refused_setting
        self._events = []
        self._start_done = False
        self._reported = None
        try:
            return await self._start()
        finally:
            self._awaiting_report = False
            if self.job_id and self._poller is not None:
                # the server answers, or the start failed (a cancelled job is untracked already)
                self._poller.started(self.job_id)
            self._start_done = True
            self._events_changed.set()

    async def _start(self) -> tuple[str, int]:
        """The steps of a start: build the job and its files, submit it, wait for its
        server's report, then for its port. Each step turns its failures into the spawn's
        error, and cancels the job once there is one."""
        transport, job_dir, script = await self._prepare_job()
        job_id = await self._submit_job(transport, job_dir, script)
        host, port = await self._await_report()
        return await self._reach_server(job_id, host, port)

    async def _prepare_job(self) -> tuple[Transport, str, str]:
        """Check the settings, render the script and write the job's environment file; the
        user's connection, the job directory and the script."""
        self.token_sha256 = hashlib.sha256(self.api_token.encode()).hexdigest()
        try:
            self.check_reach_config(self.connection, self.internal_ssl, self.ssl_alt_names_include_local)
            transport = await self.transport()
            await self.status_transport()  # its account is checked now, before any connection
            job_dir = await self.resolve_job_dir()
            script = await self.render_script()
            env_data = handshake.env_file_body(self.job_env())
            await transport.remove([posixpath.join(job_dir, SERVER_FILE)])
            await transport.write_file(posixpath.join(job_dir, ENV_FILE), env_data)
        except AccountRefused as e:
            raise spawn_error(
                f"Cannot start a server as this cluster account: {e}", reason="config"
            ) from None
        except (ConfigError, TemplateError) as e:
            raise spawn_error(f"Cannot build the job: {e}", reason="config") from None
        except TransportError as e:
            raise spawn_error(f"Cannot reach the cluster: {e}", reason="connection", status=503) from None
        self.log.debug("%s job script:\n%s", self._log_prefix(), node_side.abridged(script))
        return transport, job_dir, script

    async def _submit_job(self, transport: Transport, job_dir: str, script: str) -> str:
        """Submit the job under a new submission identity (see :mod:`.submission`) and start
        watching it; its id."""
        sched = self.scheduler
        self.submission_id = new_identity()
        self._save_state()
        # a job that starts at once may report before the submission's answer arrives
        self._awaiting_report = True
        submitting = asyncio.ensure_future(
            submission.submit(
                transport,
                sched,
                script,
                self.submission_id,
                claim=claim_dir(job_dir, self.submission_id),
                timeout=self.submit_timeout,
                lookup_timeout=self.submit_timeout,
                command_timeout=self.status_timeout,
                attempts=self.submit_attempts,
                log=self.log,
                job_name=self._job_name(),
            )
        )
        identity = self.submission_id
        try:
            submitted = await asyncio.shield(submitting)
        except asyncio.CancelledError:
            # The submission may still create a job: wait for it and cancel that job.
            await self._cancel_submission(submitting, identity)
            raise
        except SubmitError as e:
            await self._remove_private_files(claim=True)
            self.job_dir_path = ""
            self.submission_id = ""
            raise spawn_error(
                f"{sched.display_name} rejected the job: {e.scheduler_message}", reason="scheduler"
            ) from None
        except TransportError as e:
            # a submission whose outcome is unknown keeps its claim: stop(), which the hub
            # calls next, reads it and cancels the job if it turns up
            await self._remove_private_files(claim=not isinstance(e, SubmissionUnknown))
            if not isinstance(e, SubmissionUnknown):
                self.submission_id = ""  # nothing reached the scheduler
            raise spawn_error(f"Cannot submit the job: {e}", reason="connection", status=503) from None

        job_id = self.job_id = submitted.job_id
        # kept for the job's life: if the answer was lost, stop() also cancels any other job
        # that the same submission may have made
        self.submission_uncertain = submitted.answer_lost
        if self._reported_job and not self.scheduler.same_job(self._reported_job, job_id):
            self._reported = None  # an early report from another job of this submission
        self._save_state()
        (await self.poller()).track(job_id, starting=True)
        partition = self.effective_partition()
        where = f" to partition {partition}" if partition else ""
        self._emit(f"Submitted {sched.display_name} job {job_id}{where}", 20)
        return job_id

    async def _await_report(self) -> tuple[str, int]:
        """Wait for the job to report its server's address, and check the host it names;
        cancel the job if that fails."""
        try:
            host, port = await self._wait_for_server()
            await self.check_reported_host(host)
        except asyncio.CancelledError:
            self.log.info("%s spawn cancelled; cancelling the job", self._log_prefix())
            await self._cancel_quietly()
            raise
        except JobEndedError as e:
            raise await self._job_ended_failure(e) from None
        except BatchSpawnerError as e:
            await self._cancel_quietly()
            raise spawn_error(str(e), reason="error", status=500) from None
        except Exception:
            await self._cancel_quietly()
            raise
        return host, port

    async def _reach_server(self, job_id: str, host: str, port: int) -> tuple[str, int]:
        """Keep the reported address, then wait until the hub reaches the server (through a
        tunnel if configured); the address and port the hub connects to."""
        self.server_host, self.server_port = host, port
        self._save_state()
        node = await self._job_node()
        on = f" on {node}" if node else ""
        self._emit(f"Job {job_id} is running{on}; its notebook server is starting at {host}:{port}", 90)
        try:
            address, connect_port = await self.server_address(host, port)
            if self._forward is not None:
                self._emit(f"Reaching the server through {self._forward.describe()}", 95)
            await self._wait_until_listening(address, connect_port)
        except asyncio.CancelledError:
            await self._cancel_quietly()
            raise
        except JobEndedError as e:
            raise await self._job_ended_failure(e) from None
        except (ConfigError, TransportError, ServerUnreachable) as e:
            await self._cancel_quietly()
            raise spawn_error(str(e), reason="unreachable", status=500) from None
        except Exception:  # a site's connect_address callable, say: no orphaned job
            await self._cancel_quietly()
            raise
        return address, connect_port

    async def _cancel_submission(self, submitting: asyncio.Future[Submitted], identity: str) -> None:
        """After a cancelled spawn: cancel the job its submission made, if any. The hub may
        have stopped and cleared this spawner meanwhile, so the identity is passed in."""
        try:
            self.job_id = (await asyncio.wait_for(submitting, self.submit_timeout)).job_id
        except Exception:
            self.submission_id = identity  # stop() looks the submission up
        self.submission_uncertain = True
        await self._cancel_quietly()

    async def _adopt_submission(self, timeout: float, *, stop: bool = False) -> bool:
        """Find the job of a submission whose answer never arrived (the hub was killed
        while submitting) and make it this spawner's job: from the answer its claim keeps,
        else by its identity. Waits ``timeout`` seconds for a submit command that still
        runs, and then stops it if ``stop``. False if there is no job; raises
        :class:`~batchspawner_x.submission.SubmissionUnknown` if it cannot be known yet."""
        claim = claim_dir(self.job_dir_path, self.submission_id) if self.job_dir_path else ""
        found = await submission.recover(
            await self.transport(),
            self.scheduler,
            self.submission_id,
            claim,
            wait=timeout,
            stop=stop,
            command_timeout=self.status_timeout,
            job_name=self._job_name(),
        )
        if not found.jobs:
            return False
        self.job_id = found.jobs[0]
        self.submission_uncertain = not found.certain
        self.log.info("%s found the job of submission %s", self._log_prefix(), self.submission_id)
        self._save_state()
        return True

    async def _cancel_other_jobs_of_submission(self, keep: str) -> None:
        """Cancel every job but ``keep`` that carries this spawn's submission identity: a
        submission whose answer was lost may have made one more job than the spawner
        tracks. Best effort: such a job could not serve anyway (its report is refused)."""
        if not self.scheduler.finds_by_identity():
            return
        transport = await self.transport()
        try:
            found = await submission.find(
                transport, self.scheduler, self.submission_id, timeout=0, command_timeout=self.status_timeout
            )
            self._extras_checked = time.monotonic()
            for other in found:
                if not self.scheduler.same_job(other, keep):
                    self.log.warning(
                        "%s cancelling job %s, another job of submission %s",
                        self._log_prefix(),
                        other,
                        self.submission_id,
                    )
                    # one attempt now, then the background: poll() does not wait for it
                    await self._send_cancel(transport, other, patience=0)
        except (TransportError, StatusUnavailable) as e:
            self.log.warning("%s cannot look for other jobs of its submission: %s", self._log_prefix(), e)

    async def _cancel_quietly(self) -> None:
        try:
            await self.stop()
        except Exception:
            self.log.exception("%s failed to cancel the job", self._log_prefix())

    async def get_url(self) -> str:
        if self.refused_setting is not None:  # as recorded: the job cannot be asked
            recorded: str = await super().get_url()
            return recorded
        proto = "https" if self.internal_ssl else "http"
        if not (self.server_host and self.server_port) and self.job_id:
            # The hub restarted while this job was starting: find its server.
            try:
                host, port = await asyncio.wait_for(self._wait_for_server(), self.start_timeout)
                await self.check_reported_host(host)
            except Exception as e:
                (await self.poller()).started(self.job_id)
                self.log.warning("%s cannot find the server of the job: %s", self._log_prefix(), e)
                url: str = await super().get_url()
                return url
            self.server_host, self.server_port = host, port
            self._save_state()
        if self.server_host and self.server_port:
            found = await self.server_address_within(self.server_host, self.server_port, self.http_timeout)
            if self.job_id:
                (await self.poller()).started(self.job_id)  # (found after a restart: fast until here)
            if found is None:
                url = await super().get_url()
                return url
            host, port = found
            if ":" in host:
                host = f"[{host}]"
            return f"{proto}://{host}:{port}"
        url = await super().get_url()
        return url

    async def poll(self) -> int | None:
        if self.refused_setting is not None:  # the job cannot be asked about: left as it is
            return None if self.job_id or self.submission_id else 0
        if self.cluster_missing:
            return 1  # its cluster left the configuration (logged when the state was loaded)
        if not self.job_id and self.submission_id:
            try:
                if not await self._adopt_submission(timeout=0):
                    return 0
            except SubmissionUnknown as e:
                # a scheduler or login node hiccup is not a death
                self.log.warning("%s %s", self._log_prefix(), e)
                return None
        if not self.job_id:
            return 0
        if self.submission_uncertain and time.monotonic() - self._extras_checked > EXTRA_JOB_CHECK:
            # a job the lost submission made besides this one holds a slot: end it now
            await self._cancel_other_jobs_of_submission(self.job_id)
        poller = await self.poller()
        poller.track(self.job_id)
        cached = await poller.status(self.job_id, max_age=self.status_interval)
        if cached is None or cached.status.alive:
            return None
        self.log.info(
            "%s has ended (%s)", self._log_prefix(), cached.status.raw_state or cached.status.state.value
        )
        await self.record_end(cached)
        # JupyterHub does not call stop() for a server that poll() reports gone
        await self.close_tunnel()
        code = cached.status.exit_code
        return code if code is not None else 1

    async def stop(self, now: bool = False) -> None:
        if self.refused_setting is not None:
            self.log.error(
                "%s not cancelled (%s): cancel it on the cluster by hand",
                self._log_prefix(),
                self.refused_setting,
            )
            return
        await self.close_tunnel()
        if self.cluster_missing:
            self.log.warning(
                "%s not cancelled: its cluster %r is no longer configured",
                self._log_prefix(),
                self.cluster_missing,
            )
            self.job_id = self.submission_id = ""
            return
        if not self.job_id and self.submission_id:
            # a submission whose answer was lost: cancel its job if it arrived
            try:
                await self._adopt_submission(timeout=self.status_timeout, stop=True)
            except SubmissionUnknown as e:
                self.log.warning("%s %s", self._log_prefix(), e)
        job_id = self.job_id
        if not job_id:
            self.submission_id = ""
            return
        self.note_stopped_from_the_hub()
        transport = await self.transport()
        poller = await self.poller()
        if await self._send_cancel(transport, job_id):
            await cancel.wait_until_ended(
                poller,
                job_id,
                timeout=self.cancel_timeout,
                now=now,
                log=self.log,
                log_prefix=self._log_prefix(),
            )
            poller.untrack(job_id)
            if self.submission_uncertain:
                await self._cancel_other_jobs_of_submission(job_id)
            await self._remove_private_files(claim=True)
            self.log.info("%s stopped", self._log_prefix())
        else:
            poller.untrack(job_id)
        self.job_id = ""
        self.submission_id = ""
        self.submission_uncertain = False
        self.server_host, self.server_port = "", 0

    async def _send_cancel(self, transport: Transport, job_id: str, *, patience: float | None = None) -> bool:
        """Cancel ``job_id`` by :mod:`batchspawner_x.cancel`'s one rule, waiting up to
        :attr:`cancel_timeout` (or ``patience``) before the background takes over; True
        once the scheduler accepted it. JupyterHub forgets the job when stop() ends, even
        with an error, so this never raises."""
        prefix = self._log_prefix() if job_id == self.job_id else f"[{self._log_name} job {job_id}]"
        return await cancel.cancel(
            transport,
            self.scheduler,
            job_id,
            command_timeout=self.status_timeout,
            patience=self.cancel_timeout if patience is None else patience,
            log=self.log,
            log_prefix=prefix,
        )

    async def _remove_private_files(self, *, claim: bool = False) -> None:
        """Remove the token and certificates from the cluster, and with ``claim`` the
        submission's claim (once its submit command is known to be done); keep the job
        output."""
        if not self.job_dir_path:
            return
        d = self.job_dir_path
        paths = [posixpath.join(d, ENV_FILE), posixpath.join(d, SERVER_FILE)]
        paths += [posixpath.join(d, CERT_DIR, name) for name in CERT_FILES.values()]
        try:
            transport = await self.transport()
            await transport.remove(paths)
            if claim and self.submission_id:
                path = claim_dir(d, self.submission_id)
                await transport.run(["rm", "-rf", "--", path], timeout=self.status_timeout)
        except TransportError as e:
            self.log.warning("%s cannot remove private files: %s", self._log_prefix(), e)

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        """Copy the hub-made key, certificate and CA into the job directory (0600 files in
        0700 directories) and return the paths the job will use."""
        transport = await self.transport()
        job_dir = await self.resolve_job_dir()
        moved = {}
        for key, name in CERT_FILES.items():
            local = paths[key]
            data = await asyncio.to_thread(_read_bytes, local)
            remote = posixpath.join(job_dir, CERT_DIR, name)
            await transport.write_file(remote, data)
            moved[key] = remote
        self.log.info(
            "%s copied internal-SSL certificates to %s", self._log_prefix(), posixpath.join(job_dir, CERT_DIR)
        )
        return moved


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


__all__ = ["CERT_DIR", "ENV_FILE", "SERVER_FILE", "BatchSpawnerBase", "spawn_error"]
