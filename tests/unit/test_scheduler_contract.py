"""The Scheduler contract: defaults in the base class, capabilities declared, not probed."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchspawner_x.schedulers import (
    CondorScheduler,
    GridengineScheduler,
    LsfScheduler,
    MoabScheduler,
    PBSProScheduler,
    Scheduler,
    SlurmScheduler,
    TorqueScheduler,
)
from batchspawner_x.states import JobState, JobStatus

ALL = [
    CondorScheduler,
    GridengineScheduler,
    LsfScheduler,
    MoabScheduler,
    PBSProScheduler,
    SlurmScheduler,
    TorqueScheduler,
]
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_declared_capabilities_match_what_the_backend_does(cls: type[Scheduler]) -> None:
    scheduler = cls()
    template = (TEMPLATES / cls.template).read_text()
    assert cls.supports_qos == ("qos" in template)
    assert cls.supports_gpus == ("gpus" in template)
    assert cls.finds_by_identity() == (scheduler.lookup_argv("bsx-1") is not None)
    assert cls.looks_up_exit_codes == (scheduler.exit_code_argv("1") is not None)


def test_the_defaults_of_the_base_class() -> None:
    slurm, moab = SlurmScheduler({"cancel": "/opt/bin/scancel"}), MoabScheduler()
    assert slurm.cancel_argv("12") == ["/opt/bin/scancel", "12"]
    assert moab.cancel_argv("Moab.3") == ["mjobctl", "-c", "Moab.3"]
    assert MoabScheduler().exit_code_argv("3") is None and MoabScheduler().parse_exit_code("0") is None
    running = JobStatus("1", JobState.RUNNING)
    found = Scheduler.unlisted(["1", "2"], {"1": running})
    assert found == {"1": running, "2": JobStatus("2", JobState.GONE, raw_state="not listed")}


@pytest.mark.parametrize(
    ("reported", "known", "same"),
    [("12", "12", True), ("12.srv", "12", True), ("12", "13", False), ("120", "12", False)],
)
def test_same_job_by_default(reported: str, known: str, same: bool) -> None:
    assert SlurmScheduler().same_job(reported, known) is same


def test_pbs_knows_its_server_names() -> None:
    pbs = PBSProScheduler()
    assert pbs.same_job("12.srv.example.edu", "12.srv")
    assert pbs.same_job("12", "12.srv")
    assert not pbs.same_job("12.other", "12.srv")
