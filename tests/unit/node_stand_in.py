"""The golden job scripts show the node side's files as one line each.

A golden file holding start.sh, handshake.py and singleuser.py verbatim would change
with every edit of those files, in every scheduler's golden file; test_node_side.py
checks that the real scripts carry them verbatim, and runs them. Scripts built from
explicit :class:`~batchspawner_x.jobspec.JobSettings` get :data:`STAND_INS` as their
``node_files``; scripts a spawner renders (with the real files) are compared through
:func:`golden_view`, which puts the same stand-ins in.
"""

from __future__ import annotations

from batchspawner_x.node_side import HEREDOC_END, NodeFile, node_files

#: The first line of the node-side block of a job script (templates/node_side.sh.j2).
BLOCK_START = "# The node side of batchspawner_x travels with the job"


def _stand_in(file: NodeFile) -> NodeFile:
    if file.path == "start.sh":
        return NodeFile(file.path, "# start.sh: batchspawner_x.node_side.START_SH, verbatim\n")
    if file.text:
        return NodeFile(file.path, f"# {file.path}: this package's module, verbatim\n")
    return file


#: The node files with each text replaced by a line naming it (the empty __init__.py stays).
STAND_INS = tuple(_stand_in(f) for f in node_files())


def golden_view(script: str) -> str:
    """``script`` (a shell script) with each node-side file's text, where it holds it,
    replaced by its stand-in."""
    for real, stand_in in zip(node_files(), STAND_INS, strict=True):
        if real.text != stand_in.text:
            assert script.count(real.text) <= 1, f"{real.path} is in the script more than once"
            script = script.replace(real.text, stand_in.text)
    return script


def without_node_side(script: str) -> str:
    """``script`` without its node-side block (which must be there), for tests about the rest."""
    start = script.index(BLOCK_START)
    end = script.rindex(HEREDOC_END + "\n") + len(HEREDOC_END) + 1
    return script[:start] + script[end:]
