"""Several clusters in one configuration: their checks, the choice of one per start,
the job each one makes, the state that keeps it, and the grouped form."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from tornado import web
from traitlets.config import Config

from batchspawner_x import GridengineSpawner, SlurmSpawner
from batchspawner_x.clusters import parse_clusters, requested_cluster
from batchspawner_x.errors import ConfigError, OptionError
from batchspawner_x.profile_form import options_from_form, render_form
from batchspawner_x.profiles import parse_profiles
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.sge import GridengineScheduler
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.settings import InvalidSetting

from .fakes import FakeTransport, new_spawner

CLUSTERS: dict[str, Any] = {
    "flagship": {
        "display_name": "Flagship (Slurm)",
        "scheduler": "slurm",
        "login_hosts": ["login1.example.edu", "login2.example.edu:2200"],
        "partition": "batch",
        "extra_directives": ["--constraint=intel"],
        "hub_connect_url": "https://hub.example.edu",
    },
    "legacy": {
        "display_name": "Legacy (Grid Engine)",
        "description": "The old cluster, for the chemistry group",
        "scheduler": "gridengine",
        "ssh_host": "sge-login.example.edu",
        "partition": "all.q",
        "parallel_environment": "mpi",
        "groups": ["chemistry"],
    },
}
PROFILES: list[dict[str, Any]] = [
    {"name": "small", "display_name": "Small (flagship)", "cpus": 1, "memory": "2G", "walltime": "02:00:00"},
    {
        "name": "sge-small",
        "display_name": "Small (legacy)",
        "cluster": "legacy",
        "cpus": 2,
        "memory": "4G",
        "walltime": "01:00:00",
        "fields": {"cpus": {"max": 8}},
    },
]
SINFO = "batch|1:00:00|4|8000|(null)|up\n"


def site(**extra: Any) -> Config:
    config = Config()
    config.BatchSpawnerBase.clusters = CLUSTERS
    config.BatchSpawnerBase.profiles = PROFILES
    config.BatchSpawnerBase.ssh_host = "default-login.example.edu"
    for key, value in extra.items():
        setattr(config.BatchSpawnerBase, key, value)
    return config


def answer(argv: list[str]) -> CommandResult:
    if argv[0] == "sinfo":
        return CommandResult(0, SINFO)
    return CommandResult(0)


def make(groups: tuple[str, ...] = ("chemistry",), **extra: Any) -> tuple[SlurmSpawner, FakeTransport]:
    """Heidi's SlurmSpawner on a hub with the two clusters above; every cluster's commands
    go to one fake login node."""
    spawner: SlurmSpawner = new_spawner(SlurmSpawner, "heidi", groups=groups, config=site(**extra))
    transport = FakeTransport(answer, home="/home/heidi")
    for each in (spawner, *(spawner.cluster_prototype(name) for name in CLUSTERS)):
        each._make_transport = lambda username, keys: transport  # type: ignore[attr-defined]
    return spawner, transport


# -- the configuration ------------------------------------------------------------------
def test_clusters_are_parsed_in_order_with_their_own_keys_apart() -> None:
    specs = parse_clusters(CLUSTERS)
    assert [s.name for s in specs] == ["flagship", "legacy"]
    legacy = specs[1]
    assert legacy.scheduler == "sge"  # "gridengine" is the backend "sge"
    assert legacy.groups == frozenset({"chemistry"})
    assert "scheduler" not in legacy.settings and "groups" not in legacy.settings
    assert legacy.settings["parallel_environment"] == "mpi"
    assert legacy.allowed_for(["chemistry"]) and not legacy.allowed_for(["physics"])


@pytest.mark.parametrize(
    ("clusters", "field", "words"),
    [
        ({"Big Iron": {}}, "clusters", "a-z"),
        ({"a": {"scheduler": "loadleveler"}}, "clusters[a].scheduler", "not one of"),
        ({"a": {"profiles": []}}, "clusters[a].profiles", "'cluster' key"),
        ({"a": {"clusters": {}}}, "clusters[a].clusters", "do not nest"),
        ({"a": {"groups": "physics"}}, "clusters[a].groups", "list"),
        ({"a": "slurm"}, "clusters[a]", "must be a dict"),
    ],
)
def test_a_malformed_cluster_is_refused_by_name(clusters: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_clusters(clusters)
    assert caught.value.field == field and words in caught.value.message


def test_a_cluster_setting_the_scheduler_does_not_have_is_refused_with_a_suggestion() -> None:
    config = site()
    config.BatchSpawnerBase.clusters = {"legacy": {"scheduler": "gridengine", "paralel_environment": "mpi"}}
    with pytest.raises(InvalidSetting) as caught:
        new_spawner(SlurmSpawner, "heidi", config=config)
    message = str(caught.value)
    assert "clusters[legacy].paralel_environment" in message and "'parallel_environment'" in message


def test_a_bad_value_in_a_cluster_is_refused_with_the_clusters_name() -> None:
    config = site()
    config.BatchSpawnerBase.clusters = {"a": {"ssh_port": 0}}
    with pytest.raises(InvalidSetting) as caught:
        new_spawner(SlurmSpawner, "heidi", config=config)
    assert "clusters[a]" in str(caught.value) and "ssh_port" in str(caught.value)


def test_a_profile_naming_an_unknown_cluster_is_refused() -> None:
    spawner, _ = make()
    spawner.profiles = [*PROFILES, {"name": "x", "cluster": "nowhere"}]
    with pytest.raises(ConfigError) as caught:
        spawner._profiles()
    assert caught.value.field == "profiles[x].cluster" and "flagship, legacy" in caught.value.message


def test_the_request_names_the_cluster_or_its_profile_does() -> None:
    specs, profiles = parse_clusters(CLUSTERS), parse_profiles(PROFILES)
    assert requested_cluster(specs, profiles, ["chemistry"], {}).name == "flagship"
    assert requested_cluster(specs, profiles, ["chemistry"], {"profile": "sge-small"}).name == "legacy"
    assert requested_cluster(specs, profiles, ["chemistry"], {"cluster": "legacy"}).name == "legacy"
    with pytest.raises(OptionError) as caught:
        requested_cluster(specs, profiles, ["physics"], {"cluster": "legacy"})
    assert caught.value.field == "cluster" and "(flagship)" in caught.value.message


# -- a start on each cluster --------------------------------------------------------------
async def test_each_cluster_makes_its_own_job() -> None:
    spawner, _ = make()
    await spawner._run_apply_user_options({"profile": "sge-small", "cpus": "4"})
    assert spawner.cluster_name == "legacy"
    assert spawner.scheduler_class is GridengineScheduler
    assert spawner.cluster.config.scheduler_class is GridengineScheduler
    script = await spawner.render_script(home="/home/heidi")
    assert "#$ -pe mpi 4" in script and "#$ -q all.q" in script
    assert "#SBATCH" not in script

    await spawner._run_apply_user_options({"cluster": "flagship"})
    assert spawner.cluster_name == "flagship" and spawner.scheduler_class is SlurmScheduler
    script = await spawner.render_script(home="/home/heidi")
    assert "#SBATCH --partition=batch" in script and "#SBATCH --constraint=intel" in script
    assert "#$" not in script
    # the legacy cluster's settings went with it
    assert spawner.ssh_host == "default-login.example.edu" and spawner.partition == "batch"
    assert [(t.host, t.port) for t in spawner.cluster.config.login] == [
        ("login1.example.edu", 22),
        ("login2.example.edu", 2200),
    ]
    assert not spawner.has_trait("parallel_environment")  # Grid Engine's, read from the cluster
    assert spawner.hub_connect_url == "https://hub.example.edu"


async def test_each_cluster_is_reached_its_own_way_and_shared_by_its_spawners() -> None:
    first, _ = make()
    second, _ = make()
    await first._run_apply_user_options({"cluster": "legacy"})
    await second._run_apply_user_options({"profile": "sge-small"})
    assert first.cluster is second.cluster
    assert [t.host for t in first.cluster.config.login] == ["sge-login.example.edu"]
    await second._run_apply_user_options({})
    assert second.cluster is not first.cluster
    assert second.cluster.config.scheduler_class is SlurmScheduler


async def test_a_cluster_the_user_may_not_use_is_a_400_naming_it() -> None:
    spawner, _ = make(groups=())
    with pytest.raises(web.HTTPError) as caught:
        await spawner._run_apply_user_options({"cluster": "legacy"})
    assert caught.value.status_code == 400 and "cluster" in str(caught.value)
    with pytest.raises(web.HTTPError):
        await spawner._run_apply_user_options({"profile": "sge-small"})
    assert spawner.cluster_name == ""  # nothing was chosen


async def test_a_profile_of_another_cluster_is_a_400() -> None:
    spawner, _ = make()
    with pytest.raises(web.HTTPError) as caught:
        await spawner._run_apply_user_options({"cluster": "flagship", "profile": "sge-small"})
    assert caught.value.status_code == 400 and "sge-small" in str(caught.value)


async def test_clusters_without_profiles_take_only_a_cluster() -> None:
    spawner, _ = make(profiles=[])
    await spawner._run_apply_user_options({"cluster": "legacy"})
    assert spawner.cluster_name == "legacy"
    with pytest.raises(web.HTTPError) as caught:
        await spawner._run_apply_user_options({"cluster": "legacy", "partition": "x"})
    assert "partition" in str(caught.value)


# -- the state ------------------------------------------------------------------------------
async def test_the_state_keeps_the_cluster_across_a_hub_restart() -> None:
    spawner, _ = make()
    await spawner._run_apply_user_options({"profile": "sge-small"})
    spawner.job_id = "77"
    state = spawner.get_state()
    assert state["cluster"] == "legacy" and state["scheduler"] == "sge"

    restarted, _ = make()
    restarted.load_state(state)
    assert restarted.cluster_name == "legacy"
    assert restarted.scheduler_class is GridengineScheduler
    assert restarted.cluster is spawner.cluster


def test_a_job_saved_before_the_site_had_clusters_is_on_the_first() -> None:
    spawner, _ = make()
    spawner.load_state({"job_id": "5", "job_dir": "/home/heidi/x", "scheduler": "slurm"})
    assert spawner.cluster_name == "flagship"


async def test_a_job_on_a_cluster_that_left_the_configuration_is_dropped_with_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spawner, transport = make()
    with caplog.at_level(logging.ERROR):
        spawner.load_state({"job_id": "5", "job_dir": "/home/heidi/x", "cluster": "retired"})
    assert "'retired'" in caplog.text and "by hand" in caplog.text
    assert await spawner.poll() == 1
    await spawner.stop()
    assert transport.commands == []  # nothing was sent to another cluster


# -- the form -------------------------------------------------------------------------------------
async def test_the_form_groups_profiles_under_a_cluster_menu() -> None:
    spawner, transport = make()
    html = await spawner.get_options_form()
    assert '<select class="form-select" id="bsx-cluster" name="cluster">' in html
    assert 'data-cluster="flagship"' in html and 'data-cluster="legacy"' in html
    assert (
        html.index('data-cluster="flagship"')
        < html.index("Small (flagship)")
        < html.index('data-cluster="legacy"')
        < html.index("Small (legacy)")
    )
    assert "for the chemistry group" in html

    # each cluster's partitions, from its own scheduler: sinfo for Slurm, qconf for Grid Engine
    assert sorted(c[0] for c in transport.commands) == ["qconf", "sinfo"]

    outsider, _ = make(groups=())
    html = await outsider.get_options_form()
    assert "Legacy" not in html and "Small (legacy)" not in html


def test_the_form_selects_the_last_cluster_and_profile() -> None:
    specs, profiles = parse_clusters(CLUSTERS), parse_profiles(PROFILES)
    html = render_form(profiles, ["chemistry"], {"profile": "sge-small", "cpus": "6"}, clusters=specs)
    assert '<option value="legacy" selected>' in html
    assert 'value="sge-small" checked' in html and 'value="6"' in html


def test_the_forms_cluster_reaches_user_options() -> None:
    form = {"cluster": ["legacy"], "profile": ["sge-small"], "sge-small.cpus": ["3"], "small.cpus": ["1"]}
    assert options_from_form(form) == {"cluster": "legacy", "profile": "sge-small", "cpus": "3"}


def test_a_spawner_of_the_clusters_own_scheduler_keeps_its_class() -> None:
    config = site()
    spawner: GridengineSpawner = new_spawner(GridengineSpawner, "heidi", groups=("chemistry",), config=config)
    spawner.use_cluster("legacy")
    assert spawner.scheduler_class is GridengineScheduler and "scheduler_class" not in spawner.__dict__
    assert (
        spawner.parallel_environment == "mpi" and spawner.scheduler_setting("parallel_environment") == "mpi"
    )


def test_a_spawner_holds_its_cluster_until_a_setting_that_names_it_changes() -> None:
    spawner, _ = make()
    held = spawner.cluster
    assert spawner._cluster is held and spawner.cluster is held
    spawner.partition = "other"  # a job setting: the same cluster
    assert spawner._cluster is held
    spawner.ssh_host = "elsewhere.example.edu"  # another login: another cluster
    assert spawner._cluster is None
    assert spawner.cluster is not held and spawner.cluster.config.login[0].host == "elsewhere.example.edu"


async def test_a_user_without_a_cluster_is_told_so_on_the_form() -> None:
    spawner, _ = make(groups=())
    spawner.clusters = {"legacy": CLUSTERS["legacy"]}
    spawner.profiles = []
    html = await spawner.get_options_form()
    assert html == "<p>No cluster is available to you; ask the site's administrators.</p>"


async def test_a_cluster_without_profiles_runs_with_its_own_settings() -> None:
    spawner, _ = make(profiles=[PROFILES[0]])  # only the flagship has a profile
    await spawner._run_apply_user_options({"cluster": "legacy"})
    assert spawner.cluster_name == "legacy" and spawner.resource_choice().profile == ""
    script = await spawner.render_script(home="/home/heidi")
    assert "#$ -q all.q" in script
    with pytest.raises(web.HTTPError) as caught:
        await spawner._run_apply_user_options({"cluster": "legacy", "profile": "small"})
    assert "profile" in str(caught.value)


def test_a_profile_naming_an_unknown_cluster_stops_the_spawner_being_built() -> None:
    config = site()
    config.BatchSpawnerBase.profiles = [*PROFILES, {"name": "x", "cluster": "nowhere"}]
    with pytest.raises(InvalidSetting) as caught:
        new_spawner(SlurmSpawner, "heidi", config=config)
    assert "profiles[x].cluster: 'nowhere' is not a cluster (flagship, legacy)" in str(caught.value)
