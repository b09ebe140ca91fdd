"""Grid Engine's queues for the spawn form, from ``qconf -sq '*'``.

``recorded/sge-qconf-sq-all.txt`` is what Son of Grid Engine 8.1.9 printed on the test
cluster (ci/cluster/sge-up.sh) for a user; the other outputs follow queue_conf(5): per-host
overrides, continued lines, times and memory in each of their forms.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from batchspawner_x.schedulers.base import CommandResult, PartitionInfo
from batchspawner_x.schedulers.sge import GridengineScheduler
from batchspawner_x.schedulers.sge_queues import parse_queue_configs
from batchspawner_x.states import StatusUnavailable

RECORDED = (Path(__file__).parent / "recorded" / "sge-qconf-sq-all.txt").read_text()

TWO_QUEUES = """\
qname                 short.q
hostlist              @allhosts
slots                 1,[node01=16],[@gpu=32]
h_rt                  3600,[node01=02:00:00]
h_vmem                16G,[node01=64G]
qname                 long.q
hostlist              node02 node03 \\
                      node04
slots                 8
h_rt                  7:0:0
h_vmem                8000m
"""


def test_the_recorded_queue_has_its_slots_and_no_limits() -> None:
    scheduler = GridengineScheduler()
    assert scheduler.partitions_argv() == ["qconf", "-sq", "*"]
    found = scheduler.parse_partitions(CommandResult(0, RECORDED))
    assert found == {"all.q": PartitionInfo(name="all.q", cpus=32)}


def test_every_queue_with_its_largest_values() -> None:
    found = parse_queue_configs(TWO_QUEUES)
    assert found["short.q"] == PartitionInfo(
        name="short.q", cpus=32, max_walltime_seconds=7200, memory_mb=65536
    )
    assert found["long.q"] == PartitionInfo(name="long.q", cpus=8, max_walltime_seconds=25200, memory_mb=7629)


def test_an_unlimited_override_makes_the_queue_unlimited() -> None:
    found = parse_queue_configs("qname q\nh_rt 01:00:00,[big=INFINITY]\nh_vmem 4G,[x=lots]\n")
    assert found["q"].max_walltime_seconds is None and found["q"].memory_mb is None


def test_a_failed_qconf_is_refused() -> None:
    with pytest.raises(StatusUnavailable):
        GridengineScheduler().parse_partitions(
            CommandResult(1, "", "denied: host is neither submit nor admin host")
        )


def test_a_site_can_name_its_own_qconf() -> None:
    assert (
        GridengineScheduler({"partitions": "/opt/sge/bin/qconf"}).partitions_argv()[0] == "/opt/sge/bin/qconf"
    )
