"""Named environments on the real stack: an Lmod module, a podman container, hostile choices.

- An Lmod environment: Debian's ``lmod`` (installed by ``ci/cluster/node-envs.sh``) and a
  modulefile this test writes, which puts the bare node venv ``/opt/bsx-node-env/jh5x``
  (jupyterhub 5.x and jupyterlab only, nothing of batchspawner_x) on the PATH. With
  ``Spawner.cmd = ["jupyterhub-singleuser"]``, a bare name found only once the module is
  loaded, the spawn reaches JupyterLab and a kernel runs from the module's venv.
- A container environment (the cookbook's Apptainer recipe): no container runtime runs
  reliably here (docs/environments.md, "What was run"), so the script Slurm holds is
  checked, and the job's own words when the runtime is missing.
- Hostile values in every field a profile lets a user choose: each is a 400 naming the
  field, and no job is submitted.

Only carol is used here (spawns in named servers of this module's own names).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import cluster
from .hub import Hub
from .test_node_side import bare_env, run_in_a_kernel
from .test_profiles import SLOW_SPAWN_DEFAULT, spawn_body

#: Environments are the job script's business, not the hub's (test_node_side.py covers the
#: hub versions): the newest hub only, to keep CI time down.
pytestmark = pytest.mark.newest_hub_only

USER = "carol"
#: What carol's commands run with, as an SSH session gives it (no XDG_RUNTIME_DIR).
USER_ENV = ["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", f"HOME=/home/{USER}", f"USER={USER}"]

MODULEFILE = """\
whatis("jupyterhub 5.x and jupyterlab in a bare venv (batchspawner_x test)")
prepend_path("PATH", "{env}/bin")
"""


def node_hub(make_hub: Callable[..., Hub], environments: dict[str, dict[str, object]]) -> Hub:
    """A hub with no node_command, a bare ``jupyterhub-singleuser`` as the command, these
    ``environments`` and a profile of each one's name offering it."""
    profiles = [{"name": name, "display_name": name, "environments": name} for name in environments]
    return make_hub(
        f"""
        c.JupyterHub.allow_named_servers = True
        c.BatchSpawnerBase.node_command = []
        c.Spawner.cmd = ["jupyterhub-singleuser"]
        c.BatchSpawnerBase.environments = {environments!r}
        c.BatchSpawnerBase.profiles = {profiles!r}
        """
    )


def job_output(hub: Hub, server: str) -> str:
    job_dir = Path(hub.state(USER, server)["job_dir"])
    return "\n".join(p.read_text(errors="replace") for p in sorted(job_dir.glob("job-*.out")))


def carols_jobs() -> set[str]:
    """Every job of carol's that Slurm still knows, finished ones too (kept 300 s)."""
    out = cluster.run("squeue", "--noheader", "--user", USER, "--states=all", "--format=%i")
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def spawn_and_reach_lab(hub: Hub, server: str) -> str:
    result = hub.spawn(USER, server, options=spawn_body(hub, {"profile": server, "environment": server}))
    assert result.ready, (result, hub.log_tail())
    lab = hub.get_through_proxy(f"/user/{USER}/{server}/lab")
    assert lab.status_code == 200, (lab.status_code, lab.text[:300])
    assert "JupyterLab" in lab.text
    return job_output(hub, server)


# -- Lmod ---------------------------------------------------------------------------------


@pytest.fixture
def module_dir() -> Iterator[Path]:
    """A module directory carol can read, holding ``jh5x/5.lua`` for the bare jupyterhub 5 venv."""
    env = bare_env("jupyterhub-5.x")
    top = Path(tempfile.mkdtemp(prefix="bsx-modules-"))
    (top / "jh5x").mkdir()
    (top / "jh5x" / "5.lua").write_text(MODULEFILE.format(env=env))
    for path in (top, top / "jh5x", top / "jh5x" / "5.lua"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def lmod_environment(module_dir: Path, module: str) -> dict[str, dict[str, object]]:
    # Debian's Lmod defines `module` in login shells only (/etc/profile.d/lmod.sh); a batch
    # job's shell gets it from that script: the site's setup says so, not our code.
    setup = [
        "if ! command -v module >/dev/null 2>&1; then source /etc/profile.d/lmod.sh; fi",
        f"module use {module_dir}",
        f"module load {module}",
    ]
    return {"jh5x": {"display_name": f"Lmod: {module}", "setup": setup}}


def test_an_lmod_module_puts_the_server_on_the_path(make_hub: Callable[..., Hub], module_dir: Path) -> None:
    assert Path("/etc/profile.d/lmod.sh").exists(), "no Lmod: run ci/cluster/node-envs.sh"
    not_found = cluster.run(
        "runuser", "-u", USER, "--", *USER_ENV, "sh", "-c", "command -v jupyterhub-singleuser"
    )
    assert not_found.returncode != 0, f"jupyterhub-singleuser is on {USER}'s PATH without the module"
    env = bare_env("jupyterhub-5.x")
    hub = node_hub(make_hub, lmod_environment(module_dir, "jh5x/5"))

    output = spawn_and_reach_lab(hub, "jh5x")
    assert f"running the node side with {env}/bin/python3" in output, output
    ran = run_in_a_kernel(
        hub, "import os, sys; (sys.prefix, os.environ['LOADEDMODULES'])", f"/user/{USER}/jh5x"
    )
    assert ran == repr((str(env), "jh5x/5")), ran
    job_id = hub.state(USER, "jh5x")["job_id"]
    hub.stop(USER, "jh5x")
    assert job_id not in cluster.alive_jobs(USER)


def test_a_module_that_does_not_exist_fails_at_once_in_lmods_words(
    make_hub: Callable[..., Hub], module_dir: Path
) -> None:
    hub = node_hub(make_hub, lmod_environment(module_dir, "jh5x/9.9"))
    result = hub.spawn(USER, "jh5x", options=spawn_body(hub, {"profile": "jh5x"}))
    assert result.failed, result
    message = "\n".join(result.messages)
    assert "ended before its notebook server started" in message, message
    assert 'The following module(s) are unknown:\n"jh5x/9.9"' in message, message
    assert "exit code 1" in message, message
    assert hub.server_model(USER, "jh5x") is None


# -- a container: the rendered script ----------------------------------------------------

#: The cookbook's Apptainer recipe as configuration (docs/environments.md). No Apptainer is
#: installable here, and rootless podman does not stop reliably with a job on this cluster
#: (see that page's "What was run"): the script Slurm gets is what is checked.
APPTAINER = {
    "apptainer": {
        "display_name": "Container",
        "wrap": ["apptainer", "exec", "--cleanenv", "--bind", "{job_dir}", "/opt/images/jupyter-2025.1.sif"],
        "cmd": ["/opt/conda/bin/jupyterhub-singleuser"],
    }
}


def test_a_container_environment_reaches_slurm_as_written_and_fails_in_the_jobs_words(
    make_hub: Callable[..., Hub],
) -> None:
    hub = node_hub(make_hub, APPTAINER)
    result = hub.spawn(USER, "apptainer", options=spawn_body(hub, {"profile": "apptainer"}))
    assert result.failed, result
    message = "\n".join(result.messages)
    found = re.search(
        r"Job (\d+) ended before its notebook server started \(FAILED, exit code 127\)", message
    )
    assert found, message
    assert "exec: apptainer: not found" in message, message
    script = cluster.run("scontrol", "write", "batch_script", found.group(1), "-")
    assert script.returncode == 0, script.stderr
    job_dir = f"/home/{USER}/.batchspawner_x/{USER}+apptainer"
    assert (
        f"exec apptainer exec --cleanenv --bind {job_dir} /opt/images/jupyter-2025.1.sif "
        f"/bin/sh {job_dir}/node/start.sh "
    ) in script.stdout, script.stdout
    assert script.stdout.rstrip().endswith("-- /opt/conda/bin/jupyterhub-singleuser"), script.stdout[-300:]


# -- hostile values -----------------------------------------------------------------------

#: Every field a profile may let a user choose that names something of the site's.
FIELDS = ("environment", "account", "qos", "reservation", "constraint", "gpu_type")
HOSTILE = {
    "semicolon": "debug;id",
    "command substitution": "$(touch /tmp/bsx-pwned)",
    "directive injection": "x\n#SBATCH --uid=0",
    "carriage return": "x\r#SBATCH --uid=0",
    "quotes and a space": "x'\" y",
    "over-long": "a" * 5000,
    "unknown name": "nosuch",
    "a list": ["a100"],
}
CHOOSY = """
c.JupyterHub.allow_named_servers = True
c.BatchSpawnerBase.environments = {"plain": {"display_name": "Plain"}, "other": {"display_name": "Other"}}
c.BatchSpawnerBase.profiles = [
    {"name": "choosy", "display_name": "Every choice", "environments": ["plain", "other"],
     "fields": {"account": {"choices": ["physics"]}, "qos": {"choices": ["normal"]},
                "reservation": {"choices": ["class"], "optional": True},
                "constraint": {"choices": ["avx2"]}, "gpu_type": {"choices": ["a100"]}}},
]
"""


@pytest.fixture(scope="module")
def choosy_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub for every refusal (none of them submits, so none needs a hub of its own)."""
    hub = Hub(tmp_path_factory.mktemp("hub"), CHOOSY + SLOW_SPAWN_DEFAULT)
    hub.start()
    hub.create_user(USER)
    yield hub
    hub.terminate()


def refused(hub: Hub, options: dict[str, object]) -> str:
    """POST a spawn of ``options``, assert it is a 400 that submitted nothing, and return
    its message."""
    before = carols_jobs()
    r = hub.request("POST", f"/users/{USER}/servers/hostile", json=spawn_body(hub, options))
    assert r.status_code == 400, (r.status_code, r.text[:500])
    assert carols_jobs() <= before, "a refused request submitted a job"
    assert not os.path.exists("/tmp/bsx-pwned")
    return str(r.json()["message"])


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("field", FIELDS)
def test_a_hostile_choice_is_a_400_naming_the_field_and_no_job(
    choosy_hub: Hub, field: str, value: object
) -> None:
    message = refused(choosy_hub, {"profile": "choosy", field: value})
    assert message.startswith(f"Invalid choice for {field}: "), message
    assert "\n" not in message and "\r" not in message, message


@pytest.mark.parametrize("option", ["extra_directives", "prologue", "setup", "wrap", "node_command"])
def test_a_setting_that_is_not_a_choice_is_a_400_naming_it_and_no_job(choosy_hub: Hub, option: str) -> None:
    message = refused(choosy_hub, {"profile": "choosy", option: "--uid=0"})
    assert message == f"Invalid choice for {option}: is not an option of this hub", message
