"""The test cluster's facts, as ``ci/cluster/up.sh`` wrote them (no other test module needed)."""

from __future__ import annotations

from pathlib import Path

CLUSTER_ENV = Path("/etc/batchspawner-x-test/cluster.env")


def cluster_env() -> dict[str, str]:
    """``cluster.env``'s ``KEY=value`` lines as a dict."""
    env: dict[str, str] = {}
    for line in CLUSTER_ENV.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            env[key.strip()] = value.strip().strip('"')
    return env
