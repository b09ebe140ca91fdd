"""Short-lived SSH user certificates against the real login node's sshd.

``ci/cluster/up.sh`` makes a user certificate authority and puts its public half in
the test sshd's ``TrustedUserCAKeys``. A certificate the hub mints for a principal
logs in as that user only, and only while it is valid; a spawn needs no key file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import asyncssh
import pytest

from batchspawner_x.certificates import load_ca_key, mint_user_certificate

from . import cluster
from .hub import Hub, cluster_env

USER = "bob"


def login(principal: str, *, now: float | None = None, validity: float = 300) -> str:
    """Log in as ``USER`` with a certificate minted for ``principal``; what ``id -un`` says."""
    env = cluster_env()
    ca = load_ca_key(env["BSX_USER_CA"])

    async def attempt() -> str:
        key_and_cert = mint_user_certificate(ca, principal, validity, now=now)
        async with asyncssh.connect(
            env["BSX_SSH_HOST"],
            int(env["BSX_SSH_PORT"]),
            username=USER,
            client_keys=[key_and_cert],
            known_hosts=env["BSX_KNOWN_HOSTS"],
            config=None,
            agent_path=None,
            password=None,
            kbdint_auth=False,
        ) as conn:
            result = await conn.run("id -un", check=True)
            return str(result.stdout).strip()

    return asyncio.run(attempt())


def test_a_valid_certificate_logs_in_as_its_principal() -> None:
    assert login(USER) == USER


def test_an_expired_certificate_is_refused() -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        login(USER, now=time.time() - 3600, validity=300)


def test_a_certificate_for_another_principal_is_refused() -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        login("alice")


def test_spawn_with_a_certificate_and_no_key_file(make_hub: Callable[..., Hub]) -> None:
    ca = cluster_env()["BSX_USER_CA"]
    hub = make_hub(
        f"""
        c.BatchSpawnerBase.ssh_keys = []
        c.BatchSpawnerBase.ssh_ca_key = "{ca}"
        c.BatchSpawnerBase.ssh_certificate_validity = 120
        """
    )
    result = hub.spawn(USER)
    assert result.ready, result
    assert len(cluster.alive_jobs(USER)) == 1
    hub.stop(USER)
    assert cluster.alive_jobs(USER) == []


def test_spawn_with_an_untrusted_authority_fails_clearly(
    make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    rogue = tmp_path / "rogue_ca"
    rogue.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    rogue.chmod(0o600)
    hub = make_hub(
        f"""
        c.BatchSpawnerBase.ssh_keys = []
        c.BatchSpawnerBase.ssh_ca_key = "{rogue}"
        """
    )
    result = hub.spawn(USER)
    assert result.failed, result
    message = "\n".join(result.messages)
    assert "was refused" in message and "TrustedUserCAKeys" in message, message
    assert cluster.alive_jobs(USER) == []
