"""Profiles and named servers against the real stack: Slurm, sshd, JupyterHub, proxy.

Only the user heidi is used here (other suites use the other test users at the
same time), and only heidi's own jobs are held and released.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path

from . import cluster
from .hub import Hub
from .test_slurm_e2e import assert_server_answers, job_id_of, wait_gone

USER = "heidi"

#: Two profiles; the second lets the user change cores, memory, time and partition.
PROFILES = """
c.BatchSpawnerBase.profiles = [
    {"name": "small", "display_name": "Small: 1 CPU, 1G, 1 h", "default": True,
     "partition": "debug", "cpus": 1, "memory": "1G", "walltime": "01:00:00"},
    {"name": "wide", "display_name": "Wide: 2 CPUs, 2G, 2 h",
     "partition": "debug", "cpus": 2, "memory": "2G", "walltime": "02:00:00",
     "fields": {"cpus": {"max": 4}, "memory": {"max": "4G"}, "walltime": {"max": "04:00:00"},
                "partition": {"choices": "cluster"}}},
]
"""
#: JupyterHub's default: POST /server waits up to 10 s, so an early error is its answer.
SLOW_SPAWN_DEFAULT = 'c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 10}\n'


def spawn_body(hub: Hub, user_options: dict[str, object]) -> dict[str, object]:
    """JupyterHub 6 takes ``{"user_options": {...}}``; 5 takes the options as the body."""
    version = hub.request("GET", "/").json()["version"]
    return {"user_options": user_options} if int(version.split(".")[0]) >= 6 else user_options


def post_server(hub: Hub, user_options: dict[str, object], server: str = "") -> tuple[int, str]:
    hub.create_user(USER)
    hub._spawned.add(USER)
    path = f"/users/{USER}/servers/{server}" if server else f"/users/{USER}/server"
    r = hub.request("POST", path, json=spawn_body(hub, user_options))
    return r.status_code, r.text


def wait_ready(hub: Hub, server: str = "") -> None:
    Hub.wait_for(
        lambda: (hub.server_model(USER, server) or {}).get("ready") is True, 120, f"{USER}/{server} ready"
    )


def test_rest_choices_are_checked_and_reach_slurm_and_survive_a_restart(
    make_hub: Callable[..., Hub],
) -> None:
    hub = make_hub(PROFILES + SLOW_SPAWN_DEFAULT)

    status, text = post_server(hub, {"profile": "wide", "cpus": "64"})
    assert status == 400, text
    assert "Invalid choice for cpus: 64 is above the maximum of 4" in text, text
    status, text = post_server(hub, {"profile": "small", "cpus": "2"})
    assert status == 400 and "Invalid choice for cpus: cannot be changed" in text, text
    status, text = post_server(hub, {"profile": "wide", "partition": "debug;id"})
    assert status == 400 and "Invalid choice for partition" in text, text
    assert cluster.alive_jobs(USER) == []

    status, text = post_server(
        hub, {"profile": "wide", "cpus": "3", "memory": "1.5G", "walltime": "1.5", "partition": "interactive"}
    )
    assert status in (201, 202), text
    wait_ready(hub)
    assert_server_answers(hub, USER)
    job_id = job_id_of(hub, USER)
    info = cluster.job_info(job_id)
    assert info["Partition"] == "interactive"
    assert "cpu=3" in info["TRES"] and "mem=1.50G" in info["TRES"], info["TRES"]
    assert info["TimeLimit"] == "01:30:00"
    resources = hub.state(USER)["resources"]
    assert resources == {
        "profile": "wide",
        "partition": "interactive",
        "cpus": 3,
        "memory_mb": 1536,
        "walltime": "01:30:00",
    }

    hub.kill()
    hub.start()
    wait_ready(hub)
    assert hub.state(USER)["resources"] == resources
    assert hub.server_model(USER)["user_options"]["profile"] == "wide"  # type: ignore[index]
    assert cluster.alive_jobs(USER) == [job_id]
    hub.stop(USER)
    wait_gone(job_id)

    # an empty request gets the default profile, not the last choice's values
    status, text = post_server(hub, {})
    assert status in (201, 202), text
    wait_ready(hub)
    info = cluster.job_info(job_id_of(hub, USER))
    assert info["Partition"] == "debug" and "cpu=1," in info["TRES"] and info["TimeLimit"] == "01:00:00"


def test_a_groups_profile_is_for_its_members_only(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(
        PROFILES[: PROFILES.rindex("]")]
        + """    {"name": "big", "display_name": "Big (group big)", "groups": ["big"],
     "partition": "interactive", "cpus": 8, "memory": "1G", "walltime": "00:30:00"},
]
c.JupyterHub.load_roles[0]["scopes"].append("admin:groups")
"""
        + SLOW_SPAWN_DEFAULT
    )
    status, text = post_server(hub, {"profile": "big"})
    assert status == 400, text
    assert "Invalid choice for profile: 'big' is not a profile you can choose (small, wide)" in text, text

    assert hub.request("POST", "/groups/big").status_code in (201, 409)
    r = hub.request("POST", "/groups/big/users", json={"users": [USER]})
    assert r.status_code == 200, r.text
    status, text = post_server(hub, {"profile": "big"})
    assert status in (201, 202), text
    wait_ready(hub)
    info = cluster.job_info(job_id_of(hub, USER))
    assert info["Partition"] == "interactive" and "cpu=8," in info["TRES"], info


def test_two_named_servers_of_one_user_run_at_once_each_with_its_profile(
    make_hub: Callable[..., Hub],
) -> None:
    hub = make_hub(PROFILES + "c.JupyterHub.allow_named_servers = True\n")
    results: dict[str, object] = {}

    def spawn(server: str, options: dict[str, object]) -> None:
        results[server] = hub.spawn(USER, server, options=spawn_body(hub, options))

    threads = [
        threading.Thread(target=spawn, args=("one", {"profile": "small"})),
        threading.Thread(target=spawn, args=("two", {"profile": "wide", "cpus": "4"})),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert all(r.ready for r in results.values()), results  # type: ignore[attr-defined]

    one, two = job_id_of(hub, USER, "one"), job_id_of(hub, USER, "two")
    assert one != two and sorted(cluster.alive_jobs(USER)) == sorted([one, two])
    info_one, info_two = cluster.job_info(one), cluster.job_info(two)
    assert "cpu=1," in info_one["TRES"] and "cpu=4," in info_two["TRES"]
    assert info_one["JobName"] != info_two["JobName"]
    assert info_one["StdOut"] != info_two["StdOut"]
    dir_one, dir_two = hub.state(USER, "one")["job_dir"], hub.state(USER, "two")["job_dir"]
    assert dir_one != dir_two and Path(dir_one, "env.json").exists() and Path(dir_two, "env.json").exists()
    assert hub.state(USER, "one")["resources"]["profile"] == "small"
    assert hub.state(USER, "two")["resources"]["profile"] == "wide"
    assert_server_answers(hub, USER, "one")
    assert_server_answers(hub, USER, "two")

    hub.stop(USER, "one")
    wait_gone(one)
    assert cluster.alive_jobs(USER) == [two], "stopping one server must leave the other running"
    assert not Path(dir_one, "env.json").exists() and Path(dir_two, "env.json").exists()
    assert_server_answers(hub, USER, "two")


def release_with_begin_time(job_id: str, seconds: int = 8) -> None:
    """As heidi: let the held job start ``seconds`` from now, then release it, so that it
    waits for its start time (BeginTime) next however long the hold lasted."""
    for argv in (("update", f"JobId={job_id}", f"StartTime=now+{seconds}"), ("release", job_id)):
        done = cluster.run("runuser", "-u", USER, "--", "scontrol", *argv)
        assert done.returncode == 0, done.stderr


def test_progress_says_why_the_job_waits_then_where_it_runs(make_hub: Callable[..., Hub]) -> None:
    # The job may start 20 s after submission; heidi holds it meanwhile and releases it,
    # to start 8 s later, once the spawn page has said so.
    hub = make_hub(PROFILES + 'c.BatchSpawnerBase.extra_directives = ["--begin=now+20"]\n')
    hub.spawn(USER, wait=False)
    Hub.wait_for(lambda: bool((hub.server_model(USER) or {}).get("state", {}).get("job_id")), 30, "job id")
    job_id = job_id_of(hub, USER)
    held = cluster.run("runuser", "-u", USER, "--", "scontrol", "hold", job_id)
    assert held.returncode == 0, held.stderr
    messages = []
    for event in hub.progress(USER):
        message = str(event.get("message", ""))
        messages.append(message)
        if "(JobHeldUser)" in message:
            release_with_begin_time(job_id)
    text = "\n".join(messages)
    assert (
        f"Job {job_id} is waiting in the queue: held by you (release it with scontrol release) (JobHeldUser)"
        in text
    ), text
    assert "waiting for its requested start time (BeginTime); expected start" in text, text
    assert text.index("(JobHeldUser)") < text.rindex("(BeginTime)") < text.index("is running on localhost")
    assert messages[-1].startswith("Server ready"), messages
    # a message is only sent when the reason or the estimate changes
    assert all(a != b for a, b in itertools.pairwise(messages)), messages
