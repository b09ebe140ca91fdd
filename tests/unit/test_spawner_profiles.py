"""SlurmSpawner with profiles: the form, user_options, the job they make, the state."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tornado import web
from traitlets import TraitError

from batchspawner_x import SlurmSpawner
from batchspawner_x.schedulers.base import CommandResult

from .fakes import FakeTransport, make_spawner

PROFILES: list[dict[str, Any]] = [
    {
        "name": "small",
        "display_name": "Small: 1 CPU, 2G, 2 h",
        "partition": "debug",
        "cpus": 1,
        "memory": "2G",
        "walltime": "02:00:00",
        "fields": {"cpus": {"max": 8}, "partition": {"choices": "cluster"}},
    },
    {
        "name": "gpu",
        "display_name": "GPU",
        "groups": ["gpu-users"],
        "partition": "gpu",
        "gpus": 1,
        "cpus": 8,
        "memory": "32G",
        "walltime": "08:00:00",
    },
]
SINFO = (
    "debug|1:00:00|4|8000|(null)|up\ninteractive|infinite|64|20000|(null)|up\ngpu|infinite|8|64000|gpu:2|up\n"
)


def answer(argv: list[str]) -> CommandResult:
    if argv[0] == "sinfo":
        return CommandResult(0, SINFO)
    return CommandResult(0)


def make(groups: tuple[str, ...] = ()) -> tuple[SlurmSpawner, FakeTransport]:
    """Heidi's spawner, a member of ``groups``, with the profiles above."""
    spawner, transport = make_spawner(
        answer, name="heidi", groups=groups, profiles=PROFILES, ssh_host=f"h-{uuid.uuid4().hex}"
    )
    spawner.partition = "interactive"
    spawner.walltime = "12:00:00"
    return spawner, transport


async def test_form_lists_the_users_profiles_with_the_clusters_partitions() -> None:
    spawner, transport = make()
    html = await spawner.get_options_form()
    assert "Small: 1 CPU, 2G, 2 h" in html and "GPU" not in html
    assert '<option value="interactive"' in html and '<option value="gpu"' in html
    assert 'max="4"' in html  # debug's nodes have 4 CPUs
    html = await make(("gpu-users",))[0].get_options_form()
    assert 'value="gpu"' in html
    # one sinfo for both spawners of this hub: the second form came from the cache
    assert [c[0] for c in transport.commands] == ["sinfo"]


async def test_form_request_becomes_the_job() -> None:
    spawner, _ = make()
    options = spawner.run_options_from_form(
        {"profile": ["small"], "small.cpus": ["3"], "small.partition": ["interactive"]}
    )
    assert options == {"profile": "small", "cpus": "3", "partition": "interactive"}
    await spawner._run_apply_user_options(options)
    context = spawner.job_context("/home/heidi/.batchspawner_x/heidi", "/home/heidi")
    assert (
        context["partition"],
        context["cpus"],
        context["memory_mb"],
        context["walltime"],
        context["gpus"],
    ) == (
        "interactive",
        3,
        2048,
        "02:00:00",
        0,
    )
    # the spawner's own settings are untouched: the next spawn starts afresh
    assert spawner.partition == "interactive" and spawner.walltime == "12:00:00"
    assert spawner.get_state() == {}  # no job yet
    spawner.job_id = "7"
    assert spawner.get_state()["resources"] == {
        "profile": "small",
        "partition": "interactive",
        "cpus": 3,
        "memory_mb": 2048,
        "walltime": "02:00:00",
    }


async def test_empty_rest_request_gets_the_default_profile() -> None:
    spawner, _ = make()
    await spawner._run_apply_user_options({})
    assert spawner.effective_partition() == "debug"
    assert "#SBATCH --time=02:00:00" in await spawner.render_script(home="/home/heidi")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profile": "gpu"}, "Invalid choice for profile: 'gpu' is not a profile you can choose (small)"),
        ({"profile": "small", "cpus": "5"}, "Invalid choice for cpus: 5 is above the maximum of 4"),
        ({"profile": "small", "partition": "nope"}, "Invalid choice for partition: 'nope' is not one of"),
        ({"profile": "small", "memory": "4G"}, "Invalid choice for memory: cannot be changed in profile"),
    ],
)
async def test_bad_choices_are_a_400_naming_the_field(options: dict[str, Any], message: str) -> None:
    spawner, _ = make()
    with pytest.raises(web.HTTPError) as info:
        await spawner._run_apply_user_options(options)
    assert info.value.status_code == 400
    assert message in info.value.log_message % info.value.args
    assert message in info.value.jupyterhub_message  # type: ignore[attr-defined]


async def test_the_choice_survives_a_hub_restart() -> None:
    spawner, _ = make(("gpu-users",))
    await spawner._run_apply_user_options({"profile": "gpu"})
    spawner.job_id = "9"
    state = spawner.get_state()
    restarted, _ = make(("gpu-users",))
    restarted.load_state(state)
    assert restarted.resource_choice().gpus == 1
    assert restarted.effective_partition() == "gpu"
    restarted.clear_state()
    assert restarted.get_state() == {}


def test_bad_site_profiles_stop_the_hub() -> None:
    with pytest.raises(TraitError, match=r"profiles\[0\]: unknown keys \['cpu'\]"):
        SlurmSpawner(profiles=[{"name": "a", "cpu": 2}])


async def test_without_profiles_nothing_changes() -> None:
    spawner, transport = make()
    spawner.profiles = []
    plain = SlurmSpawner(user=spawner.user)
    assert await plain.get_options_form() == ""
    await plain._run_apply_user_options({})
    assert plain.resource_choice().profile == ""
    assert transport.commands == []
