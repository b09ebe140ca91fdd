"""The claim scripts themselves, run by this machine's /bin/sh in a temporary directory.

What the hub decides from their answers is in test_submission.py; here the scripts
must take the claim once, keep the answer, tell a running holder from a dead one, and
stop only their own processes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from batchspawner_x.claim import (
    TAKEN,
    ClaimState,
    Holder,
    claim_argv,
    claim_dir,
    could_not_claim,
    inspect_argv,
    parse_inspect,
    was_taken,
)
from batchspawner_x.errors import ClaimUnreadable
from batchspawner_x.schedulers.base import CommandResult

SCRIPT = "#!/bin/sh\n#SBATCH --job-name=x\necho hi\n"


def run(argv: list[str], stdin: str = "") -> CommandResult:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30, check=False)
    return CommandResult(done.returncode, done.stdout, done.stderr)


def look(claim: str, action: str = "look") -> ClaimState:
    return parse_inspect(run(inspect_argv(claim, action)))


def start(claim: str, command: list[str], *, session: bool = True) -> subprocess.Popen[bytes]:
    """A claim script left running, as after a cut connection."""
    proc = subprocess.Popen(
        claim_argv(claim, SCRIPT, command), stdin=subprocess.PIPE, start_new_session=session
    )
    assert proc.stdin is not None
    proc.stdin.write(SCRIPT.encode())
    proc.stdin.close()
    deadline = time.monotonic() + 10
    while look(claim).holder is not Holder.RUNNING:
        assert time.monotonic() < deadline, "the holder did not start"
        time.sleep(0.05)
    return proc


@pytest.fixture
def claim(tmp_path: Path) -> str:
    return claim_dir(str(tmp_path / "job"), "bsx-00ff")


def test_the_claim_is_taken_once_and_keeps_the_answer(claim: str) -> None:
    assert look(claim) == ClaimState(Holder.ABSENT)
    command = ["sh", "-c", 'cat; echo "sbatch: warning" >&2; exit 3']
    first = run(claim_argv(claim, SCRIPT, command), SCRIPT)
    assert first == CommandResult(3, SCRIPT, "sbatch: warning\n"), "passed through as the command's own"
    assert look(claim) == ClaimState(Holder.DONE, 3)
    assert Path(claim, "out").read_text() == SCRIPT and Path(claim, "err").read_text() == "sbatch: warning\n"
    again = run(claim_argv(claim, SCRIPT, ["sh", "-c", "echo SUBMITTED"]), SCRIPT)
    assert again.returncode == TAKEN and was_taken(again) and "SUBMITTED" not in again.stdout
    assert oct(Path(claim).stat().st_mode & 0o777) == "0o700"


def test_values_are_arguments_never_code(tmp_path: Path) -> None:
    odd = claim_dir(str(tmp_path / "job $(touch pwned) ;x"), "bsx-1")
    assert run(claim_argv(odd, SCRIPT, ["cat"]), SCRIPT).returncode == 0
    assert look(odd).holder is Holder.DONE
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_an_incomplete_script_is_not_submitted(claim: str) -> None:
    result = run(claim_argv(claim, SCRIPT + "more", ["sh", "-c", "echo SUBMITTED"]), SCRIPT)
    assert "SUBMITTED" not in result.stdout
    assert could_not_claim(result) == "the job script arrived incomplete"
    assert look(claim) == ClaimState(Holder.DONE, None)


def test_a_claim_that_cannot_be_made_says_why(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = run(claim_argv(str(tmp_path / "file" / "submit" / "bsx-1"), SCRIPT, ["cat"]), SCRIPT)
    assert (could_not_claim(result) or "").startswith("cannot create")


def test_a_running_holder_is_seen_and_stopped_with_its_command(claim: str) -> None:
    proc = start(claim, ["sh", "-c", "sleep 30; echo SUBMITTED"])
    assert look(claim).holder is Holder.RUNNING
    assert look(claim, "clear").holder is Holder.RUNNING, "a running claim is never removed"
    look(claim, "kill")
    proc.wait(10)
    deadline = time.monotonic() + 10
    while look(claim).holder is not Holder.DEAD:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not Path(claim, "rc").exists(), "a stopped command leaves no answer"
    _, child, _ = Path(claim, "pids").read_text().split()
    assert not _alive(int(child))
    assert look(claim, "clear") == ClaimState(Holder.ABSENT)


def test_a_holder_outside_its_own_session_is_stopped_without_its_group(claim: str) -> None:
    # (LocalTransport: the holder shares the hub's process group, which must survive)
    proc = start(claim, ["sh", "-c", "sleep 30"], session=False)
    look(claim, "kill")
    assert proc.wait(10) == -signal.SIGTERM
    deadline = time.monotonic() + 10
    while look(claim).holder is not Holder.DEAD:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_holder_killed_alone_leaves_an_orphan_that_is_not_taken_for_dead(claim: str) -> None:
    proc = start(claim, ["sh", "-c", "sleep 2"])
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert look(claim).holder is Holder.ORPHAN
    assert look(claim, "kill").holder is Holder.ORPHAN, "an unverifiable process is not killed"
    time.sleep(2.5)
    assert look(claim).holder is Holder.DEAD


def test_a_holder_on_another_login_node_is_not_judged(claim: str) -> None:
    proc = start(claim, ["sh", "-c", "sleep 30"])
    holder, child, _ = Path(claim, "pids").read_text().split()
    Path(claim, "pids").write_text(f"{holder} {child} login2\n")
    try:
        assert look(claim, "kill").holder is Holder.ELSEWHERE
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


def test_inspect_answers_are_parsed_strictly() -> None:
    assert parse_inspect(CommandResult(0, "Welcome to login1\ndone 0\n")) == ClaimState(Holder.DONE, 0)
    for bad in (CommandResult(0, "done x\n"), CommandResult(0, "maybe\n"), CommandResult(1, "", "sh: no")):
        with pytest.raises(ClaimUnreadable) as unreadable:
            parse_inspect(bad)
        assert unreadable.value.returncode == bad.returncode
    with pytest.raises(ValueError):
        inspect_argv("/x", "rm")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
