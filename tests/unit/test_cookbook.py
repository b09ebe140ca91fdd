"""The cookbook's site templates (docs/cookbook/*.j2) render, so the docs cannot rot."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from batchspawner_x import SlurmSpawner

from .node_stand_in import without_node_side

COOKBOOK = Path(__file__).resolve().parents[2] / "docs" / "cookbook"
PAGE = COOKBOOK.parent / "cookbook.md"
TEMPLATES = sorted(p.name for p in COOKBOOK.glob("*.j2"))
COMMAND = (
    "/bin/sh /home/alice/.batchspawner_x/alice/node/start.sh"
    " --env-file /home/alice/.batchspawner_x/alice/env.json"
    " -- /opt/jupyter/bin/jupyterhub-singleuser"
)
HEAD = (
    "#!/bin/bash\n"
    "#SBATCH --job-name=jupyter-alice\n"
    "#SBATCH --output=/home/alice/.batchspawner_x/alice/job-%j.out\n"
    "#SBATCH --chdir=/home/alice\n"
    "#SBATCH --nodes=1\n"
    "#SBATCH --ntasks=1\n"
    "#SBATCH --partition=gpu\n"
    "#SBATCH --time=08:00:00\n"
    "#SBATCH --signal=B:USR1@900\n"
    "#SBATCH --mem=4096M\n"
)
#: What the packaged body starts with when the job asks for the early signal (the default).
EARLY_SIGNAL = (
    "# The scheduler's early signal (USR1) may come any time, even before the node side,\n"
    "# which turns it into a warning, has started: until then it is ignored, not fatal.\n"
    "trap '' USR1\n"
)


async def render(name: str, gpus: int) -> str:
    user = SimpleNamespace(name="alice", url="/user/alice/", server=None, base_url="/")
    spawner = SlurmSpawner(user=user)
    spawner.template_paths = [str(COOKBOOK)]
    spawner.template = name
    spawner.partition = "gpu"
    spawner.mem_limit = "4G"
    spawner.gpus = gpus
    spawner.cmd = ["/opt/jupyter/bin/jupyterhub-singleuser"]
    # each recipe keeps the node side (written before its command runs); the tests look at the rest
    return without_node_side(await spawner.render_script(home="/home/alice"))


def test_there_are_the_four_recipes_and_the_page_shows_each() -> None:
    assert TEMPLATES == ["apptainer.sh.j2", "conda.sh.j2", "gpu.sh.j2", "modules.sh.j2"]
    page = PAGE.read_text()
    for name in TEMPLATES:
        assert f"```{{literalinclude}} cookbook/{name}\n" in page
        assert (COOKBOOK / name).read_text().count('{% extends "batchspawner_x/slurm.sh.j2" %}') == 1


@pytest.mark.parametrize("name", TEMPLATES)
async def test_each_recipe_keeps_the_packaged_directives(name: str) -> None:
    script = await render(name, gpus=0)
    assert script.startswith(HEAD + "\nset -eu\n" + EARLY_SIGNAL)
    assert "--gpus" not in script and "--gres" not in script


async def test_modules() -> None:
    assert (await render("modules.sh.j2", 0)).endswith(
        "set -eu\n"
        + EARLY_SIGNAL
        + "# `module` is defined by login shells only; its scripts do not all survive `set -u`\n"
        "set +u\n"
        "if ! command -v module >/dev/null 2>&1; then\n"
        "    source /etc/profile.d/lmod.sh\n"
        "fi\n"
        "module purge\n"
        "module load python/3.11 jupyterlab/4.2\n"
        "set -u\n"
        f"exec {COMMAND}\n"
    )


async def test_conda() -> None:
    assert (await render("conda.sh.j2", 0)).endswith(
        "set -eu\n"
        + EARLY_SIGNAL
        + "# `conda activate` needs conda's shell functions; `set -u` trips over some activation scripts\n"
        "source /opt/conda/etc/profile.d/conda.sh\n"
        "set +u\n"
        "conda activate /opt/conda/envs/jupyter-2025.1\n"
        "set -u\n"
        f"exec {COMMAND}\n"
    )


@pytest.mark.parametrize(("gpus", "nv"), [(0, ""), (1, "--nv ")])
async def test_apptainer(gpus: int, nv: str) -> None:
    assert (await render("apptainer.sh.j2", gpus)).endswith(
        "set -eu\n"
        + EARLY_SIGNAL
        + f"exec apptainer exec --cleanenv {nv}--bind /home/alice/.batchspawner_x/alice "
        f"/opt/images/jupyter-2025.1.sif {COMMAND}\n"
    )


async def test_gpu() -> None:
    assert await render("gpu.sh.j2", 1) == (
        HEAD + "#SBATCH --gres=gpu:1\n"
        "#SBATCH --constraint=a100|h100\n"
        "\n"
        "set -eu\n" + EARLY_SIGNAL + "module load cuda/12.4\n"
        "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader\n"
        f"exec {COMMAND}\n"
    )
