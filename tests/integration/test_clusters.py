"""Two clusters behind one hub: the local Slurm cluster and the local Grid Engine cluster
(ci/cluster/up.sh and sge-up.sh), each with its own login node, scheduler and settings.

One user (erin, the Grid Engine tests' user, who also exists on the Slurm cluster) runs a
named server on each at once, through a real JupyterHub and proxy.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from . import cluster
from .hub import Hub
from .test_gridengine import USER, alive_jobs, job_details, qcmd

#: The clusters, not the hub, are under test here: run against the newest hub only.
pytestmark = pytest.mark.newest_hub_only


def two_cluster_config(sge_facts: dict[str, str]) -> str:
    clusters = {
        "flagship": {
            "display_name": "Flagship (Slurm)",
            "scheduler": "slurm",
            "extra_directives": ["--comment=from-the-flagship-entry"],
        },
        "legacy": {
            "display_name": "Legacy (Grid Engine)",
            "scheduler": "gridengine",
            "ssh_port": int(sge_facts["BSX_SGE_SSH_PORT"]),
            "ssh_known_hosts": sge_facts["BSX_SGE_KNOWN_HOSTS"],
            "partition": sge_facts["BSX_SGE_QUEUE"],
            "account": sge_facts["BSX_SGE_PROJECT"],
            "parallel_environment": sge_facts["BSX_SGE_PE"],
            "walltime": "00:30:00",
        },
    }
    profiles = [
        {"name": "slurm-small", "display_name": "Small", "cluster": "flagship", "cpus": 1, "memory": "512M"},
        {"name": "sge-pair", "display_name": "Two slots", "cluster": "legacy", "cpus": 2, "memory": "1G"},
    ]
    return (
        "c.JupyterHub.allow_named_servers = True\n"
        f"c.BatchSpawnerBase.clusters = {clusters!r}\n"
        f"c.BatchSpawnerBase.profiles = {profiles!r}\n"
    )


def test_one_user_runs_a_server_on_each_cluster(sge: dict[str, str], make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(two_cluster_config(sge))
    try:
        on_slurm = hub.spawn(USER, "a", options={"profile": "slurm-small"})
        on_sge = hub.spawn(USER, "b", options={"cluster": "legacy"})
        assert on_slurm.ready, (on_slurm, hub.log_tail(60))
        assert on_sge.ready, (on_sge, hub.log_tail(60))
        for server in ("a", "b"):
            r = hub.get_through_proxy(f"/user/{USER}/{server}/api/status")
            assert r.status_code == 200, (server, r.status_code, r.text[:300])

        slurm_state, sge_state = hub.state(USER, "a"), hub.state(USER, "b")
        assert (slurm_state["cluster"], slurm_state["scheduler"]) == ("flagship", "slurm")
        assert (sge_state["cluster"], sge_state["scheduler"]) == ("legacy", "sge")
        slurm_job, sge_job = str(slurm_state["job_id"]), str(sge_state["job_id"])

        # each job's directives come from its own cluster's template and settings
        info = cluster.job_info(slurm_job)
        assert info["Comment"] == "from-the-flagship-entry", info
        assert info["Partition"] == "debug" and info["UserId"].startswith(USER), info
        details = job_details(sge, sge_job)
        assert details["hard_queue_list"] == sge["BSX_SGE_QUEUE"], details
        assert details["project"] == sge["BSX_SGE_PROJECT"], details
        assert details["parallel environment"] == f"{sge['BSX_SGE_PE']} range: 2", details
        assert "h_rt=1800" in details["hard resource_list"], details

        # stop cancels the right job on the right cluster, and leaves the other running
        hub.stop(USER, "b")
        Hub.wait_for(lambda: sge_job not in alive_jobs(sge), 60, f"Grid Engine job {sge_job} to end")
        assert cluster.job_state(slurm_job) == "RUNNING"
        assert hub.get_through_proxy(f"/user/{USER}/a/api/status").status_code == 200
        hub.stop(USER, "a")
        Hub.wait_for(lambda: slurm_job not in cluster.alive_jobs(USER), 60, f"Slurm job {slurm_job} to end")
    finally:
        qcmd(sge, "qdel", "-u", USER)


def test_a_cluster_the_users_groups_may_not_use_is_refused(
    sge: dict[str, str], make_hub: Callable[..., Hub]
) -> None:
    config = two_cluster_config(sge).replace(
        "'walltime': '00:30:00'", "'walltime': '00:30:00', 'groups': ['chem']"
    )
    hub = make_hub(config)
    refused = hub.spawn(USER, "b", options={"cluster": "legacy"})
    assert refused.failed
    assert "Invalid choice for cluster: 'legacy' is not a cluster you can use (flagship)" in "\n".join(
        refused.messages
    )
    assert alive_jobs(sge) == {}
