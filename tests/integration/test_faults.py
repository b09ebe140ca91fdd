"""Faults of the real cluster that must not cost anybody their server."""

from __future__ import annotations

import time
from collections.abc import Callable

from . import cluster
from .hub import Hub
from .test_slurm_e2e import assert_server_answers, job_id_of


def test_scheduler_outage_is_not_a_death(make_hub: Callable[..., Hub]) -> None:
    # squeue takes 18 s to give up on a dead controller; time it out sooner
    hub = make_hub("c.BatchSpawnerBase.status_timeout = 4\n")
    assert hub.spawn("alice").ready
    job_id = job_id_of(hub)
    cluster.stop_slurmctld()
    try:
        # poll_interval is 5 s and the status interval 2 s: several polls fail meanwhile
        Hub.wait_for(lambda: hub.log_text().count("keeping last known states") >= 2, 40, "two failed polls")
        model = hub.server_model("alice")
        assert model is not None and model["ready"], "a failed squeue must not stop the server"
        assert_server_answers(hub)
    finally:
        cluster.start_slurmctld()
    time.sleep(6)
    assert hub.server_model("alice") is not None
    assert job_id_of(hub) == job_id
    assert cluster.job_state(job_id) == "RUNNING"
    hub.stop("alice")
    assert cluster.alive_jobs("alice") == []


def test_job_dying_before_its_server_shows_why(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub('c.BatchSpawnerBase.prologue = "echo \\"module: python/9.9 not found\\" >&2\\nexit 7"\n')
    result = hub.spawn("alice")
    assert result.failed, result
    message = "\n".join(result.messages)
    assert "ended before its notebook server started" in message, message
    assert "exit code 7" in message, message
    assert "module: python/9.9 not found" in message, message
    assert cluster.alive_jobs("alice") == []
    # the user can start again (and this time it works)
    hub.terminate()
    fixed = Hub(hub.workdir, "")
    fixed.start()
    try:
        assert fixed.spawn("alice").ready
    finally:
        fixed.terminate()
