"""The predecessor's ``exec_prefix = "ssh ..."``: read as the built-in SSH settings, or refused."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from traitlets import TraitError
from traitlets.config import Config

from batchspawner_x import compat
from batchspawner_x.errors import ConfigError
from batchspawner_x.ssh_prefix import SSHPrefix, is_ssh, translate_ssh_prefix

from .fakes import new_spawner

LOG = logging.getLogger("test-ssh-prefix")
HOST = "login.cluster.edu"


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    compat._WARNED.clear()
    yield
    compat._WARNED.clear()


def test_the_common_site_line_becomes_the_native_settings() -> None:
    ssh = translate_ssh_prefix("ssh -i /keys/{username}.key -l {username} {host}", HOST)
    assert ssh == SSHPrefix(host=HOST, port=22, username="{username}", keys=("/keys/{username}.key",))
    assert ssh.settings() == {
        "connection": "ssh",
        "ssh_host": HOST,
        "ssh_port": 22,
        "ssh_username": "{username}",
        "ssh_keys": ["/keys/{username}.key"],
    }


def test_options_in_every_spelling() -> None:
    line = (
        "/usr/bin/ssh -q -T -p2200 -o User={username} -o 'IdentityFile /k/{username}' -i/k/shared "
        "-o UserKnownHostsFile=/etc/jupyterhub/known_hosts -o StrictHostKeyChecking=yes "
        "-o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 {host}"
    )
    assert translate_ssh_prefix(line, HOST) == SSHPrefix(
        host=HOST,
        port=2200,
        username="{username}",
        keys=("/k/{username}", "/k/shared"),
        known_hosts="/etc/jupyterhub/known_hosts",
        connect_timeout=10,
        keepalive_interval=15,
    )


def test_a_literal_host_and_user_at_host() -> None:
    ssh = translate_ssh_prefix("ssh -o Port=2222 jupyter@hpc.example.org", "")
    assert (ssh.host, ssh.port, ssh.username) == ("hpc.example.org", 2222, "jupyter")


def test_the_first_user_wins_as_in_ssh() -> None:
    assert translate_ssh_prefix("ssh -l {username} other@{host}", HOST).username == "{username}"


@pytest.mark.parametrize(
    "options",
    [
        "-o StrictHostKeyChecking=no",
        "-o StrictHostKeyChecking=accept-new",
        "-o UserKnownHostsFile=/dev/null",
        "-oStrictHostKeyChecking=no -oUserKnownHostsFile=/dev/null",
    ],
)
def test_host_key_checking_is_never_turned_off(options: str) -> None:
    ssh = translate_ssh_prefix(f"ssh {options} -p 2222 -l {{username}} {{host}}", HOST)
    assert ssh.known_hosts is None  # the default file, checked
    assert "ssh_known_hosts" not in ssh.settings()
    (note,) = ssh.notes
    assert "host keys are still checked" in note
    assert note.endswith(f"ssh-keyscan -p 2222 {HOST} >> /etc/ssh/ssh_known_hosts")


@pytest.mark.parametrize(
    ("line", "req_host", "reason"),
    [
        ("ssh -o ProxyCommand=nc -l u {host}", HOST, "'ProxyCommand=nc' has no built-in equivalent"),
        ("ssh -J bastion -l u {host}", HOST, "-J has no built-in equivalent"),
        ("ssh -A -l u {host}", HOST, "-A has no built-in equivalent"),
        ("ssh -l u {host} sudo -u {username}", HOST, "a remote command ('sudo' ...) follows the host"),
        ("ssh -l u {host}; rm -rf /", HOST, "shell syntax"),
        ("ssh -l $USER {host}", HOST, "shell syntax"),
        ("ssh -i ~/.ssh/id -l u {host}", HOST, "shell syntax"),
        ("ssh -l {user} {host}", HOST, "a placeholder other than {username} and {host}"),
        ("ssh -l u {host}", "", "req_host is not set"),
        ("ssh -l u", HOST, "it names no host"),
        ("ssh {host}", HOST, "it names no user"),
        ("ssh -p 99999 -l u {host}", HOST, "out of range"),
        ("ssh -p 22 -l u", HOST, "it names no host"),
        ("ssh -l u -p", HOST, "has no value"),
        ("ssh -l u ssh://login:22", HOST, "not a plain host name"),
        ("ssh -l u {host}.edu", HOST, "only a plain {host} is understood"),
        ("ssh -o StrictHostKeyChecking=maybe -l u {host}", HOST, "not an OpenSSH value"),
        ("ssh -o 'UserKnownHostsFile=/a /b' -l u {host}", HOST, "several files"),
        ("ssh -l u {host} 'unterminated", HOST, "cannot be split"),
    ],
)
def test_what_cannot_be_carried_over_exactly_is_refused(line: str, req_host: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        translate_ssh_prefix(line, req_host, "SlurmSpawner")
    assert info.value.field == "exec_prefix"
    assert reason in info.value.message
    assert "c.SlurmSpawner.connection = 'ssh'; c.SlurmSpawner.ssh_host = " in info.value.message


def test_is_ssh() -> None:
    assert is_ssh("/usr/bin/ssh -l u h") and is_ssh("ssh")
    assert not is_ssh("sudo -u {username}") and not is_ssh("") and not is_ssh("sshpass -p x ssh h")


# -- in the spawner -----------------------------------------------------------


def configure(first: str, second: str) -> Config:
    c = Config()
    values = {"exec_prefix": "ssh -i /keys/{username}.key -l {username} {host}", "req_host": HOST}
    setattr(c.SlurmSpawner, first, values[first])
    setattr(c.SlurmSpawner, second, values[second])
    return c


@pytest.mark.parametrize("order", [("exec_prefix", "req_host"), ("req_host", "exec_prefix")])
def test_the_spawner_uses_the_built_in_ssh_with_one_warning(
    caplog: pytest.LogCaptureFixture, order: tuple[str, str]
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        s = new_spawner(name="alice", config=configure(*order), log=LOG)
    assert (s.connection, s.ssh_host, s.ssh_port, s.ssh_username) == ("ssh", HOST, 22, "{username}")
    assert s.ssh_keys == ["/keys/{username}.key"]
    (record,) = caplog.records
    assert record.getMessage() == (
        "SlurmSpawner.exec_prefix is deprecated (a batchspawner setting): use the built-in SSH "
        "connection; write:\n"
        "    c.SlurmSpawner.connection = 'ssh'\n"
        f"    c.SlurmSpawner.ssh_host = '{HOST}'\n"
        "    c.SlurmSpawner.ssh_port = 22\n"
        "    c.SlurmSpawner.ssh_username = '{username}'\n"
        "    c.SlurmSpawner.ssh_keys = ['/keys/{username}.key']."
    )


def test_the_spawner_refuses_an_untranslatable_line_naming_exec_prefix() -> None:
    c = Config()
    c.SlurmSpawner.exec_prefix = "ssh -o ProxyCommand='nc %h %p' -l u login"
    with pytest.raises(TraitError, match=r"SlurmSpawner\.exec_prefix: .* ProxyCommand"):
        new_spawner(name="alice", config=c, log=LOG)


def test_a_refused_flag_with_an_argument_is_not_taken_for_the_login_node() -> None:
    # ProxyJump is refused, and the advice still names req_host, not the jump host
    c = Config()
    c.SlurmSpawner.exec_prefix = "ssh -J jump.example.org -l {username} {host}"
    c.SlurmSpawner.req_host = "login1.example.org"
    with pytest.raises(TraitError, match=r"-J has no built-in equivalent") as info:
        new_spawner(name="alice", config=c, log=LOG)
    assert "ssh_host = 'login1.example.org'" in str(info.value)
    assert "jump.example.org'" not in str(info.value)


def test_a_local_prefix_with_another_placeholder_is_refused() -> None:
    c = Config()
    c.SlurmSpawner.exec_prefix = "sudo -u {username} --host {host}"
    with pytest.raises(TraitError, match=r"exec_prefix: '\{host\}': only \{username\} is replaced"):
        new_spawner(name="alice", config=c, log=LOG)
