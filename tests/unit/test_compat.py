"""The predecessor's setting names: each alias, its warning, its checks, and batch_script."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from traitlets import TraitError
from traitlets.config import Config

from batchspawner_x import SlurmSpawner, compat
from batchspawner_x.errors import TemplateError

from .fakes import new_spawner
from .node_stand_in import without_node_side

LOG = logging.getLogger("test-compat")


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    compat._WARNED.clear()
    yield
    compat._WARNED.clear()


def spawner(config: Config | None = None, user: str = "alice") -> SlurmSpawner:
    return new_spawner(name=user, config=config or Config(), log=LOG)


def configured(section: str, **settings: Any) -> SlurmSpawner:
    c = Config()
    for name, value in settings.items():
        setattr(c[section], name, value)
    return spawner(c)


# (old name, value, new trait, expected value of the new trait, what the warning names)
RENAMES = [
    ("req_partition", "gpu", "partition", "gpu", "use partition."),
    ("req_queue", "short", "partition", "short", "use partition."),
    ("req_memory", "4G", "mem_limit", 4 * 2**30, "use Spawner.mem_limit."),
    ("req_memory", "4000", "mem_limit", 4000 * 2**20, "use Spawner.mem_limit."),
    ("req_memory", "8gb", "mem_limit", 8 * 2**30, "use Spawner.mem_limit."),
    ("req_nprocs", "4", "cpu_limit", 4.0, "use Spawner.cpu_limit."),
    ("req_runtime", "1-00:00:00", "walltime", "1-00:00:00", "use walltime."),
    ("req_account", "chem123", "account", "chem123", "use account."),
    ("req_qos", "long", "qos", "long", "use qos."),
    ("req_options", "--constraint=skylake", "extra_directives", ["--constraint=skylake"], "extra_directives"),
    ("req_prologue", "module load python\nsource x", "prologue", "module load python\nsource x", "prologue"),
    ("req_epilogue", "echo done", "epilogue", "echo done", "use epilogue."),
    ("req_ngpus", "2", "gpus", 2, "use gpus."),
    ("req_homedir", "/scratch/alice", "workdir", "/scratch/alice", "use workdir."),
    ("req_workdir", "/scratch/alice", "workdir", "/scratch/alice", "use workdir."),
    ("req_gres", "gpu:1", "extra_directives", ["--gres=gpu:1"], '(["--gres=..."])'),
    ("req_reservation", "course", "extra_directives", ["--reservation=course"], "--reservation"),
    ("exec_prefix", "sudo -E -u {username}", "local_prefix", ["sudo", "-u", "{username}"], "local_prefix"),
    (
        "batch_submit_cmd",
        "/opt/slurm/bin/sbatch --parsable",
        "scheduler_commands",
        {"submit": "/opt/slurm/bin/sbatch"},
        'scheduler_commands["submit"]',
    ),
    (
        "batch_query_cmd",
        "/usr/local/bin/squeue-wrapper",
        "scheduler_commands",
        {"status": "/usr/local/bin/squeue-wrapper"},
        'scheduler_commands["status"]',
    ),
    (
        "batch_cancel_cmd",
        "scancel {job_id}",
        "scheduler_commands",
        {"cancel": "scancel"},
        'scheduler_commands["cancel"]',
    ),
]


@pytest.mark.parametrize("section", ["BatchSpawnerBase", "SlurmSpawner"])
@pytest.mark.parametrize(("old", "value", "trait", "expected", "named"), RENAMES)
def test_each_old_name_sets_the_new_setting_and_names_it(
    caplog: pytest.LogCaptureFixture,
    section: str,
    old: str,
    value: str,
    trait: str,
    expected: Any,
    named: str,
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        s = configured(section, **{old: value})
    assert getattr(s, trait) == expected
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"SlurmSpawner.{old} is deprecated")
    assert named in warnings[0]


def test_every_predecessor_name_is_a_setting() -> None:
    names = set(compat.predecessor_names())
    config_traits = set(SlurmSpawner.class_traits(config=True))
    assert names <= config_traits
    assert {r[0] for r in RENAMES} | {"batch_script"} <= names


def test_exec_prefix_switches_to_the_local_connection() -> None:
    s = configured("BatchSpawnerBase", exec_prefix="sudo -E -u {username} --")
    assert s.connection == "local"
    assert s.local_prefix == ["sudo", "-u", "{username}", "--"]


def test_several_option_lines_become_several_directives() -> None:
    s = configured("SlurmSpawner", req_options="--constraint=skylake\n#SBATCH --exclusive\n\n")
    assert s.extra_directives == ["--constraint=skylake", "--exclusive"]


def test_options_add_to_extra_directives_without_repeating() -> None:
    c = Config()
    c.SlurmSpawner.extra_directives = ["--exclusive"]
    c.SlurmSpawner.req_options = "--exclusive"
    c.SlurmSpawner.req_gres = "gpu:1"
    assert spawner(c).extra_directives == ["--exclusive", "--gres=gpu:1"]


def test_the_new_name_wins_over_the_old_one(caplog: pytest.LogCaptureFixture) -> None:
    c = Config()
    c.BatchSpawnerBase.req_partition = "old"
    c.SlurmSpawner.partition = "new"
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        s = spawner(c)
    assert s.partition == "new"
    assert caplog.records[0].getMessage() == (
        "SlurmSpawner.req_partition (from batchspawner) is ignored: "
        "partition is also set, and the new name wins."
    )


def test_the_warning_is_given_once_per_process(caplog: pytest.LogCaptureFixture) -> None:
    c = Config()
    c.SlurmSpawner.req_qos = "long"
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        spawner(c, "alice")
        second = spawner(c, "bob")
    assert second.qos == "long"
    assert len(caplog.records) == 1


IGNORED = [
    ("req_username", "alice", "ssh_username"),
    ("req_keepvars", "PATH,HOME", "private file"),
    ("req_keepvars_extra", "LANG", "private file"),
    ("req_host", "pbs-server", "queue@server"),
    ("req_cluster", "gpu-cluster", "ssh_host"),
    ("req_srun", "srun --mpi=none", "command block"),
    ("batchspawner_singleuser_cmd", "/opt/bin/batchspawner-singleuser", "node_command"),
    ("state_pending_re", "^PENDING", "backend"),
    ("state_running_re", "^RUNNING", "backend"),
    ("state_unknown_re", "error", "backend"),
    ("state_exechost_re", r"\s+(\S+)$", "backend"),
    ("state_exechost_exp", r"\1.cluster", "backend"),
]


@pytest.mark.parametrize(("old", "value", "reason"), IGNORED)
def test_names_without_a_meaning_here_are_ignored_with_the_reason(
    caplog: pytest.LogCaptureFixture, old: str, value: str, reason: str
) -> None:
    plain = spawner()
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        s = configured("SlurmSpawner", **{old: value})
    message = caplog.records[0].getMessage()
    assert message.startswith(f"SlurmSpawner.{old} (from batchspawner) is ignored: ")
    assert reason in message
    for trait in (
        "partition",
        "extra_directives",
        "local_prefix",
        "connection",
        "node_command",
        "ssh_username",
    ):
        assert getattr(s, trait) == getattr(plain, trait)


def test_a_command_with_other_arguments_or_executable_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        s = configured("SlurmSpawner", batch_submit_cmd="sudo -u {username} sbatch")
    assert s.scheduler_commands == {}
    message = caplog.records[0].getMessage()
    assert "is ignored" in message and 'scheduler_commands = {"submit": "/path/to/sbatch"}' in message


@pytest.mark.parametrize(
    ("old", "value", "says"),
    [
        ("req_memory", "lots", "req_memory: 'lots' is not an amount of memory"),
        ("req_nprocs", "0", "req_nprocs: '0' is not a positive number"),
        ("req_nprocs", "four", "req_nprocs: 'four' is not a positive number"),
        ("req_ngpus", "gpu:1", "req_ngpus: 'gpu:1' is not a whole number"),
        ("req_partition", "a b", "req_partition: 'a b' is not a valid name"),
        ("req_queue", "q\n#SBATCH --x", "is not a valid name"),
        ("req_runtime", "8 hours", "req_runtime: '8 hours' is not a walltime"),
        ("req_homedir", "relative/dir", "req_homedir: 'relative/dir' is not an absolute path"),
        ("req_options", "--a\x00", "contains a line break or control character"),
        ("req_gres", "gpu:1 --x", "req_gres: 'gpu:1 --x' is not a valid name"),
    ],
)
def test_old_values_get_the_same_checks(old: str, value: str, says: str) -> None:
    with pytest.raises(TraitError) as info:
        configured("SlurmSpawner", **{old: value})
    assert says in str(info.value)
    assert str(info.value).startswith(f"SlurmSpawner.{old}: ")


# -- batch_script ---------------------------------------------------------------

JINJA_SCRIPT = """#!/bin/bash
#SBATCH --output={{homedir}}/jupyterhub_%j.log
#SBATCH --export={{keepvars}}
{% if partition %}#SBATCH --partition={{partition}}
{% endif %}{% if runtime %}#SBATCH --time={{runtime}}
{% endif %}{% if memory %}#SBATCH --mem={{memory}}
{% endif %}{% if nprocs %}#SBATCH --cpus-per-task={{nprocs}}
{% endif %}{% if gres %}#SBATCH --gres={{gres}}
{% endif %}{% if options %}#SBATCH {{options}}{% endif %}

{{prologue}}
{% if srun %}{{srun}} {% endif %}{{cmd}}
{{epilogue}}
"""


async def test_a_jinja_batch_script_gets_the_old_names() -> None:
    c = Config()
    c.SlurmSpawner.batch_script = JINJA_SCRIPT
    c.SlurmSpawner.req_partition = "gpu"
    c.SlurmSpawner.req_memory = "4G"
    c.SlurmSpawner.req_nprocs = "2"
    c.SlurmSpawner.req_gres = "gpu:1"
    c.SlurmSpawner.req_options = "--constraint=a100"
    c.SlurmSpawner.req_prologue = "module load cuda"
    c.SlurmSpawner.req_srun = "srun"
    c.Spawner.cmd = ["jupyterhub-singleuser"]
    s = spawner(c)
    script = await s.render_script(home="/home/alice")
    # the node side goes before the first command, below the directives
    assert "#SBATCH --constraint=a100\n\n# The node side of batchspawner_x travels" in script
    assert without_node_side(script) == (
        "#!/bin/bash\n"
        "#SBATCH --output=/home/alice/jupyterhub_%j.log\n"
        "#SBATCH --export=ALL\n"
        "#SBATCH --partition=gpu\n"
        "#SBATCH --time=08:00:00\n"
        "#SBATCH --mem=4096M\n"
        "#SBATCH --cpus-per-task=2\n"
        "#SBATCH --gres=gpu:1\n"
        "#SBATCH --constraint=a100\n"
        "\n"
        "module load cuda\n"
        "srun /bin/sh /home/alice/.batchspawner_x/alice/node/start.sh"
        " --env-file /home/alice/.batchspawner_x/alice/env.json -- jupyterhub-singleuser\n"
    )


async def test_a_format_batch_script_gets_the_old_names() -> None:
    s = spawner()
    s.batch_script = "#!/bin/sh\n#PBS -q {queue}\n#PBS -l walltime={runtime}\n{cmd}\n"
    s.partition = "batch"
    s.cmd = ["jupyterhub-singleuser"]
    script = await s.render_script(home="/home/alice")
    assert "#PBS -l walltime=08:00:00\n# The node side of batchspawner_x travels" in script
    assert without_node_side(script) == (
        "#!/bin/sh\n#PBS -q batch\n#PBS -l walltime=08:00:00\n"
        "/bin/sh /home/alice/.batchspawner_x/alice/node/start.sh"
        " --env-file /home/alice/.batchspawner_x/alice/env.json -- jupyterhub-singleuser\n"
    )


async def test_a_batch_script_with_an_installed_node_command_is_as_before() -> None:
    s = spawner()
    s.batch_script = "#!/bin/sh\n#PBS -q {queue}\n{cmd}\n"
    s.partition = "batch"
    s.node_command = ["batchspawner-x-singleuser"]
    s.cmd = ["jupyterhub-singleuser"]
    script = await s.render_script(home="/home/alice")
    assert script == (
        "#!/bin/sh\n#PBS -q batch\n"
        "batchspawner-x-singleuser --env-file /home/alice/.batchspawner_x/alice/env.json"
        " -- jupyterhub-singleuser\n"
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("#!/bin/sh\n{image}\n", "uses {image}, which is not a variable"),
        ("#!/bin/sh\n{cmd.__class__}\n", "{cmd.__class__} is not a plain variable name"),
        ("#!/bin/sh\n{{ image }}\n", "batch_script uses an undefined variable: 'image' is undefined"),
        ("#!/bin/sh\n{% if %}\n", "batch_script line 2"),
        ("\n#!/bin/sh\n{cmd}\n", "must render a script starting with '#!'"),
    ],
)
async def test_batch_script_errors_say_what_is_wrong(text: str, says: str) -> None:
    s = spawner()
    s.batch_script = text
    with pytest.raises(TemplateError) as info:
        await s.render_script(home="/home/alice")
    assert says in str(info.value)


async def test_batch_script_values_are_checked_before_rendering() -> None:
    s = spawner()
    s.batch_script = "#!/bin/sh\n#SBATCH --account={account}\n"
    s.account = "x\n#SBATCH --uid=0"
    with pytest.raises(Exception, match="account"):
        await s.render_script(home="/home/alice")


def test_memory_spec_reads_the_units_schedulers_wrote() -> None:
    assert compat.memory_spec("req_memory", "4G") == "4096M"
    assert compat.memory_spec("req_memory", "4GB") == "4096M"
    assert compat.memory_spec("req_memory", "512mb") == "512M"
    assert compat.memory_spec("req_memory", "1.5G") == "1536M"
    assert compat.memory_spec("req_memory", "16GiB") == "16384M"
    assert compat.memory_spec("req_memory", "4000") == "4000M"  # a bare number is MiB
    assert compat.memory_spec("req_memory", "0") == "0M"  # as before: no memory request
