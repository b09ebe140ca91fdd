"""Job scripts of PBSSpawner, TorqueSpawner and MoabSpawner: golden files and limit mapping.

The scripts are rendered from each spawner's own ``job_context`` (so the
walltime conversion and the per-process memory are part of what is tested)
and compared with hand-written files in ``golden/``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from traitlets import TraitError

from batchspawner_x import MoabSpawner, PBSSpawner, TorqueSpawner
from batchspawner_x.schedulers.pbs import format_pbs_walltime, per_process_mb
from batchspawner_x.script import render
from batchspawner_x.spawner import BatchSpawnerBase
from batchspawner_x.units import optional_walltime_seconds

from .node_stand_in import golden_view

GOLDEN = Path(__file__).parent / "golden"
SPAWNERS = {"pbs": PBSSpawner, "torque": TorqueSpawner, "moab": MoabSpawner}
QUEUES = {"pbs": "workq", "torque": "batch", "moab": "batch"}


def make(kind: str, user: str = "alice", server: str = "") -> BatchSpawnerBase:
    owner = SimpleNamespace(name=user, url=f"/user/{user}/", server=None, base_url="/")
    # the server's name comes from its database row
    orm_spawner = SimpleNamespace(name=server, display_name=server, server=None) if server else None
    spawner: BatchSpawnerBase = SPAWNERS[kind](user=owner, orm_spawner=orm_spawner)
    return spawner


def script_of(spawner: BatchSpawnerBase, home: str) -> str:
    job_dir = f"{home}/.batchspawner_x/{spawner.server_key()}"
    script = render(spawner.template, spawner.job_context(job_dir, home), tuple(spawner.template_paths))
    return golden_view(script)


def example(kind: str) -> str:
    """The README's example: a queue, 8 hours, 4 GiB, 2 CPUs and one extra directive."""
    spawner = make(kind)
    spawner.partition = QUEUES[kind]
    spawner.walltime = "08:00:00"
    spawner.mem_limit = "4G"
    spawner.cpu_limit = 2
    spawner.extra_directives = ["-W group_list=physics"]
    return script_of(spawner, "/home/alice")


def full(kind: str) -> str:
    """Everything set: account, a day-and-a-half walltime, GPUs, a prologue and an epilogue."""
    spawner = make(kind, "bob", "gpu")
    spawner.workdir = "/scratch/bob"
    spawner.partition = "gpu"
    spawner.account = "proj42"
    spawner.walltime = "1-12:00:00"
    spawner.gpus = 1
    spawner.mem_limit = "16G"
    spawner.cpu_limit = 7.5
    spawner.prologue = "module load python/3.11\nsource /opt/venvs/jupyter/bin/activate"
    spawner.epilogue = 'echo "server exited with $rc"'
    spawner.node_command = ["/opt/venvs/jupyter/bin/batchspawner-x-singleuser"]
    spawner.cmd = ["jupyterhub-singleuser", "--debug"]
    if isinstance(spawner, PBSSpawner):
        spawner.gpu_resource = "gpus"
    else:
        spawner.memory_directive = "pmem"  # type: ignore[attr-defined]
    return script_of(spawner, "/home/bob")


@pytest.mark.parametrize("kind", ["pbs", "torque", "moab"])
def test_golden_example(kind: str) -> None:
    assert example(kind) == (GOLDEN / f"{kind}_example.sh").read_text()


@pytest.mark.parametrize("kind", ["pbs", "torque", "moab"])
def test_golden_full(kind: str) -> None:
    assert full(kind) == (GOLDEN / f"{kind}_full.sh").read_text()


@pytest.mark.parametrize("kind", ["pbs", "torque", "moab"])
def test_packaged_template_reachable_by_prefix(kind: str) -> None:
    spawner = make(kind)
    spawner.template = f"batchspawner_x/{kind}.sh.j2"
    spawner.partition = QUEUES[kind]
    spawner.walltime = "08:00:00"
    spawner.mem_limit = "4G"
    spawner.cpu_limit = 2
    spawner.extra_directives = ["-W group_list=physics"]
    assert script_of(spawner, "/home/alice") == (GOLDEN / f"{kind}_example.sh").read_text()


@pytest.mark.parametrize(
    ("kind", "line"),
    [
        ("pbs", "#PBS -l select=1\n"),
        ("torque", "#PBS -l nodes=1\n"),
        ("moab", "#MSUB -l nodes=1\n"),
    ],
)
def test_nothing_set_requests_one_bare_chunk(kind: str, line: str) -> None:
    spawner = make(kind)
    spawner.walltime = ""
    script = script_of(spawner, "/home/alice")
    assert line in script
    for absent in ("-q ", "-A ", "walltime", "mem=", "ncpus", "ppn", "gpus"):
        assert absent not in script, absent


def test_site_template_extends_the_packaged_one(tmp_path: Path) -> None:
    (tmp_path / "pbs.sh.j2").write_text(
        '{% extends "batchspawner_x/pbs.sh.j2" %}\n'
        "{% block directives %}{{ super() }}#PBS -l place=excl\n{% endblock %}\n"
        "{% block setup %}module load python\n{% endblock %}\n"
    )
    spawner = make("pbs")
    spawner.template_paths = [str(tmp_path)]
    spawner.cpu_limit = 4
    script = script_of(spawner, "/home/alice")
    assert "#PBS -l select=1:ncpus=4\n#PBS -l place=excl\n" in script
    assert "\nmodule load python\n# The node side of batchspawner_x travels" in script


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("30", "00:30:00"),  # Slurm minutes, not PBS seconds
        ("90", "01:30:00"),
        ("30:15", "00:30:15"),
        ("08:00:00", "08:00:00"),
        ("100:00:00", "100:00:00"),
        ("1-00", "24:00:00"),
        ("2-6", "54:00:00"),
        ("1-12:30", "36:30:00"),
        ("1-12:00:00", "36:00:00"),
        ("0-00:00:59", "00:00:59"),
    ],
)
def test_walltime_becomes_hours_minutes_seconds(value: str, expected: str) -> None:
    assert format_pbs_walltime(optional_walltime_seconds("walltime", value)) == expected


@pytest.mark.parametrize(
    ("memory", "cpus", "directive", "expected"),
    [
        (4096, 2, "mem", 4096),
        (4096, 2, "pmem", 2048),
        (4096, 3, "pmem", 1366),  # rounded up: never less than asked in all
        (4096, None, "pmem", 4096),
        (None, 2, "pmem", None),
    ],
)
def test_per_process_memory(
    memory: int | None, cpus: int | None, directive: str, expected: int | None
) -> None:
    assert per_process_mb(memory, cpus, directive) == expected


@pytest.mark.parametrize("value", ["gpus", "ngpus", "nvidia_a100"])
def test_gpu_resource_accepts_resource_names(value: str) -> None:
    spawner = make("pbs")
    spawner.gpu_resource = value
    assert spawner.gpu_resource == value


@pytest.mark.parametrize("value", ["", "ngpus=2", "a:b", "1gpu", "gpu s", "x\n#PBS -q other"])
def test_gpu_resource_refuses_what_would_break_the_select(value: str) -> None:
    spawner = make("pbs")
    with pytest.raises(TraitError, match="not a PBS resource name"):
        spawner.gpu_resource = value


@pytest.mark.parametrize("kind", ["torque", "moab"])
def test_memory_directive_is_mem_or_pmem(kind: str) -> None:
    spawner = make(kind)
    assert spawner.memory_directive == "mem"  # type: ignore[attr-defined]
    with pytest.raises(TraitError):
        spawner.memory_directive = "vmem"  # type: ignore[attr-defined]


def test_spawners_use_their_schedulers() -> None:
    assert make("pbs").scheduler.display_name == "PBS Pro"
    assert make("torque").scheduler.display_name == "Torque"
    assert make("moab").scheduler.display_name == "Moab"
    assert make("pbs").output_file("/j", "12.srv") == "/j/job.out"
