"""The test cluster's facts, as ``ci/cluster/up.sh`` wrote them (no other test module needed)."""

from __future__ import annotations

from pathlib import Path

CLUSTER_ENV = Path("/etc/batchspawner-x-test/cluster.env")
#: Written by ``ci/cluster/sge-up.sh``: the Grid Engine cluster and its login node.
SGE_ENV = Path("/etc/batchspawner-x-test/sge.env")


def env_file(path: Path) -> dict[str, str]:
    """A file of ``KEY=value`` lines as a dict."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            env[key.strip()] = value.strip().strip('"')
    return env


def cluster_env() -> dict[str, str]:
    """``cluster.env``'s ``KEY=value`` lines as a dict."""
    return env_file(CLUSTER_ENV)


def sge_env() -> dict[str, str]:
    """``sge.env``'s ``KEY=value`` lines as a dict."""
    return env_file(SGE_ENV)
