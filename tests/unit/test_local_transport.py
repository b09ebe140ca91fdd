"""Local mode's commands start with a minimal environment, never the hub's own."""

from __future__ import annotations

import os
import pwd

import pytest

from batchspawner_x.transport import DEFAULT_PATH, LOCAL_ENV_KEEP, LocalTransport, local_environment

ME = pwd.getpwuid(os.getuid())

HUB_ENV = {
    "PATH": "/opt/slurm/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "SLURM_CONF": "/etc/slurm/site.conf",
    "JUPYTERHUB_CRYPT_KEY": "secret",
    "CONFIGPROXY_AUTH_TOKEN": "secret",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "HOME": "/root",
}


def test_only_the_kept_variables_and_the_users_own_names() -> None:
    env = local_environment(LOCAL_ENV_KEEP, HUB_ENV, ME.pw_name)
    assert env == {
        "PATH": "/opt/slurm/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "SLURM_CONF": "/etc/slurm/site.conf",
        "HOME": ME.pw_dir,
        "USER": ME.pw_name,
        "LOGNAME": ME.pw_name,
    }


def test_a_name_the_hub_does_not_know_gets_no_home_and_path_is_never_missing() -> None:
    assert local_environment(("LANG",), {}, "no-such-user-here") == {"PATH": DEFAULT_PATH}


async def test_a_secret_in_the_hubs_environment_does_not_reach_the_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BSX_HUB_SECRET", "do-not-leak")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    transport = LocalTransport(ME.pw_name, [])  # no prefix: nothing but us resets the environment
    result = await transport.run(["env"], timeout=30)
    assert result.returncode == 0, result
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert "BSX_HUB_SECRET" not in seen and "do-not-leak" not in result.stdout
    assert seen["PATH"] == os.environ["PATH"] and seen["LC_ALL"] == "C.UTF-8"
    assert seen["HOME"] == ME.pw_dir and seen["USER"] == ME.pw_name
    assert set(seen) <= {*LOCAL_ENV_KEEP, "HOME", "USER", "LOGNAME", "PWD", "SHLVL", "_"}


async def test_the_site_chooses_what_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITE_SETTING", "kept")
    result = await LocalTransport(ME.pw_name, [], [*LOCAL_ENV_KEEP, "SITE_SETTING"]).run(["env"], timeout=30)
    assert "SITE_SETTING=kept" in result.stdout.splitlines()


def test_a_wrapped_script_is_counted_under_its_own_name() -> None:
    from batchspawner_x.transport import command_name

    assert command_name(["/usr/bin/sbatch", "--parsable"]) == "sbatch"
    assert (
        command_name(["/bin/sh", "-c", 'exec "$@"', "batchspawner-x-submit", "sbatch"])
        == "batchspawner-x-submit"
    )
    assert command_name(["/bin/sh", "-c", "true"]) == "sh"
