"""The submission claim: a directory on the login node that lets one submit command run.

A submit command whose SSH connection drops goes on running on the login node (sshd
sends no SIGHUP to a command without a terminal), and its job may appear seconds later.
Looking the job up at that moment proves nothing, so the submit command takes a claim
first: it runs :data:`CLAIM_SCRIPT`, which

1. creates ``<job_dir>/submit/<identity>`` with ``mkdir`` (atomic, also on NFS); if the
   directory exists, another attempt holds the claim and nothing is submitted
   (exit :data:`TAKEN`);
2. writes its own pid and host name there (``pids``), saves the job script from stdin
   (``script``) and checks that all of it arrived;
3. runs the scheduler's submit command on that script, in the background so that its pid
   is written too, with its output in ``out`` and ``err``;
4. writes the exit code to ``rc`` (written aside and renamed, so ``rc`` is whole or absent),
   and only then passes the output and exit code through as the command's own.

The hub, when it loses the answer, reads the claim with :data:`INSPECT_SCRIPT` (see
:class:`ClaimState`): the answer may be in the claim, or its holder may still run, or have
died. Everything here builds argv lists and parses output; the waiting is in
:mod:`batchspawner_x.submission`.
"""

from __future__ import annotations

import enum
import posixpath
from dataclasses import dataclass

from .errors import ClaimUnreadable
from .schedulers.base import CommandResult

#: The directory under the job directory that holds one claim per submission identity.
SUBMIT_DIR = "submit"

#: Exit status of the claim script when the claim is held by another attempt.
TAKEN = 75
#: Exit status of the claim script when the claim cannot be made (no space, permissions).
CANNOT_CLAIM = 76
#: What the claim script writes to ``rc`` when the job script arrived incomplete (nothing
#: was submitted).
INCOMPLETE = "incomplete"
#: The first words of every line the claim script itself writes to stderr.
MARK = "batchspawner-x claim:"

# $1: the claim directory, $2: the script's size in bytes; the rest: the submit argv.
# Nothing is interpolated: every value is a positional argument.
CLAIM_SCRIPT = r"""c=$1 n=$2
shift 2
umask 077
mkdir -p -- "${c%/*}" 2>/dev/null
if ! e=$(mkdir -- "$c" 2>&1); then
  if [ -d "$c" ]; then printf "batchspawner-x claim: taken: %s\n" "$c" >&2; exit 75; fi
  printf "batchspawner-x claim: cannot create %s: %s\n" "$c" "$e" >&2; exit 76
fi
h=$(uname -n)
echo "$$ - $h" >"$c/pids"
cat >"$c/script"
if [ "$(($(wc -c <"$c/script")))" -ne "$n" ]; then
  echo incomplete >"$c/rc.new" && mv -f "$c/rc.new" "$c/rc"
  echo "batchspawner-x claim: the job script arrived incomplete" >&2; exit 76
fi
if command -v setsid >/dev/null 2>&1; then s=setsid; else s=; fi
$s "$@" <"$c/script" >"$c/out" 2>"$c/err" &
p=$!
echo "$$ $p $h" >"$c/pids.new" && mv -f "$c/pids.new" "$c/pids"
wait "$p"
r=$?
echo "$r" >"$c/rc.new" && mv -f "$c/rc.new" "$c/rc"
cat "$c/out"
cat "$c/err" >&2
exit "$r"
"""

# $1: the claim directory, $2: look, kill or clear. Prints one state word (see ClaimState),
# then for "done" the exit code. "kill" stops a running holder first; "clear" removes a claim
# whose holder is dead or done and then prints "absent".
INSPECT_SCRIPT = r"""c=$1
unset COLUMNS  # ps would cut the holder's command line, where the claim comes last
ps -o stat= -p $$ >/dev/null 2>&1 && st=1 || st=
alive() {
  if [ -z "$st" ]; then kill -0 "$1" 2>/dev/null; return; fi
  case $(ps -o stat= -p "$1" 2>/dev/null) in ''|*Z*) return 1 ;; esac
}
state() {
  if [ ! -d "$c" ]; then s=absent; return; fi
  if [ -f "$c/rc" ]; then s=done; return; fi
  if ! read -r hp cp hh <"$c/pids" 2>/dev/null || [ -z "$hh" ]; then s=unknown; return; fi
  if [ "$hh" != "$(uname -n)" ]; then s=elsewhere; return; fi
  if alive "$hp"; then
    case $(ps -o args= -p "$hp" 2>/dev/null) in *"$c"*) s=running; return ;; esac
  fi
  if [ "$cp" != - ] && alive "$cp"; then s=orphan; return; fi
  s=dead
}
state
if [ "$2" = kill ] && [ "$s" = running ]; then
  k=
  if [ "$cp" != - ] && [ "$(ps -o ppid= -p "$cp" 2>/dev/null | tr -d ' ')" = "$hp" ]; then
    [ "$(ps -o pgid= -p "$cp" 2>/dev/null | tr -d ' ')" = "$cp" ] && k=-$cp || k=$cp
  fi
  kill -TERM "$hp" 2>/dev/null
  [ -n "$k" ] && kill -TERM "$k" 2>/dev/null
  state
fi
if [ "$2" = clear ] && { [ "$s" = dead ] || [ "$s" = done ]; }; then
  rm -rf -- "$c" && s=absent
fi
if [ "$s" = done ]; then echo "done $(cat "$c/rc")"; else echo "$s"; fi
"""


class Holder(enum.Enum):
    """Where a claim's submit command is, as the login node sees it."""

    #: No claim: no attempt got as far as ``mkdir`` (or the claim was cleared).
    ABSENT = "absent"
    #: The submit command finished; its exit code and output are in the claim.
    DONE = "done"
    #: The claim's holder is running on this login node (checked by pid and command line).
    RUNNING = "running"
    #: The holder and its submit command are gone, and no exit code was written: the
    #: submit command was killed, and may or may not have made its job.
    DEAD = "dead"
    #: The holder is gone, but a process with its submit command's pid lives: perhaps the
    #: submit command, perhaps not. It cannot be told apart, or stopped safely.
    ORPHAN = "orphan"
    #: The holder runs (or ran) on another login node (a round-robin alias): its pid
    #: means nothing here.
    ELSEWHERE = "elsewhere"
    #: The claim was just made, or its holder died before writing its pid.
    UNKNOWN = "unknown"

    def describe(self) -> str:
        """What the claim says of its submit command, in words."""
        return _WORDS[self]

    @property
    def may_still_submit(self) -> bool:
        """Whether a job of this claim may still appear without anyone sending it again."""
        return self in (Holder.RUNNING, Holder.ORPHAN, Holder.ELSEWHERE, Holder.UNKNOWN)


_WORDS = {
    Holder.ABSENT: "never started",
    Holder.DONE: "finished",
    Holder.RUNNING: "still runs",
    Holder.DEAD: "died without an answer",
    Holder.ORPHAN: "lost its holder, and a process with its pid still runs",
    Holder.ELSEWHERE: "runs, or ran, on another login node",
    Holder.UNKNOWN: "left no pid",
}


@dataclass(frozen=True)
class ClaimState:
    """One reading of a claim."""

    holder: Holder
    #: The submit command's exit code (DONE only); None if the script arrived incomplete.
    returncode: int | None = None


#: The names the claim scripts run as (their ``$0``): in ``ps`` on the login node and in
#: the transport's command counts.
SUBMIT_NAME = "batchspawner-x-submit"
INSPECT_NAME = "batchspawner-x-claim"


def claim_dir(job_dir: str, identity: str) -> str:
    """The claim directory of submission ``identity`` in ``job_dir``."""
    return posixpath.join(job_dir, SUBMIT_DIR, identity)


def claim_argv(claim: str, script: str, submit_argv: list[str]) -> list[str]:
    """``submit_argv``, run under the claim ``claim`` with ``script`` on its stdin.

    Example: ``claim_argv("/home/a/.bsx/a/submit/bsx-1", s, ["sbatch", "--parsable"])`` is
    ``["/bin/sh", "-c", CLAIM_SCRIPT, "batchspawner-x-submit", "/home/a/.bsx/a/submit/bsx-1",
    "<bytes of s>", "sbatch", "--parsable"]``.
    """
    size = len(script.encode())
    return ["/bin/sh", "-c", CLAIM_SCRIPT, SUBMIT_NAME, claim, str(size), *submit_argv]


def inspect_argv(claim: str, action: str = "look") -> list[str]:
    """The command that reads ``claim`` (``look``), or first stops its running holder
    (``kill``), or removes it if its holder is dead or done (``clear``)."""
    if action not in ("look", "kill", "clear"):
        raise ValueError(action)
    return ["/bin/sh", "-c", INSPECT_SCRIPT, INSPECT_NAME, claim, action]


def was_taken(result: CommandResult) -> bool:
    """Whether a claim script's ``result`` says another attempt holds the claim."""
    return result.returncode == TAKEN and f"{MARK} taken:" in result.stderr


def could_not_claim(result: CommandResult) -> str | None:
    """The claim script's own words if it could not take the claim (nothing submitted)."""
    if result.returncode != CANNOT_CLAIM:
        return None
    lines = [line for line in result.stderr.splitlines() if line.startswith(MARK)]
    return lines[-1][len(MARK) :].strip() if lines else None


def parse_inspect(result: CommandResult) -> ClaimState:
    """Parse :data:`INSPECT_SCRIPT`'s output; :class:`ClaimUnreadable` if it is not one of its answers
    (a login shell that prints words of its own, say: its last line is the answer)."""
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        answer = result.message()
        raise ClaimUnreadable(
            f"cannot read the submission claim: {answer}", returncode=result.returncode, answer=answer
        )
    word, _, rest = lines[-1].strip().partition(" ")
    try:
        holder = Holder(word)
    except ValueError:
        raise ClaimUnreadable(
            f"unexpected answer about the submission claim: {lines[-1]!r}", returncode=0, answer=lines[-1]
        ) from None
    if holder is not Holder.DONE:
        return ClaimState(holder)
    rest = rest.strip()
    if rest == INCOMPLETE:
        return ClaimState(holder, None)
    if not rest.isdigit():
        raise ClaimUnreadable(
            f"unexpected exit code in the submission claim: {rest!r}", returncode=0, answer=lines[-1]
        )
    return ClaimState(holder, int(rest))


def output_paths(claim: str) -> tuple[str, str]:
    """The files holding the submit command's stdout and stderr."""
    return posixpath.join(claim, "out"), posixpath.join(claim, "err")
