"""The settings every spawner of this package shares, whatever its scheduler.

:class:`SpawnerTraits` declares them, with their checks and dynamic defaults;
:class:`~batchspawner_x.spawner.BatchSpawnerBase` inherits them, so a site gives them
as ``c.BatchSpawnerBase.<name>`` (or under a spawner's own name), and the
configuration reference lists them under ``BatchSpawnerBase``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from traitlets import (
    Callable,
    Dict,
    Enum,
    Float,
    Integer,
    List,
    TraitError,
    Tuple,
    Unicode,
    Union,
    default,
    validate,
)

from . import profiles as profile_model
from .accounts import AccountsMixin
from .certificates import check_source_addresses
from .compat import PredecessorConfig
from .errors import ConfigError
from .failover import login_addresses
from .reach import ReachMixin
from .schedulers.base import Scheduler
from .transport import LOCAL_ENV_KEEP

#: Spawner classes already warned about a wrapspawner parent's profiles, in this process.
_WRAPPED: set[type] = set()


class SpawnerTraits(AccountsMixin, ReachMixin, PredecessorConfig):
    """The scheduler-independent settings of :class:`~batchspawner_x.spawner.BatchSpawnerBase`.

    Not a :class:`~jupyterhub.spawner.Spawner` itself (JupyterHub refuses a spawner class
    without ``start``): :class:`~batchspawner_x.spawner.BatchSpawnerBase` adds that base."""

    #: The profile keys of a wrapspawner parent, once its ``profiles`` reached this child: its
    #: ``user_options["profile"]`` (also copied here) names one of those, not one of ours.
    _wrapper_profile_keys: frozenset[str] = frozenset()

    #: The scheduler backend; set by each concrete spawner, and per instance to the
    #: chosen cluster's (see :mod:`batchspawner_x.spawner_clusters`).
    scheduler_class: type[Scheduler]

    if TYPE_CHECKING:  # JupyterHub's Spawner, the last base of BatchSpawnerBase, has these
        user: Any
        name: str
        ip: str
        cmd: list[str]
        user_options: dict[str, Any]
        mem_limit: Any
        mem_guarantee: Any
        cpu_limit: Any
        cpu_guarantee: Any
        poll_interval: float
        http_timeout: float
        _log_name: str

        def get_args(self) -> list[str]: ...

        def get_env(self) -> dict[str, Any]: ...

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
    login_hosts = List(
        Unicode(),
        config=True,
        help="""The cluster's login nodes, tried in turn: each ``host``, ``host:port`` or
        ``[IPv6 address]:port``; the port defaults to :attr:`ssh_port`. Empty (the default)
        for :attr:`ssh_host` alone.

        Example: ``["login1.cluster.example.edu", "login2.cluster.example.edu"]``. Every
        node must accept the same accounts and keys, and its host key must be in
        :attr:`ssh_known_hosts`. A node that cannot be connected to, times out or drops a
        connection is skipped for :attr:`login_down_time` seconds; submissions, status
        queries, cancels, file copies and tunnels go through the others (see
        :doc:`/failover`). The same node twice is refused when the spawner is built.""",
    )
    login_order = Enum(
        ["first-healthy", "round-robin"],
        default_value="first-healthy",
        config=True,
        help="""Which of :attr:`login_hosts` each operation goes to.

        ``first-healthy``: the first node in the list that is not skipped, so one node
        carries everything while it works and the others stand by. ``round-robin``: each
        operation starts at the next node that is not skipped, spreading the connections
        (one per account and node) and commands over all of them.""",
    )
    login_down_time = Float(
        60,
        min=1,
        max=86400,
        config=True,
        help="""Seconds a login node that failed (refused or timed out the connection, or
        dropped it) is skipped by every user of the cluster, from 1 to 86400.

        Example: ``300`` for nodes that, once down, stay down for a while. When the time is
        over, one operation tries the node again; if it answers, everybody uses it again.
        When every node is skipped, the one that failed longest ago is tried anyway.""",
    )
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
    walltime_warnings = List(
        Integer(min=1),
        default_value=[900, 300],
        config=True,
        help="""Seconds before the end of the job's time limit at which the user is warned,
        in any order. Example: ``[1800, 600, 120]`` warns 30, 10 and 2 minutes before the end.
        The largest also asks the scheduler for its own early signal where it has one (Slurm's
        ``--signal=B:USR1@SECONDS``), so the job warns even when the hub cannot be reached;
        the smallest is the last warning. An empty list turns the warnings off.""",
    )
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
        default_value=[],
        config=True,
        help="""An installed node-side command (``batchspawner-x-singleuser``, from this
        package) that reports the server's address to the hub and starts :attr:`cmd`; empty
        (the default) for none. Empty: the job script carries the node side itself and runs
        it with the Python of :attr:`cmd`'s environment, so nothing of this package is
        needed on the nodes (see :doc:`/node-side`). Set it, for example to
        ``["/opt/jupyter/bin/batchspawner-x-singleuser"]``, to use the copy installed there
        instead; it must then be the hub's version.""",
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
        # Tuple: only to recognise wrapspawner's profiles, see _check_profiles
        Union([Dict(), Tuple()]),
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
        A profile may also offer ``environments`` (names in ``environments``, the first the
        default; see docs/environments.md) and set its own ``account``, ``qos``,
        ``reservation``, ``constraint``, ``gpu_type`` and ``extra_directives``, the first five
        also as fields the user chooses in (see docs/accounts-and-reservations.md).
        A profile or field the hub cannot understand is refused when the spawner is built,
        with a message naming it (``batchspawner-x check`` shows it). Empty (the default):
        no form, the settings apply as they are.

        As a child of wrapspawner's ``ProfilesSpawner``, the wrapper copies its own
        ``profiles`` (a list of ``(display, key, class, config)`` tuples) onto this setting;
        that list is recognised and ignored with one warning, and this spawner keeps its own.

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

    @validate("login_hosts")
    def _check_login_hosts(self, proposal: Any) -> list[str]:
        try:
            login_addresses("login_hosts", proposal["value"], self.ssh_host, self.ssh_port)
        except ConfigError as e:
            raise TraitError(str(e)) from None
        return list(proposal["value"])

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
        if profile_model.is_wrapspawner_profiles(proposal["value"]):
            # wrapspawner links every trait the wrapper and its child share, profiles too
            self._wrapper_profile_keys = frozenset(item[1] for item in proposal["value"])
            if type(self) not in _WRAPPED:
                _WRAPPED.add(type(self))
                self.log.warning(
                    "%s.profiles: ignoring the profiles of a wrapspawner parent (its list of "
                    "(display, key, class, config) tuples is copied onto every trait of the same "
                    "name); this spawner keeps its own %d profile(s)",
                    type(self).__name__,
                    len(self.profiles),
                )
            return list(self.profiles)
        try:
            profile_model.parse_profiles(proposal["value"])
        except ConfigError as e:
            raise TraitError(str(e)) from None
        return list(proposal["value"])


__all__ = ["SpawnerTraits"]
