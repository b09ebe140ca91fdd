"""Every numeric setting's bounds, and the status interval's default."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
from jupyterhub import orm
from traitlets import Float, Integer, TraitError
from traitlets.config import Config

from batchspawner_x import SlurmSpawner, spawners
from batchspawner_x.settings import InvalidSetting, interval_note
from batchspawner_x.spawner import BatchSpawnerBase

from .fakes import new_spawner
from .test_cli import run, write_config

#: (setting, a value it refuses): every bounded numeric setting of the package.
BAD_VALUES = [
    ("ssh_port", 0),
    ("ssh_port", 65536),
    ("ssh_certificate_validity", 0),
    ("ssh_connect_timeout", 0),
    ("ssh_keepalive_interval", -1),
    ("ssh_max_sessions", 0),
    ("ssh_idle_timeout", -5),
    ("ssh_reconnect_max_delay", 0),
    ("login_down_time", 0),
    ("login_down_time", 86401),
    ("gpus", -1),
    ("cluster_limits_ttl", -1),
    ("submit_timeout", 0),
    ("submit_attempts", 0),
    ("status_timeout", 0),
    ("status_interval", 0),
    ("status_interval", -10),
    ("startup_poll_interval", 0),
    ("cancel_timeout", -1),
    ("output_tail_bytes", -1),
    ("output_tail_bytes", 10**9),
    ("cluster_min_uid", -1),
]


def built(**settings: object) -> SlurmSpawner:
    config = Config()
    for name, value in settings.items():
        config.SlurmSpawner[name] = value
    return SlurmSpawner(config=config)


@pytest.mark.parametrize(("setting", "value"), BAD_VALUES)
def test_a_bad_value_is_refused_when_the_spawner_is_built_naming_the_setting(
    setting: str, value: object
) -> None:
    with pytest.raises(TraitError) as info:
        built(**{setting: value})
    assert f"'{setting}'" in str(info.value)
    assert isinstance(info.value, InvalidSetting)
    # what JupyterHub shows the user (the spawn page, the REST answer) names it too
    assert info.value.status_code == 500
    assert f"'{setting}'" in info.value.jupyterhub_message
    assert info.value.jupyterhub_message.startswith("The hub's configuration has an invalid setting")


def test_every_numeric_setting_has_a_lower_bound() -> None:
    classes = [BatchSpawnerBase, *(c for c in vars(spawners).values() if isinstance(c, type))]
    numeric = {
        name
        for cls in classes
        if issubclass(cls, BatchSpawnerBase)
        for name, trait in cls.class_traits(config=True).items()
        if isinstance(trait, (Integer, Float)) and trait.this_class.__module__.startswith("batchspawner_x")
    }
    assert numeric, "the package has numeric settings"
    for name in numeric:
        assert BatchSpawnerBase.class_traits()[name].min is not None, f"{name} has no lower bound"
    assert numeric == {setting for setting, _ in BAD_VALUES}


@pytest.mark.parametrize(
    "settings",
    [
        {"ssh_port": 65535},
        {"login_down_time": 1},
        {"ssh_keepalive_interval": 0},
        {"ssh_idle_timeout": 0},
        {"cluster_limits_ttl": 0},
        {"cancel_timeout": 0},
        {"gpus": 0},
        {"output_tail_bytes": 0},
    ],
)
def test_the_bounds_themselves_are_allowed(settings: dict[str, object]) -> None:
    s = built(**settings)
    for name, value in settings.items():
        assert getattr(s, name) == value


def test_status_interval_follows_poll_interval_unless_set() -> None:
    config = Config()
    config.Spawner.poll_interval = 10
    s = SlurmSpawner(config=config)
    assert s.status_interval == 10
    assert s.ssh_reconnect_max_delay == 10, "a login node that comes back is asked within an interval"
    assert interval_note(s) is None
    config.BatchSpawnerBase.status_interval = 30
    s = SlurmSpawner(config=config)
    assert s.status_interval == 30
    note = interval_note(s)
    assert note is not None and "poll_interval is 10 s" in note and "within about 40 s" in note


def test_defaults_without_a_poll_interval() -> None:
    s = SlurmSpawner()
    assert (s.status_interval, s.ssh_reconnect_max_delay) == (30, 30)
    config = Config()
    config.Spawner.poll_interval = 0  # JupyterHub does not poll; the cache still refreshes
    assert SlurmSpawner(config=config).status_interval == 30
    config.Spawner.poll_interval = 300
    s = SlurmSpawner(config=config)
    assert (s.status_interval, s.ssh_reconnect_max_delay) == (300, 30)


@pytest.mark.parametrize("command", ["render", "check"])
def test_the_admin_commands_refuse_a_bad_value_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    config = write_config(tmp_path, "c.SlurmSpawner.ssh_max_sessions = 0\n")
    code, out, err = run([command, "--config", config, "--user", "alice"], capsys)
    assert code == 2
    assert out == ""
    assert err.startswith(f"batchspawner-x {command}: cannot build SlurmSpawner: ")
    assert "'ssh_max_sessions'" in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_check_warns_when_status_and_poll_intervals_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        """
        c.SlurmSpawner.ssh_host = "127.0.0.1"
        c.SlurmSpawner.ssh_port = 1
        c.Spawner.poll_interval = 10
        c.SlurmSpawner.status_interval = 30
        """,
    )
    _, out, _ = run(["check", "--config", config, "--user", "alice", "--timeout", "2"], capsys)
    last = out.splitlines()[-1]
    assert last.startswith("WARN status interval: status_interval is 30 s but poll_interval is 10 s")
    # the same hub with only poll_interval set says nothing about it
    config = write_config(
        tmp_path,
        'c.SlurmSpawner.ssh_host = "127.0.0.1"\nc.SlurmSpawner.ssh_port = 1\nc.Spawner.poll_interval = 10\n',
    )
    _, out, _ = run(["check", "--config", config, "--user", "alice", "--timeout", "2"], capsys)
    assert "WARN" not in out


async def test_a_running_server_is_left_as_it_is_when_the_hub_now_refuses_a_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # at hub start JupyterHub builds the spawner of each running server outside any handler:
    # a refusal raised there would stop the hub, with a traceback, for every user
    config = Config()
    config.SlurmSpawner.ssh_port = 0
    with pytest.raises(InvalidSetting, match="ssh_port"):  # a new start: the spawn's 500
        new_spawner(config=config, orm_spawner=SimpleNamespace(server=None, name=""))
    running = SimpleNamespace(
        server=orm.Server(
            proto="http",
            ip="127.0.0.1",
            port=8888,
            base_url="/user/alice/",
            cookie_name="jupyterhub-user-alice",
        ),
        name="",
    )
    with caplog.at_level(logging.ERROR):
        spawner = new_spawner(config=config, orm_spawner=running)
    assert "alice's server '' is left as it is" in caplog.text and "ssh_port" in caplog.text
    spawner.load_state({"job_id": "4242"})
    assert await spawner.poll() is None  # not asked, not declared dead
    with pytest.raises(InvalidSetting, match="ssh_port"):
        await spawner.start()
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        await spawner.stop()
    assert "job 4242] not cancelled" in caplog.text and "by hand" in caplog.text
    assert spawner.get_state()["job_id"] == "4242"
