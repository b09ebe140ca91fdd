"""batchspawner-x check against the real login node (sshd on 127.0.0.1:2222, Slurm).

Runs as the test user frank and only does what the check command does: log
in, look for the scheduler's commands, render, and write and remove a probe
file in a job directory of its own. Nothing is submitted.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from .hub import cluster_env

USER = "frank"


@pytest.fixture
def job_dir_name() -> Iterator[str]:
    name = f".bsx-cli-test-{secrets.token_hex(4)}"
    yield name
    shutil.rmtree(f"/home/{USER}/{name}", ignore_errors=True)


@pytest.fixture
def hub_port() -> Iterator[int]:
    """A listening socket where the hub's API would be (connections wait in its backlog)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])


def write_config(tmp_path: Path, job_dir_name: str, hub_port: int, known_hosts: str = "") -> Path:
    c = cluster_env()
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(
        textwrap.dedent(
            f"""
            c.JupyterHub.spawner_class = "slurm"
            c.JupyterHub.hub_connect_url = "http://127.0.0.1:{hub_port}"
            c.BatchSpawnerBase.ssh_host = "{c["BSX_SSH_HOST"]}"
            c.BatchSpawnerBase.ssh_port = {c["BSX_SSH_PORT"]}
            c.BatchSpawnerBase.ssh_keys = ["{c["BSX_KEYS_DIR"]}/{{username}}"]
            c.BatchSpawnerBase.ssh_known_hosts = "{known_hosts or c["BSX_KNOWN_HOSTS"]}"
            c.BatchSpawnerBase.job_dir = "{job_dir_name}/{{server}}"
            c.BatchSpawnerBase.node_command = ["{c["BSX_VENV"]}/bin/batchspawner-x-singleuser"]
            c.BatchSpawnerBase.partition = "debug"
            c.Spawner.cmd = ["{c["BSX_VENV"]}/bin/jupyterhub-singleuser"]
            """
        )
    )
    return path


def login_node_paths(user: str, names: list[str]) -> dict[str, str]:
    """Where ``user``'s shell on the login node finds each command, asked over SSH as the
    spawner asks: a site may install its scheduler anywhere (wrappers in /usr/local/bin)."""
    c = cluster_env()

    async def ask() -> dict[str, str]:
        async with asyncssh.connect(
            c["BSX_SSH_HOST"],
            port=int(c["BSX_SSH_PORT"]),
            username=user,
            client_keys=[f"{c['BSX_KEYS_DIR']}/{user}"],
            known_hosts=c["BSX_KNOWN_HOSTS"],
        ) as conn:
            found = {}
            for name in names:
                result = await conn.run(shlex.join(["command", "-v", name]), check=True)
                found[name] = str(result.stdout).strip()
            return found

    return asyncio.run(ask())


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "batchspawner_x.cli", "check", "--config", str(config), "--user", USER],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_passes_against_the_test_cluster(tmp_path: Path, job_dir_name: str, hub_port: int) -> None:
    result = check(write_config(tmp_path, job_dir_name, hub_port))
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert [line.split(":")[0] for line in lines] == [
        "OK   login node reachable",
        "OK   host key known",
        "OK   authentication",
        "OK   scheduler commands",
        "OK   scheduler answers",
        "OK   template renders",
        "OK   job directory writable",
        "OK   hub reachable from the cluster",
    ]
    paths = login_node_paths(USER, ["sbatch", "squeue", "scancel", "scontrol", "sinfo"])
    assert all(path.startswith("/") for path in paths.values()), paths
    assert lines[3] == (
        f"OK   scheduler commands: submit={paths['sbatch']}, status={paths['squeue']}, "
        f"cancel={paths['scancel']}, info={paths['scontrol']}, partitions={paths['sinfo']}"
    )
    assert lines[4].startswith("OK   scheduler answers: partitions debug (")
    assert f"in /home/{USER}/{job_dir_name}/{USER}/certs" in lines[6]
    assert f"connects to 127.0.0.1:{hub_port}" in lines[7]
    # the probe file is gone; the directory it was written in is the user's, mode 0700
    certs = Path(f"/home/{USER}/{job_dir_name}/{USER}/certs")
    assert list(certs.iterdir()) == []
    assert certs.stat().st_mode & 0o777 == 0o700
    assert certs.stat().st_uid == Path(f"/home/{USER}").stat().st_uid


def test_a_wrong_known_hosts_file_fails_the_host_key_check(
    tmp_path: Path, job_dir_name: str, hub_port: int
) -> None:
    c = cluster_env()
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[{c['BSX_SSH_HOST']}]:{c['BSX_SSH_PORT']} {other_key}")
    result = check(write_config(tmp_path, job_dir_name, hub_port, str(known_hosts)))
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert lines[0].startswith("OK   login node reachable")
    assert lines[1].startswith(
        f"FAIL host key known: the host key of 127.0.0.1:{c['BSX_SSH_PORT']} is not in {known_hosts} "
        "or does not match it"
    )
    assert lines[1].endswith(
        f"-- fix: check the login node's fingerprint with its administrators, then: "
        f"ssh-keyscan -p {c['BSX_SSH_PORT']} 127.0.0.1 >> {known_hosts}"
    )
    assert lines[2] == "SKIP authentication: needs a reachable login node with a known host key"
    assert not os.path.exists(f"/home/{USER}/{job_dir_name}")


def test_render_needs_no_connection(tmp_path: Path, job_dir_name: str, hub_port: int) -> None:
    config = write_config(tmp_path, job_dir_name, hub_port, known_hosts="/nonexistent/known_hosts")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "batchspawner_x.cli",
            "render",
            "-f",
            str(config),
            "-u",
            USER,
            "--script-only",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"#SBATCH --output=/home/{USER}/{job_dir_name}/{USER}/job-%j.out\n" in result.stdout
    assert "#SBATCH --partition=debug\n" in result.stdout


def test_check_reports_each_cluster(
    tmp_path: Path, job_dir_name: str, hub_port: int, sge: dict[str, str]
) -> None:
    config = write_config(tmp_path, job_dir_name, hub_port)
    c = cluster_env()
    logins = [f"127.0.0.1:{c['BSX_SSH_PORT']}", f"127.0.0.1:{c['BSX_SSH_PORT2']}"]
    clusters = {
        "flagship": {"display_name": "Flagship (Slurm)", "login_hosts": logins},
        "legacy": {
            "display_name": "Legacy (Grid Engine)",
            "scheduler": "gridengine",
            "ssh_port": int(sge["BSX_SGE_SSH_PORT"]),
            "ssh_known_hosts": sge["BSX_SGE_KNOWN_HOSTS"],
            "partition": sge["BSX_SGE_QUEUE"],
        },
    }
    config.write_text(config.read_text() + f"c.BatchSpawnerBase.clusters = {clusters!r}\n")
    result = check(config)
    out = result.stdout
    # The Grid Engine login node lives in its own network namespace (sge-up.sh): its
    # 127.0.0.1 is not the hub's, so its hub probe fails there, rightly; its jobs run in
    # the hub's namespace and do reach it (test_clusters.py).
    failures = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert result.returncode == 1, out + result.stderr
    assert len(failures) == 1 and failures[0].startswith("FAIL hub reachable from the cluster"), out
    flagship, legacy = out.split("== cluster legacy (Legacy (Grid Engine)) ==\n")
    assert "FAIL hub reachable" in legacy
    assert flagship.startswith("== cluster flagship (Flagship (Slurm)) ==\n")
    assert "sbatch" in flagship and "qsub" not in flagship
    assert "submit=" in legacy and "qsub" in legacy and "sbatch" not in legacy
    assert f"127.0.0.1:{sge['BSX_SGE_SSH_PORT']}" in legacy
    for part in (flagship, legacy):
        assert "OK   host key known" in part and "OK   authentication" in part
    assert "OK   scheduler answers: partitions debug (" in flagship
    for login in logins:  # each login node of the flagship, on its own line
        assert f"OK   login node reachable: {login} answers" in flagship
        assert f"OK   host key known: {login} matches" in flagship
    assert f"OK   scheduler answers: partitions {sge['BSX_SGE_QUEUE']} (" in legacy
