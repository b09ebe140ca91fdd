"""The pure job specification: make_job_context and each backend's own values.

No spawner is built here: the inputs are plain values and the output is compared
to a literal, as kubespawner tests its make_pod.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from batchspawner_x.errors import ConfigError
from batchspawner_x.jobspec import ALIASES, JobPlace, JobSettings, make_job_context, make_job_spec
from batchspawner_x.node_side import node_files
from batchspawner_x.profiles import Choice
from batchspawner_x.schedulers.base import Scheduler
from batchspawner_x.schedulers.condor import CondorScheduler
from batchspawner_x.schedulers.lsf import LsfScheduler
from batchspawner_x.schedulers.moab import MoabScheduler
from batchspawner_x.schedulers.pbs import PBSProScheduler, TorqueScheduler
from batchspawner_x.schedulers.sge import GridengineScheduler
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.script import Trusted

GiB = 2**30
NO_CHOICE = Choice(profile="")
JOB_DIR = "/home/alice/.batchspawner_x/alice"
SGE_OPTIONS = {
    "parallel_environment": "smp",
    "memory_resources": ["h_vmem"],
    "memory_per_slot": True,
    "gpu_resource": "gpu",
}


def context(
    scheduler: Scheduler, choice: Choice = NO_CHOICE, home: str = "/home/alice", **settings: Any
) -> dict[str, Any]:
    settings.setdefault("node_command", ("batchspawner-x-singleuser",))
    settings.setdefault("server_command", ("jupyterhub-singleuser",))
    return make_job_context(
        JobSettings(**settings),
        choice,
        JobPlace("alice", "", "jupyter-alice", JOB_DIR, home, JOB_DIR + "/env.json"),
        scheduler,
    )


def test_slurm_context_is_the_shared_values() -> None:
    got = context(
        SlurmScheduler(),
        partition="interactive",
        walltime="08:00:00",
        mem_limit=4 * GiB,
        cpu_limit=1.5,
        extra_directives=("--constraint=skylake",),
        prologue="module load python",
    )
    assert got == {
        "job_name": "jupyter-alice",
        "job_dir": "/home/alice/.batchspawner_x/alice",
        "output": "/home/alice/.batchspawner_x/alice/job-%j.out",
        "workdir": "/home/alice",
        "partition": "interactive",
        "account": "",
        "qos": "",
        "reservation": "",
        "constraint": "",
        "gpu_type": "",
        "environment": "",
        "environment_setup": "",
        "walltime": "08:00:00",
        "walltime_seconds": 28800,
        "time_limit": "08:00:00",
        "gpus": 0,
        "memory_mb": 4096,
        "cpus": 2,
        "extra_directives": ["--constraint=skylake"],
        "prologue": "module load python",
        "epilogue": "",
        "command": [
            "batchspawner-x-singleuser",
            "--env-file",
            "/home/alice/.batchspawner_x/alice/env.json",
            "--",
            "jupyterhub-singleuser",
        ],
        "username": "alice",
        "server_name": "",
        "node_dir": "",
        "node_files": [],
        "early_signal_seconds": 0,
    }
    assert isinstance(got["prologue"], Trusted)


def test_the_choice_wins_over_the_settings() -> None:
    choice = Choice(profile="big", partition="gpu", cpus=8, memory_mb=32768, walltime="1-00:00:00", gpus=0)
    got = context(SlurmScheduler(), choice, partition="cpu", walltime="1:00:00", gpus=2, cpu_limit=1)
    assert (got["partition"], got["cpus"], got["memory_mb"], got["walltime"], got["gpus"]) == (
        "gpu",
        8,
        32768,
        "1-00:00:00",
        0,
    )


def test_a_limit_wins_over_a_guarantee() -> None:
    got = context(SlurmScheduler(), mem_limit=2 * GiB, mem_guarantee=GiB, cpu_guarantee=3)
    assert (got["memory_mb"], got["cpus"]) == (2048, 3)


@pytest.mark.parametrize(
    ("field", "settings"),
    [
        ("partition", {"partition": "a b"}),
        ("walltime", {"walltime": "8 hours"}),
        ("workdir", {"workdir": "relative/dir"}),
        ("extra_directives", {"extra_directives": ("--x\n#SBATCH --y",)}),
    ],
)
def test_a_bad_value_names_its_setting(field: str, settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as e:
        context(SlurmScheduler(), **settings)
    assert e.value.field == field


def test_the_spec_is_what_backends_see() -> None:
    spec = make_job_spec(
        JobSettings(qos="high", cpu_limit=2, scheduler_options={"gpu_resource": "ngpus"}),
        NO_CHOICE,
        JobPlace("alice", "x", "jupyter-alice+x", "/j", "/home/alice", "/j/env.json"),
        PBSProScheduler(),
    )
    assert (spec.output, spec.qos, spec.cpus, spec.command, spec.node_dir) == (
        "/j/job.out",
        "high",
        2,
        ("/bin/sh", "/j/node/start.sh", "--env-file", "/j/env.json", "--"),
        "/j/node",
    )
    assert [path for path, _ in spec.node_files] == [f.path for f in node_files()]
    assert PBSProScheduler().job_context_extra(spec) == {"time_limit": "", "gpu_resource": "ngpus"}
    assert SlurmScheduler().job_context_extra(spec) == {}


def test_pbs_writes_walltime_as_hours() -> None:
    got = context(PBSProScheduler(), walltime="1-12:00:00", scheduler_options={"gpu_resource": "gpus"})
    assert (got["walltime"], got["gpu_resource"]) == ("36:00:00", "gpus")


@pytest.mark.parametrize("scheduler", [TorqueScheduler(), MoabScheduler()])
def test_torque_and_moab_divide_pmem_by_the_cores(scheduler: Scheduler) -> None:
    options = {"memory_directive": "pmem"}
    got = context(scheduler, walltime="90", mem_limit=4 * GiB, cpu_limit=3, scheduler_options=options)
    assert (got["walltime"], got["memory_directive"], got["memory_request_mb"]) == ("01:30:00", "pmem", 1366)


def test_grid_engine_values() -> None:
    got = context(
        GridengineScheduler(),
        walltime="1-00:00:00",
        mem_limit=8 * GiB,
        cpu_limit=4,
        gpus=1,
        scheduler_options=SGE_OPTIONS,
    )
    assert {
        k: got[k] for k in ("h_rt", "slots", "parallel_environment", "memory_requests", "gpu_request")
    } == {
        "h_rt": "24:00:00",
        "slots": 4,
        "parallel_environment": "smp",
        "memory_requests": ["h_vmem=2048M"],
        "gpu_request": "gpu=1",
    }


@pytest.mark.parametrize(
    ("field", "settings", "options"),
    [
        ("qos", {"qos": "high"}, {}),
        ("parallel_environment", {"cpu_limit": 2}, {"parallel_environment": ""}),
        ("gpu_resource", {"gpus": 1}, {"gpu_resource": ""}),
        ("memory_resources", {}, {"memory_resources": ["h vmem"]}),
    ],
)
def test_grid_engine_refuses(field: str, settings: dict[str, Any], options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as e:
        context(GridengineScheduler(), scheduler_options={**SGE_OPTIONS, **options}, **settings)
    assert e.value.field == field


def test_lsf_values_and_no_qos() -> None:
    options = {"memory_request": "both", "lsf_unit_for_limits": "MB"}
    got = context(LsfScheduler(), walltime="1-12:00:00", mem_limit=GiB, scheduler_options=options)
    assert (got["lsf_walltime"], got["lsf_resources"], got["lsf_memory_limit"]) == (
        "36:00",
        "rusage[mem=1024] span[hosts=1]",
        1024,
    )
    with pytest.raises(ConfigError) as e:
        context(LsfScheduler(), qos="high", scheduler_options=options)
    assert e.value.field == "qos"


def test_condor_values_and_no_queues() -> None:
    options = {"walltime_directive": "max_runtime"}
    got = context(CondorScheduler(), walltime="2:00:00", scheduler_options=options)
    assert (got["walltime_seconds"], got["condor_max_runtime"], got["condor_periodic_remove"]) == (
        7200,
        True,
        False,
    )
    assert got["condor_log"] == "/home/alice/.batchspawner_x/alice/job.log"
    for field in ("partition", "qos"):
        with pytest.raises(ConfigError) as e:
            context(CondorScheduler(), scheduler_options=options, **{field: "x"})
        assert e.value.field == field
    with pytest.raises(ConfigError) as e:
        context(CondorScheduler(), home="/home/John Doe", workdir="/scratch", scheduler_options=options)
    assert e.value.field == "home"


@pytest.mark.parametrize(
    "scheduler",
    [
        SlurmScheduler,
        PBSProScheduler,
        TorqueScheduler,
        MoabScheduler,
        GridengineScheduler,
        LsfScheduler,
        CondorScheduler,
    ],
)
def test_every_spawner_passes_the_settings_its_backend_reads(scheduler: type[Scheduler]) -> None:
    from batchspawner_x import spawners

    spawner_class = next(
        c for c in vars(spawners).values() if getattr(c, "scheduler_class", None) is scheduler
    )
    assert set(scheduler.context_settings) <= set(spawner_class.class_trait_names(config=True))


DOCS = Path(__file__).resolve().parents[2] / "docs" / "cookbook.md"
SPAWNER_OPTIONS: list[tuple[Scheduler, dict[str, Any]]] = [
    (SlurmScheduler(), {}),
    (PBSProScheduler(), {"gpu_resource": "ngpus"}),
    (TorqueScheduler(), {"memory_directive": "mem"}),
    (MoabScheduler(), {"memory_directive": "mem"}),
    (GridengineScheduler(), SGE_OPTIONS),
    (LsfScheduler(), {"memory_request": "both", "lsf_unit_for_limits": "MB"}),
    (CondorScheduler(), {"walltime_directive": "both"}),
]


def documented_variables() -> dict[str, str]:
    """The docs' table of template variables: each name -> its row's old names."""
    text = DOCS.read_text(encoding="utf-8").split("## Template variables", 1)[1]
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| `")]
    return {name: row[-1] for row in rows for name in re.findall(r"`(\w+)`", row[0])}


@pytest.mark.parametrize(("scheduler", "options"), SPAWNER_OPTIONS, ids=lambda v: getattr(v, "name", ""))
def test_every_variable_is_in_the_docs_table(scheduler: Scheduler, options: dict[str, Any]) -> None:
    table = documented_variables()
    # the parenthesised notes say where an old name applies (which schedulers, batch_script)
    old_names = {
        old: new
        for new, olds in table.items()
        for old in re.findall(r"`(\w+)`", re.sub(r"\([^)]*\)", "", olds))
    }
    got = context(scheduler, scheduler_options=options)
    assert set(got) <= set(table) | set(old_names)
    for old, new in ALIASES.get(scheduler.name, {}).items():
        assert old_names.get(old) == new, f"{old} is not listed as an old name of {new}"
        assert got[old] == got[new]


def test_old_names_render_the_same_as_the_new() -> None:
    got = context(GridengineScheduler(), walltime="1-12:00:00", scheduler_options=SGE_OPTIONS)
    assert (got["time_limit"], got["h_rt"], got["walltime"]) == ("36:00:00", "36:00:00", "1-12:00:00")
    got = context(TorqueScheduler(), walltime="90", scheduler_options={"memory_directive": "mem"})
    assert got["time_limit"] == got["walltime"] == "01:30:00"
