"""Our spawners as children of the real wrapspawner.ProfilesSpawner, as JupyterHub builds it.

wrapspawner links every trait the wrapper and its child share; its ``profiles`` (a list
of tuples) must not end the start of a child whose ``profiles`` is a list of dicts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from traitlets import TraitError
from traitlets.config import Config
from wrapspawner import ProfilesSpawner

from batchspawner_x import SlurmSpawner, cli, spawner_traits
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


def test_render_says_the_wrapper_is_not_ours_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(
        'c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"\n'
        f"c.ProfilesSpawner.profiles = {WRAPPER_PROFILES!r}\n"
    )
    code = cli.main(["render", "--config", str(config), "--user", "alice"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    assert err.startswith(
        "batchspawner-x render: c.JupyterHub.spawner_class is ProfilesSpawner (a wrapper such as "
        "wrapspawner's, which picks its child at spawn time), not a batchspawner_x spawner"
    )


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
