"""Scheduler backends: argv builders and output parsers, free of I/O."""

from __future__ import annotations

from .base import CommandResult, Scheduler
from .condor import CondorScheduler
from .lsf import LsfScheduler
from .moab import MoabScheduler
from .pbs import PBSProScheduler, TorqueScheduler
from .sge import GridengineScheduler
from .slurm import SlurmScheduler

__all__ = [
    "CommandResult",
    "CondorScheduler",
    "GridengineScheduler",
    "LsfScheduler",
    "MoabScheduler",
    "PBSProScheduler",
    "Scheduler",
    "SlurmScheduler",
    "TorqueScheduler",
]
