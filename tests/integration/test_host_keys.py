"""An unknown or changed host key fails the spawn; it is never accepted."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from . import cluster
from .hub import Hub

#: The SSH transport under test; the hub's side is the same as in the Slurm tests.
pytestmark = pytest.mark.newest_hub_only


def other_host_key_line(tmp_path: Path) -> str:
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return "[127.0.0.1]:2222 " + " ".join(key.with_suffix(".pub").read_text().split()[:2]) + "\n"


@pytest.mark.parametrize("case", ["changed", "unknown"])
def test_bad_host_key_fails_the_spawn_with_a_clear_message(
    case: str, make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(other_host_key_line(tmp_path) if case == "changed" else "")
    hub = make_hub(f'c.BatchSpawnerBase.ssh_known_hosts = "{known_hosts}"\n')
    result = hub.spawn("alice")
    assert result.failed, result
    message = "\n".join(result.messages)
    assert "host key of 127.0.0.1:2222" in message, message
    assert str(known_hosts) in message and "ssh-keyscan" in message, message
    assert cluster.alive_jobs("alice") == []
    assert hub.server_model("alice") is None
