"""Our spawners as children of the real wrapspawner.ProfilesSpawner, as JupyterHub builds it.

wrapspawner links every trait the wrapper and its child share; its ``profiles`` (a list
of tuples) must not end the start of a child whose ``profiles`` is a list of dicts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from traitlets import TraitError
from traitlets.config import Config
from wrapspawner import ProfilesSpawner

from batchspawner_x import SlurmSpawner, api, cli, spawner_traits
from batchspawner_x.profiles import is_wrapspawner_profiles
from batchspawner_x.schedulers.base import CommandResult

from .fakes import FakeTransport, hub_traits, hub_user

WRAPPER_PROFILES = [
    ("Slurm GPU", "gpu", "batchspawner_x.SlurmSpawner", {"partition": "gpu", "walltime": "02:00:00"}),
    ("Slurm CPU", "cpu", "batchspawner_x.SlurmSpawner", {"partition": "cpu"}),
]
OWN_PROFILES = [{"name": "small", "display_name": "Small", "cpus": 1}]


@pytest.fixture(autouse=True)
def _fresh_warnings() -> Iterator[None]:
    spawner_traits._WRAPPED.clear()
    yield
    spawner_traits._WRAPPED.clear()


def site_config(**child: Any) -> Config:
    c = Config()
    c.ProfilesSpawner.profiles = WRAPPER_PROFILES
    c.SlurmSpawner.ssh_host = "login.cluster.example.edu"
    for name, value in child.items():
        setattr(c.SlurmSpawner, name, value)
    return c


def child_of(config: Config, profile: str) -> SlurmSpawner:
    """The child a ProfilesSpawner builds for ``profile`` when the user starts it (before start())."""
    wrapper = ProfilesSpawner(user=hub_user("alice"), config=config, **hub_traits("alice"))
    wrapper.user_options = {"profile": profile}
    wrapper.construct_child()
    child = wrapper.child_spawner
    assert isinstance(child, SlurmSpawner)
    return child


def test_the_child_is_built_with_its_profile_config(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        child = child_of(site_config(), "gpu")
    assert (child.partition, child.walltime) == ("gpu", "02:00:00")
    assert child.ssh_host == "login.cluster.example.edu"
    assert child.profiles == []
    assert child.user.name == "alice"
    (warning,) = [r.getMessage() for r in caplog.records if "wrapspawner" in r.getMessage()]
    assert warning.startswith("SlurmSpawner.profiles: ignoring the profiles of a wrapspawner parent")
    assert warning.endswith("this spawner keeps its own 0 profile(s)")


def test_the_child_keeps_its_own_profiles() -> None:
    child = child_of(site_config(profiles=OWN_PROFILES), "cpu")
    assert child.partition == "cpu"
    assert child.profiles == OWN_PROFILES
    # user_options["profile"] is the wrapper's key ("cpu"): the child's default profile applies
    assert child.user_options == {"profile": "cpu"}
    assert (child.resource_choice().profile, child.resource_choice().cpus) == ("small", 1)


def test_a_profile_of_our_own_named_like_the_wrappers_is_chosen() -> None:
    own = [*OWN_PROFILES, {"name": "cpu", "display_name": "CPU", "cpus": 4}]
    assert child_of(site_config(profiles=own), "cpu").resource_choice().cpus == 4


async def test_the_child_renders_its_job_script() -> None:
    script = await child_of(site_config(), "gpu").render_script(home="/home/alice")
    assert "#SBATCH --partition=gpu\n" in script
    assert "#SBATCH --time=02:00:00\n" in script


def test_wrapspawner_profiles_are_recognised_and_ours_are_not() -> None:
    assert is_wrapspawner_profiles(WRAPPER_PROFILES)
    assert is_wrapspawner_profiles([("GPU", "gpu", SlurmSpawner, {})])
    assert not is_wrapspawner_profiles(OWN_PROFILES)
    assert not is_wrapspawner_profiles([])
    assert not is_wrapspawner_profiles([("GPU", "gpu", SlurmSpawner)])


def test_a_tuple_that_is_not_a_wrapspawner_profile_is_still_refused() -> None:
    c = Config()
    c.SlurmSpawner.profiles = [("small", 1)]
    with pytest.raises(TraitError, match=r"must be a dict, not tuple"):
        SlurmSpawner(user=hub_user("alice"), config=c, **hub_traits("alice"))


def wrapper_config(tmp_path: Path, extra: str = "") -> str:
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(
        'c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"\n'
        f"c.ProfilesSpawner.profiles = {WRAPPER_PROFILES!r}\n"
        'c.SlurmSpawner.ssh_host = "login.cluster.example.edu"\n' + extra
    )
    return str(config)


def render(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(["render", "--user", "alice", "--script-only", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def directives(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("#SBATCH")]


def test_render_without_profile_names_the_wrappers_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = render(["--config", wrapper_config(tmp_path)], capsys)
    assert (code, out) == (2, "")
    assert err == (
        "batchspawner-x render: c.JupyterHub.spawner_class is wrapspawner's ProfilesSpawner, which "
        "picks its child at spawn time: choose one with --profile KEY (the keys of "
        "ProfilesSpawner.profiles: gpu, cpu)\n"
    )


def test_render_refuses_a_key_the_wrapper_does_not_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = render(["--config", wrapper_config(tmp_path), "--profile", "GPU"], capsys)
    assert (code, out) == (2, "")
    assert err == (
        "batchspawner-x render: --profile 'GPU' is not a key of ProfilesSpawner.profiles "
        "(they are: gpu, cpu)\n"
    )


def test_render_profile_renders_the_chosen_child(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = render(["--config", wrapper_config(tmp_path), "--profile", "gpu"], capsys)
    assert code == 0
    assert directives(out)[-3:] == [
        "#SBATCH --partition=gpu",
        "#SBATCH --time=02:00:00",
        "#SBATCH --signal=B:USR1@900",
    ]
    code, out, _ = render(["--config", wrapper_config(tmp_path), "--profile", "cpu"], capsys)
    assert directives(out)[-3:] == [
        "#SBATCH --partition=cpu",
        "#SBATCH --time=08:00:00",
        "#SBATCH --signal=B:USR1@900",
    ]


def test_old_memory_and_cores_survive_the_wrappers_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """wrapspawner links mem_limit and cpu_limit from the wrapper (unset) onto the child: the
    values req_memory and req_nprocs gave must stay, as with the predecessor."""
    extra = (
        'c.SlurmSpawner.req_memory = "2G"\n'
        "c.ProfilesSpawner.profiles = [('Big', 'big', 'batchspawner_x.SlurmSpawner',"
        " {'req_nprocs': '8', 'req_memory': '16G'}), ('Small', 'small', 'batchspawner_x.SlurmSpawner', {})]\n"
    )
    config = wrapper_config(tmp_path, extra)
    _, out, _ = render(["--config", config, "--profile", "big"], capsys)
    assert directives(out)[-2:] == ["#SBATCH --mem=16384M", "#SBATCH --cpus-per-task=8"]
    _, out, _ = render(["--config", config, "--profile", "small"], capsys)
    assert directives(out)[-1] == "#SBATCH --mem=2048M"


@pytest.mark.parametrize(
    ("child", "says"),
    [
        (
            "jupyterhub.spawner.LocalProcessSpawner",
            "the spawner class is LocalProcessSpawner, not a batchspawner_x",
        ),
        ("nosuchpackage.Spawner", "cannot build ProfilesSpawner: TraitError"),
    ],
)
def test_render_names_a_child_class_it_cannot_render(
    child: str, says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = f"c.ProfilesSpawner.profiles = [('Other', 'other', {child!r}, {{}})]\n"
    code, out, err = render(["--config", wrapper_config(tmp_path, extra), "--profile", "other"], capsys)
    assert (code, out) == (2, "")
    assert err.startswith("batchspawner-x render: " + says)
    assert len(err.splitlines()) == 1


async def test_the_wrappers_start_reaches_the_childs_submit() -> None:
    wrapper = ProfilesSpawner(user=hub_user("alice"), config=site_config(), **hub_traits("alice"))
    wrapper.user_options = {"profile": "gpu"}
    wrapper.construct_child()
    refusal = CommandResult(1, "", "sbatch: error: invalid partition specified: gpu\n")
    transport = FakeTransport(lambda argv: refusal if "sbatch" in argv else CommandResult(0))
    wrapper.child_spawner._transport = transport
    with pytest.raises(Exception, match="invalid partition specified: gpu") as info:
        await asyncio.wait_for(wrapper.start(), 10)
    assert not isinstance(info.value, TraitError)
    assert len([argv for argv in transport.commands if "sbatch" in argv]) == 1  # submitted once


def test_the_hub_handlers_find_the_child_behind_the_wrapper() -> None:
    # the job reports its address to the hub: JupyterHub holds the wrapper, not our child
    wrapper = ProfilesSpawner(user=hub_user("alice"), config=site_config(), **hub_traits("alice"))
    unstarted = ProfilesSpawner(user=hub_user("alice"), config=site_config(), **hub_traits("alice"))
    wrapper.user_options = {"profile": "gpu"}
    wrapper.construct_child()
    user = SimpleNamespace(spawners={"": wrapper, "other": unstarted})
    assert api.spawners_of(user) == [wrapper.child_spawner, unstarted]
    assert callable(api.spawners_of(user)[0].accept_server_report)


def test_a_profiles_old_names_win_over_the_sites_settings() -> None:
    # the wrapper's link reloads the site's configuration into the child once it is built
    config = site_config(walltime="01:00:00")
    config.ProfilesSpawner.profiles = [
        ("Short", "short", "batchspawner_x.SlurmSpawner", {"req_runtime": "00:30:00", "partition": "gpu"}),
    ]
    child = child_of(config, "short")
    assert (child.walltime, child.partition) == ("00:30:00", "gpu")
