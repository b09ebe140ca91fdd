"""Concrete spawners, one per scheduler, named as in the predecessor."""

from __future__ import annotations

from .schedulers.slurm import SlurmScheduler
from .spawner import BatchSpawnerBase


class SlurmSpawner(BatchSpawnerBase):
    """Notebook servers as Slurm jobs (``sbatch`` / ``squeue`` / ``scancel``).

    ``mem_limit`` becomes ``--mem`` in MiB (4G gives ``--mem=4096M``),
    ``cpu_limit`` becomes ``--cpus-per-task`` rounded up; ``partition``,
    ``account``, ``qos`` and ``gpus`` are written only when set.
    """

    scheduler_class = SlurmScheduler


__all__ = ["SlurmSpawner"]
