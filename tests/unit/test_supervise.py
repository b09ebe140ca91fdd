"""The node side beside the server: warnings passed on, the end told once, the exit status kept.

Each case runs a real :class:`~batchspawner_x.supervise.Supervisor` in its own Python
process (signal handlers belong to a process's main thread) over a real child, sends it
real signals, and reads what it posted (recorded to a file instead of a hub).
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import batchspawner_x
from batchspawner_x import job_events
from batchspawner_x.job_events import JobEvent, validate_event
from batchspawner_x.script import render

from .test_script import TEMPLATE, job_context

ROOT = str(Path(batchspawner_x.__file__).resolve().parent.parent)

#: Runs a Supervisor over argv[2:], posting into the file argv[1], as a job would.
RUNNER = """
import os, sys
sys.path.insert(0, {root!r})
from batchspawner_x.supervise import Supervisor, events_env
posts = sys.argv[1]
def post(body):
    with open(posts, "ab") as f:
        f.write(body + b"\\n")
    return True
env = events_env(os.environ, os.path.dirname(posts))
sys.exit(Supervisor(sys.argv[2:], env, post=post).run())
"""

#: A server stand-in: says it is up, notes each signal it gets, exits with argv[1] on TERM.
SERVER = """
import os, signal, sys, time
def note(signum, frame):
    os.write(1, ("server got " + signal.Signals(signum).name + "\\n").encode())  # (reentrant)
    if signum == signal.SIGTERM:
        os._exit(int(sys.argv[1]))
signal.signal(signal.SIGTERM, note)
print("server up", flush=True)
while True:
    time.sleep(0.1)
"""


def start(tmp_path: Path, server: list[str], **env: str) -> subprocess.Popen[str]:
    job_env = {"PATH": os.environ["PATH"], "SLURM_JOB_ID": "77", **env}
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER.format(root=ROOT), str(tmp_path / "posts"), *server],
        env=job_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def posts(tmp_path: Path) -> list[JobEvent]:
    path = tmp_path / "posts"
    if not path.exists():
        return []
    return [validate_event(json.loads(line)) for line in path.read_text().splitlines()]


def wait_for_line(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == text, line


def test_the_early_signal_becomes_a_warning_line_and_a_post_and_the_server_lives(tmp_path: Path) -> None:
    proc = start(tmp_path, [sys.executable, "-c", SERVER, "0"], BATCHSPAWNER_X_SIGNAL_SECONDS="40")
    wait_for_line(proc, "server up")
    before = time.time()
    proc.send_signal(signal.SIGUSR1)
    events = tmp_path / job_events.EVENTS_FILE
    deadline = time.monotonic() + 30
    while not (events.exists() and events.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = events.read_text().splitlines()
    record = json.loads(line)
    assert (record["event"], record["seconds_left"], record["source"]) == ("warning", 40, "scheduler")
    assert before - 1 <= record["time"] <= time.time() + 1
    assert stat.S_IMODE(events.stat().st_mode) == 0o600
    # the server did not get USR1 (it would have died of it): it ends only on TERM, with 0
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out == "server got SIGTERM\n"
    # (each post goes out from its own thread, so in either order)
    assert sorted(posts(tmp_path), key=lambda e: e.event) == [
        JobEvent("77", "term", exit_code=None),
        JobEvent("77", "warning", seconds_left=40),
    ]


def test_term_is_passed_on_and_told_once(tmp_path: Path) -> None:
    proc = start(tmp_path, [sys.executable, "-c", SERVER, "5"])
    wait_for_line(proc, "server up")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)  # the scheduler signals every process: a second one
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 5, err
    assert out.startswith("server got SIGTERM\n")
    assert posts(tmp_path) == [JobEvent("77", "term", exit_code=None)]


def test_the_servers_own_exit_is_told_with_its_code(tmp_path: Path) -> None:
    proc = start(tmp_path, ["/bin/sh", "-c", "echo bye; exit 3"])
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (3, "bye\n"), err
    assert posts(tmp_path) == [JobEvent("77", "exit", exit_code=3)]


def test_a_server_killed_by_a_signal_is_told_as_such(tmp_path: Path) -> None:
    proc = start(tmp_path, ["/bin/sh", "-c", "kill -KILL $$"])
    proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGKILL
    assert posts(tmp_path) == [JobEvent("77", "signal", exit_code=None)]


def test_a_site_named_events_file_is_kept(tmp_path: Path) -> None:
    mine = tmp_path / "mine.jsonl"
    server = ["/bin/sh", "-c", 'echo "$BATCHSPAWNER_X_EVENTS"']
    proc = start(tmp_path, server, BATCHSPAWNER_X_EVENTS=str(mine))
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == str(mine) and mine.exists()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"job_id": "1", "event": "stop"}, "event must be one of"),
        ({"job_id": "1", "event": "exit", "exit_code": "3"}, "exit_code must be an integer"),
        ({"job_id": "1", "event": "exit", "exit_code": True}, "exit_code must be an integer"),
        ({"job_id": "1", "event": "exit", "host": "x"}, "unexpected fields: host"),
        ({"job_id": "1", "event": "warning"}, "a warning needs seconds_left"),
        ({"job_id": "1", "event": "warning", "seconds_left": 5, "exit_code": 0}, "unexpected fields"),
        ({"job_id": "1; rm", "event": "term"}, "job_id must be a batch job id"),
        (["term"], "body must be a JSON object"),
    ],
)
def test_an_event_body_is_checked(body: object, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        validate_event(body)


def test_the_bodies_the_node_side_sends_are_valid() -> None:
    assert validate_event(json.loads(job_events.end_body("12", "exit", 3))) == JobEvent("12", "exit", 3)
    assert validate_event(json.loads(job_events.end_body("12", "term", None))).is_end
    warning = validate_event(json.loads(job_events.warning_body("12", 300)))
    assert (warning.is_end, warning.seconds_left) == (False, 300)


#: The node side's stand-in behind an epilogue (one line, as a job script's command is):
#: notes USR1, then exits 5 on it.
CHILD = (
    "import signal, sys; "
    "signal.signal(signal.SIGUSR1, lambda s, f: (print('node side got SIGUSR1', flush=True), sys.exit(5))); "
    "print('node side up', flush=True); signal.pause()"
)


def test_a_batch_shell_with_an_epilogue_passes_the_early_signal_on_and_keeps_the_exit_code() -> None:
    context = job_context(
        user="bob",
        home="/home/bob",
        walltime="01:00:00",
        epilogue='echo "epilogue saw $rc"',
        node_command=(sys.executable, "-c", CHILD),
        warning_seconds=(900, 300),
    )
    script = render(TEMPLATE, context)
    assert "#SBATCH --signal=B:USR1@900\n" in script
    shell = subprocess.Popen(["/bin/bash", "-c", script], stdout=subprocess.PIPE, text=True)
    wait_for_line(shell, "node side up")  # type: ignore[arg-type]
    shell.send_signal(signal.SIGUSR1)  # as Slurm's B: does: to the batch shell alone
    out, _ = shell.communicate(timeout=30)
    assert out == "node side got SIGUSR1\nepilogue saw 5\n"
    assert shell.returncode == 5
