"""Named environments: the site's definitions, a user's choice by name, the job script.

The cookbook's four recipes (modules, conda, Apptainer, GPU) are written here as
configuration, and the scripts they make are checked line by line."""

from __future__ import annotations

from typing import Any

import pytest

from batchspawner_x.environments import (
    Environment,
    check_setup,
    parse_environments,
    parse_offer,
    resolve_environment,
)
from batchspawner_x.errors import ConfigError, OptionError
from batchspawner_x.jobspec import JobPlace, JobSettings, make_job_context
from batchspawner_x.node_side import HEREDOC_END
from batchspawner_x.profiles import Choice
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.script import render

JOB_DIR = "/home/alice/.batchspawner_x/alice"

#: The cookbook's recipes as configuration (docs/environments.md shows the same).
COOKBOOK: dict[str, Any] = {
    "modules": {
        "display_name": "Python 3.11 (modules)",
        "setup": [
            "if ! command -v module >/dev/null 2>&1; then source /etc/profile.d/lmod.sh; fi",
            "module purge",
            "module load python/3.11 jupyterlab/4.2",
        ],
    },
    "conda": {
        "display_name": "Conda: jupyter-2025.1",
        "setup": "source /opt/conda/etc/profile.d/conda.sh\nconda activate /opt/conda/envs/jupyter-2025.1",
    },
    "apptainer": {
        "display_name": "Container: jupyter-2025.1",
        "wrap": ["apptainer", "exec", "--cleanenv", "--bind", "{job_dir}", "/opt/images/jupyter-2025.1.sif"],
        "cmd": ["/opt/conda/bin/jupyterhub-singleuser"],
    },
    "podman": {
        "display_name": "Container (podman-hpc)",
        "wrap": [
            "podman-hpc",
            "run",
            "--rm",
            "--net=host",
            "-v",
            "{home}:{home}",
            "-v",
            "{job_dir}:{job_dir}",
            "-w",
            "{workdir}",
            "docker.io/jupyter/base-notebook:2025.1",
        ],
    },
    "cuda": {"display_name": "CUDA 12.4", "setup": "module load cuda/12.4"},
}


def script(environment: Environment | None, **settings: Any) -> str:
    settings.setdefault("server_command", ("jupyterhub-singleuser",))
    context = make_job_context(
        JobSettings(environment=environment, **settings),
        Choice(profile=""),
        JobPlace("alice", "", "jupyter-alice", JOB_DIR, "/home/alice", JOB_DIR + "/env.json"),
        SlurmScheduler(),
    )
    return render("slurm.sh.j2", context)


def test_the_cookbook_recipes_are_configuration() -> None:
    envs = parse_environments(COOKBOOK)
    modules = script(envs["modules"])
    lines = modules.splitlines()
    setup = lines.index("module purge")
    assert lines[setup - 3 : setup + 3] == [
        "# environment modules (set -u lifted: module and conda scripts read unset variables)",
        "set +u",
        "if ! command -v module >/dev/null 2>&1; then source /etc/profile.d/lmod.sh; fi",
        "module purge",
        "module load python/3.11 jupyterlab/4.2",
        "set -u",
    ]
    # before the node side is written and the server started
    assert setup < lines.index(f"bsx_node={JOB_DIR}/node")
    assert "conda activate /opt/conda/envs/jupyter-2025.1\nset -u\n" in script(envs["conda"])
    # the spawner puts the environment's cmd in server_command (test_spawner_environments.py)
    container = script(envs["apptainer"], server_command=envs["apptainer"].cmd).splitlines()[-1]
    assert container == (
        f"exec apptainer exec --cleanenv --bind {JOB_DIR} /opt/images/jupyter-2025.1.sif "
        f"/bin/sh {JOB_DIR}/node/start.sh --env-file {JOB_DIR}/env.json "
        "-- /opt/conda/bin/jupyterhub-singleuser"
    )
    podman = script(envs["podman"], workdir="/scratch/alice").splitlines()[-1]
    assert podman.startswith(
        f"exec podman-hpc run --rm --net=host -v /home/alice:/home/alice -v {JOB_DIR}:{JOB_DIR} "
        "-w /scratch/alice docker.io/jupyter/base-notebook:2025.1 /bin/sh "
    )


def test_without_an_environment_the_script_is_unchanged() -> None:
    plain = script(None)
    assert "set +u" not in plain and "# environment" not in plain
    assert plain == script(Environment(name="empty", display_name="Nothing"))


def test_an_environment_with_an_epilogue_still_runs_it() -> None:
    envs = parse_environments(COOKBOOK)
    text = script(envs["apptainer"], epilogue="echo done")
    assert "exec apptainer" not in text
    assert f"apptainer exec --cleanenv --bind {JOB_DIR} /opt/images/jupyter-2025.1.sif /bin/sh" in text
    assert text.rstrip().endswith('echo done\nexit "$rc"')


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"Py": {}}, r"environments\[Py\]: 'Py' must be 1-40 characters"),
        ({"py": {"setup": "x", "modules": []}}, r"environments\[py\]: unknown keys \['modules'\]"),
        ({"py": {"setup": f"echo\n{HEREDOC_END}\nrm -rf ~"}}, r"environments\[py\].setup: holds a line"),
        ({"py": {"setup": "module load a\x00b"}}, r"environments\[py\].setup: holds NUL"),
        ({"py": {"setup": "module load a\r"}}, "carriage return"),
        ({"py": {"setup": 3}}, "must be strings"),
        ({"py": {"cmd": "jupyterhub-singleuser"}}, r"environments\[py\].cmd: must be a list"),
        ({"py": {"cmd": ["a\nb"]}}, r"environments\[py\].cmd: 'a\\nb' contains a line break"),
        ({"py": {"wrap": ["apptainer", "{user}"]}}, r"\{user\} is not one of \{job_dir\}"),
        ({"py": "module load x"}, "must be a dict"),
    ],
)
def test_what_would_break_a_script_is_refused(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_environments(raw)


def test_setup_keeps_tabs_and_an_inner_marker_mention() -> None:
    text = f"if true; then\n\techo {HEREDOC_END}-is-not-alone\nfi"
    assert check_setup("setup", text) == text


def test_a_profile_offers_one_or_a_list() -> None:
    assert parse_offer("e", "py311") == ("py311",)
    assert parse_offer("e", ["py311", "torch"]) == ("py311", "torch")
    for bad in ([], ["py311", "py311"], ["Py 3"], 3):
        with pytest.raises(ConfigError):
            parse_offer("e", bad)


@pytest.mark.parametrize("requested", ["other", "torch; rm -rf ~", 3, "../py311"])
def test_users_choose_by_name_among_the_offered(requested: object) -> None:
    assert resolve_environment(("py311", "torch"), None) == "py311"
    assert resolve_environment(("py311", "torch"), "torch") == "torch"
    assert resolve_environment((), None) is None
    with pytest.raises(OptionError) as info:
        resolve_environment(("py311", "torch"), requested)
    assert info.value.field == "environment"
    assert "is not one of py311, torch" in str(info.value)
