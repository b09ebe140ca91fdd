"""The certificates the hub mints: one principal, a short window, few permissions."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import asyncssh
import pytest

from batchspawner_x.certificates import (
    CLOCK_SKEW,
    check_source_addresses,
    load_ca_key,
    mint_user_certificate,
)
from batchspawner_x.errors import ConfigError


@pytest.fixture(scope="module")
def ca() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def test_certificate_names_one_principal_and_a_short_window(ca: asyncssh.SSHKey, tmp_path: Path) -> None:
    key, cert = mint_user_certificate(ca, "alice", 300, now=1_000_000)
    assert isinstance(cert, asyncssh.SSHCertificate)
    assert cert.principals == ["alice"]
    # as OpenSSH itself reads it
    path = tmp_path / "cert.pub"
    cert.write_certificate(str(path))
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True, check=True, env={"TZ": "UTC"}
    ).stdout
    start = datetime.fromtimestamp(1_000_000 - CLOCK_SKEW, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    end = datetime.fromtimestamp(1_000_300, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    assert f"Valid: from {start} to {end}" in shown, shown
    assert 'Key ID: "batchspawner_x alice 1000000"' in shown, shown
    assert cert.key.public_data == key.public_data
    assert cert.signing_key.public_data == ca.public_data


def test_certificate_allows_nothing_optional_by_default(ca: asyncssh.SSHKey) -> None:
    _, cert = mint_user_certificate(ca, "bob", 60)
    assert set(cert.options) == set()


def test_port_forwarding_only_when_asked_for(ca: asyncssh.SSHKey) -> None:
    _, cert = mint_user_certificate(ca, "bob", 60, port_forwarding=True)
    assert set(cert.options) == {"permit-port-forwarding"}


def test_source_address_is_a_critical_option_as_openssh_reads_it(ca: asyncssh.SSHKey, tmp_path: Path) -> None:
    _, cert = mint_user_certificate(ca, "bob", 60, source_addresses=["10.0.0.5", "2001:db8::/32"])
    path = tmp_path / "cert.pub"
    cert.write_certificate(str(path))
    shown = subprocess.run(["ssh-keygen", "-L", "-f", str(path)], capture_output=True, text=True, check=True)
    assert "source-address 10.0.0.5/32,2001:db8::/32" in shown.stdout, shown.stdout


@pytest.mark.parametrize(
    "bad", ["10.0.0.1/8", "10.0.0.0/33", "login.example.edu", "10.0.0.0/24,10.1.0.0/16", ""]
)
def test_a_bad_source_address_names_the_setting(bad: str) -> None:
    with pytest.raises(ConfigError, match="ssh_certificate_source_address") as info:
        check_source_addresses("ssh_certificate_source_address", [bad])
    assert repr(bad[:60]) in str(info.value)


def test_the_authority_never_signs_for_root(ca: asyncssh.SSHKey) -> None:
    with pytest.raises(ConfigError, match="never signs a certificate for root"):
        mint_user_certificate(ca, "root", 60)


def test_every_certificate_has_its_own_key(ca: asyncssh.SSHKey) -> None:
    first, _ = mint_user_certificate(ca, "bob", 60)
    second, _ = mint_user_certificate(ca, "bob", 60)
    assert first.public_data != second.public_data


def test_validity_must_be_positive(ca: asyncssh.SSHKey) -> None:
    with pytest.raises(ConfigError, match="positive"):
        mint_user_certificate(ca, "bob", 0)


def test_unreadable_authority_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match=str(missing)):
        load_ca_key(str(missing))
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key\n")
    with pytest.raises(ConfigError, match="certificate authority"):
        load_ca_key(str(garbage))
