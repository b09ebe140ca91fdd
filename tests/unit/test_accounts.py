"""Cluster accounts the hub refuses to act as: root, system accounts, the deny list."""

from __future__ import annotations

from typing import Any

import pytest
from traitlets import TraitError

from batchspawner_x import SlurmSpawner
from batchspawner_x.accounts import DEFAULT_DENIED_ACCOUNTS, AccountRefused, check_account
from batchspawner_x.transport import SSHPool

from .fakes import new_spawner

#: A stand-in for the hub's account database.
UIDS = {"alice": 1001, "toor2": 0, "backup2": 34, "svc": 998}


def check(
    name: str, *, min_uid: int = 1000, denied: tuple[str, ...] = (), refuse_unknown: bool = False
) -> str:
    return check_account(
        "ssh_username", name, min_uid=min_uid, denied=denied, refuse_unknown=refuse_unknown, uid_of=UIDS.get
    )


def test_an_ordinary_account_passes() -> None:
    assert check("alice") == "alice"


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("root", "it is the superuser"),
        ("toor2", "its uid is 0"),
        ("backup2", "its uid 34 is below cluster_min_uid (1000)"),
    ],
)
def test_root_and_system_accounts_are_refused_naming_account_and_setting(name: str, words: str) -> None:
    with pytest.raises(AccountRefused) as info:
        check(name)
    assert info.value.field == "ssh_username"
    assert f"the cluster account {name!r} is refused: {words}" in str(info.value)


def test_root_is_refused_with_the_floor_off_and_an_empty_deny_list() -> None:
    with pytest.raises(AccountRefused, match="superuser"):
        check("root", min_uid=0)
    with pytest.raises(AccountRefused, match="uid is 0"):
        check("toor2", min_uid=0)
    assert check("backup2", min_uid=0) == "backup2"


def test_the_deny_list_applies_to_names_the_hub_does_not_know() -> None:
    with pytest.raises(AccountRefused, match="is on cluster_denied_accounts"):
        check("slurm", denied=DEFAULT_DENIED_ACCOUNTS)
    assert check("newuser", denied=DEFAULT_DENIED_ACCOUNTS) == "newuser"


def test_unknown_names_are_refused_only_when_asked() -> None:
    with pytest.raises(AccountRefused, match="does not know it and refuse_unknown_accounts is set"):
        check("newuser", refuse_unknown=True)


def test_the_default_deny_list_holds_the_usual_system_accounts() -> None:
    for name in ("root", "daemon", "bin", "sys", "nobody", "slurm", "munge", "sshd"):
        assert name in DEFAULT_DENIED_ACCOUNTS


def spawner(name: str, **config: Any) -> SlurmSpawner:
    return new_spawner(name=name, **config)


@pytest.mark.parametrize("connection", ["ssh", "local"])
async def test_a_spawn_as_root_fails_before_any_connection(connection: str) -> None:
    await SSHPool.close_all()
    s = spawner("root", connection=connection, ssh_ca_key="/nonexistent/ca", ssh_keys=[])
    message = (
        "Cannot start a server as this cluster account: ssh_username: the cluster account 'root' is refused"
    )
    with pytest.raises(Exception, match=message):
        await s.start()
    assert s._transport is None
    assert SSHPool.connections_opened() == 0 and not SSHPool._connections


@pytest.mark.parametrize("connection", ["ssh", "local"])
async def test_a_system_status_account_fails_the_spawn_before_any_connection(connection: str) -> None:
    await SSHPool.close_all()
    s = spawner("alice", connection=connection, status_ssh_username="slurm")
    with pytest.raises(Exception, match=r"status_ssh_username: the cluster account 'slurm' is refused"):
        await s.start()
    assert not SSHPool._connections


async def test_a_mapped_name_below_the_floor_is_refused() -> None:
    # "daemon" is uid 1 on every Linux system; removed from the deny list, the floor still holds
    s = spawner("alice", ssh_username="daemon", cluster_denied_accounts=[])
    with pytest.raises(AccountRefused, match=r"'daemon' is refused: its uid 1 is below cluster_min_uid"):
        await s.cluster_username()


def test_the_uid_floor_is_not_negative() -> None:
    with pytest.raises(TraitError, match="cluster_min_uid"):
        spawner("alice", cluster_min_uid=-1)
