"""The job specification: what a job script is rendered from, built without I/O.

In the manner of kubespawner's ``make_pod``: :func:`make_job_context` takes plain
values (the spawner's settings as :class:`JobSettings`, the user's resource
:class:`~batchspawner_x.profiles.Choice`, who and where as :class:`JobPlace`) and
returns the template context. It reads no traits and touches no network, so it is tested by comparing
its output to a literal. The spawner gathers its traits into a :class:`JobSettings`
and calls it.

Every value is checked here (see :mod:`.validation`); the scheduler backend then
adds its own values from the checked :class:`~batchspawner_x.schedulers.spec.JobSpec`
(:meth:`~batchspawner_x.schedulers.base.Scheduler.job_context_extra`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .environments import Environment
from .errors import ConfigError
from .node_side import NODE_DIR, NodeFile, node_files, start_command
from .profiles import Choice
from .schedulers.base import Scheduler
from .schedulers.spec import JobSpec
from .script import Trusted
from .units import bytes_to_mib, check_walltime, optional_walltime_seconds
from .validation import check_line, check_name, check_path, cpu_count


@dataclass(frozen=True)
class JobSettings:
    """The spawner settings a job script reads, as plain values.

    Limits are JupyterHub's: ``mem_limit`` and ``mem_guarantee`` in bytes,
    ``cpu_limit`` and ``cpu_guarantee`` in cores; the limit wins over the
    guarantee. ``walltime`` is Slurm-style text. ``server_command`` is the
    single-user server's argv (``cmd`` and its arguments); ``node_command`` the
    installed wrapper that starts it on the node, or empty for the node side in the
    job script: ``node_files`` (by default this package's own, see
    :mod:`.node_side`). ``scheduler_options`` are the settings of
    the scheduler's own spawner class, by name (see
    :attr:`~batchspawner_x.schedulers.base.Scheduler.context_settings`).
    ``environment`` is the chosen environment (see :mod:`.environments`): its setup
    lines go into the script and its ``wrap`` in front of the node command; its ``cmd``
    is already in ``server_command``.
    """

    partition: str = ""
    account: str = ""
    qos: str = ""
    walltime: str = ""
    gpus: int = 0
    mem_limit: float | None = None
    mem_guarantee: float | None = None
    cpu_limit: float | None = None
    cpu_guarantee: float | None = None
    workdir: str = ""
    extra_directives: tuple[str, ...] = ()
    prologue: str = ""
    epilogue: str = ""
    node_command: tuple[str, ...] = ()
    server_command: tuple[str, ...] = ()
    scheduler_options: Mapping[str, Any] = field(default_factory=dict)
    node_files: tuple[NodeFile, ...] = field(default_factory=node_files)
    environment: Environment | None = None
    #: Seconds before the end at which the user is warned (``walltime_warnings``).
    warning_seconds: tuple[int, ...] = ()


#: Older names of template variables, kept so that site templates written with them
#: render the same: by scheduler name, old name -> the variable it stands for.
ALIASES: Mapping[str, Mapping[str, str]] = {
    "pbs": {"walltime": "time_limit"},
    "torque": {"walltime": "time_limit"},
    "moab": {"walltime": "time_limit"},
    "sge": {"h_rt": "time_limit"},
    "lsf": {"lsf_walltime": "time_limit"},
}


@dataclass(frozen=True)
class JobPlace:
    """Whose job it is and where it runs.

    ``job_dir`` and ``home`` are absolute paths on the cluster; ``env_file`` is the
    file in ``job_dir`` that carries the server's environment to the node, which
    the node command reads (``--env-file``) before it starts the server.
    """

    username: str
    server_name: str
    job_name: str
    job_dir: str
    home: str
    env_file: str


def make_job_spec(settings: JobSettings, choice: Choice, place: JobPlace, scheduler: Scheduler) -> JobSpec:
    """The checked values of one job: the user's ``choice`` over the ``settings``.

    Raises :class:`~batchspawner_x.errors.ConfigError` naming the setting whose
    value cannot go into a job script.
    """
    _check_supported(choice, scheduler)
    mem = settings.mem_limit or settings.mem_guarantee
    walltime = choice.walltime or settings.walltime
    cpus = settings.cpu_limit or settings.cpu_guarantee
    walltime_seconds = optional_walltime_seconds("walltime", walltime)
    node_command, node_dir = settings.node_command, ""
    files: tuple[tuple[str, str], ...] = ()
    if not node_command:
        # the node side travels in the script (see .node_side)
        node_dir = check_path("job_dir", posixpath.join(place.job_dir, NODE_DIR))
        node_command = start_command(node_dir)
        files = tuple((f.path, f.text) for f in settings.node_files)
    home = place.home
    workdir = check_path("workdir", settings.workdir or place.home)
    environment = settings.environment
    wrap: tuple[str, ...] = ()
    if environment is not None:
        wrap = environment.wrap_for(job_dir=place.job_dir, home=home, workdir=workdir)
    return JobSpec(
        job_name=place.job_name,
        job_dir=place.job_dir,
        home=place.home,
        output=check_path("job_dir", posixpath.join(place.job_dir, scheduler.output_pattern)),
        workdir=workdir,
        partition=check_name("partition", choice.partition or settings.partition),
        account=check_name("account", choice.account or settings.account),
        qos=check_name("qos", choice.qos or settings.qos),
        reservation=check_name("reservation", choice.reservation or ""),
        constraint=check_line("constraint", choice.constraint or ""),
        gpu_type=check_name("gpu_type", choice.gpu_type or ""),
        walltime=check_walltime("walltime", walltime),
        walltime_seconds=walltime_seconds,
        gpus=choice.gpus if choice.gpus is not None else settings.gpus,
        memory_mb=choice.memory_mb or bytes_to_mib(mem),
        cpus=choice.cpus or cpu_count(cpus),
        extra_directives=tuple(
            check_line("extra_directives", d) for d in (*settings.extra_directives, *choice.extra_directives)
        ),
        prologue=settings.prologue,
        epilogue=settings.epilogue,
        command=(
            *wrap,
            *node_command,
            "--env-file",
            place.env_file,
            "--",
            *settings.server_command,
        ),
        username=place.username,
        server_name=place.server_name,
        options=settings.scheduler_options,
        node_dir=node_dir,
        node_files=files,
        environment=environment.name if environment is not None else "",
        environment_setup=environment.setup if environment is not None else "",
        early_signal_seconds=(
            early_signal_seconds(settings.warning_seconds, walltime_seconds)
            if scheduler.supports_early_signal
            else 0
        ),
    )


def early_signal_seconds(warnings: tuple[int, ...], walltime_seconds: int | None) -> int:
    """The lead of the scheduler's early signal: the largest warning shorter than the
    walltime (any warning when the walltime is the partition's default); 0 for none.

    >>> early_signal_seconds((900, 300), 600)
    300
    """
    fitting = [w for w in warnings if walltime_seconds is None or w < walltime_seconds]
    return max(fitting, default=0)


def _check_supported(choice: Choice, scheduler: Scheduler) -> None:
    """Refuse a reservation, constraint or GPU type the scheduler's template cannot write
    (a profile's: the spawner refuses them at startup too)."""
    supported = scheduler.scheduling_supported()
    for setting in ("reservation", "constraint", "gpu_type"):
        if getattr(choice, setting) and setting not in supported:
            raise ConfigError(setting, f"{scheduler.display_name} has no {setting.replace('_', ' ')}")


def base_context(spec: JobSpec) -> dict[str, Any]:
    """The template values every scheduler shares, from a checked ``spec``.

    ``time_limit`` is the walltime as the scheduler writes it: Slurm's notation
    here, which each other backend replaces with its own.
    """
    return {
        "job_name": spec.job_name,
        "job_dir": spec.job_dir,
        "output": spec.output,
        "workdir": spec.workdir,
        "partition": spec.partition,
        "account": spec.account,
        "qos": spec.qos,
        "reservation": spec.reservation,
        "constraint": spec.constraint,
        "gpu_type": spec.gpu_type,
        "environment": spec.environment,
        "environment_setup": Trusted(spec.environment_setup),
        "walltime": spec.walltime,
        "walltime_seconds": spec.walltime_seconds,
        "time_limit": spec.walltime,
        "gpus": spec.gpus,
        "memory_mb": spec.memory_mb,
        "cpus": spec.cpus,
        "extra_directives": list(spec.extra_directives),
        "prologue": Trusted(spec.prologue),
        "epilogue": Trusted(spec.epilogue),
        "command": list(spec.command),
        "username": spec.username,
        "server_name": spec.server_name,
        "node_dir": spec.node_dir,
        "node_files": [{"path": path, "text": Trusted(text)} for path, text in spec.node_files],
        "early_signal_seconds": spec.early_signal_seconds,
    }


def make_job_context(
    settings: JobSettings, choice: Choice, place: JobPlace, scheduler: Scheduler
) -> dict[str, Any]:
    """Everything a job script template may use, each value checked. No I/O.

    The shared values (:func:`base_context`), then the ``scheduler``'s own, which
    may write a shared one in the scheduler's notation (``time_limit``), then the
    old names of its values (:data:`ALIASES`).
    """
    spec = make_job_spec(settings, choice, place, scheduler)
    context = base_context(spec)
    context.update(scheduler.job_context_extra(spec))
    for old, new in ALIASES.get(scheduler.name, {}).items():
        context[old] = context[new]
    return context


__all__ = [
    "ALIASES",
    "JobPlace",
    "JobSettings",
    "base_context",
    "early_signal_seconds",
    "make_job_context",
    "make_job_spec",
]
