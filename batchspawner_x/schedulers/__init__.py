"""Scheduler backends: argv builders and output parsers, free of I/O."""

from __future__ import annotations

from .base import CommandResult, Scheduler
from .slurm import SlurmScheduler

__all__ = ["CommandResult", "Scheduler", "SlurmScheduler"]
