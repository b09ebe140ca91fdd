"""Sessions: ``nox -s lint``, ``nox -s tests`` (JupyterHub 5 and 6), ``nox -s docs``, ``nox -s demo``.

The integration tests and the demo need the local test cluster, which
``ci/cluster/up.sh`` installs and starts (as root).
"""

from __future__ import annotations

import nox

#: The newest releases of each supported JupyterHub series.
JUPYTERHUB_VERSIONS = ["5.5.4", "6.1.1"]

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format), mypy, the import contracts and the module size limit.

    The import contracts (``[tool.importlinter]`` in pyproject.toml) keep the arrows
    pointing down: the scheduler backends import nothing above them, the node side
    only the standard library, and no module imports another that imports it back.
    """
    session.install("-e", ".[lint]")
    paths = ["batchspawner_x", "tests", "benchmarks", "demo", "labextension", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    session.run("mypy")
    session.run("mypy", "labextension/batchspawner_x_lab")  # the optional JupyterLab extension's server part
    session.run("lint-imports", "--no-cache")
    session.run("python", "ci/check-module-size")


@nox.session
@nox.parametrize("jupyterhub", JUPYTERHUB_VERSIONS)
def tests(session: nox.Session, jupyterhub: str) -> None:
    """Unit, packaging and integration tests against one JupyterHub release.

    Tests marked ``newest_hub_only`` (a scheduler backend or the poller under test, the
    hub's side the same as in the Slurm tests) run against the newest release only, so
    that CI spends its time where the hub's version matters. Arguments replace the
    default selection.
    """
    session.install("-e", ".[test]", f"jupyterhub=={jupyterhub}")
    selection = ["tests", "--durations=25"]  # the slowest tests, where CI time goes
    if jupyterhub != JUPYTERHUB_VERSIONS[-1]:
        selection += ["-m", "not newest_hub_only"]
    session.run("pytest", *(session.posargs or selection))


@nox.session
def docs(session: nox.Session) -> None:
    """The Sphinx documentation, warnings as errors, into docs/_build/html."""
    session.install("-e", ".[docs]")
    session.run(
        "sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html", *session.posargs
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Status-query benchmark against the local test cluster, as root (see docs/benchmarks.md)."""
    session.install("-e", ".[test]", f"jupyterhub=={JUPYTERHUB_VERSIONS[-1]}")
    session.run("python", "benchmarks/bench_status.py", *session.posargs)


@nox.session
def bench_clusters(session: nox.Session) -> None:
    """Status queries and slurmctld RPCs per interval with two clusters (Slurm and Grid Engine)
    behind one hub, as root (see docs/benchmarks.md)."""
    session.install("-e", ".[test]", f"jupyterhub=={JUPYTERHUB_VERSIONS[-1]}")
    session.run("python", "benchmarks/bench_clusters.py", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """A hub on http://127.0.0.1:8000 that spawns into the local test cluster."""
    session.install("-e", ".", f"jupyterhub=={JUPYTERHUB_VERSIONS[-1]}")
    session.run("python", "demo/run.py", *session.posargs)
