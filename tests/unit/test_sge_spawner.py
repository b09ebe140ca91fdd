"""GridengineSpawner without a cluster: its job script (golden files), its
settings, and poll/stop against recorded Son of Grid Engine output."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchspawner_x import GridengineSpawner
from batchspawner_x.errors import ConfigError
from batchspawner_x.schedulers.base import CommandResult

from . import fakes
from .fakes import Answer, FakeTransport
from .node_stand_in import golden_view

GOLDEN = Path(__file__).parent / "golden"


def qstat_xml(*jobs: tuple[str, str, str]) -> str:
    """qstat -xml output with (job number, state, queue) entries, as SoGE 8.1.9 prints it."""
    body = "".join(
        f'    <job_list state="running">\n      <JB_job_number>{number}</JB_job_number>\n'
        f"      <state>{state}</state>\n      <queue_name>{queue}</queue_name>\n    </job_list>\n"
        for number, state, queue in jobs
    )
    return f"<?xml version='1.0'?>\n<job_info>\n  <queue_info>\n{body}  </queue_info>\n</job_info>\n"


QACCT_EXIT_3 = "==============================================================\njobnumber    21\nfailed       0    \nexit_status  3                   \n"  # noqa: E501


def answering(qstat: str, qstat_rc: int = 0, qstat_err: str = "") -> Answer:
    def answer(argv: list[str]) -> CommandResult:
        if argv[0] == "qstat":
            return CommandResult(qstat_rc, qstat, qstat_err)
        if argv[0] == "qacct":
            return CommandResult(0, QACCT_EXIT_3)
        if argv[0] == "qdel":
            return CommandResult(0, f"erin has registered the job {argv[1]} for deletion\n")
        return CommandResult(0)

    return answer


def make_spawner(answer: Answer | None = None, server: str = "") -> tuple[GridengineSpawner, FakeTransport]:
    """Erin's Grid Engine spawner; the login node has no jobs unless ``answer`` says otherwise."""
    return fakes.make_spawner(
        answer or answering(qstat_xml()), cls=GridengineSpawner, name="erin", server=server
    )


def example_spawner() -> GridengineSpawner:
    """A site's usual settings: a queue, 8 hours, 4 GiB over 2 cores, one extra directive."""
    spawner, _ = make_spawner()
    spawner.partition = "all.q"
    spawner.walltime = "08:00:00"
    spawner.mem_limit = "4G"
    spawner.cpu_limit = 2
    spawner.extra_directives = ["-l arch=lx-amd64"]
    return spawner


def full_spawner() -> GridengineSpawner:
    """Everything set, with a site's own parallel environment and memory resources."""
    spawner, _ = make_spawner(server="gpu")
    spawner.workdir = "/scratch/erin"
    spawner.partition = "gpu.q"
    spawner.account = "proj42"
    spawner.walltime = "1-12:00:00"
    spawner.gpus = 1
    spawner.mem_limit = "16G"
    spawner.cpu_limit = 7.5
    spawner.parallel_environment = "threads"
    spawner.memory_resources = ["h_vmem", "mem_free"]
    spawner.memory_per_slot = False
    spawner.prologue = "module load python/3.11\nsource /opt/venvs/jupyter/bin/activate"
    spawner.epilogue = 'echo "server exited with $rc"'
    spawner.node_command = ["/opt/venvs/jupyter/bin/batchspawner-x-singleuser"]
    spawner.cmd = ["jupyterhub-singleuser", "--debug"]
    return spawner


def golden(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# the job script


async def test_golden_example() -> None:
    assert golden_view(await example_spawner().render_script()) == golden("sge_example.sh")


async def test_golden_full() -> None:
    assert await full_spawner().render_script() == golden("sge_full.sh")


async def test_only_the_options_that_are_set() -> None:
    spawner, _ = make_spawner()
    spawner.walltime = ""
    script = await spawner.render_script()
    directives = [line for line in script.splitlines() if line.startswith("#$")]
    assert directives == [
        "#$ -N jupyter-erin",
        "#$ -o /home/erin/.batchspawner_x/erin/job.out",
        "#$ -j y",
        "#$ -S /bin/bash",
        "#$ -wd /home/erin",
    ]


@pytest.mark.parametrize(
    ("cpu_limit", "mem_limit", "expected"),
    [
        (1, "1G", ["#$ -l h_vmem=1024M"]),  # one slot: no parallel environment
        (2, "1G", ["#$ -pe smp 2", "#$ -l h_vmem=512M"]),  # per slot: 2 x 512M
        (4, "3G", ["#$ -pe smp 4", "#$ -l h_vmem=768M"]),
        (0.5, None, []),
    ],
)
async def test_cores_and_memory_per_slot(
    cpu_limit: float, mem_limit: str | None, expected: list[str]
) -> None:
    spawner, _ = make_spawner()
    spawner.cpu_limit = cpu_limit
    if mem_limit:
        spawner.mem_limit = mem_limit
    script = await spawner.render_script()
    assert [line for line in script.splitlines() if line.startswith(("#$ -pe", "#$ -l h_vmem"))] == expected


async def test_no_memory_resources_requests_no_memory() -> None:
    spawner, _ = make_spawner()
    spawner.mem_limit = "4G"
    spawner.memory_resources = []
    assert "h_vmem" not in await spawner.render_script()


async def test_gpus_use_the_configured_complex() -> None:
    spawner, _ = make_spawner()
    spawner.gpus = 2
    spawner.gpu_resource = "nvidia_gpu"
    assert "#$ -l nvidia_gpu=2\n" in await spawner.render_script()


async def test_packaged_template_reachable_by_prefix_and_overridable(tmp_path: Path) -> None:
    (tmp_path / "sge.sh.j2").write_text(
        '{% extends "batchspawner_x/sge.sh.j2" %}\n'
        "{% block directives %}{{ super() }}#$ -m n\n{% endblock %}\n"
        "{% block setup %}module load jupyter\n{% endblock %}\n"
    )
    spawner = example_spawner()
    spawner.template_paths = [str(tmp_path)]
    script = golden_view(await spawner.render_script())
    assert script == golden("sge_example.sh").replace(
        "#$ -l arch=lx-amd64\n", "#$ -l arch=lx-amd64\n#$ -m n\n"
    ).replace("set -eu\n", "set -eu\nmodule load jupyter\n", 1)


@pytest.mark.parametrize(
    ("setting", "value", "field"),
    [
        ("qos", "high", "qos"),
        ("parallel_environment", "", "parallel_environment"),  # with cpu_limit = 2
        ("parallel_environment", "smp 4", "parallel_environment"),
        ("memory_resources", ["h_vmem=1G"], "memory_resources"),
        ("gpu_resource", "", "gpu_resource"),  # with gpus = 1
        ("gpu_resource", "gpu,h_vmem=100G", "gpu_resource"),
        ("partition", "all.q -l h_vmem=100G", "partition"),
    ],
)
async def test_settings_that_cannot_be_used(setting: str, value: object, field: str) -> None:
    spawner, _ = make_spawner()
    spawner.cpu_limit = 2
    spawner.mem_limit = "1G"
    spawner.gpus = 1
    setattr(spawner, setting, value)
    with pytest.raises(ConfigError) as info:
        await spawner.render_script()
    assert info.value.field == field


# ---------------------------------------------------------------------------
# poll and stop against recorded qstat / qacct / qdel output


@pytest.mark.parametrize(
    ("state", "expected"),
    [("qw", None), ("hqw", None), ("Eqw", None), ("r", None), ("s", None), ("dr", None), ("Ss", None)],
)
async def test_poll_keeps_every_live_state(state: str, expected: int | None) -> None:
    spawner, _ = make_spawner(answering(qstat_xml(("21", state, "all.q@localhost"))))
    spawner.load_state({"job_id": "21"})
    assert await spawner.poll() == expected


async def test_a_finished_job_reports_its_exit_status_from_qacct() -> None:
    spawner, transport = make_spawner(answering(qstat_xml(("21", "z", ""))))
    spawner.load_state({"job_id": "21"})
    assert await spawner.poll() == 3
    assert ["qacct", "-j", "21"] in transport.commands


async def test_a_job_qstat_no_longer_lists_is_stopped() -> None:
    spawner, _ = make_spawner(answering(qstat_xml(("7", "r", "all.q@localhost"))))
    spawner.load_state({"job_id": "21"})
    assert await spawner.poll() == 1


async def test_qmaster_down_is_not_a_death() -> None:
    commlib = "error: commlib error: got select error (Connection refused)\n"
    spawner, transport = make_spawner(answering("", 1, commlib))
    spawner.load_state({"job_id": "21"})
    assert await spawner.poll() is None
    assert transport.commands == [["qstat", "-xml", "-r", "-s", "prsz", "-u", "$user"]]


async def test_stop_deletes_the_job() -> None:
    states = iter(["dr", "z"])

    def answer(argv: list[str]) -> CommandResult:
        if argv[0] == "qstat":
            return CommandResult(0, qstat_xml(("21", next(states, "z"), "all.q@localhost")))
        return answering(qstat_xml())(argv)

    spawner, transport = make_spawner(answer)
    spawner.load_state({"job_id": "21", "job_dir": "/home/erin/.batchspawner_x/erin"})
    transport.files["/home/erin/.batchspawner_x/erin/env.json"] = b"{}"
    await spawner.stop()
    assert [c for c in transport.commands if c[0] == "qdel"] == [["qdel", "21"]]
    assert "/home/erin/.batchspawner_x/erin/env.json" not in transport.files


def test_class_is_reachable_under_its_predecessors_name() -> None:
    import batchspawner_x

    assert batchspawner_x.GridengineSpawner is GridengineSpawner
    assert GridengineSpawner.scheduler_class.display_name == "Grid Engine"
