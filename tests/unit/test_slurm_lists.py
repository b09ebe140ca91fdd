"""Slurm's lists for profile fields: reservations a user may use, the user's accounts and
QOS, node features and GPU types, from output in the formats Slurm 22.05 prints
(scontrol(1), sacctmgr(1), sinfo(1)), and as the test cluster printed them (``recorded/``,
see ``recorded/README.md``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.condor import CondorScheduler
from batchspawner_x.schedulers.lsf import LsfScheduler
from batchspawner_x.schedulers.moab import MoabScheduler
from batchspawner_x.schedulers.pbs import PBSProScheduler, TorqueScheduler
from batchspawner_x.schedulers.sge import GridengineScheduler
from batchspawner_x.schedulers.slurm import (
    SINFO_FORMAT,
    SlurmScheduler,
    parse_sacctmgr_associations,
    parse_scontrol_reservations,
    parse_sinfo,
)
from batchspawner_x.states import StatusUnavailable

RECORDED = Path(__file__).parent / "recorded"

#: `scontrol --oneliner show reservation` with three reservations, as 22.05 prints them (a
#: reservation of cores on named nodes lists them after its flags, three spaces before).
RESERVATIONS = (
    "ReservationName=intro-class StartTime=2026-12-04T09:00:00 EndTime=2026-12-04T17:00:00 "
    "Duration=08:00:00 Nodes=node1 NodeCnt=1 CoreCnt=2 Features=(null) PartitionName=debug "
    "Flags=SPEC_NODES   NodeName=node1 CoreIDs=0-1 TRES=cpu=2 Users=alice,carol Groups=(null) "
    "Accounts=(null) "
    "Licenses=(null) State=ACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)\n"
    "ReservationName=physics_gpu StartTime=2026-12-05T09:00:00 EndTime=2026-12-06T09:00:00 "
    "Duration=1-00:00:00 Nodes=gpu[1-2] NodeCnt=2 CoreCnt=64 Features=(null) PartitionName=gpu "
    "Flags= TRES=cpu=64 Users=(null) Groups=(null) Accounts=physics Licenses=(null) "
    "State=INACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)\n"
    "ReservationName=all-but-dave StartTime=2026-12-04T00:00:00 EndTime=2026-12-31T00:00:00 "
    "Duration=27-00:00:00 Nodes=node2 NodeCnt=1 CoreCnt=2 Features=(null) PartitionName=(null) "
    "Flags=FLEX TRES=cpu=2 Users=-dave Groups=(null) Accounts=(null) Licenses=(null) "
    "State=ACTIVE BurstBuffer=(null) Watts=n/a MaxStartDelay=(null)\n"
)


def ok(stdout: str) -> CommandResult:
    return CommandResult(0, stdout)


@pytest.mark.parametrize(
    ("user", "accounts", "expected"),
    [
        ("alice", (), ("intro-class", "all-but-dave")),
        ("bob", (), ("all-but-dave",)),
        ("bob", ("physics",), ("physics_gpu", "all-but-dave")),
        ("dave", ("physics",), ("physics_gpu",)),
        ("erin", ("chemistry",), ("all-but-dave",)),
    ],
)
def test_reservations_a_user_may_use(user: str, accounts: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert SlurmScheduler().parse_reservations(ok(RESERVATIONS), user, accounts) == expected


@pytest.mark.parametrize(
    ("user", "accounts", "expected"),
    [
        (
            "ivan",
            ("physics", "chemistry"),
            ("bsx-rec-ivan", "bsx-rec-chem", "bsx-rec-notbob", "bsx-rec-noflags"),
        ),
        ("ivan", ("physics",), ("bsx-rec-ivan", "bsx-rec-notbob", "bsx-rec-noflags")),
        ("carol", ("physics",), ("bsx-rec-notbob", "bsx-rec-noflags")),
        ("bob", ("physics",), ()),
    ],
)
def test_reservations_as_the_test_cluster_printed_them(
    user: str, accounts: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    # Users=ivan with cores on a named node; Accounts=chemistry, not yet started; Users=-bob
    # (all but bob); Flags= empty, Users=ivan,carol. Both forms of the same listing.
    oneliner = (RECORDED / "slurm-show-reservation-oneliner.txt").read_text()
    assert SlurmScheduler().parse_reservations(ok(oneliner), user, accounts) == expected
    multi = (RECORDED / "slurm-show-reservation.txt").read_text()
    three = tuple(n for n in expected if n != "bsx-rec-noflags")  # recorded before it was made
    assert SlurmScheduler().parse_reservations(ok(multi), user, accounts) == three
    found = {r.name: r for r in parse_scontrol_reservations(oneliner)}
    assert (found["bsx-rec-chem"].state, found["bsx-rec-chem"].accounts) == ("INACTIVE", ("chemistry",))
    assert found["bsx-rec-noflags"].users == ("ivan", "carol")


def test_reservations_in_the_multi_line_form_and_none() -> None:
    multi = (
        "ReservationName=intro-class StartTime=2026-12-04T09:00:00 EndTime=2026-12-04T17:00:00\n"
        "   Nodes=node1 NodeCnt=1 CoreCnt=2 Features=(null) PartitionName=debug Flags=SPEC_NODES\n"
        "     NodeName=node1 CoreIDs=0-1\n"
        "   Users=alice Groups=(null) Accounts=(null) Licenses=(null) State=ACTIVE\n"
        "\n"
        "ReservationName=other StartTime=2026-12-04T09:00:00\n   Users=bob State=ACTIVE\n"
    )
    found = parse_scontrol_reservations(multi)
    assert [(r.name, r.users, r.state) for r in found] == [
        ("intro-class", ("alice",), "ACTIVE"),
        ("other", ("bob",), "ACTIVE"),
    ]
    assert parse_scontrol_reservations("No reservations in the system\n") == []


def test_a_reservation_with_a_hostile_name_is_never_offered() -> None:
    text = "ReservationName=$(reboot) Users=alice State=ACTIVE\nReservationName=a;b Users=alice\n"
    assert SlurmScheduler().parse_reservations(ok(text), "alice") == ()


def test_a_failed_reservation_listing_is_unavailable_not_empty() -> None:
    failed = CommandResult(1, "", "slurm_load_reservations error: Unable to contact slurm controller")
    with pytest.raises(StatusUnavailable, match="Unable to contact"):
        SlurmScheduler().parse_reservations(failed, "alice")


def test_reservation_and_association_commands() -> None:
    slurm = SlurmScheduler({"associations": "/opt/slurm/bin/sacctmgr"})
    assert slurm.reservations_argv() == ["scontrol", "--oneliner", "show", "reservation"]
    assert slurm.associations_argv("alice") == [
        "/opt/slurm/bin/sacctmgr",
        "--noheader",
        "--parsable2",
        "show",
        "associations",
        "user=alice",
        "format=account,qos",
    ]
    # not a default command: `check` does not ask every site for sacctmgr
    assert "associations" not in SlurmScheduler().commands


def test_associations_from_sacctmgr() -> None:
    # one line per association: the account again for a partition-specific one
    text = "physics|high,normal\nteaching|normal\nphysics|debug\n|\nbad name|normal\n"
    assert parse_sacctmgr_associations(text) == {
        "physics": ("high", "normal", "debug"),
        "teaching": ("normal",),
    }
    with pytest.raises(StatusUnavailable, match="accounting storage is disabled"):
        SlurmScheduler().parse_associations(
            CommandResult(1, "", "sacctmgr: error: Slurm accounting storage is disabled")
        )


def test_associations_as_the_test_cluster_printed_them() -> None:
    # slurmdbd lists an association's QOS sorted by name, joined by commas
    text = (RECORDED / "slurm-sacctmgr-associations-ivan.txt").read_text()
    assert text == "chemistry|high,normal\nphysics|normal\n"
    assert parse_sacctmgr_associations(text) == {"chemistry": ("high", "normal"), "physics": ("normal",)}
    # a user without associations: nothing, exit 0
    assert SlurmScheduler().parse_associations(ok("")) == {}


def test_features_and_gpu_types_come_with_the_partitions() -> None:
    assert SINFO_FORMAT.endswith("|%f")
    text = (
        "gpu|2-00:00:00|32|192000|gpu:a100:4(S:0-1)|up|a100,ib\n"
        "gpu|2-00:00:00|64|512000|gpu:h100:8(S:0-1),gpu:a100:1|up|h100,ib\n"
        "debug*|1:00:00|4|8000|(null)|up|(null)\n"
        "odd|1:00:00|4|8000|gpu:x y:1|up|ok,$(x)\n"
    )
    found = parse_sinfo(text)
    assert (found["gpu"].features, found["gpu"].gpu_types) == (("a100", "ib", "h100"), ("a100", "h100"))
    assert (found["debug"].features, found["debug"].gpu_types) == ((), ())
    assert (found["odd"].features, found["odd"].gpu_types) == (("ok",), ())  # never a hostile name
    # the six-column output of the earlier format still reads
    assert parse_sinfo("debug|1:00:00|4|8000|(null)|up")["debug"].cpus == 4


@pytest.mark.parametrize(
    ("scheduler", "expected"),
    [
        (SlurmScheduler, ("account", "qos", "reservation", "constraint", "gpu_type")),
        (PBSProScheduler, ("account",)),
        (TorqueScheduler, ("account",)),
        (MoabScheduler, ("account", "reservation")),
        (GridengineScheduler, ("account", "reservation")),
        (LsfScheduler, ("account", "reservation")),
        (CondorScheduler, ("account",)),
    ],
)
def test_each_scheduler_declares_what_a_profile_may_set(scheduler: type, expected: tuple[str, ...]) -> None:
    assert scheduler.scheduling_supported() == expected


def test_schedulers_without_lists_say_so() -> None:
    for scheduler in (PBSProScheduler(), GridengineScheduler(), LsfScheduler(), CondorScheduler()):
        assert scheduler.reservations_argv() is None
        assert scheduler.associations_argv("alice") is None
