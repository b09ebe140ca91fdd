"""The node side of the handshake as it travels inside the job script.

When :attr:`~batchspawner_x.spawner_traits.SpawnerTraits.node_command` is empty (the
default), nothing of this package needs to be installed on the compute nodes: the job
script writes the node side into ``node/`` of the job directory and starts it there.
It writes

- ``node/batchspawner_x/handshake.py`` and ``node/batchspawner_x/singleuser.py``: this
  package's own files, verbatim (standard library only, Python 3.8 or newer), read once
  per process by :func:`node_files`, so that they are always the hub's version;
- ``node/batchspawner_x/__init__.py``, empty;
- ``node/start.sh`` (:data:`START_SH`), which finds a Python and runs the node side
  with it: the ``python3`` or ``python`` beside the server command (``Spawner.cmd[0]``,
  looked up on the job's PATH unless it is a path), else the interpreter named on that
  command's ``#!`` line, else ``python3`` on the PATH.

The job's command is then ``/bin/sh NODE_DIR/start.sh --env-file FILE -- CMD...``
(:func:`start_command`): one argv, so a site template may still run it inside a
container or under ``srun``. A server command that names a missing file, or no Python
at all, ends the job at once with a line saying so and exit code 127 (the hub reports
the job's output tail).
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass
from pathlib import Path

from .errors import TemplateError

#: The directory in the job directory that holds the node side.
NODE_DIR = "node"
#: The modules of this package that make the node side, in import order.
NODE_MODULES = ("handshake", "job_events", "supervise", "singleuser")
#: The line that ends each file's here-document in the job script; no file may hold it.
HEREDOC_END = "BATCHSPAWNER_X_EOF"
#: The oldest Python the node side runs on (the syntax of its modules is checked against it).
PYTHON_FLOOR = (3, 8)

#: Starts the node side: ``sh start.sh --env-file FILE -- CMD...``. POSIX shell; finds the
#: Python (see the module's docstring), says which, and execs it on the node side.
START_SH = r"""# batchspawner_x: start the node side with the Python of the server's environment.
# Usage: sh start.sh --env-file FILE -- SERVER_COMMAND [ARG...]
set -eu
here=${0%/*}
server=${4-}
case $server in
*/*)
    if [ ! -e "$server" ]; then
        echo "batchspawner-x-singleuser: cannot start the server: $server: No such file or directory" >&2
        exit 127
    fi
    found=$server
    ;;
*) found=$(command -v "$server") || found= ;;
esac
python=
if [ -n "$found" ]; then
    for candidate in "${found%/*}/python3" "${found%/*}/python"; do
        if [ -f "$candidate" ] && [ -x "$candidate" ]; then
            python=$candidate
            break
        fi
    done
    if [ -z "$python" ] && [ -r "$found" ]; then
        shebang=$(sed -n -e '1s/^#![[:blank:]]*//p' -e 1q "$found" 2>/dev/null) || shebang=
        interpreter=${shebang%%[[:blank:]]*}
        argument=${shebang#"$interpreter"}
        argument=${argument#"${argument%%[![:blank:]]*}"}
        argument=${argument%%[[:blank:]]*}
        case $interpreter in
        */env) interpreter=$(command -v "$argument") || interpreter= ;;
        esac
        case ${interpreter##*/} in
        python*) if [ -f "$interpreter" ] && [ -x "$interpreter" ]; then python=$interpreter; fi ;;
        esac
    fi
fi
if [ -z "$python" ]; then
    if ! python=$(command -v python3); then
        where="none beside ${found:-$server}, none on its #! line, no python3 on the PATH ($PATH)"
        echo "batchspawner-x-singleuser: no Python for the node side: $where" >&2
        exit 127
    fi
fi
echo "batchspawner-x-singleuser: running the node side with $python" >&2
exec "$python" -c 'import sys
if sys.version_info < (3, 8):
    sys.exit("batchspawner-x-singleuser: the node side needs Python 3.8 or newer, "
             + sys.executable + " is " + sys.version.split()[0])
sys.path[:] = [sys.argv.pop(1)] + [p for p in sys.path if p]
from batchspawner_x.singleuser import main
sys.exit(main())' "$here" "$@"
"""


@dataclass(frozen=True)
class NodeFile:
    """One file the job script writes: ``path`` relative to the node directory, and its text.

    Raises :class:`~batchspawner_x.errors.TemplateError` for a text that cannot travel in
    a here-document: one that holds the line :data:`HEREDOC_END`, or does not end with a
    line break (an empty text is fine).
    """

    path: str
    text: str

    def __post_init__(self) -> None:
        if self.text and not self.text.endswith("\n"):
            raise TemplateError(
                f"node-side file {self.path} must end with a line break to travel in a job script"
            )
        if HEREDOC_END in self.text.splitlines():
            raise TemplateError(
                f"node-side file {self.path} holds the line {HEREDOC_END}, which would end it early"
            )


@functools.lru_cache(maxsize=1)
def node_files() -> tuple[NodeFile, ...]:
    """The files of the node side, read once from this package's own modules.

    Raises :class:`~batchspawner_x.errors.TemplateError` if a file cannot travel in a
    here-document (see :class:`NodeFile`).
    """
    here = Path(__file__).resolve().parent
    files = [NodeFile("start.sh", START_SH), NodeFile("batchspawner_x/__init__.py", "")]
    for name in NODE_MODULES:
        text = (here / f"{name}.py").read_text(encoding="utf-8")
        files.append(NodeFile(f"batchspawner_x/{name}.py", text))
    return tuple(files)


def insert_before_first_command(script: str, block: str) -> str:
    """``script`` with the shell lines ``block`` put before its first command.

    The first command is the first line after the ``#!`` line that is neither blank nor
    a comment, so that the scheduler's directives (comments at the top, which most
    schedulers stop reading at the first command) stay where they are. For a
    predecessor's ``batch_script``, which has no node_side block of its own.
    """
    lines = script.splitlines(keepends=True)
    at = len(lines)
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            at = i
            break
    if at == len(lines) and lines and not lines[-1].endswith("\n"):
        block = "\n" + block
    return "".join(lines[:at]) + block + "".join(lines[at:])


def abridged(script: str) -> str:
    """``script`` with the text of each node-side file it carries replaced by one line
    naming it (``# (batchspawner_x/singleuser.py: 225 lines)``): the job script as the
    hub logs it, readable without some twenty kilobytes of this package's own code."""
    for file in node_files():
        if file.text:
            script = script.replace(file.text, f"# ({file.path}: {file.text.count(chr(10))} lines)\n")
    return script


def start_command(node_dir: str) -> tuple[str, ...]:
    """The argv that starts the node side written to ``node_dir`` (before ``--env-file``)."""
    return ("/bin/sh", posixpath.join(node_dir, "start.sh"))


__all__ = [
    "HEREDOC_END",
    "NODE_DIR",
    "NODE_MODULES",
    "PYTHON_FLOOR",
    "START_SH",
    "NodeFile",
    "abridged",
    "insert_before_first_command",
    "node_files",
    "start_command",
]
