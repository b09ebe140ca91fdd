"""The corpus of site patterns: predecessor deployments, rendered and migrated.

Each directory of ``tests/corpus`` holds our own ``jupyterhub_config.py`` reproducing the
pattern of one public deployment (its address is in the file's first lines) and
``expected.json``: the scheduler directives each case renders, and what ``migrate``
must say. For each case the test runs, as an admin would:

- ``batchspawner-x render --script-only`` on the old file (with ``--profile KEY`` for a
  wrapspawner child): the directives must be the expected ones, or the one-line refusal
  ``render_error`` names must be printed, without a traceback;
- ``batchspawner-x migrate`` on the old file: the output must compile, carry the expected
  comments, and render the same directives (the round trip).

A directive is a line of the scheduler's prefix (``#SBATCH``, ``#PBS``, ``#$``,
``#BSUB``) or a ``key = value`` line of an HTCondor description. A profile writes its
walltime as ``HH:MM:SS`` where the old setting kept its own text (``0-8``, ``8:00``):
walltimes are compared as seconds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from batchspawner_x import cli
from batchspawner_x.errors import ConfigError
from batchspawner_x.units import walltime_seconds

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
SITES = sorted(p.name for p in CORPUS.iterdir() if (p / "jupyterhub_config.py").is_file())

_DIRECTIVE = re.compile(r"^(#SBATCH|#PBS|#\$|#BSUB)\s")
#: A line of an HTCondor submit description (not a shell script).
_SUBMIT_LINE = re.compile(r"^[A-Za-z_+][A-Za-z0-9_.+]*\s*=\s")
_WALLTIME = re.compile(r"(--time=|-t |walltime=|h_rt=|-W |MaxWallTime\s*=\s*)([0-9:.-]+)")


#: The node side carried in an HTCondor ``arguments`` line: its files, then its last command.
_CARRIED = re.compile(r"bsx_node=.*BATCHSPAWNER_X_EOF\\n(exec [^\\]*)\\n")


def directives(script: str) -> list[str]:
    """A job script's directives, or a submit description's lines (the node side a shell
    script carries has lines of Python, ``NAME = value``, that are not directives). The node
    side's files inside an HTCondor ``arguments`` line are shown as ``[node side]``."""
    pattern = _DIRECTIVE if script.startswith("#!") else _SUBMIT_LINE
    lines = [line.rstrip() for line in script.splitlines() if pattern.match(line)]
    return [_CARRIED.sub(r"[node side]\\n\1\\n", line) for line in lines]


def comparable(lines: list[str]) -> list[str]:
    """Directives with each walltime as seconds (``08:00:00``, ``0-8`` and ``8:00`` alike)."""

    def seconds(match: re.Match[str]) -> str:
        try:
            return f"{match.group(1)}<{walltime_seconds('walltime', match.group(2))}s>"
        except ConfigError:
            return match.group(0)

    return [_WALLTIME.sub(seconds, line) for line in lines]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def render(capsys: pytest.CaptureFixture[str], config: Path, profile: str | None) -> tuple[int, str, str]:
    extra = ["--profile", profile] if profile else []
    return run(capsys, "render", "--config", str(config), "--user", "alice", "--script-only", *extra)


def expected(site: str) -> dict[str, Any]:
    return json.loads((CORPUS / site / "expected.json").read_text())


def test_the_corpus_has_its_sources_and_schedulers() -> None:
    """At least 15 deployments, each naming its source; every scheduler family present."""
    assert len(SITES) >= 15
    text = ""
    for site in SITES:
        first = (CORPUS / site / "jupyterhub_config.py").read_text().splitlines()[0]
        assert first.startswith("# Pattern of: "), site
        text += (CORPUS / site / "jupyterhub_config.py").read_text()
    for name in ("SlurmSpawner", "TorqueSpawner", "GridengineSpawner", "LsfSpawner", "CondorSpawner"):
        assert name in text
    for pattern in ("ProfilesSpawner", "exec_prefix", "batch_script", "req_", "sudo"):
        assert pattern in text


@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")
@pytest.mark.parametrize("site", SITES)
def test_render_and_migrate(site: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = expected(site)
    old = CORPUS / site / "jupyterhub_config.py"
    code, migrated, err = run(capsys, "migrate", str(old))
    assert code == 0, err
    compile(migrated, "migrated", "exec")
    for comment in spec.get("migrate_says", []):
        assert comment in migrated, comment
    new = tmp_path / "jupyterhub_config.py"
    new.write_text(migrated)
    for case in spec["cases"]:
        code, script, err = render(capsys, old, case.get("profile"))
        if "render_error" in spec:
            assert (code, script) == (2, "")
            assert spec["render_error"] in err and len(err.strip().splitlines()) == 1, err
        else:
            assert code == 0, err
            assert directives(script) == case["directives"]
        code, script, err = render(capsys, new, case.get("migrated_profile", case.get("profile")))
        assert code == 0, err
        assert comparable(directives(script)) == comparable(case["directives"])
