"""batchspawner-x migrate, and check on predecessor configurations, without a cluster.

The old file is loaded by JupyterHub's application as the hub loads it; the migrated file
is loaded the same way by ``render``. The corpus (test_corpus.py) covers site patterns;
these tests cover the rules one at a time. ``check`` runs against port 1 of this host,
where nothing listens: its first line shows which login node the spawner was built with.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from batchspawner_x import cli

SLURM = (
    'c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"\n'
    'c.SlurmSpawner.ssh_host = "login.example.edu"\n'
)


def write(tmp_path: Path, text: str, name: str = "old.py") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(textwrap.dedent(part) for part in text.split("\n\n", 1)))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def migrate(capsys: pytest.CaptureFixture[str], old: Path) -> Path:
    code, out, err = run(capsys, "migrate", str(old))
    assert code == 0, err
    new = old.with_name("new.py")
    new.write_text(out)
    return new


def script(capsys: pytest.CaptureFixture[str], config: Path, *extra: str) -> list[str]:
    code, out, err = run(capsys, "render", "-f", str(config), "-u", "alice", "--script-only", *extra)
    assert code == 0, err
    return [line for line in out.splitlines() if line.startswith(("#SBATCH", "#PBS", "#$"))]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("c.Spawner.cmd = ['x']\n", "c.JupyterHub.spawner_class is not set"),
        (
            "c.JupyterHub.spawner_class = 'jupyterhub.spawner.LocalProcessSpawner'\n",
            "c.JupyterHub.spawner_class is jupyterhub.spawner.LocalProcessSpawner, not a batchspawner",
        ),
        (
            "c.JupyterHub.spawner_class = 'wrapspawner.ProfilesSpawner'\n",
            "c.ProfilesSpawner.profiles is not set",
        ),
        (
            "c.JupyterHub.spawner_class = 'wrapspawner.ProfilesSpawner'\n"
            "c.ProfilesSpawner.profiles = [('Here', 'here', 'jupyterhub.spawner.LocalProcessSpawner', {})]\n",
            "no profile of c.ProfilesSpawner.profiles uses a batchspawner class",
        ),
    ],
)
def test_what_cannot_be_migrated_is_one_line(
    text: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "migrate", str(write(tmp_path, text)))
    assert (code, out) == (2, "")
    assert err == f"batchspawner-x migrate: {says}" + err.split(says, 1)[1]
    assert len(err.splitlines()) == 1


def test_directives_added_in_two_sections_are_written_once_where_they_win(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(
        tmp_path,
        SLURM
        + """
        c.BatchSpawnerBase.req_options = "--constraint=avx2"
        c.SlurmSpawner.extra_directives = ["--exclusive"]
        c.SlurmSpawner.req_gres = "gpu:1"
        """,
    )
    new = migrate(capsys, old)
    text = new.read_text()
    assert (
        "c.SlurmSpawner.extra_directives = ['--exclusive', '--constraint=avx2', '--gres=gpu:1']  # from "
        "c.BatchSpawnerBase.req_options, c.SlurmSpawner.req_gres, c.SlurmSpawner.extra_directives"
    ) in text
    assert "c.BatchSpawnerBase.extra_directives" not in text
    assert script(capsys, new) == script(capsys, old)
    assert script(capsys, new)[-3:] == [
        "#SBATCH --exclusive",
        "#SBATCH --constraint=avx2",
        "#SBATCH --gres=gpu:1",
    ]


def test_the_new_name_wins_and_the_old_one_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(
        tmp_path, SLURM + 'c.BatchSpawnerBase.req_partition = "old"\nc.SlurmSpawner.partition = "new"\n'
    )
    new = migrate(capsys, old)
    assert "# c.BatchSpawnerBase.req_partition = 'old'\n#   not carried over: partition is also set" in (
        new.read_text()
    )
    assert script(capsys, new) == script(capsys, old)
    assert "#SBATCH --partition=new" in script(capsys, new)


def test_code_of_the_old_file_is_named_not_lost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write(
        tmp_path,
        SLURM
        + """
        def hook(spawner):
            pass

        c.Spawner.pre_spawn_hook = hook
        c.JupyterHub.authenticator_class = "jupyterhub.auth.DummyAuthenticator"
        c.Spawner.env_keep.append("SGE_ROOT")
        c.Spawner.environment.update({"SITE": "x"})
        c.Authenticator.blocked_users = set()
        """,
    )
    text = migrate(capsys, old).read_text()
    assert "c.Spawner.env_keep.extend(['SGE_ROOT'])\n" in text
    assert "c.Spawner.environment.update({'SITE': 'x'})\n" in text
    assert "c.Authenticator.blocked_users = set()\n" in text
    assert "# c.Spawner.pre_spawn_hook = <function hook at" in text
    assert "#   not carried over: not written back: it is code in the old file" in text
    assert "c.JupyterHub.authenticator_class = 'jupyterhub.auth.DummyAuthenticator'" in text


def test_a_site_subclass_of_the_predecessor_becomes_the_class_it_extends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The predecessor not installed: `from batchspawner import SlurmSpawner` reads ours."""
    old = write(
        tmp_path,
        """
        from batchspawner import SlurmSpawner

        class SiteSpawner(SlurmSpawner):
            pass

        c.JupyterHub.spawner_class = SiteSpawner
        c.SiteSpawner.req_runtime = "1:30:00"
        c.SlurmSpawner.ssh_host = "login.example.edu"
        """,
    )
    new = migrate(capsys, old)
    text = new.read_text()
    assert "c.JupyterHub.spawner_class = 'batchspawner_x.SlurmSpawner'  # was SiteSpawner (a class of" in text
    assert "c.SlurmSpawner.walltime = '1:30:00'  # was c.SlurmSpawner.req_runtime = '1:30:00'" in text
    assert "# - the settings of c.SiteSpawner are written under c.SlurmSpawner, the class it extended" in text
    assert "#SBATCH --time=1:30:00" in script(capsys, new)


TWO_SCHEDULERS = """
c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"
c.SlurmSpawner.ssh_host = "slurm-login.example.edu"
c.TorqueSpawner.ssh_host = "torque-login.example.edu"
c.TorqueSpawner.req_queue = "batch"
c.BatchSpawnerBase.req_runtime = "02:00:00"
c.ProfilesSpawner.profiles = [
    ("Slurm, 4 cores", "slurm4", "batchspawner_x.SlurmSpawner", {"req_nprocs": "4", "req_partition": "cpu"}),
    ("Torque, 8 GB", "torque8", "batchspawner_x.TorqueSpawner", {"req_memory": "8gb"}),
]
"""


def test_children_of_two_schedulers_become_two_clusters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path, TWO_SCHEDULERS)
    new = migrate(capsys, old)
    text = new.read_text()
    assert (
        "c.JupyterHub.spawner_class = 'batchspawner_x.SlurmSpawner'  # was wrapspawner.ProfilesSpawner"
        in text
    )
    assert "    'slurm': {'display_name': 'Slurm', 'scheduler': 'slurm'},\n" in text
    assert (
        "    'torque': {'display_name': 'Torque',\n"
        "               'scheduler': 'torque',\n"
        "               'ssh_host': 'torque-login.example.edu',\n"
        "               'partition': 'batch'},\n"
    ) in text
    assert "'name': 'torque8', 'display_name': 'Torque, 8 GB', 'cluster': 'torque', 'memory': '8G'" in text
    for key in ("slurm4", "torque8"):
        assert script(capsys, new, "--profile", key) == script(capsys, old, "--profile", key)
    assert "#PBS -q batch" in script(capsys, new, "--profile", "torque8")


def test_a_child_section_setting_the_wrapper_replaced_is_flagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """wrapspawner copies its own cmd onto the child: c.SlurmSpawner.cmd had no effect."""
    old = write(
        tmp_path,
        TWO_SCHEDULERS + 'c.SlurmSpawner.cmd = ["/site/bin/jupyterhub-singleuser"]\n',
    )
    code, out, _ = run(capsys, "render", "-f", str(old), "-u", "alice", "--profile", "slurm4")
    assert code == 0 and "/site/bin" not in out
    text = migrate(capsys, old).read_text()
    assert (
        "c.SlurmSpawner.cmd = ['/site/bin/jupyterhub-singleuser']  # under wrapspawner this had no effect "
        "(the wrapper copied its own value onto the child); it applies now"
    ) in text


def test_check_builds_the_chosen_child_of_a_wrapper(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path,
        TWO_SCHEDULERS + 'c.SlurmSpawner.ssh_host = "127.0.0.1"\nc.SlurmSpawner.ssh_port = 1\n',
    )
    code, out, err = run(capsys, "check", "-f", str(config), "-u", "alice", "--timeout", "2")
    assert (code, out) == (2, "")
    assert "choose one with --profile KEY (the keys of ProfilesSpawner.profiles: slurm4, torque8)" in err
    argv = ("check", "-f", str(config), "-u", "alice", "--timeout", "2", "--profile", "slurm4")
    code, out, _ = run(capsys, *argv)
    assert code == 1
    assert out.splitlines()[0].startswith(
        "FAIL login node reachable: cannot open a TCP connection to 127.0.0.1:1"
    )


def test_check_uses_the_ssh_settings_an_exec_prefix_stands_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(
        tmp_path,
        """
        c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
        c.SlurmSpawner.exec_prefix = "ssh -p 1 -i /keys/{username} -l {username} {host}"
        c.SlurmSpawner.req_host = "127.0.0.1"
        """,
    )
    code, out, _ = run(capsys, "check", "-f", str(config), "-u", "alice", "--timeout", "2")
    assert code == 1
    assert out.splitlines()[0].startswith(
        "FAIL login node reachable: cannot open a TCP connection to 127.0.0.1:1"
    )
    new = migrate(capsys, config)
    assert "c.SlurmSpawner.ssh_port = 1  # was c.SlurmSpawner.exec_prefix = " in new.read_text()
    code, out, _ = run(capsys, "check", "-f", str(new), "-u", "alice", "--timeout", "2")
    assert out.splitlines()[0].startswith(
        "FAIL login node reachable: cannot open a TCP connection to 127.0.0.1:1"
    )
