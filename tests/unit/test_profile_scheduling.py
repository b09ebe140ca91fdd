"""A profile's own account, QOS, reservation, constraint, GPU type and directives: the
site's definitions, a user's choices (site-listed, per group, cluster-read), and the
directives each scheduler writes for them."""

from __future__ import annotations

from typing import Any

import pytest

from batchspawner_x.errors import ConfigError, OptionError
from batchspawner_x.jobspec import JobPlace, JobSettings, make_job_context
from batchspawner_x.profile_scheduling import ClusterLists, check_supported
from batchspawner_x.profiles import Choice, parse_profiles, resolve_choice
from batchspawner_x.schedulers.base import PartitionInfo, Scheduler
from batchspawner_x.schedulers.condor import CondorScheduler
from batchspawner_x.schedulers.lsf import LsfScheduler
from batchspawner_x.schedulers.moab import MoabScheduler
from batchspawner_x.schedulers.pbs import PBSProScheduler
from batchspawner_x.schedulers.sge import GridengineScheduler
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.script import render

from .test_jobspec import JOB_DIR, SGE_OPTIONS

PROFILES: list[dict[str, Any]] = [
    {
        "name": "class",
        "display_name": "Intro class",
        "partition": "debug",
        "account": "teaching",
        "reservation": "intro-class",
        "extra_directives": ["--exclusive"],
    },
    {
        "name": "gpu",
        "display_name": "GPU",
        "partition": "gpu",
        "gpus": 1,
        "gpu_type": "a100",
        "constraint": "ib",
        "environments": ["py311", "torch"],
        "fields": {
            "gpu_type": {"choices": "cluster"},
            "constraint": {"choices": "cluster", "optional": True},
            "account": {"choices": "cluster"},
            "qos": {"choices": ["normal"], "by_group": {"physics": ["physics-high"]}},
            "reservation": {"choices": "cluster", "optional": True},
        },
    },
]
PARTITIONS = {
    "gpu": PartitionInfo("gpu", gpus=4, features=("ib", "a100", "h100"), gpu_types=("a100", "h100")),
    "debug": PartitionInfo("debug", features=("avx2",)),
}
LISTS = ClusterLists(reservations=("physics-day",), associations={"physics": ("high", "normal"), "chem": ()})


def choose(
    options: dict[str, Any], groups: tuple[str, ...] = (), lists: ClusterLists | None = LISTS
) -> Choice:
    return resolve_choice(parse_profiles(PROFILES), groups, options, PARTITIONS, lists)


def test_a_profile_sets_its_own_scheduling() -> None:
    choice = choose({"profile": "class"})
    assert (choice.account, choice.reservation, choice.extra_directives) == (
        "teaching",
        "intro-class",
        ("--exclusive",),
    )
    assert choice.summary() == "class: partition debug, account teaching, reservation intro-class"
    assert Choice.from_state(choice.to_state()) == choice


def test_users_choose_among_site_group_and_cluster_lists() -> None:
    choice = choose(
        {
            "profile": "gpu",
            "gpu_type": "h100",
            "account": "physics",
            "qos": "physics-high",
            "reservation": "physics-day",
            "constraint": "",
            "environment": "torch",
        },
        groups=("physics",),
    )
    assert (choice.gpu_type, choice.account, choice.qos, choice.reservation, choice.constraint) == (
        "h100",
        "physics",
        "physics-high",
        "physics-day",
        None,
    )
    assert choice.environment == "torch"
    assert choose({"profile": "gpu"}).environment == "py311"  # the first is the default


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"gpu_type": "v100"}, "gpu_type", "'v100' is not one you can choose (a100, h100)"),
        ({"gpu_type": "a100:2"}, "gpu_type", "is not a name of letters"),
        ({"account": "teaching"}, "account", "is not one you can choose (physics, chem)"),
        ({"qos": "physics-high"}, "qos", "is not one you can choose (normal)"),  # not in group physics
        ({"reservation": "--reservation=x"}, "reservation", "is not a name"),
        ({"reservation": "intro-class"}, "reservation", "is not one you can choose (physics-day)"),
        ({"constraint": "ib&$(reboot)"}, "constraint", "is not a name"),
        ({"constraint": "ib\n#SBATCH --x"}, "constraint", "is not a name"),
        ({"gpu_type": ""}, "gpu_type", "must be chosen"),
        ({"gpu_type": ["a100"]}, "gpu_type", "is not a name"),
        ({"environment": "py311\nrm -rf ~"}, "environment", "is not one of py311, torch"),
    ],
)
def test_hostile_or_unoffered_values_name_the_field(
    options: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(OptionError) as info:
        choose({"profile": "gpu", **options})
    assert info.value.field == field
    assert message in str(info.value)


def test_a_setting_the_profile_does_not_offer_is_refused() -> None:
    for option in ("reservation", "account", "environment"):
        with pytest.raises(OptionError) as info:
            choose({"profile": "class", option: "x"})
        assert info.value.field == option


def test_cluster_lists_not_read_offer_only_the_sites() -> None:
    with pytest.raises(OptionError, match=r"is not one you can choose \(none\)"):
        choose({"profile": "gpu", "reservation": "physics-day"}, lists=None)
    # a cluster-read QOS is that of the chosen account
    profiles = parse_profiles(
        [{"name": "q", "fields": {"account": {"choices": "cluster"}, "qos": {"choices": "cluster"}}}]
    )
    got = resolve_choice(profiles, (), {"account": "physics", "qos": "high"}, None, LISTS)
    assert (got.account, got.qos) == ("physics", "high")
    with pytest.raises(OptionError, match="'high' is not one you can choose"):
        resolve_choice(profiles, (), {"account": "chem", "qos": "high"}, None, LISTS)


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"reservation": "a b"}, r"profiles\[p\].reservation: 'a b' is not a name"),
        ({"constraint": "ib;reboot"}, r"profiles\[p\].constraint: 'ib;reboot' is not a feature expression"),
        ({"extra_directives": "--exclusive"}, r"profiles\[p\].extra_directives: must be a list"),
        ({"extra_directives": ["--x\n#SBATCH --y"]}, "contains a line break"),
        ({"fields": {"qos": {"choices": []}}}, r"profiles\[p\].fields.qos: needs choices"),
        ({"fields": {"qos": {"choices": ["a"], "default": "a"}}}, r"unknown keys \['default'\]"),
        ({"fields": {"account": {"choices": "cluster", "optional": "yes"}}}, "must be true or false"),
        ({"environments": []}, r"profiles\[p\].environments: must be an environment's name"),
        ({"fields": {"environment": {"choices": ["a"]}}}, r"'environment' is not one of"),
    ],
)
def test_bad_site_scheduling_is_refused_with_its_place(profile: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_profiles([{"name": "p", **profile}])


def test_a_site_constraint_may_be_an_expression() -> None:
    (profile,) = parse_profiles([{"name": "p", "constraint": "[a100|h100]&ib"}])
    assert profile.scheduling.values == {"constraint": "[a100|h100]&ib"}


def test_a_scheduler_without_the_setting_refuses_the_profile() -> None:
    (profile,) = parse_profiles([{"name": "p", "fields": {"gpu_type": {"choices": ["a100"]}}}])
    with pytest.raises(ConfigError, match=r"profiles\[p\].gpu_type: Grid Engine has no gpu type"):
        check_supported(
            "profiles[p]", profile.scheduling, GridengineScheduler.scheduling_supported(), "Grid Engine"
        )
    check_supported("profiles[p]", profile.scheduling, SlurmScheduler.scheduling_supported(), "Slurm")


def directives(scheduler: Scheduler, choice: Choice, **settings: Any) -> list[str]:
    context = make_job_context(
        JobSettings(server_command=("jupyterhub-singleuser",), **settings),
        choice,
        JobPlace("alice", "", "jupyter-alice", JOB_DIR, "/home/alice", JOB_DIR + "/env.json"),
        scheduler,
    )
    script = render(scheduler.template, context, require_shebang=scheduler.script_is_shell)
    return [
        line for line in script.splitlines() if line.startswith(("#SBATCH", "#BSUB", "#$", "#MSUB", "#PBS"))
    ]


def test_slurm_writes_each_setting() -> None:
    choice = Choice(
        profile="gpu",
        gpus=2,
        gpu_type="a100",
        account="physics",
        qos="high",
        reservation="physics-day",
        constraint="[a100|h100]&ib",
        extra_directives=("--exclusive",),
    )
    lines = directives(SlurmScheduler(), choice, extra_directives=("--mail-type=NONE",))
    assert (
        lines[-7:]
        == [
            "#SBATCH --account=physics",
            "#SBATCH --qos=high",
            "#SBATCH --reservation=physics-day",
            "#SBATCH --constraint=[a100|h100]&ib",
            "#SBATCH --gres=gpu:a100:2",
            "#SBATCH --mail-type=NONE",
            "#SBATCH --exclusive",
        ][-7:]
    )
    # a GPU type without GPUs asks for nothing
    assert not [x for x in directives(SlurmScheduler(), Choice(profile="p", gpu_type="a100")) if "gpu" in x]


@pytest.mark.parametrize(
    ("scheduler", "options", "expected"),
    [
        (
            LsfScheduler(),
            {"memory_request": "both", "lsf_unit_for_limits": "MB"},
            ["#BSUB -P physics", "#BSUB -U class1"],
        ),
        (GridengineScheduler(), SGE_OPTIONS, ["#$ -P physics", "#$ -ar 17"]),
        (MoabScheduler(), {"memory_directive": "mem"}, ["#MSUB -A physics", "#MSUB -l advres=class1"]),
    ],
)
def test_other_schedulers_write_their_reservation(
    scheduler: Scheduler, options: dict[str, Any], expected: list[str]
) -> None:
    reservation = "17" if isinstance(scheduler, GridengineScheduler) else "class1"
    lines = directives(
        scheduler, Choice(profile="p", account="physics", reservation=reservation), scheduler_options=options
    )
    assert [x for x in lines if x in expected] == expected


@pytest.mark.parametrize(
    ("scheduler", "setting"),
    [
        (PBSProScheduler(), "reservation"),
        (CondorScheduler(), "constraint"),
        (LsfScheduler(), "gpu_type"),
        (GridengineScheduler(), "constraint"),
    ],
)
def test_a_setting_the_scheduler_lacks_is_refused_not_dropped(scheduler: Scheduler, setting: str) -> None:
    with pytest.raises(ConfigError, match=f"{setting}: {scheduler.display_name} has no"):
        directives(scheduler, Choice(profile="p", **{setting: "x"}))
