"""Which scheduler backends can find a submission by its identity, declared and kept.

A backend declares the field that carries the identity (``identity_field``); it builds a
lookup command exactly when it declares one, and attaches the identity at submission
only then (on the command line: site templates need no change).
"""

from __future__ import annotations

import pytest

from batchspawner_x.schedulers.base import Scheduler
from batchspawner_x.schedulers.condor import CondorScheduler
from batchspawner_x.schedulers.lsf import LsfScheduler
from batchspawner_x.schedulers.moab import MoabScheduler
from batchspawner_x.schedulers.pbs import PBSProScheduler, TorqueScheduler
from batchspawner_x.schedulers.sge import GridengineScheduler
from batchspawner_x.schedulers.slurm import SlurmScheduler

IDENTITY = "bsx-0123456789abcdef"
BACKENDS = [
    SlurmScheduler,
    GridengineScheduler,
    LsfScheduler,
    CondorScheduler,
    PBSProScheduler,
    TorqueScheduler,
    MoabScheduler,
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lookup_is_built_exactly_when_an_identity_field_is_declared(backend: type[Scheduler]) -> None:
    scheduler = backend()
    declared = backend.identity_field is not None
    assert (scheduler.lookup_argv(IDENTITY) is not None) == declared
    # the identity goes on the submit command line only where it can be looked up again
    assert (IDENTITY in " ".join(scheduler.submit_argv(IDENTITY, "#!/bin/sh\n"))) == declared


def test_the_schedulers_that_can_look_a_submission_up() -> None:
    assert [b.name for b in BACKENDS if b.identity_field] == ["slurm", "sge", "lsf", "condor"]
