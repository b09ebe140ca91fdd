"""What one job asks for, as a scheduler backend sees it.

A :class:`JobSpec` holds the values every job script is built from, already
checked (:func:`batchspawner_x.jobspec.make_job_spec` builds it). A backend turns
it into its own template values in
:meth:`~batchspawner_x.schedulers.base.Scheduler.job_context_extra`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    """One job's checked values, in the units the templates share.

    ``walltime`` is Slurm-style text as configured (``"08:00:00"``, empty for
    none) and ``walltime_seconds`` the same in seconds (None for none);
    ``memory_mb`` is MiB and ``cpus`` whole cores, None when not set.
    ``options`` holds the spawner settings the backend names in
    :attr:`~batchspawner_x.schedulers.base.Scheduler.context_settings`, by name.
    ``node_files`` are the node side's files as (path in ``node_dir``, text), which the
    job script writes before it runs ``command``; empty when an installed node command
    starts the server.
    """

    job_name: str
    job_dir: str
    home: str
    output: str
    workdir: str
    partition: str = ""
    account: str = ""
    qos: str = ""
    #: A reservation, node-feature expression and GPU type: empty for none (each written
    #: only by a scheduler whose capabilities declare it, see ``Scheduler.scheduling_supported``).
    reservation: str = ""
    constraint: str = ""
    gpu_type: str = ""
    walltime: str = ""
    walltime_seconds: int | None = None
    gpus: int = 0
    memory_mb: int | None = None
    cpus: int | None = None
    extra_directives: tuple[str, ...] = ()
    prologue: str = ""
    epilogue: str = ""
    command: tuple[str, ...] = ()
    username: str = ""
    server_name: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    node_dir: str = ""
    node_files: tuple[tuple[str, str], ...] = ()
    #: The chosen environment's name and setup lines (the site's shell text), empty for none.
    environment: str = ""
    environment_setup: str = ""
    #: Seconds before the time limit at which the scheduler is asked for its early signal
    #: (the largest walltime warning shorter than the walltime); 0 for none.
    early_signal_seconds: int = 0
