"""Short-lived SSH user certificates against the real login node's sshd.

``ci/cluster/up.sh`` makes a user certificate authority and puts its public half in
the test sshd's ``TrustedUserCAKeys``. A certificate the hub mints for a principal
logs in as that user only, and only while it is valid; a spawn needs no key file.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncssh
import pytest

from batchspawner_x.certificates import load_ca_key, mint_user_certificate

from . import cluster
from .hub import Hub, cluster_env

USER = "bob"


def login(
    principal: str,
    *,
    now: float | None = None,
    validity: float = 300,
    source_addresses: Sequence[str] = (),
    port_forwarding: bool = False,
    forward_to_sshd: bool = False,
) -> str:
    """Log in as ``USER`` with a certificate minted for ``principal``; what ``id -un`` says,
    or with ``forward_to_sshd`` the first line read through a ``direct-tcpip`` channel to
    the login node's own sshd (its version banner)."""
    env = cluster_env()
    ca = load_ca_key(env["BSX_USER_CA"])

    async def attempt() -> str:
        key_and_cert = mint_user_certificate(
            ca,
            principal,
            validity,
            now=now,
            source_addresses=source_addresses,
            port_forwarding=port_forwarding,
        )
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
            if forward_to_sshd:
                reader, writer = await conn.open_connection(
                    env["BSX_SSH_HOST"], int(env["BSX_SSH_PORT"]), encoding="ascii"
                )
                banner = await asyncio.wait_for(reader.readline(), 10)
                writer.close()
                return str(banner).strip()
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


def test_a_certificate_used_from_outside_its_source_address_is_refused() -> None:
    # the hub connects from 127.0.0.1: not in 192.0.2.0/24
    with pytest.raises(asyncssh.PermissionDenied):
        login(USER, source_addresses=["192.0.2.0/24"])


def test_a_certificate_used_from_its_source_address_logs_in() -> None:
    assert login(USER, source_addresses=["192.0.2.0/24", "127.0.0.1"]) == USER


def test_without_a_tunnel_the_certificate_permits_no_port_forwarding() -> None:
    with pytest.raises(asyncssh.ChannelOpenError) as info:
        login(USER, forward_to_sshd=True)
    assert info.value.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED


def test_with_a_tunnel_the_certificate_permits_port_forwarding() -> None:
    assert login(USER, port_forwarding=True, forward_to_sshd=True).startswith("SSH-2.0-")


def sshd_log_from(offset: int) -> str:
    with open(cluster.SSHD_LOG, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def test_a_hub_user_named_root_gets_no_certificate_and_no_connection(make_hub: Callable[..., Hub]) -> None:
    ca = cluster_env()["BSX_USER_CA"]
    hub = make_hub(
        f"""
        c.BatchSpawnerBase.ssh_keys = []
        c.BatchSpawnerBase.ssh_ca_key = "{ca}"
        """
    )
    sshd_seen = os.path.getsize(cluster.SSHD_LOG)
    result = hub.spawn("root")
    assert result.failed, result
    message = "\n".join(result.messages)
    assert "ssh_username: the cluster account 'root' is refused: it is the superuser" in message, message
    log = hub.log_text()
    assert "the cluster account 'root' is refused" in log, hub.log_tail()
    assert "Signed an SSH certificate for principal root" not in log, hub.log_tail()
    assert "Opened SSH connection" not in log, hub.log_tail()
    # sshd heard nothing about root: no login attempt reached it
    time.sleep(1)  # (sshd writes its log line after the connection closes)
    seen = [line for line in sshd_log_from(sshd_seen).splitlines() if re.search(r"\broot\b", line, re.I)]
    assert seen == [], seen
    assert hub.server_model("root") is None


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


def test_spawn_through_a_tunnel_with_a_certificate(make_hub: Callable[..., Hub]) -> None:
    # the certificate of a tunnel's connection permits the forward it carries
    ca = cluster_env()["BSX_USER_CA"]
    hub = make_hub(
        f"""
        c.BatchSpawnerBase.ssh_keys = []
        c.BatchSpawnerBase.ssh_ca_key = "{ca}"
        c.BatchSpawnerBase.tunnel = True
        """
    )
    result = hub.spawn(USER)
    assert result.ready, result
    signed = "Signed an SSH certificate for principal bob, valid 300s, port forwarding permitted"
    assert signed in hub.log_text(), hub.log_tail()
    r = hub.get_through_proxy(f"/user/{USER}/api/status")
    assert r.status_code == 200, r.text[:300]
    hub.stop(USER)


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
