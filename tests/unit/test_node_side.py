"""The node side in the job script: the embedded files, the Python it finds, and the
whole job script run by bash against a recording hub with a stand-in server."""

from __future__ import annotations

import ast
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import batchspawner_x
from batchspawner_x import handshake, job_events, node_side
from batchspawner_x.errors import TemplateError
from batchspawner_x.jobspec import JobPlace, JobSettings, make_job_context
from batchspawner_x.node_side import HEREDOC_END, PYTHON_FLOOR, START_SH, NodeFile, node_files
from batchspawner_x.profiles import Choice
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.script import render

from . import test_singleuser
from .fakes import new_spawner
from .test_singleuser import _Hub

hub = test_singleuser.hub  # the recording hub, a fixture
PACKAGE = Path(batchspawner_x.__file__).resolve().parent
TOKEN = "secret-token-0123"
#: An older and the oldest supported Python, where this machine has them (pyenv).
PYENV = Path.home() / ".pyenv" / "versions"
PYTHON_37 = next(iter(sorted(PYENV.glob("3.7.*/bin/python3.7"))), None)
PYTHON_38 = next(iter(sorted(PYENV.glob("3.8.*/bin/python3.8"))), None)

# -- the embedded files ---------------------------------------------------------------


def test_the_embedded_modules_are_the_packages_own() -> None:
    files = {f.path: f.text for f in node_files()}
    assert list(files) == [
        "start.sh",
        "batchspawner_x/__init__.py",
        "batchspawner_x/handshake.py",
        "batchspawner_x/job_events.py",
        "batchspawner_x/supervise.py",
        "batchspawner_x/singleuser.py",
    ]
    for name in ("handshake", "job_events", "supervise", "singleuser"):
        assert files[f"batchspawner_x/{name}.py"] == (PACKAGE / f"{name}.py").read_text(encoding="utf-8")
    assert files["start.sh"] == START_SH
    assert node_files() is node_files()  # read once per process


@pytest.mark.parametrize("path", ["batchspawner_x/handshake.py", "batchspawner_x/singleuser.py"])
def test_the_embedded_modules_compile_for_the_oldest_supported_python(path: str) -> None:
    text = {f.path: f.text for f in node_files()}[path]
    compile(text, path, "exec")
    # the grammar of Python 3.8: no match statements, no parenthesised context managers ...
    ast.parse(text, path, feature_version=PYTHON_FLOOR)


def test_a_file_that_would_end_its_here_document_early_is_refused() -> None:
    with pytest.raises(TemplateError, match="BATCHSPAWNER_X_EOF"):
        NodeFile("x.py", f"a = 1\n{HEREDOC_END}\nb = 2\n")
    with pytest.raises(TemplateError, match="line break"):
        NodeFile("x.py", "a = 1")
    assert NodeFile("x.py", f"a = '{HEREDOC_END}'\n").path == "x.py"


def test_the_spawner_sends_the_real_files_unless_a_node_command_is_set() -> None:
    spawner = new_spawner()
    assert spawner.node_command == []
    assert spawner.job_settings().node_files == node_files()
    context = spawner.job_context("/home/alice/.batchspawner_x/alice", "/home/alice")
    assert context["node_dir"] == "/home/alice/.batchspawner_x/alice/node"
    assert [f["text"] for f in context["node_files"]] == [f.text for f in node_files()]
    spawner.node_command = ["/opt/jupyter/bin/batchspawner-x-singleuser"]
    context = spawner.job_context("/home/alice/.batchspawner_x/alice", "/home/alice")
    assert (context["node_dir"], context["node_files"]) == ("", [])
    assert context["command"][0] == "/opt/jupyter/bin/batchspawner-x-singleuser"


def test_the_script_carries_each_file_verbatim_in_a_quoted_here_document() -> None:
    script = render(
        "slurm.sh.j2", job_context("/home/alice/.batchspawner_x/alice", ("jupyterhub-singleuser",))
    )
    for f in node_files():
        block = f"bsx_write {f.path} <<'{HEREDOC_END}'\n{f.text}{HEREDOC_END}\n"
        assert script.count(block) == 1, f.path
    assert TOKEN not in script


def test_the_logged_script_names_the_node_files_instead_of_their_text() -> None:
    script = render(
        "slurm.sh.j2", job_context("/home/alice/.batchspawner_x/alice", ("jupyterhub-singleuser",))
    )
    short = node_side.abridged(script)
    lines = (PACKAGE / "singleuser.py").read_text().count("\n")
    assert f"<<'{HEREDOC_END}'\n# (batchspawner_x/singleuser.py: {lines} lines)\n{HEREDOC_END}\n" in short
    assert "def send_report(" in script and "def send_report(" not in short
    assert len(short) < 4000 < 20000 < len(script)


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("#!/bin/sh\n#PBS -q a\n\ncmd\n", "#!/bin/sh\n#PBS -q a\n\nBLOCK\ncmd\n"),
        ("#!/bin/sh\n#PBS -q a\n  # note\n  cmd\n", "#!/bin/sh\n#PBS -q a\n  # note\nBLOCK\n  cmd\n"),
        ("#!/bin/sh\n#PBS -q a", "#!/bin/sh\n#PBS -q a\nBLOCK\n"),
    ],
)
def test_a_predecessor_script_gets_the_node_side_before_its_first_command(script: str, expected: str) -> None:
    assert node_side.insert_before_first_command(script, "BLOCK\n") == expected


# -- start.sh: which Python ----------------------------------------------------------


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def python_link(path: Path, target: str = sys.executable) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(target)
    return path


@pytest.fixture
def probe_node(tmp_path: Path) -> Path:
    """A node directory whose "node side" only prints the Python that runs it, and its argv."""
    node = tmp_path / "node"
    executable(node / "start.sh", START_SH)
    (node / "batchspawner_x").mkdir()
    (node / "batchspawner_x" / "__init__.py").write_text("")
    (node / "batchspawner_x" / "singleuser.py").write_text(
        "import sys\ndef main():\n    print(sys.executable)\n    print(sys.argv[1:])\n    return 0\n"
    )
    return node


def start(node: Path, server: str, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(node / "start.sh"), "--env-file", "/j/env.json", "--", server, "--debug"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": path},
    )


def found(run: subprocess.CompletedProcess[str]) -> str:
    assert run.returncode == 0, run.stderr
    executable, argv = run.stdout.splitlines()
    assert argv == repr(["--env-file", "/j/env.json", "--", *run.args[5:]])
    # the line start.sh prints names the Python it chose (sys.executable may resolve a link)
    named = run.stderr.rsplit("running the node side with ", 1)[1].strip()
    assert os.path.realpath(named) == os.path.realpath(executable)
    return named


SYSTEM_PATH = "/usr/bin:/bin"


def test_the_python3_beside_the_server_command(probe_node: Path, tmp_path: Path) -> None:
    server = executable(tmp_path / "env/bin/jupyterhub-singleuser", "#!/nowhere/python\n")
    python = python_link(tmp_path / "env/bin/python3")
    python_link(tmp_path / "env/bin/python")
    assert found(start(probe_node, str(server), SYSTEM_PATH)) == str(python)


def test_a_python_beside_it_when_there_is_no_python3(probe_node: Path, tmp_path: Path) -> None:
    server = executable(tmp_path / "env/bin/jupyterhub-singleuser", "#!/nowhere/python\n")
    python = python_link(tmp_path / "env/bin/python")
    assert found(start(probe_node, str(server), SYSTEM_PATH)) == str(python)


def test_a_bare_command_is_looked_up_on_the_path(probe_node: Path, tmp_path: Path) -> None:
    executable(tmp_path / "env/bin/jupyterhub-singleuser", "#!/nowhere/python\n")
    python = python_link(tmp_path / "env/bin/python3")
    path = f"{tmp_path}/env/bin:{SYSTEM_PATH}"
    assert found(start(probe_node, "jupyterhub-singleuser", path)) == str(python)


@pytest.mark.parametrize("blank", [" ", "\t", ""])
def test_the_interpreter_on_the_shebang_line(probe_node: Path, tmp_path: Path, blank: str) -> None:
    python = python_link(tmp_path / "elsewhere/python3.11")
    server = executable(tmp_path / "bin/jupyterhub-singleuser", f"#!{blank}{python} -E\nimport x\n")
    assert found(start(probe_node, str(server), SYSTEM_PATH)) == str(python)


def test_an_env_shebang_names_a_python_on_the_path(probe_node: Path, tmp_path: Path) -> None:
    python = python_link(tmp_path / "elsewhere/python3")
    server = executable(tmp_path / "bin/jupyterhub-singleuser", "#!/usr/bin/env python3\n")
    path = f"{tmp_path}/elsewhere:{SYSTEM_PATH}"
    assert found(start(probe_node, str(server), path)) == str(python)


def test_else_python3_on_the_path(probe_node: Path, tmp_path: Path) -> None:
    server = executable(tmp_path / "bin/jupyterhub-singleuser", "#!/bin/sh\nexec something\n")
    python = python_link(tmp_path / "elsewhere/python3")
    path = f"{tmp_path}/elsewhere:{SYSTEM_PATH}"
    assert found(start(probe_node, str(server), path)) == str(python)


def test_a_missing_server_command_ends_at_once_in_words(probe_node: Path, tmp_path: Path) -> None:
    run = start(probe_node, f"{tmp_path}/gone/bin/jupyterhub-singleuser", SYSTEM_PATH)
    assert run.returncode == 127
    assert run.stdout == ""
    assert run.stderr == (
        f"batchspawner-x-singleuser: cannot start the server: {tmp_path}/gone/bin/jupyterhub-singleuser: "
        "No such file or directory\n"
    )


def test_no_python_at_all_ends_at_once_in_words(probe_node: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = start(probe_node, "jupyterhub-singleuser", str(tmp_path / "empty"))
    assert run.returncode == 127
    assert run.stderr == (
        "batchspawner-x-singleuser: no Python for the node side: none beside jupyterhub-singleuser, "
        f"none on its #! line, no python3 on the PATH ({tmp_path}/empty)\n"
    )


@pytest.mark.skipif(PYTHON_37 is None, reason="no Python 3.7 on this machine (pyenv)")
def test_a_python_older_than_the_floor_says_so(probe_node: Path, tmp_path: Path) -> None:
    assert PYTHON_37 is not None
    server = executable(tmp_path / "env/bin/jupyterhub-singleuser", "#!/nowhere/python\n")
    python_link(tmp_path / "env/bin/python3", str(PYTHON_37))
    run = start(probe_node, str(server), SYSTEM_PATH)
    assert run.returncode == 1
    assert f"the node side needs Python 3.8 or newer, {tmp_path}/env/bin/python3 is 3.7." in run.stderr


# -- the whole job script ------------------------------------------------------------


def job_context(job_dir: str, server_command: tuple[str, ...]) -> dict[str, Any]:
    settings = JobSettings(walltime="1:00:00", server_command=server_command)
    place = JobPlace("alice", "", "jupyter-alice", job_dir, "/home/alice", f"{job_dir}/env.json")
    return make_job_context(settings, Choice(profile=""), place, SlurmScheduler())


def fake_server(env: Path) -> Path:
    """A stand-in jupyterhub-singleuser: says what it was started with and ends."""
    return executable(
        env / "bin" / "jupyterhub-singleuser",
        "#!/bin/sh\n"
        'echo "server argv: $*"\n'
        'echo "server url: $JUPYTERHUB_SERVICE_URL"\n'
        'echo "server token: ${JUPYTERHUB_API_TOKEN:+set}"\n',
    )


def run_job(
    tmp_path: Path, api_url: str, python: str, *, server_exists: bool = True
) -> tuple[subprocess.CompletedProcess[str], Path]:
    job_dir = tmp_path / "job"
    job_dir.mkdir(mode=0o700)
    env = {
        handshake.API_URL_VAR: api_url,
        handshake.API_TOKEN_VAR: TOKEN,
        handshake.SERVICE_URL_VAR: "http://127.0.0.1:8888/user/alice/",
        handshake.BIND_IP_VAR: "127.0.0.1",
    }
    (job_dir / "env.json").write_bytes(handshake.env_file_body(env))
    server = fake_server(tmp_path / "env")
    python_link(tmp_path / "env/bin/python3", python)
    if not server_exists:
        server.unlink()
    script = render("slurm.sh.j2", job_context(str(job_dir), (str(server), "--debug")))
    run = subprocess.run(
        ["/bin/bash", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": SYSTEM_PATH, "SLURM_JOB_ID": "4242"},
    )
    return run, tmp_path / "env/bin/python3"


PYTHONS = [pytest.param(sys.executable, id="this-python")] + (
    [pytest.param(str(PYTHON_38), id="python3.8")] if PYTHON_38 else []
)


@pytest.mark.parametrize("python", PYTHONS)
def test_the_job_script_reports_and_starts_the_server(
    tmp_path: Path, hub: tuple[str, type[_Hub]], python: str
) -> None:
    api_url, handler = hub
    run, python_path = run_job(tmp_path, api_url, python)
    assert run.returncode == 0, run.stderr
    (path, headers, body), (end_path, end_headers, end), *more = handler.received
    assert not more
    # the server exited by itself with 0: the node side told the hub so, once
    assert end_path == "/hub/api" + job_events.EVENT_PATH
    assert end_headers["Authorization"] == f"token {TOKEN}"
    assert json.loads(end) == {"job_id": "4242", "event": "exit", "exit_code": 0}
    assert path == "/hub/api" + handshake.REPORT_PATH
    assert headers["Authorization"] == f"token {TOKEN}"
    report = json.loads(body)
    assert (report["host"], report["job_id"]) == ("127.0.0.1", "4242")
    port = report["port"]
    assert run.stdout == (
        f"server argv: --debug\nserver url: http://127.0.0.1:{port}/user/alice/\nserver token: set\n"
    )
    assert f"batchspawner-x-singleuser: running the node side with {python_path}\n" in run.stderr
    assert f"batchspawner-x-singleuser: server will listen on 127.0.0.1:{port}\n" in run.stderr
    # the node side's files are the hub's, and the server file is private
    node = tmp_path / "job" / "node"
    for f in node_files():
        assert (node / f.path).read_text() == f.text
    assert sorted(p.name for p in node.rglob("*") if p.is_file() and "__pycache__" not in p.parts) == sorted(
        Path(f.path).name for f in node_files()
    )
    server_file = tmp_path / "job" / handshake.SERVER_FILE
    assert stat.S_IMODE(server_file.stat().st_mode) == 0o600
    assert json.loads(server_file.read_text()) == report


def test_a_job_script_whose_server_command_is_gone_ends_with_its_words(
    tmp_path: Path, hub: tuple[str, type[_Hub]]
) -> None:
    api_url, handler = hub
    run, _ = run_job(tmp_path, api_url, sys.executable, server_exists=False)
    assert run.returncode == 127
    assert run.stderr.endswith("/env/bin/jupyterhub-singleuser: No such file or directory\n")
    assert handler.received == []  # ended before telling the hub anything
