"""What the spawner's steps build on: its connections, its job's files and script,
the user's choice of resources, and the progress messages.

:class:`SpawnerCore` asks the spawner's :class:`~batchspawner_x.cluster.Cluster` for
connections, the scheduler backend, the shared poller and the partitions, and keeps
the per-user parts (the cluster account, the job directory, the chosen profile). The
steps of a spawn are in :mod:`batchspawner_x.server_wait` and
:mod:`batchspawner_x.spawner`.
"""

from __future__ import annotations

import asyncio
import datetime
import posixpath
from collections.abc import AsyncIterator
from typing import Any

from jupyterhub.utils import maybe_future
from tornado import web
from traitlets import TraitError, observe

from . import clusters as cluster_model
from . import handshake, job_events, profile_form
from . import profiles as profile_model
from .cluster import Cluster, ClusterConfig, login_targets
from .errors import ConfigError, OptionError
from .handshake import ENV_FILE
from .jobspec import JobPlace, JobSettings, early_signal_seconds, make_job_context
from .messages import describe_status
from .poller import StatusPoller
from .pool import SSHTarget
from .profile_scheduling import ClusterLists
from .schedulers.base import PartitionInfo, Scheduler
from .settings import InvalidSetting, invalid_setting
from .spawner_clusters import CLUSTER_SETTINGS, ClusterChoice
from .spawner_environments import EnvironmentChoice, lists_wanted
from .states import JobStatus
from .transport import Transport
from .units import optional_walltime_seconds
from .validation import check_path, check_username, slug


class SpawnerCore(ClusterChoice, EnvironmentChoice):
    """Connections, job files, resource choice and progress of one spawner."""

    # -- state ------------------------------------------------------------------
    job_id: str = ""
    job_dir_path: str = ""
    token_sha256: str = ""
    server_host: str = ""
    server_port: int = 0
    #: The identity the current submission carries (see :mod:`batchspawner_x.submission`).
    submission_id: str = ""
    #: Whether that submission's answer was lost: it may have made a second job.
    submission_uncertain: bool = False

    def __init__(self, **kwargs: Any) -> None:
        #: A setting refused while the hub reloads a running server: see _refuse.
        self.refused_setting: InvalidSetting | None = None
        try:
            super().__init__(**kwargs)
        except TraitError as e:  # a bad setting: refused with its name, for the user and the log
            self._refuse(invalid_setting(e), kwargs)
        try:  # each profile's cluster must be one of them; environments need their setting
            if self.clusters and self.profiles:
                self._profiles()
            self.check_profile_environments(profile_model.parse_profiles(self.profiles))
        except ConfigError as e:
            self._refuse(invalid_setting(TraitError(str(e))), kwargs)
        self._transport: Transport | None = None
        self._status_transport: Transport | None = None
        self._poller: StatusPoller | None = None
        self._home: str | None = None
        self._events: list[dict[str, Any]] = []
        self._events_changed = asyncio.Event()
        self._start_done = True
        self._awaiting_report = False
        self._reported: tuple[str, int] | None = None
        self._reported_job = ""
        self._report_event = asyncio.Event()
        self._choice: profile_model.Choice | None = None
        #: What the cluster read for this user's profile fields at the last start or form.
        self._lists: ClusterLists | None = None
        self._extras_checked = 0.0

    def _refuse(self, error: InvalidSetting, kwargs: dict[str, Any]) -> None:
        """Raise ``error``, unless the hub is loading a server that runs.

        A spawner is built for a new start (then the refusal is the spawn's 500, in words) or,
        at hub start, for each server still running. A traceback there would stop the whole
        hub, every user's server with it, for one spawner's setting; instead that spawner holds
        the refusal: it leaves its job as it is, reports it running, refuses to start, and does
        not cancel (the log says which job to cancel by hand) until the setting is fixed.
        """
        orm_spawner = kwargs.get("orm_spawner")
        if getattr(orm_spawner, "server", None) is None:
            raise error from None
        self.refused_setting = error
        self.log.error(
            "%s's server %r is left as it is: %s. Fix the setting and restart the hub.",
            getattr(kwargs.get("user"), "name", "?"),
            getattr(orm_spawner, "name", ""),
            str(error).rstrip("."),
        )

    # -- building blocks ---------------------------------------------------------
    @property
    def scheduler(self) -> Scheduler:
        """A backend of this spawner's scheduler (see :meth:`.Cluster.scheduler`)."""
        return self.cluster.scheduler()

    def _log_prefix(self) -> str:
        return f"[{self._log_name}{' job ' + self.job_id if self.job_id else ''}]"

    async def cluster_username(self) -> str:
        value = self.ssh_username
        name = await maybe_future(value(self)) if callable(value) else value.format(username=self.user.name)
        return self._check_account("ssh_username", str(name))

    def _check_account(self, field: str, name: str) -> str:
        """``name`` if it is a cluster user name the hub may act as (see :mod:`.accounts`)."""
        return self.check_cluster_account(field, check_username(field, name, self.cluster_username_pattern))

    @property
    def cluster(self) -> Cluster:
        """The cluster this spawner runs its jobs on, shared with every spawner of it.

        Found once from the settings that name it, and held until one of them changes
        (a site's setting applied late, or another cluster chosen for the next start).
        """
        if self._cluster is None:
            self._cluster = Cluster.of(self._cluster_config())
        return self._cluster

    @observe(*CLUSTER_SETTINGS)
    def _cluster_settings_changed(self, change: Any) -> None:
        self._cluster = None

    def _cluster_config(self) -> ClusterConfig:
        """The settings that name this spawner's cluster, as one hashable record."""
        login = SSHTarget(
            host=self.ssh_host,
            port=self.ssh_port,
            username="",
            keys=tuple(self.ssh_keys),
            known_hosts=self.ssh_known_hosts,
            connect_timeout=self.ssh_connect_timeout,
            keepalive_interval=self.ssh_keepalive_interval,
            max_sessions=self.ssh_max_sessions,
            idle_timeout=self.ssh_idle_timeout,
            reconnect_max_delay=self.ssh_reconnect_max_delay,
            ca_key=self.ssh_ca_key,
            cert_validity=self.ssh_certificate_validity,
            cert_source_address=tuple(self.ssh_certificate_source_address),
            # a tunnel is a port forward: only then may a certificate permit forwarding
            cert_port_forwarding=self.tunnel,
        )
        return ClusterConfig(
            scheduler_class=self.scheduler_class,
            commands=tuple(sorted(self.scheduler_commands.items())),
            connection=self.connection,
            login=login_targets(login, self.login_hosts),
            login_order=self.login_order,
            login_down_time=self.login_down_time,
            local_prefix=tuple(self.local_prefix),
            local_env_keep=tuple(self.local_env_keep),
            status_username=self.status_ssh_username,
            status_keys=tuple(self.status_ssh_keys),
        )

    def _make_transport(self, username: str, keys: list[str]) -> Transport:
        return self.cluster.transport(username, keys)

    async def transport(self) -> Transport:
        """The user's own connection: submits, cancels and the job's files."""
        if self._transport is None:
            self._transport = self._make_transport(await self.cluster_username(), self.ssh_keys)
        return self._transport

    async def status_transport(self) -> Transport:
        """The connection status queries run over: :attr:`status_ssh_username`'s if set
        (shared by every user), else the user's own."""
        if not self.status_ssh_username:
            return await self.transport()
        if self._status_transport is None:
            username = self._check_account("status_ssh_username", self.status_ssh_username)
            self._status_transport = self._make_transport(username, self.status_ssh_keys or self.ssh_keys)
        return self._status_transport

    async def poller(self) -> StatusPoller:
        """The status poller this spawner shares with every spawner of its status identity."""
        if self._poller is None or self._poller.closed:
            self._poller = self.cluster.poller(
                await self.status_transport(),
                interval=self.status_interval,
                timeout=self.status_timeout,
                fast_interval=self.startup_poll_interval,
            )
        return self._poller

    def server_key(self) -> str:
        """A file- and job-name-safe key, distinct for every (user, server name).

        ``+`` never occurs in a slug, so ``alice`` + ``x`` and ``alice-x`` differ.
        """
        key = slug(self.user.name)
        return f"{key}+{slug(self.name)}" if self.name else key

    async def resolve_job_dir(self) -> str:
        if self.job_dir_path:
            return self.job_dir_path
        relative = self.job_dir.format(server=self.server_key())
        if not relative.startswith("/"):
            if self._home is None:
                self._home = await (await self.transport()).home()
            relative = posixpath.join(self._home, relative)
        self.job_dir_path = check_path("job_dir", posixpath.normpath(relative))
        return self.job_dir_path

    def job_settings(self) -> JobSettings:
        """This spawner's settings that a job script reads, as plain values."""
        environment = self.chosen_environment(self.resource_choice())
        cmd = environment.cmd if environment is not None and environment.cmd else self.cmd
        return JobSettings(
            partition=self.partition,
            account=self.account,
            qos=self.qos,
            walltime=self.walltime,
            gpus=self.gpus,
            mem_limit=self.mem_limit,
            mem_guarantee=self.mem_guarantee,
            cpu_limit=self.cpu_limit,
            cpu_guarantee=self.cpu_guarantee,
            workdir=self.workdir,
            extra_directives=tuple(self.extra_directives),
            prologue=self.prologue,
            epilogue=self.epilogue,
            node_command=tuple(self.node_command),
            server_command=(*cmd, *self.get_args()),
            scheduler_options={
                name: self.scheduler_setting(name) for name in self.scheduler_class.context_settings
            },
            environment=environment,
            warning_seconds=tuple(self.walltime_warnings),
        )

    def job_context(self, job_dir: str, home: str) -> dict[str, Any]:
        """Everything the template may use, each value checked (see :mod:`.jobspec`). No I/O."""
        return make_job_context(
            self.job_settings(),
            self.resource_choice(),
            JobPlace(
                username=self.user.name,
                server_name=self.name,
                job_name=self._job_name(),
                job_dir=job_dir,
                home=home,
                env_file=posixpath.join(job_dir, ENV_FILE),
            ),
            self.scheduler,
        )

    def output_file(self, job_dir: str, job_id: str) -> str:
        return posixpath.join(job_dir, self.scheduler_class.output_name(job_id))

    def job_env(self) -> dict[str, str]:
        env = {k: str(v) for k, v in self.get_env().items()}
        env[handshake.BIND_IP_VAR] = self.ip
        env.update(self.network_env())
        lead = self.early_signal_seconds()
        if lead:
            env[job_events.SIGNAL_SECONDS_VAR] = str(lead)
        return env

    def early_signal_seconds(self) -> int:
        """The lead of the scheduler's early signal this job asks for (see
        :func:`~batchspawner_x.jobspec.early_signal_seconds`); 0 for none."""
        if not self.scheduler_class.supports_early_signal:
            return 0
        walltime = self.resource_choice().walltime or self.walltime
        return early_signal_seconds(
            tuple(self.walltime_warnings), optional_walltime_seconds("walltime", walltime)
        )

    def _job_name(self) -> str:
        return "jupyter-" + self.server_key()

    # -- profiles ---------------------------------------------------------------------
    def _user_groups(self) -> list[str]:
        return [g.name for g in getattr(self.user, "groups", None) or []]

    def _profiles(self) -> tuple[profile_model.Profile, ...]:
        """All the site's profiles, each naming a configured cluster or none."""
        profiles = profile_model.parse_profiles(self.profiles)
        specs = self.cluster_specs()
        cluster_model.check_profile_clusters(specs, profiles)

        def scheduler_of(profile: profile_model.Profile) -> type[Scheduler]:
            if not specs:
                return self.scheduler_class
            return self.cluster_prototype(profile.cluster or specs[0].name).scheduler_class

        self.check_profile_settings(profiles, scheduler_of)
        return profiles

    def _cluster_profiles(self) -> tuple[profile_model.Profile, ...]:
        """The profiles of the cluster this spawner is on (all of them with one cluster)."""
        profiles = self._profiles()
        specs = self.cluster_specs()
        if not specs:
            return profiles
        return profile_model.profiles_on(profiles, self.cluster_name or specs[0].name, specs[0].name)

    def resource_choice(self) -> profile_model.Choice:
        """What this spawn asks for: the profile resolved from ``user_options`` (kept in the
        state across hub restarts). Without :attr:`profiles`, an empty choice."""
        if self._choice is None:
            if not self.profiles or not self._cluster_profiles():
                return profile_model.Choice(profile="")
            options = {k: v for k, v in self._own_options().items() if k != "cluster"}
            self._choice = profile_model.resolve_choice(
                self._cluster_profiles(), self._user_groups(), options, self._cached_partitions(), self._lists
            )
        return self._choice

    def _own_options(self) -> dict[str, Any]:
        """``user_options`` without a wrapspawner parent's profile key (its choice, already
        applied as this child's settings), which is not the name of one of our profiles."""
        options = dict(self.user_options or {})
        profiles = self._profiles()
        if options.get("profile") in self._wrapper_profile_keys and not any(
            p.name == options["profile"] for p in profiles
        ):
            del options["profile"]
        return options

    def effective_partition(self) -> str:
        """The partition of this spawn: the chosen profile's, else :attr:`partition`."""
        return self.resource_choice().partition or self.partition

    def _cached_partitions(self) -> dict[str, PartitionInfo] | None:
        # per cluster account: sinfo hides partitions a user's groups may not use
        return self.cluster.cached_partitions(self._transport.key if self._transport is not None else ())

    async def cluster_partitions(self) -> dict[str, PartitionInfo] | None:
        """The scheduler's partitions and their limits, read at most every
        :attr:`cluster_limits_ttl` seconds for all users of this cluster; None if the
        scheduler cannot list them or the reading failed (then the configured bounds apply)."""
        if self.scheduler.partitions_argv() is None or not self.cluster_limits_ttl:
            return None
        try:
            transport = await self.transport()
        except ConfigError as e:  # a refused account: the spawn itself says so
            self.log.warning("%s cannot list the partitions: %s", self._log_prefix(), e)
            return None

        def warn(e: Exception) -> None:
            self.log.warning("%s cannot list the partitions: %s", self._log_prefix(), e)

        return await self.cluster.partitions(
            transport, ttl=self.cluster_limits_ttl, timeout=self.status_timeout, warn=warn
        )

    async def cluster_lists(
        self, profiles: tuple[profile_model.Profile, ...] | None = None
    ) -> ClusterLists | None:
        """What the cluster reads for this user's profile fields (``{"choices": "cluster"}``
        of a reservation, account or QOS), at most every :attr:`cluster_limits_ttl` seconds
        per cluster account; None when none of ``profiles`` (by default this cluster's)
        asks for them. A list the scheduler cannot give, or whose reading failed (logged),
        is None: only the site's choices are offered."""
        if profiles is None:
            profiles = self._cluster_profiles() if self.profiles else ()
        want_reservations, want_associations = lists_wanted(profiles)
        if not (want_reservations or want_associations) or not self.cluster_limits_ttl:
            return None
        scheduler = self.scheduler
        try:
            transport = await self.transport()
            user = await self.cluster_username()
        except ConfigError as e:  # a refused account: the spawn itself says so
            self.log.warning("%s cannot read the cluster's lists: %s", self._log_prefix(), e)
            return None

        def warn(e: Exception) -> None:
            self.log.warning("%s cannot read the cluster's lists: %s", self._log_prefix(), e)

        timing: dict[str, Any] = {
            "ttl": self.cluster_limits_ttl,
            "timeout": self.status_timeout,
            "warn": warn,
        }
        associations = None
        argv = scheduler.associations_argv(user) if want_associations else None
        if argv is not None:
            associations = await self.cluster.reading(
                "associations", transport, argv, scheduler.parse_associations, **timing
            )
        reservations = None
        argv = scheduler.reservations_argv() if want_reservations else None
        if argv is not None:
            accounts = tuple(associations or ())
            reservations = await self.cluster.reading(
                "reservations",
                transport,
                argv,
                lambda r: scheduler.parse_reservations(r, user, accounts),
                **timing,
            )
        self._lists = ClusterLists(reservations=reservations, associations=associations)
        return self._lists

    async def _render_options_form(self) -> str:
        """The spawn form: the clusters and profiles the user's groups may choose, the last
        choice selected."""
        specs = self.cluster_specs()
        if not specs:
            cluster = await self.cluster_partitions()
            return profile_form.render_form(
                self._profiles(),
                self._user_groups(),
                self.user_options,
                cluster,
                lists=await self.cluster_lists(),
                environments=self.site_environments(),
            )
        offered = [s for s in specs if s.allowed_for(self._user_groups())]
        if not offered:
            return "<p>No cluster is available to you; ask the site's administrators.</p>"
        partitions = await asyncio.gather(*(self._partitions_of(s.name) for s in offered))
        lists = await asyncio.gather(*(self._lists_of(s.name) for s in offered))
        return profile_form.render_form(
            self._profiles() if self.profiles else (),
            self._user_groups(),
            self.user_options,
            clusters=offered,
            partitions={s.name: found for s, found in zip(offered, partitions, strict=True)},
            lists_by_cluster={s.name: found for s, found in zip(offered, lists, strict=True)},
            environments=self.site_environments(),
        )

    async def _partitions_of(self, name: str) -> dict[str, PartitionInfo] | None:
        """The partitions the cluster called ``name`` lists for this user, for the form."""
        if name == self.cluster_name:
            return await self.cluster_partitions()
        proto = self.cluster_prototype(name)
        assert isinstance(proto, SpawnerCore)
        return await proto.cluster_partitions()

    async def _lists_of(self, name: str) -> ClusterLists | None:
        """What the cluster called ``name`` reads for this user's profile fields, for the form."""
        if name == self.cluster_name:
            return await self.cluster_lists()
        specs = self.cluster_specs()
        own = profile_model.profiles_on(self._profiles(), name, specs[0].name) if self.profiles else ()
        proto = self.cluster_prototype(name)
        assert isinstance(proto, SpawnerCore)
        return await proto.cluster_lists(own)

    async def _apply_profile(self, user_options: dict[str, Any]) -> None:
        """Check ``user_options`` against the clusters and profiles (from the form or the
        REST API alike) and keep the result for this spawn; a bad choice is a 400 naming
        the option."""
        specs = self.cluster_specs()
        if not self.profiles and not specs:
            if user_options:
                self.log.warning(
                    "%s ignoring user_options %s: no profiles are configured",
                    self._log_prefix(),
                    sorted(user_options),
                )
            return
        groups = self._user_groups()
        options = dict(user_options or {})
        try:
            if specs:
                spec = cluster_model.requested_cluster(specs, self._profiles(), groups, options)
                options.pop("cluster", None)
                self.use_cluster(spec.name)
            if self.profiles and self._cluster_profiles():
                cluster = await self.cluster_partitions()
                self._choice = profile_model.resolve_choice(
                    self._cluster_profiles(), groups, options, cluster, await self.cluster_lists()
                )
            elif options:  # a cluster without profiles takes no other option
                raise OptionError(sorted(options)[0], "is not an option of this hub")
            else:
                self._choice = None
        except ConfigError as e:
            err = web.HTTPError(400, "%s", f"Invalid choice for {e.field}: {e.message}")
            err.jupyterhub_message = f"Invalid choice for {e.field}: {e.message}"  # type: ignore[attr-defined]
            raise err from None
        where = f" on cluster {self.cluster_name}" if self.cluster_name else ""
        summary = self._choice.summary() if self._choice is not None else "the cluster's defaults"
        self.log.info("%s resources %s%s", self._log_prefix(), summary, where)

    def _load_cluster(self, state: dict[str, Any]) -> None:
        """Go back to the cluster a saved job runs on (the first cluster for a job saved
        before the site declared several)."""
        specs = self.cluster_specs()
        if not specs or not (state.get("job_id") or state.get("submission")):
            return
        name = str(state.get("cluster") or specs[0].name)
        if cluster_model.find_cluster(specs, name) is None:
            self.log.error(
                "%s job %s runs on cluster %r, which is no longer configured: it is not polled or"
                " cancelled; cancel it on that cluster by hand",
                self._log_prefix(),
                state.get("job_id") or "(being submitted)",
                name,
            )
            self.cluster_missing = name
            return
        self.use_cluster(name)

    # -- progress -------------------------------------------------------------------
    def _emit(self, message: str, progress: int | None = None) -> None:
        if self._events and self._events[-1]["message"] == message:
            return
        event: dict[str, Any] = {"message": message}
        if progress is not None:
            event["progress"] = progress
        self._events.append(event)
        self.log.info("%s %s", self._log_prefix(), message)
        self._events_changed.set()

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        sent = 0
        while True:
            while sent < len(self._events):
                yield self._events[sent]
                sent += 1
            if self._start_done:
                return
            self._events_changed.clear()
            await _wait_event(self._events_changed, 1.0)

    def _describe_status(self, status: JobStatus) -> str:
        gpus = self.resource_choice().gpus if self.profiles else None
        return describe_status(
            status,
            self.scheduler,
            gpus=self.gpus if gpus is None else gpus,
            today=datetime.date.today(),
        )


async def _wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True


__all__ = ["SpawnerCore"]
