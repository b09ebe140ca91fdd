"""The spawner: a notebook server as a batch job on an HPC cluster.

:class:`BatchSpawnerBase` holds everything that does not depend on the
scheduler (SSH, templates, the port handshake, state, progress); each
scheduler's spawner only names its :class:`~batchspawner_x.schedulers.base.Scheduler`
and its scheduler-specific settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import hashlib
import hmac
import json
import posixpath
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from jupyterhub.spawner import Spawner
from jupyterhub.utils import maybe_future
from sqlalchemy import inspect as sa_inspect
from tornado import web
from traitlets import (
    Callable,
    Dict,
    Enum,
    Float,
    Integer,
    List,
    TraitError,
    Unicode,
    Union,
    default,
    validate,
)

from . import api, cancel, job_end, submission
from . import profiles as profile_model
from .accounts import AccountRefused, AccountsMixin
from .certificates import check_source_addresses
from .claim import claim_dir
from .cluster import Cluster, ClusterConfig
from .compat import PredecessorConfig, render_batch_script
from .errors import (
    BatchSpawnerError,
    ConfigError,
    JobEndedError,
    SubmitError,
    TemplateError,
    TransportError,
)
from .messages import describe_status
from .network import unreachable_message
from .poller import CachedStatus, StatusPoller
from .reach import ReachMixin, ServerUnreachable, describe_error, is_unreachable
from .schedulers.base import PartitionInfo, Scheduler
from .script import Trusted, render
from .settings import invalid_setting
from .states import JobState, JobStatus, StatusUnavailable
from .submission import SubmissionUnknown, Submitted, new_identity
from .transport import LOCAL_ENV_KEEP, Transport
from .validation import (
    check_line,
    check_name,
    check_path,
    check_username,
    check_walltime,
    cpu_count,
    memory_mb,
    slug,
)

api.register()

ENV_FILE = "env.json"
SERVER_FILE = "server.json"
CERT_DIR = "certs"
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


class BatchSpawnerBase(AccountsMixin, ReachMixin, PredecessorConfig, Spawner):
    """Runs each notebook server as a job of a batch scheduler.

    Scheduler-independent settings live here, so a site may keep them under
    ``c.BatchSpawnerBase`` whichever scheduler it uses.
    """

    #: The scheduler backend; set by each concrete spawner.
    scheduler_class: ClassVar[type[Scheduler]]

    # -- how to reach the cluster -------------------------------------------
    connection = Enum(
        ["ssh", "local"],
        default_value="ssh",
        config=True,
        help="""How scheduler commands reach the cluster.

        ``ssh``: over an SSH connection to :attr:`ssh_host` as the user (one pooled
        connection per host and user). ``local``: the hub runs on a login node and
        runs the commands itself as the user, behind :attr:`local_prefix`.
        """,
    )
    ssh_host = Unicode(
        "localhost",
        config=True,
        help="The cluster's login node, where the scheduler's commands are run.",
    )
    ssh_port = Integer(22, min=1, max=65535, config=True, help="SSH port of :attr:`ssh_host` (1-65535).")
    ssh_username = Union(
        [Unicode(), Callable()],
        default_value="{username}",
        config=True,
        help="""The cluster account the user's jobs run as.

        A string in which ``{username}`` is replaced by the JupyterHub user name, or a
        callable (sync or async) that takes the spawner and returns the name. The result
        must match :attr:`cluster_username_pattern`.
        """,
    )
    cluster_username_pattern = Unicode(
        r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}",
        config=True,
        help="Regular expression every cluster user name must match in full.",
    )
    ssh_keys = List(
        Unicode(),
        config=True,
        help="""Private key files used to log in; ``{username}`` is replaced as in
        :attr:`ssh_username`. Example: ``["/etc/jupyterhub/keys/{username}"]``.""",
    )
    ssh_ca_key = Unicode(
        "",
        config=True,
        help="""Private key of an SSH certificate authority that the login node trusts
        (``TrustedUserCAKeys`` in its ``sshd_config``); empty to log in with :attr:`ssh_keys`
        only.

        When set, the hub makes a new key pair for every SSH connection and signs it for one
        principal, the cluster user name, valid for :attr:`ssh_certificate_validity` seconds:
        no long-lived per-user key needs to exist. The same applies to
        :attr:`status_ssh_username`. Keep the file readable by the hub's account only.
        Example: ``"/etc/jupyterhub/ssh_user_ca"``.""",
    )
    ssh_certificate_validity = Float(
        300,
        min=1,
        config=True,
        help="""Seconds a certificate minted with :attr:`ssh_ca_key` stays valid (at least 1). sshd
        checks it only when a connection logs in, so this bounds how long a stolen certificate is
        of use, not how long a connection may last.""",
    )
    ssh_certificate_source_address = List(
        Unicode(),
        config=True,
        help="""Client addresses a certificate minted with :attr:`ssh_ca_key` may be used from:
        IPv4 or IPv6 addresses or CIDR networks, written into the certificate's
        ``source-address`` option; empty (the default) for anywhere.

        Give the address (or network) the hub connects to the login node from, for example
        ``["192.0.2.10"]`` or ``["10.20.0.0/24"]``; sshd then refuses the certificate from any
        other client address, so a certificate copied off the hub is of no use elsewhere even
        while it is valid. A value that is not an address or network is refused when the
        spawner is built, naming this setting.""",
    )
    ssh_known_hosts = Unicode(
        "/etc/ssh/ssh_known_hosts",
        config=True,
        help="""known_hosts file holding the login node's host key.

        The key is always checked: an unknown or changed host key fails the spawn with a
        message naming the host. For a non-standard port the entry reads
        ``[host]:port key-type key``.
        """,
    )
    ssh_connect_timeout = Float(
        30, min=1, config=True, help="Seconds to wait for an SSH connection (at least 1)."
    )
    ssh_keepalive_interval = Float(
        30,
        min=0,
        config=True,
        help="Seconds between SSH keepalives on idle pooled connections; 0 sends none.",
    )
    ssh_max_sessions = Integer(
        8,
        min=1,
        config=True,
        help="""Commands run at once on one pooled connection (at least 1); keep it below sshd's
        MaxSessions (10). Further commands wait for a free session.""",
    )
    ssh_idle_timeout = Float(
        300,
        min=0,
        config=True,
        help="""Seconds a pooled SSH connection may stay unused before it is closed; 0 keeps
        connections open. The next command opens a new one.""",
    )
    ssh_reconnect_max_delay = Float(
        30,
        min=0.5,
        config=True,
        help="""Longest wait, in seconds, between attempts to reconnect to the login node
        (at least 0.5).

        After a failed connection attempt the next one waits 0.5 s, then 1 s, 2 s, ... up to
        this value; commands asked for meanwhile fail at once (a status query then keeps the
        last known state) instead of piling up attempts on the login node. Default: 30, or
        :attr:`status_interval` if that is shorter, so that a login node that comes back is
        asked about the jobs again within one status interval.""",
    )
    status_ssh_username = Unicode(
        "",
        config=True,
        help="""A cluster account that runs the status queries of *all* users; empty to query
        each user's jobs over that user's own connection.

        With an account that can see every user's jobs (Slurm's ``squeue`` shows all jobs
        unless ``PrivateData=jobs`` is set), all spawners of a cluster share one poller and one
        SSH connection: one batched status command per :attr:`status_interval`, whatever the
        number of users. Commands that list only the caller's jobs by default are asked for
        everybody's (Grid Engine: ``qstat -u '*'``, LSF: ``bjobs -u all``). Submitting and
        cancelling always run as the user. With ``connection = "local"`` the queries run as this
        account behind :attr:`local_prefix`.
        Example: ``"jupyterhub-status"``.""",
    )
    status_ssh_keys = List(
        Unicode(),
        config=True,
        help="""Private key files of :attr:`status_ssh_username`; empty to use :attr:`ssh_keys`
        with ``{username}`` replaced by that account's name.""",
    )
    local_prefix = List(
        Unicode(),
        default_value=["sudo", "-n", "-u", "{username}", "--"],
        config=True,
        help="""With ``connection = "local"``: the argv that runs a command as the user.
        ``{username}`` is the cluster user name.

        The command (prefix included) starts with a minimal environment, never the hub's
        own: the :attr:`local_env_keep` variables of the hub's environment, and ``HOME``,
        ``USER`` and ``LOGNAME`` of the user. ``sudo`` then resets even that to its own
        ``env_reset`` list and ``secure_path``; a prefix that keeps the environment
        (``runuser -u {username} --``, or none) passes on exactly this, so the hub's secrets
        reach neither the scheduler's commands nor the job.""",
    )
    local_env_keep = List(
        Unicode(),
        default_value=list(LOCAL_ENV_KEEP),
        config=True,
        help="""With ``connection = "local"``: the variables of the hub's environment that
        commands run behind :attr:`local_prefix` receive; nothing else of it is passed on.

        The default keeps ``PATH`` (where the scheduler's commands are), the locale, ``TZ``
        and the variables schedulers read their configuration from (``SLURM_CONF``,
        ``SGE_ROOT``, ``SGE_CELL``, ``LSF_ENVDIR``, ``CONDOR_CONFIG``, ``PBS_CONF_FILE``...;
        see :data:`batchspawner_x.transport.LOCAL_ENV_KEEP`). Add a name only if it holds no
        secret: Slurm's ``sbatch`` copies its whole environment into the job. Example:
        ``c.BatchSpawnerBase.local_env_keep.append("SLURM_CLUSTERS")``.""",
    )

    # -- the job --------------------------------------------------------------
    partition = Unicode("", config=True, help="Partition or queue to submit to; empty for the default.")
    account = Unicode("", config=True, help="Account (project) to charge; empty for the user's default.")
    qos = Unicode("", config=True, help="Quality of service; empty for the default.")
    walltime = Unicode(
        "08:00:00",
        config=True,
        help="Time limit of the job, for example ``08:00:00`` or ``1-00:00:00``; empty for the default.",
    )
    gpus = Integer(0, min=0, config=True, help="Number of GPUs to request; 0 requests none.")
    extra_directives = List(
        Unicode(),
        config=True,
        help="""Further scheduler directives, one option each, written after the
        scheduler's directive prefix. Example: ``["--constraint=skylake"]``.""",
    )
    prologue = Unicode(
        "",
        config=True,
        help="""Shell lines run in the job before the server starts (``module load ...``).
        Written verbatim: site configuration, never user input.""",
    )
    epilogue = Unicode("", config=True, help="Shell lines run in the job after the server exits.")
    template = Unicode(
        config=True,
        help="""Name of the job script template. Looked up in :attr:`template_paths`,
        then among the packaged templates. A site template can extend the packaged one:
        ``{% extends "batchspawner_x/slurm.sh.j2" %}``.""",
    )
    template_paths = List(
        Unicode(),
        config=True,
        help="Directories searched for job script templates before the packaged ones.",
    )
    job_dir = Unicode(
        ".batchspawner_x/{server}",
        config=True,
        help="""Directory on the cluster for the job's private files (environment, certificates,
        address report) and its output, relative to the user's home unless absolute.
        ``{server}`` is a file-safe name of the user and server. Created with mode 0700.""",
    )
    workdir = Unicode(
        "",
        config=True,
        help="Directory the job starts in (absolute path); empty for the user's home.",
    )
    node_command = List(
        Unicode(),
        default_value=["batchspawner-x-singleuser"],
        config=True,
        help="""The node-side command (installed with this package) that reports the server's
        address to the hub and starts :attr:`cmd`. Use an absolute path if it is not on the
        job's PATH.""",
    )
    scheduler_commands = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        config=True,
        help="""Executables to use instead of the defaults, by role: ``submit``, ``status``,
        ``cancel``, ``info``. Example: ``{"status": "/opt/slurm/bin/squeue"}``.""",
    )
    # port_range, connect_address, node_address and tunnel: see ReachMixin (reach.py)

    # -- what users may choose -------------------------------------------------
    profiles = List(
        Dict(),
        config=True,
        help="""Resource profiles users choose from on the spawn form (or by ``user_options``).

        Each profile is a dict: ``name`` (1-30 characters of ``a-z``, ``0-9``, ``-``; what
        ``user_options["profile"]`` names), ``display_name``, ``description``, ``default``
        (``True`` for the one an empty request gets; else the first), ``groups`` (JupyterHub
        groups that may choose it; empty for everyone), the resources it sets (``partition``,
        ``cpus``, ``memory`` such as ``"32G"``, ``walltime`` such as ``"08:00:00"``, ``gpus``),
        and ``fields``: the resources the user may change, each with its bounds
        (``{"max": ...}`` and optionally ``"min"``; for ``partition``, ``{"choices": [...]}``
        or ``{"choices": "cluster"}`` for the partitions the scheduler lists). A profile's
        values replace :attr:`partition`, ``cpu_limit``, ``mem_limit``, :attr:`walltime`
        and :attr:`gpus` for that spawn only; what it does not set keeps those settings.
        A profile or field the hub cannot understand is refused when the spawner is built,
        with a message naming it (``batchspawner-x check`` shows it). Empty (the default):
        no form, the settings apply as they are.

        Example::

            c.SlurmSpawner.profiles = [
                {"name": "small", "display_name": "Small: 1 CPU, 2G, 2 h",
                 "partition": "debug", "cpus": 1, "memory": "2G", "walltime": "02:00:00",
                 "fields": {"cpus": {"max": 4}, "walltime": {"max": "08:00:00"}}},
                {"name": "gpu", "display_name": "GPU: 1 GPU, 8 CPUs, 32G, 8 h",
                 "groups": ["gpu-users"], "partition": "gpu", "gpus": 1, "cpus": 8,
                 "memory": "32G", "walltime": "08:00:00",
                 "fields": {"gpus": {"max": 4}, "memory": {"max": "128G"}}},
            ]

        .. versionadded:: 0.1
        """,
    )
    cluster_limits_ttl = Float(
        300,
        min=0,
        config=True,
        help="""Seconds the partitions and limits read from the scheduler (``sinfo``) are kept.

        With :attr:`profiles`, the spawn form offers ``{"choices": "cluster"}`` partitions
        from this list, and no field goes above the limits of its partition's largest
        node (time limit, CPUs, memory, GPUs). One read serves every user of the hub;
        0 turns the reading off.""",
    )

    # -- timing ---------------------------------------------------------------
    submit_timeout = Float(
        60,
        min=1,
        config=True,
        help="""Seconds the submit command may take (at least 1). When its answer is lost, a
        submit command still running on the login node is waited for as long again, then
        stopped.""",
    )
    submit_attempts = Integer(
        3,
        min=1,
        config=True,
        help="""How many times one spawn may send its job to the scheduler.

        A submission is sent again only when its answer was lost (the connection dropped or
        the command timed out) *and* its submit command is known to have made no job: it never
        started (no claim on the login node), or it is dead and the scheduler, asked for the
        user's jobs carrying the submission's identity, shows none. A command that still runs
        is waited for, never doubled. Schedulers that cannot be asked for an identity (all but
        Slurm) never resend after a submit command died.""",
    )
    status_timeout = Float(
        30,
        min=1,
        config=True,
        help="""Seconds a status command may take before it counts as failed (at least 1).

        A failed or timed-out status query is never taken as the end of a job: the last known
        state is kept (marked stale) and the server stays up until the scheduler itself says
        the job has finished or no longer exists. A status command still running when the next
        round is due does not hold that round back: the next command is sent on time, and
        ``poll()`` meanwhile answers from the last known state.""",
    )
    status_interval = Float(
        30,
        min=0.001,
        config=True,
        help="""Seconds between the shared background status queries of running jobs.

        Default: the spawner's ``poll_interval`` (JupyterHub's, 30 s unless the site sets it),
        or 30 s if that is 0 (polling off). JupyterHub asks ``poll()`` every ``poll_interval``
        and ``poll()`` answers from these queries, so a job that ends (an out-of-band
        ``scancel``, a node failure, its time limit) is noticed within about two
        ``poll_interval``: one for the next query, one for the next poll. A failed or
        timed-out query is sent again at the next interval. Set it only to query less often
        than the hub polls (a busy scheduler) or more often; ``batchspawner-x check`` says
        when the two differ. Example: ``c.Spawner.poll_interval = 10`` alone gives a query
        every 10 s.""",
    )
    startup_poll_interval = Float(
        1.0,
        min=0.001,
        config=True,
        help="Seconds between status checks while a job is starting (batched with other starts).",
    )
    cancel_timeout = Float(
        60,
        min=0,
        config=True,
        help="""Seconds :meth:`stop` keeps sending the cancel command, and then waits for the
        scheduler to confirm the job has left the running states.

        Cancelling is repeated through a login node that cannot be reached, a dropped
        connection or a scheduler that refuses for a moment. JupyterHub forgets the job when
        stop() ends, so a cancel still not accepted after this long is retried in the
        background for a day, and an error in the log names the job and the command that
        cancels it by hand. The server's token is revoked as for any stop.""",
    )
    output_tail_bytes = Integer(
        2000,
        min=0,
        max=1_000_000,
        config=True,
        help="Bytes of a failed job's output shown to the user (0 to 1000000); 0 shows none.",
    )

    @validate("ssh_certificate_source_address")
    def _check_source_address(self, proposal: Any) -> list[str]:
        try:
            return list(check_source_addresses("ssh_certificate_source_address", proposal["value"]))
        except ConfigError as e:
            raise TraitError(str(e)) from None

    @default("status_interval")
    def _default_status_interval(self) -> float:
        return float(self.poll_interval) if self.poll_interval > 0 else 30.0

    @default("ssh_reconnect_max_delay")
    def _default_ssh_reconnect_max_delay(self) -> float:
        return max(0.5, min(30.0, self.status_interval))

    @default("ip")
    def _default_ip(self) -> str:
        return "0.0.0.0"

    @default("env_keep")
    def _default_env_keep(self) -> list[str]:
        # The hub's PATH and virtualenv mean nothing on a compute node.
        return ["JUPYTERHUB_SINGLEUSER_APP"]

    @default("template")
    def _default_template(self) -> str:
        return self.scheduler_class.template

    @validate("profiles")
    def _check_profiles(self, proposal: Any) -> list[dict[str, Any]]:
        try:
            profile_model.parse_profiles(proposal["value"])
        except ConfigError as e:
            raise TraitError(str(e)) from None
        return list(proposal["value"])

    @default("options_form")
    def _default_options_form(self) -> Any:
        return BatchSpawnerBase._render_options_form if self.profiles else ""

    @default("options_from_form")
    def _default_options_from_form(self) -> Any:
        if not self.profiles:
            return self._passthrough_options_from_form
        return profile_model.options_from_form

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Any:
        return BatchSpawnerBase._apply_profile

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
        try:
            super().__init__(**kwargs)
        except TraitError as e:  # a bad setting: refused with its name, for the user and the log
            raise invalid_setting(e) from None
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
        self._extras_checked = 0.0

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
        """The cluster this spawner's settings name, shared with every spawner that names it."""
        return Cluster.of(
            ClusterConfig(
                scheduler_class=self.scheduler_class,
                commands=tuple(sorted(self.scheduler_commands.items())),
                connection=self.connection,
                host=self.ssh_host,
                port=self.ssh_port,
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
                tunnel=self.tunnel,
                local_prefix=tuple(self.local_prefix),
                local_env_keep=tuple(self.local_env_keep),
                status_username=self.status_ssh_username,
                status_keys=tuple(self.status_ssh_keys),
            )
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

    def job_context(self, job_dir: str, home: str) -> dict[str, Any]:
        """Everything the template may use, each value checked. No I/O."""
        choice = self.resource_choice()
        mem = self.mem_limit or self.mem_guarantee
        cpus = self.cpu_limit or self.cpu_guarantee
        command = [
            *self.node_command,
            "--env-file",
            posixpath.join(job_dir, ENV_FILE),
            "--",
            *self.cmd,
            *self.get_args(),
        ]
        return {
            "job_name": self._job_name(),
            "job_dir": job_dir,
            "output": check_path("job_dir", posixpath.join(job_dir, self.scheduler_class.output_pattern)),
            "workdir": check_path("workdir", self.workdir or home),
            "partition": check_name("partition", self.effective_partition()),
            "account": check_name("account", self.account),
            "qos": check_name("qos", self.qos),
            "walltime": check_walltime("walltime", choice.walltime or self.walltime),
            "gpus": choice.gpus if choice.gpus is not None else self.gpus,
            "memory_mb": choice.memory_mb or memory_mb(mem),
            "cpus": choice.cpus or cpu_count(cpus),
            "extra_directives": [check_line("extra_directives", d) for d in self.extra_directives],
            "prologue": Trusted(self.prologue),
            "epilogue": Trusted(self.epilogue),
            "command": command,
            "username": self.user.name,
            "server_name": self.name,
        }

    def output_file(self, job_dir: str, job_id: str) -> str:
        return posixpath.join(job_dir, self.scheduler_class.output_name(job_id))

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

    def job_env(self) -> dict[str, str]:
        env = {k: str(v) for k, v in self.get_env().items()}
        env["BATCHSPAWNER_X_BIND_IP"] = self.ip
        env.update(self.network_env())
        return env

    # -- profiles ---------------------------------------------------------------------
    def _user_groups(self) -> list[str]:
        return [g.name for g in getattr(self.user, "groups", None) or []]

    def _profiles(self) -> tuple[profile_model.Profile, ...]:
        return profile_model.parse_profiles(self.profiles)

    def resource_choice(self) -> profile_model.Choice:
        """What this spawn asks for: the profile resolved from ``user_options`` (kept in the
        state across hub restarts). Without :attr:`profiles`, an empty choice."""
        if self._choice is None:
            if not self.profiles:
                return profile_model.Choice(profile="")
            self._choice = profile_model.resolve_choice(
                self._profiles(), self._user_groups(), self.user_options, self._cached_partitions()
            )
        return self._choice

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

    async def _render_options_form(self) -> str:
        """The spawn form: the profiles the user's groups may choose, the last choice selected."""
        cluster = await self.cluster_partitions()
        return profile_model.render_form(self._profiles(), self._user_groups(), self.user_options, cluster)

    async def _apply_profile(self, user_options: dict[str, Any]) -> None:
        """Check ``user_options`` against the profiles (from the form or the REST API alike)
        and keep the result for this spawn; a bad choice is a 400 naming the option."""
        if not self.profiles:
            if user_options:
                self.log.warning(
                    "%s ignoring user_options %s: no profiles are configured",
                    self._log_prefix(),
                    sorted(user_options),
                )
            return
        cluster = await self.cluster_partitions()
        try:
            self._choice = profile_model.resolve_choice(
                self._profiles(), self._user_groups(), user_options, cluster
            )
        except ConfigError as e:
            err = web.HTTPError(400, "%s", f"Invalid choice for {e.field}: {e.message}")
            err.jupyterhub_message = f"Invalid choice for {e.field}: {e.message}"  # type: ignore[attr-defined]
            raise err from None
        self.log.info("%s resources %s", self._log_prefix(), self._choice.summary())

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
            report = json.loads(data)
            host, port = api.validate_report({"host": report.get("host"), "port": report.get("port")})
        except (ValueError, AttributeError):
            self.log.warning("%s ignoring a malformed %s", self._log_prefix(), SERVER_FILE)
            return None
        reported_job = str(report.get("job_id", ""))
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

    async def _job_ended_failure(self, error: JobEndedError) -> Exception:
        """Cancel and clean up after a job that ended while starting; the spawn's error."""
        await self._cancel_quietly()
        return spawn_error(str(error), reason="job_ended", status=500)

    # -- Spawner API ---------------------------------------------------------------------
    async def start(self) -> tuple[str, int]:
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
        sched = self.scheduler
        self.token_sha256 = hashlib.sha256(self.api_token.encode()).hexdigest()
        try:
            self.check_reach_config(self.connection, self.internal_ssl, self.ssl_alt_names_include_local)
            transport = await self.transport()
            await self.status_transport()  # its account is checked now, before any connection
            job_dir = await self.resolve_job_dir()
            script = await self.render_script()
            env_data = json.dumps({"env": self.job_env()}).encode()
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
        self.log.debug("%s job script:\n%s", self._log_prefix(), script)

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
                        unreachable_message(host, port, describe_error(error), login_reaches=True)
                    )
            await asyncio.sleep(0.1)
        if error is not None and is_unreachable(error):
            raise ServerUnreachable(
                unreachable_message(host, port, describe_error(error), login_reaches=None)
            )

    async def _cancel_submission(self, submitting: asyncio.Future[Submitted], identity: str) -> None:
        """After a cancelled spawn: cancel the job its submission made, if any. The hub may
        have stopped and cleared this spawner meanwhile, so the identity is passed in."""
        try:
            self.job_id = (await asyncio.wait_for(submitting, self.submit_timeout)).job_id
        except Exception:
            self.submission_id = identity  # stop() looks the submission up
        self.submission_uncertain = True
        await self._cancel_quietly()

    def _job_name(self) -> str:
        return "jupyter-" + self.server_key()

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
        # JupyterHub does not call stop() for a server that poll() reports gone
        await self.close_tunnel()
        code = cached.status.exit_code
        return code if code is not None else 1

    async def stop(self, now: bool = False) -> None:
        await self.close_tunnel()
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
        paths += [posixpath.join(d, CERT_DIR, name) for name in ("key.pem", "cert.pem", "ca.pem")]
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
        names = {"keyfile": "key.pem", "certfile": "cert.pem", "cafile": "ca.pem"}
        moved = {}
        for key, name in names.items():
            local = paths[key]
            data = await asyncio.to_thread(_read_bytes, local)
            remote = posixpath.join(job_dir, CERT_DIR, name)
            await transport.write_file(remote, data)
            moved[key] = remote
        self.log.info(
            "%s copied internal-SSL certificates to %s", self._log_prefix(), posixpath.join(job_dir, CERT_DIR)
        )
        return moved


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


async def _wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds; True if it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except asyncio.TimeoutError:
        return False
    return True


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


__all__ = ["BatchSpawnerBase", "spawn_error"]
