"""Extending a job's time limit: the offer, the plan, Slurm's command and refusals (recorded
on the test cluster), and the spawner's steps over a scripted login node (no cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batchspawner_x import spawners
from batchspawner_x.errors import ConfigError, ExtendRefused
from batchspawner_x.extension import make_offer, plan_extension
from batchspawner_x.job_info import ExtendOffer
from batchspawner_x.profiles import parse_profiles
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.transport import SSHTransport

from .fakes import FakeTransport, make_spawner, new_spawner

RECORDED = Path(__file__).parent / "recorded"
#: squeue's line of job 5673 (the spawner's SQUEUE_FORMAT), with a time limit of LIMIT.
LINE = "5673|RUNNING|localhost|None|2026-12-04T16:28:24|{limit}|2026-12-04T16:38:24"
PROFILES = [
    {"name": "short", "walltime": "00:10:00", "max_walltime": "00:15:00"},
    {"name": "open", "walltime": "00:10:00"},
]


def recorded(name: str) -> str:
    return (RECORDED / name).read_text(encoding="utf-8")


# -- the offer and the plan ------------------------------------------------------------
def test_one_step_up_to_the_cap_then_the_cap_is_reached() -> None:
    offer = make_offer(supported=None, operator="op", step=300, cap=900, current=600)
    assert offer == ExtendOffer(True, 300, 900, None)
    assert plan_extension(offer, 600) == 900
    assert plan_extension(ExtendOffer(True, 3600, 14400), 12600) == 14400, "the last step is shorter"
    with pytest.raises(ExtendRefused, match="Cap reached: this session may run at most 15 min") as e:
        plan_extension(offer, 900)
    assert e.value.reason == "cap"
    full = make_offer(supported=None, operator="op", step=300, cap=900, current=900)
    assert not full.available and full.reason is not None and "at most 15 min" in full.reason


def test_extending_is_off_without_an_operator_a_step_or_a_cap_and_says_so() -> None:
    reasons = [
        make_offer(supported=None, operator="", step=3600, cap=14400).reason,
        make_offer(supported=None, operator="op", step=None, cap=14400).reason,
        make_offer(supported=None, operator="op", step=3600, cap=None).reason,
        make_offer(supported="not on PBS", operator="op", step=3600, cap=14400).reason,
    ]
    assert "walltime_operator_username" in str(reasons[0])
    assert "walltime_extension_step" in str(reasons[1])
    assert "max_walltime" in str(reasons[2])
    assert reasons[3] == "not on PBS"
    with pytest.raises(ExtendRefused, match="walltime_operator_username") as e:
        plan_extension(make_offer(supported=None, operator="", step=3600, cap=14400), 3600)
    assert e.value.reason == "unavailable"


def test_the_offer_is_part_of_the_job_information() -> None:
    assert ExtendOffer(True, 300, 900).to_json() == {
        "available": True,
        "step_seconds": 300,
        "max_seconds": 900,
        "reason": None,
    }


# -- the scheduler backends ---------------------------------------------------------------
def test_slurm_sets_the_new_limit_with_scontrol_update_in_whole_minutes() -> None:
    slurm = SlurmScheduler()
    assert slurm.extend_unavailable() is None
    assert slurm.extend_argv("5673", 900) == ["scontrol", "update", "JobId=5673", "TimeLimit=00:15:00"]
    assert slurm.extend_argv("5673", 93630)[-1] == "TimeLimit=1-02:00:00", "seconds are dropped"
    assert (
        SlurmScheduler({"info": "/opt/slurm/bin/scontrol"}).extend_argv("7", 60)[0]
        == "/opt/slurm/bin/scontrol"
    )
    assert slurm.extend_failed(CommandResult(0)) is None


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("slurm-scontrol-update-owner-running.txt", "may not change this job's time limit"),
        ("slurm-scontrol-update-finished.txt", "the job has already ended"),
    ],
)
def test_slurms_refusals_in_words_with_its_own(name: str, words: str) -> None:
    stderr = recorded(name)
    message = SlurmScheduler().extend_failed(CommandResult(1, "", stderr))
    assert message is not None and message.startswith("Slurm refused: ")
    assert words in message and stderr.strip() in message, "Slurm's own words are kept"


def test_an_unknown_refusal_is_shown_as_slurm_said_it() -> None:
    message = SlurmScheduler().extend_failed(CommandResult(1, "", "scontrol: error: Something new\n"))
    assert message == "Slurm refused: Something new"


@pytest.mark.parametrize(
    "cls",
    [
        spawners.PBSSpawner,
        spawners.TorqueSpawner,
        spawners.MoabSpawner,
        spawners.GridengineSpawner,
        spawners.LsfSpawner,
        spawners.CondorSpawner,
    ],
)
def test_other_schedulers_say_extending_is_not_available(cls: Any) -> None:
    scheduler = cls.scheduler_class()
    assert scheduler.extend_argv("1", 3600) is None
    reason = scheduler.extend_unavailable()
    assert reason is not None and scheduler.display_name in reason and "not available" in reason


# -- profiles and settings ----------------------------------------------------------------------
def test_a_profile_caps_its_own_walltime() -> None:
    short, other = parse_profiles(PROFILES)
    assert (short.max_walltime, other.max_walltime) == (900, None)
    with pytest.raises(ConfigError, match=r"profiles\[x\]\.max_walltime.*below the profile's own walltime"):
        parse_profiles([{"name": "x", "walltime": "02:00:00", "max_walltime": "01:00:00"}])
    with pytest.raises(ConfigError, match=r"profiles\[y\]\.max_walltime"):
        parse_profiles([{"name": "y", "max_walltime": "soon"}])


def test_step_and_cap_settings_are_walltimes() -> None:
    with pytest.raises(Exception, match="walltime_extension_step"):
        new_spawner(walltime_extension_step="an hour")
    with pytest.raises(Exception, match="max_walltime"):
        new_spawner(max_walltime="1 day")


def test_the_operator_has_its_own_pooled_connection_with_its_own_keys() -> None:
    s = new_spawner(name="alice", walltime_operator_username="slurmop", ssh_keys=["/k/{username}"])
    op = s.operator_transport()
    assert isinstance(op, SSHTransport) and (op.target.username, op.target.keys) == (
        "slurmop",
        ("/k/slurmop",),
    )
    s.walltime_operator_keys = ["/etc/jupyterhub/operator_key"]
    op = s.operator_transport()
    assert isinstance(op, SSHTransport) and op.target.keys == ("/etc/jupyterhub/operator_key",)
    bad = new_spawner(name="alice", walltime_operator_username="op; rm -rf /")
    with pytest.raises(Exception, match="walltime_operator_username"):
        bad.operator_transport()


# -- the spawner's steps --------------------------------------------------------------------
class Slurm:
    """A login node whose job 5673 runs with a limit that ``scontrol update`` (as the
    operator) raises, and that refuses as ``refusal`` says."""

    def __init__(self, limit: str = "10:00", refusal: str = "") -> None:
        self.limit = limit
        self.refusal = refusal

    def answer(self, argv: list[str]) -> CommandResult:
        if argv[0] == "squeue":
            return CommandResult(0, LINE.format(limit=self.limit) + "\n")
        if argv[:2] == ["scontrol", "update"]:
            if self.refusal:
                return CommandResult(1, "", self.refusal)
            self.limit = argv[3].removeprefix("TimeLimit=").removeprefix("00:")
        return CommandResult(0)


def spawner_on(
    slurm: Slurm, profile: str = "short", **traits: Any
) -> tuple[Any, FakeTransport, FakeTransport]:
    settings: dict[str, Any] = dict(
        profiles=PROFILES, walltime_operator_username="slurmop", walltime_extension_step="00:05:00"
    )
    settings.update(traits)
    spawner, user = make_spawner(slurm.answer, name="ivan", **settings)
    operator = FakeTransport(slurm.answer, key=("operator",))
    spawner._make_transport = lambda username, keys: operator
    spawner.load_state(
        {"job_id": "5673", "token_sha256": "ab", "resources": {"profile": profile, "walltime": "00:10:00"}}
    )
    return spawner, user, operator


async def test_extend_once_then_the_cap_refuses_and_nothing_runs() -> None:
    slurm = Slurm()
    spawner, user, operator = spawner_on(slurm)
    assert await spawner.poll() is None
    before = spawner.job_info()
    assert before.extend == ExtendOffer(True, 300, 900, None)
    info = await spawner.extend_walltime()
    assert operator.commands == [["scontrol", "update", "JobId=5673", "TimeLimit=00:15:00"]]
    assert not user.commands_of("scontrol"), "the user's own account never runs it"
    assert info.time_limit_seconds == 900, "the status was read again"
    assert info.to_json()["extend"]["available"] is False
    assert "Cap reached" in info.to_json()["extend"]["reason"]
    with pytest.raises(ExtendRefused, match="Cap reached: this session may run at most 15 min") as e:
        await spawner.extend_walltime()
    assert e.value.reason == "cap"
    assert len(operator.commands) == 1, "a refused extension runs nothing"


async def test_the_sites_cap_counts_where_the_profile_sets_none() -> None:
    spawner, _, operator = spawner_on(Slurm(), profile="open", max_walltime="00:12:00")
    info = await spawner.extend_walltime()
    assert operator.commands[-1][-1] == "TimeLimit=00:12:00" and info.time_limit_seconds == 720
    without, _, _ = spawner_on(Slurm(), profile="open")
    with pytest.raises(ExtendRefused, match="max_walltime") as e:
        await without.extend_walltime()
    assert e.value.reason == "unavailable"


async def test_slurms_refusal_reaches_the_user_in_its_own_words() -> None:
    owner_refusal = recorded("slurm-scontrol-update-owner-running.txt")
    spawner, _, _ = spawner_on(Slurm(refusal=owner_refusal))
    with pytest.raises(ExtendRefused) as e:
        await spawner.extend_walltime()
    assert e.value.reason == "scheduler" and owner_refusal.strip() in str(e.value)
    assert e.value.scheduler_message == owner_refusal.strip()
    assert spawner.job_info().time_limit_seconds == 600, "the limit is as it was"


async def test_without_an_operator_nothing_is_offered_and_nothing_runs() -> None:
    spawner, _, operator = spawner_on(Slurm(), walltime_operator_username="")
    assert await spawner.poll() is None
    offer = spawner.job_info().to_json()["extend"]
    assert offer["available"] is False and "not enabled" in offer["reason"]
    with pytest.raises(ExtendRefused, match="walltime_operator_username") as e:
        await spawner.extend_walltime()
    assert e.value.reason == "unavailable" and not operator.commands
