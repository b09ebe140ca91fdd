"""The wheel really ships the templates, the typing marker and the entry points."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str | Path, cwd: Path | None = None) -> str:
    out = subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=600, check=False, cwd=cwd
    )
    assert out.returncode == 0, f"{argv} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def test_wheel_installs_into_a_fresh_venv_and_renders(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, ROOT)
    (wheel,) = dist.glob("batchspawner_x-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "batchspawner_x/templates/slurm.sh.j2" in names
        assert "batchspawner_x/templates/base.sh.j2" in names  # what slurm.sh.j2 extends
        assert "batchspawner_x/templates/node_side.sh.j2" in names  # what base.sh.j2 includes
        assert "batchspawner_x/templates_hub/home.html" in names  # the hub pages (hub_templates)
        assert "batchspawner_x/templates_hub/batchspawner_x/jobs.html" in names
        assert "batchspawner_x/py.typed" in names
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = zf.read(entry_points).decode()
    assert "[jupyterhub.spawners]" in text and "slurm = batchspawner_x:SlurmSpawner" in text
    assert "batchspawner-x-singleuser = batchspawner_x.singleuser:main" in text

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    # Only what rendering needs: the test is about what the wheel carries.
    run(python, "-m", "pip", "install", "--quiet", "--no-deps", wheel)
    run(python, "-m", "pip", "install", "--quiet", "jinja2")
    script = run(
        python,
        "-c",
        "import sys\n"
        "from batchspawner_x.jobspec import JobPlace, JobSettings, make_job_context\n"
        "from batchspawner_x.profiles import Choice\n"
        "from batchspawner_x.schedulers.slurm import SlurmScheduler\n"
        "from batchspawner_x.script import render, packaged_template_dir\n"
        "where = str(packaged_template_dir())\n"
        "assert where.startswith(sys.prefix), where\n"
        "# the context the spawner builds, from the installed package: every variable the\n"
        "# packaged templates read, whatever the templates gain\n"
        "settings = JobSettings(partition='interactive', walltime='08:00:00', mem_limit=4 * 2**30,\n"
        "  cpu_limit=2, server_command=('jupyterhub-singleuser',), warning_seconds=(900, 300))\n"
        "place = JobPlace(username='alice', server_name='', job_name='jupyter-alice',\n"
        "  job_dir='/home/alice/.bsx', home='/home/alice', env_file='/home/alice/.bsx/env.json')\n"
        "ctx = make_job_context(settings, Choice(profile=''), place, SlurmScheduler())\n"
        "print(render('slurm.sh.j2', ctx))\n",
        cwd=tmp_path,  # not the source tree, which python -c would import first
    )
    assert "#SBATCH --mem=4096M" in script
    assert "#SBATCH --time=08:00:00" in script
    assert "#SBATCH --cpus-per-task=2" in script
    assert "#SBATCH --signal=B:USR1@900" in script  # the first warning, from the scheduler
    # the node side's modules, read from the installed wheel, travel in the script
    assert "bsx_write batchspawner_x/singleuser.py <<'BATCHSPAWNER_X_EOF'\n" in script
    assert "def send_report(" in script and "def validate_report(" in script
    # the node-side command runs from the wheel without JupyterHub installed
    assert "--env-file" in run(venv / "bin" / "batchspawner-x-singleuser", "--help")
