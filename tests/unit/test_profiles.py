"""Profiles: the site's offers, a user's request, the form (pure functions, no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from batchspawner_x.errors import ConfigError
from batchspawner_x.profile_form import options_from_form, render_form
from batchspawner_x.profiles import (
    Choice,
    OptionError,
    parse_profiles,
    resolve_choice,
)
from batchspawner_x.schedulers.base import PartitionInfo
from batchspawner_x.units import format_walltime, walltime_seconds

SITE: list[dict[str, Any]] = [
    {
        "name": "small",
        "display_name": "Small: 1 CPU, 2G, 2 h",
        "description": "For notebooks and plots",
        "partition": "debug",
        "cpus": 1,
        "memory": "2G",
        "walltime": "02:00:00",
        "fields": {
            "cpus": {"max": 4},
            "memory": {"min": "1G", "max": "8G"},
            "walltime": {"max": "08:00:00"},
            "partition": {"choices": ["debug", "interactive"]},
        },
    },
    {
        "name": "gpu",
        "display_name": "GPU: 1 GPU, 8 CPUs, 32G, 8 h",
        "groups": ["gpu-users"],
        "partition": "gpu",
        "gpus": 1,
        "cpus": 8,
        "memory": "32G",
        "walltime": "08:00:00",
        "default": True,
        "fields": {"gpus": {"min": 1, "max": 4}},
    },
]
PROFILES = parse_profiles(SITE)


def test_empty_request_gets_the_default_profile_of_the_users_groups() -> None:
    assert resolve_choice(PROFILES, [], {}) == Choice(
        profile="small", partition="debug", cpus=1, memory_mb=2048, walltime="02:00:00"
    )
    # the GPU profile is the default, but only for its group
    assert resolve_choice(PROFILES, ["gpu-users"], None) == Choice(
        profile="gpu", partition="gpu", cpus=8, memory_mb=32768, walltime="08:00:00", gpus=1
    )


def test_fields_change_values_inside_their_bounds() -> None:
    choice = resolve_choice(
        PROFILES,
        [],
        {"profile": "small", "cpus": "3", "memory": "4G", "walltime": "1.5", "partition": "interactive"},
    )
    assert choice == Choice(
        profile="small", partition="interactive", cpus=3, memory_mb=4096, walltime="01:30:00"
    )
    assert resolve_choice(PROFILES, [], {"profile": "small", "walltime": "08:00:00"}).walltime == "08:00:00"


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"profile": "huge"}, "profile", "'huge' is not a profile you can choose (small)"),
        ({"profile": "gpu"}, "profile", "not a profile you can choose"),  # not in gpu-users
        ({"profile": "small", "cpus": "5"}, "cpus", "5 is above the maximum of 4"),
        ({"profile": "small", "cpus": "0"}, "cpus", "0 is below the minimum of 1"),
        ({"profile": "small", "cpus": "2; rm -rf /"}, "cpus", "is not a whole number"),
        ({"profile": "small", "cpus": True}, "cpus", "is not a whole number"),
        ({"profile": "small", "memory": "9G"}, "memory", "9G is above the maximum of 8G"),
        ({"profile": "small", "memory": "512M"}, "memory", "512M is below the minimum of 1G"),
        ({"profile": "small", "memory": "lots"}, "memory", "is not an amount of memory"),
        # a bare number meant GiB here, MiB everywhere else: refused, naming the unit to write
        ({"profile": "small", "memory": "4"}, "memory", "4 has no unit here: write 4G for GiB or 4M for MiB"),
        ({"profile": "small", "walltime": "9.0"}, "walltime", "09:00:00 is above the maximum of 08:00:00"),
        ({"profile": "small", "walltime": "1\n#SBATCH -A x"}, "walltime", "is not a walltime"),
        ({"profile": "small", "partition": "gpu"}, "partition", "'gpu' is not one of debug, interactive"),
        ({"profile": "small", "partition": "debug --uid=0"}, "partition", "is not one of"),
        ({"profile": "small", "gpus": "1"}, "gpus", "cannot be changed in profile 'Small"),
        ({"profile": "small", "image": "x"}, "image", "is not an option of this hub"),
    ],
)
def test_bad_requests_name_the_field(options: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(OptionError if field != "walltime" else ConfigError) as info:
        resolve_choice(PROFILES, [], options)
    assert info.value.field == field
    assert words in info.value.message


def test_profiles_are_limited_to_groups() -> None:
    assert resolve_choice(PROFILES, ["gpu-users"], {"profile": "gpu", "gpus": 4}).gpus == 4
    with pytest.raises(OptionError, match="gpus: 5 is above the maximum of 4"):
        resolve_choice(PROFILES, ["gpu-users"], {"profile": "gpu", "gpus": 5})


CLUSTER = {
    "debug": PartitionInfo("debug", max_walltime_seconds=3600, cpus=2, memory_mb=4000, gpus=0),
    "interactive": PartitionInfo("interactive", cpus=64, memory_mb=20000),
    "down": PartitionInfo("down", available=False),
}


def test_cluster_limits_narrow_the_fields_of_their_partition() -> None:
    with pytest.raises(OptionError, match="cpus: 3 is above the maximum of 2"):
        resolve_choice(PROFILES, [], {"profile": "small", "cpus": 3}, CLUSTER)
    with pytest.raises(OptionError, match="walltime: 02:00:00 is above the maximum of 01:00:00"):
        resolve_choice(PROFILES, [], {"profile": "small", "walltime": "2.0"}, CLUSTER)
    # the limits are those of the partition the user picks
    choice = resolve_choice(
        PROFILES, [], {"profile": "small", "partition": "interactive", "cpus": 4}, CLUSTER
    )
    assert choice.cpus == 4


def test_partitions_from_the_cluster() -> None:
    profiles = parse_profiles(
        [{"name": "any", "partition": "debug", "fields": {"partition": {"choices": "cluster"}}}]
    )
    assert resolve_choice(profiles, [], {"partition": "interactive"}, CLUSTER).partition == "interactive"
    with pytest.raises(OptionError, match="'down' is not one of debug, interactive"):
        resolve_choice(profiles, [], {"partition": "down"}, CLUSTER)
    # without a cluster list, only the profile's own partition
    with pytest.raises(OptionError, match=r"is not one of debug$"):
        resolve_choice(profiles, [], {"partition": "interactive"}, None)


@pytest.mark.parametrize(
    ("raw", "where", "words"),
    [
        ([{"name": "Big Box"}], "profiles[0].name", "must be 1-30 characters"),
        ([{"name": "a"}, {"name": "a"}], "profiles[1].name", "used twice"),
        ([{"name": "a", "cpu": 2}], "profiles[0]", "unknown keys ['cpu']"),
        ([{"name": "a", "partition": "x y"}], "profiles[a].partition", "not a valid name"),
        ([{"name": "a", "memory": "2 potatoes"}], "profiles[a].memory", "not an amount of memory"),
        ([{"name": "a", "memory": "16"}], "profiles[a].memory", "16 has no unit here: write 16G for GiB"),
        ([{"name": "a", "memory": 16}], "profiles[a].memory", "16 has no unit here"),
        (
            [{"name": "a", "fields": {"memory": {"max": 64}}}],
            "profiles[a].fields.memory.max",
            "64 has no unit here",
        ),
        ([{"name": "a", "fields": {"colour": {}}}], "profiles[a].fields", "'colour' is not one of"),
        ([{"name": "a", "fields": {"cpus": {}}}], "profiles[a].fields.cpus", "needs a 'max'"),
        ([{"name": "a", "fields": {"cpus": {"maximum": 2}}}], "profiles[a].fields.cpus", "unknown keys"),
        ([{"name": "a", "cpus": 8, "fields": {"cpus": {"max": 4}}}], "profiles[a].cpus", "outside its field"),
        (
            [{"name": "a", "fields": {"partition": {"choices": []}}}],
            "profiles[a].fields.partition",
            "choices",
        ),
        ([{"name": "a", "groups": "staff"}], "profiles[a].groups", "list of group names"),
        ([{"name": "a", "default": True}, {"name": "b", "default": True}], "profiles", "only one"),
        (["small"], "profiles[0]", "must be a dict"),
    ],
)
def test_bad_site_config_is_named(raw: list[Any], where: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_profiles(raw)
    assert info.value.field == where
    assert words in info.value.message


def test_walltimes() -> None:
    assert walltime_seconds("w", "30") == 1800  # Slurm: a bare number is minutes
    assert walltime_seconds("w", "1:30") == 90
    assert walltime_seconds("w", "2:00:00") == 7200
    assert walltime_seconds("w", "1-12") == 129600
    assert walltime_seconds("w", "2.5") == 9000  # with a dot: hours
    assert format_walltime(129600) == "1-12:00:00"


def test_form_is_escaped_and_reads_back() -> None:
    hostile = parse_profiles(
        [
            {
                "name": "x",
                "display_name": "<script>alert(1)</script>",
                "description": '"><img src=x onerror=alert(1)>',
                "cpus": 2,
                "fields": {"cpus": {"max": 4}, "memory": {"max": "8G"}, "walltime": {"max": "12:00:00"}},
            }
        ]
    )
    html = render_form(hostile, [])
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert 'name="x.cpus"' in html and 'value="2"' in html and 'max="4"' in html
    assert 'max="8"' in html and 'max="12"' in html  # GiB and hours, as a person types them
    form = {"profile": ["x"], "x.cpus": ["3"], "x.memory": ["1.5"], "x.walltime": ["2"], "y.cpus": ["9"]}
    options = options_from_form(form)
    assert options == {"profile": "x", "cpus": "3", "memory": "1.5G", "walltime": "2.0"}
    assert resolve_choice(hostile, [], options) == Choice(
        profile="x", cpus=3, memory_mb=1536, walltime="02:00:00"
    )


def test_form_shows_only_the_users_profiles_and_selects_the_last_choice() -> None:
    html = render_form(PROFILES, [], cluster=CLUSTER)
    assert "GPU:" not in html and "Small: 1 CPU, 2G, 2 h" in html
    assert 'value="small" checked' in html
    html = render_form(PROFILES, ["gpu-users"], previous={"profile": "small"}, cluster=CLUSTER)
    assert 'value="small" checked' in html and 'value="gpu">' in html
    # the cluster's limits show in the form: debug's node has 2 CPUs
    assert 'id="bsx-small-cpus" name="small.cpus"\n               value="1" min="1" max="2"' in html


def test_choice_state_round_trip() -> None:
    choice = Choice(profile="small", partition="debug", cpus=2, memory_mb=4096, walltime="01:00:00")
    assert Choice.from_state(choice.to_state()) == choice
    assert Choice.from_state({}) is None
    assert choice.summary() == "small: partition debug, 2 CPUs, 4G, 01:00:00"


def test_form_shows_the_last_valid_choice_again() -> None:
    last = {"profile": "small", "cpus": "3", "memory": "4G", "walltime": "1.5", "partition": "interactive"}
    html = render_form(PROFILES, [], previous=last)
    assert 'name="small.cpus"\n               value="3"' in html
    assert 'name="small.memory"\n               value="4"' in html
    assert 'name="small.walltime"\n               value="1.5"' in html
    assert '<option value="interactive" selected>' in html
    # a choice no longer allowed (the site lowered a maximum) falls back to the defaults
    html = render_form(PROFILES, [], previous={**last, "cpus": "99"})
    assert 'name="small.cpus"\n               value="1"' in html
