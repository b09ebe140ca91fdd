"""The lint checks of the architecture fail when the architecture is broken.

Each import contract of pyproject.toml (``[tool.importlinter]``, run by ``nox -s
lint``) is run against a copy of the package with one violation planted, and
must fail; the same copy without the plant must pass, so the failure is the
plant's. Likewise ``ci/check-module-size`` on a module one line too long.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))

needs_import_linter = pytest.mark.skipif(
    not Path(LINT_IMPORTS).exists(), reason="import-linter is not installed (pip install .[lint])"
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the package and its pyproject.toml."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "batchspawner_x", tmp_path / "batchspawner_x", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def lint_imports(tree: Path, contract: str) -> subprocess.CompletedProcess[str]:
    """Run one contract against the package in ``tree``, the way ``nox -s lint`` runs them all."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--contract", contract],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def plant(tree: Path, module: str, line: str) -> None:
    """Append ``line`` to ``module`` (a path relative to the package)."""
    path = tree / "batchspawner_x" / module
    path.write_text(path.read_text() + f"\n{line}\n")


#: (contract id, module, planted line): each breaks exactly that contract.
VIOLATIONS = [
    ("schedulers", "schedulers/slurm.py", "import batchspawner_x.spawner"),
    ("schedulers", "schedulers/base.py", "from ..poller import StatusPoller"),
    ("schedulers", "schedulers/lsf.py", "import traitlets"),
    ("node-side", "singleuser.py", "from . import api"),
    ("node-side", "singleuser.py", "import tornado"),
    ("node-side", "handshake.py", "from . import errors"),
    ("node-side", "singleuser.py", "from . import network"),
    ("leaves", "units.py", "from . import profiles"),
    ("leaves", "errors.py", "from . import transport"),
    ("leaves", "network.py", "import jinja2"),
    ("acyclic", "states.py", "from . import spawner"),
    # the cycle this contract came with: an import for type hints counts too
    ("acyclic", "compat.py", "if TYPE_CHECKING:\n    from .spawner import BatchSpawnerBase"),
]


@needs_import_linter
@pytest.mark.parametrize("contract", sorted({contract for contract, _, _ in VIOLATIONS}))
def test_contract_is_kept_by_the_package(tree: Path, contract: str) -> None:
    result = lint_imports(tree, contract)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@needs_import_linter
@pytest.mark.parametrize(("contract", "module", "line"), VIOLATIONS)
def test_contract_fails_on_a_planted_violation(tree: Path, contract: str, module: str, line: str) -> None:
    plant(tree, module, line)
    result = lint_imports(tree, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 broken" in result.stdout


def check_module_size(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "ci" / "check-module-size"), str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_module_size_check_names_a_module_over_the_limit(tree: Path) -> None:
    assert check_module_size(tree).returncode == 0
    (tree / "batchspawner_x" / "schedulers" / "big.py").write_text("x = 1\n" * 701)
    result = check_module_size(tree)
    assert result.returncode == 1
    assert "batchspawner_x/schedulers/big.py: 701 lines, over the limit of 700" in result.stderr


def test_module_size_check_allows_exactly_the_limit(tree: Path) -> None:
    (tree / "batchspawner_x" / "big.py").write_text("x = 1\n" * 700)
    assert check_module_size(tree).returncode == 0
