"""Our spawner as a child of wrapspawner's ProfilesSpawner, in a real hub, as sites run it.

The predecessor's sites offer choices through wrapspawner: each profile names a spawner class
and a dict of its settings, often in the predecessor's own names (``req_nprocs``,
``req_runtime``). A child of ours must start a real Slurm job with those resources and stop
it, and a child whose settings the hub refuses must fail its spawn with a message that names
the setting, with no traceback in the hub's log.

Only the user dave is used here.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from . import cluster
from .hub import Hub
from .test_profiles import spawn_body
from .test_slurm_e2e import assert_server_answers, wait_gone

pytestmark = pytest.mark.newest_hub_only

USER = "dave"

#: The wrapper's profiles, in the predecessor's setting names; the second cannot be translated.
WRAPPER = """
c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"
c.ProfilesSpawner.profiles = [
    ("Slurm, 2 cores, 30 min", "small", "batchspawner_x.SlurmSpawner",
     {"req_nprocs": "2", "req_runtime": "00:30:00"}),
    ("Through a jump host", "jumped", "batchspawner_x.SlurmSpawner",
     {"exec_prefix": "ssh -J jump.example.org -l {username} {host}", "req_host": "login1.example.org"}),
]
"""


def child_job_id(hub: Hub) -> str:
    state = hub.state(USER)
    job_id = (state.get("child_state") or {}).get("job_id")
    assert job_id, f"no job id in the child's state: {state}"
    return str(job_id)


def test_a_child_of_ours_runs_and_stops_a_real_job(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(WRAPPER)
    hub.create_user(USER)
    hub._spawned.add(USER)
    r = hub.request("POST", f"/users/{USER}/server", json=spawn_body(hub, {"profile": "small"}))
    assert r.status_code in (201, 202), r.text
    Hub.wait_for(lambda: (hub.server_model(USER) or {}).get("ready") is True, 150, f"{USER} ready")
    assert_server_answers(hub, USER)

    job_id = child_job_id(hub)
    job = cluster.job_info(job_id)
    assert job["UserId"].startswith(USER + "(")
    assert job["NumCPUs"] == "2" and job["TimeLimit"] == "00:30:00", job  # the predecessor's names

    hub.stop(USER)
    wait_gone(job_id)
    assert "Traceback" not in hub.log_text()


def test_a_child_the_hub_refuses_fails_its_spawn_in_words(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(WRAPPER)
    hub.create_user(USER)
    hub._spawned.add(USER)
    r = hub.request("POST", f"/users/{USER}/server", json=spawn_body(hub, {"profile": "jumped"}))
    message = r.json().get("message", "") if r.status_code >= 400 else ""
    if r.status_code < 400:  # a slow spawn: the outcome comes on the progress stream
        events = list(hub.progress(USER))
        message = " ".join(str(e.get("message", "")) for e in events)
    assert "exec_prefix" in message and "-J has no built-in equivalent" in message, message
    assert "ssh_host = 'login1.example.org'" in message, message  # the advice names req_host
    assert cluster.alive_jobs(USER) == [], "a refused child submitted a job"
    text = hub.log_text()
    assert "-J has no built-in equivalent" in text
    assert "Traceback" not in text, hub.log_tail()
