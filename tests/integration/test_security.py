"""Security promises on the real stack: local mode's environment, the reported host.

Uses carol (and dave), whom the other suites rarely use.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import cluster
from .hub import Hub, cluster_env

USER = "carol"


def job_output(hub: Hub, user: str) -> str:
    state = hub.state(user)
    return (Path(state["job_dir"]) / f"job-{state['job_id']}.out").read_text(errors="replace")


def test_local_mode_keeps_the_hubs_secrets_from_the_job(
    make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a prefix that keeps the environment, unlike sudo: whatever the hub passes reaches sbatch,
    # and sbatch's default --export=ALL copies it into the job
    monkeypatch.setenv("BSX_HUB_SECRET", "do-not-leak")
    hub = make_hub(
        """
        c.BatchSpawnerBase.connection = "local"
        c.BatchSpawnerBase.local_prefix = ["runuser", "-u", "{username}", "--"]
        c.BatchSpawnerBase.prologue = 'echo "hub secret: ${BSX_HUB_SECRET:-absent}; home: $HOME"'
        """
    )
    result = hub.spawn(USER)
    assert result.ready, result
    output = job_output(hub, USER)
    assert "hub secret: absent; home: /home/carol" in output, output
    assert "do-not-leak" not in output
    hub.stop(USER)


#: A node-side command that lies: it reports the host given (JSON) as its first argument for the
#: server's address (with the server's own token and job id, as a hostile job could), prints
#: the hub's answer, and then either waits (``wait``) or exits as the real one does on a 4xx.
FORGER = """
import json, os, sys, time, urllib.error, urllib.request
host, then = json.loads(sys.argv[1]), sys.argv[2]
env = json.load(open(sys.argv[sys.argv.index("--env-file") + 1]))["env"]
body = {"host": host, "port": 8888, "job_id": os.environ.get("SLURM_JOB_ID", "")}
request = urllib.request.Request(
    env["JUPYTERHUB_API_URL"].rstrip("/") + "/batchspawner_x/server",
    data=json.dumps(body).encode(), method="POST",
    headers={"Authorization": "token " + env["JUPYTERHUB_API_TOKEN"], "Content-Type": "application/json"},
)
try:
    with urllib.request.urlopen(request, timeout=20) as r:
        print("forger: HTTP", r.status, flush=True)
except urllib.error.HTTPError as e:
    print("forger: HTTP", e.code, e.read().decode(errors="replace"), flush=True)
if then == "wait":
    time.sleep(60)
sys.exit(4)
"""


@pytest.fixture
def forger() -> Iterator[Path]:
    """The forging node command, in a directory the cluster users can read."""
    path = Path(tempfile.mkdtemp(prefix="bsx-security-", dir="/var/tmp"))
    path.chmod(0o755)
    script = path / "forger.py"
    script.write_text(FORGER)
    script.chmod(0o644)
    yield script
    shutil.rmtree(path, ignore_errors=True)


def forging_hub(make_hub: Callable[..., Hub], forger: Path, host: str, then: str) -> Hub:
    python = f"{cluster_env()['BSX_VENV']}/bin/python"
    argv = [python, str(forger), json.dumps(host), then]
    return make_hub(f"c.BatchSpawnerBase.node_command = {argv!r}\n")


def test_a_report_naming_another_host_is_refused_and_fails_the_spawn(
    make_hub: Callable[..., Hub], forger: Path
) -> None:
    # Slurm runs the job on its node "localhost" (127.0.0.1). 127.0.0.2 is loopback too, but
    # not an address of that node: another service may listen there, so it is refused.
    hub = forging_hub(make_hub, forger, "127.0.0.2", "wait")
    started = time.monotonic()
    result = hub.spawn(USER)
    took = time.monotonic() - started
    assert result.failed, result
    message = "\n".join(result.messages)
    assert (
        "The job reported 127.0.0.2 as its server's host, which is refused: 127.0.0.2 is not the job's node"
        " localhost nor one of its addresses (127.0.0.1)" in message
    ), message
    assert took < 40, f"the spawn took {took:.0f}s to fail: it must not wait for the job or a timeout"
    # the job was told so (HTTP 400), and is cancelled
    Hub.wait_for(lambda: cluster.alive_jobs(USER) == [], 60, "the forging job to be cancelled")
    assert "Refused a server address report for carol: The job reported 127.0.0.2" in hub.log_text()
    assert hub.server_model(USER) is None


def test_a_host_with_a_scope_id_and_a_line_break_cannot_forge_log_lines(
    make_hub: Callable[..., Hub], forger: Path
) -> None:
    forged = "[W 2026-01-01 00:00:00.000 JupyterHub app:1] forged by the job"
    hub = forging_hub(make_hub, forger, f"fe80::1%lo\n{forged}", "exit")
    result = hub.spawn(USER)
    assert result.failed, result
    message = "\n".join(result.messages)
    # the job's own output says what the hub answered; the spawn says the job ended
    assert "forger: HTTP 400" in message and "without an IPv6 scope id or control characters" in message, (
        message
    )
    assert "exit code 4" in message, message
    log = hub.log_text()
    assert "Refused a server address report for carol: host must be a hostname" in log
    assert not any(line.startswith(forged) for line in log.splitlines()), "a forged log line"
    assert cluster.alive_jobs(USER) == []
