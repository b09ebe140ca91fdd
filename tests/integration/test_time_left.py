"""Time left, on the real stack: the hub API a server asks with its own token, and the
hub's home and jobs pages a logged-in user sees (issue 17)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import requests

from . import cluster
from .hub import Hub

USER = "erin"
OTHER = "frank"  # created in the hub, never spawned

CONFIG = """
import batchspawner_x
c.JupyterHub.template_paths = [batchspawner_x.hub_templates]
c.BatchSpawnerBase.walltime = "00:03:00"
c.BatchSpawnerBase.walltime_warnings = [60, 900]
"""


def ask_job(hub: Hub, token: str) -> requests.Response:
    return requests.get(
        f"{hub.api}/batchspawner_x/job", headers={"Authorization": f"token {token}"}, timeout=30
    )


def user_token(hub: Hub, name: str) -> str:
    hub.create_user(name)
    r = hub.request("POST", f"/users/{name}/tokens", json={"note": "time-left test"})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def when(text: str) -> dt.datetime:
    assert text.endswith("Z"), text
    return dt.datetime.fromisoformat(text[:-1]).replace(tzinfo=dt.timezone.utc)


def test_the_server_learns_its_time_left_and_the_user_sees_it(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(CONFIG)
    assert hub.spawn(USER).ready
    job_id = str(hub.state(USER)["job_id"])
    assert cluster.job_info(job_id)["TimeLimit"] == "00:03:00"
    # the token the server itself holds (the file the node side reads it from)
    token = hub.server_token(USER)

    # the server's own token: its job, with the scheduler's start and limit
    hub.started_job(USER)
    r = ask_job(hub, token)
    body = r.json()
    assert body["state"] == "running", body
    assert set(body) == {
        "job_id",
        "cluster",
        "node",
        "state",
        "profile",
        "start",
        "time_limit_seconds",
        "end",
        "seconds_left",
        "elapsed_seconds",
        "warnings_seconds",
        "now",
        "extend",
    }
    assert (body["job_id"], body["node"], body["time_limit_seconds"]) == (job_id, "localhost", 180)
    assert 0 < body["seconds_left"] <= 180 and 0 <= body["elapsed_seconds"] <= 180
    assert (when(body["end"]) - when(body["start"])).total_seconds() == 180
    assert abs(body["seconds_left"] - (when(body["end"]) - when(body["now"])).total_seconds()) <= 1
    assert body["warnings_seconds"] == [900, 60]
    assert r.headers["Cache-Control"] == "no-store"

    # any other token is refused: the user's own, another user's, the hub's service
    for other in (user_token(hub, USER), user_token(hub, OTHER), hub.token, "not-a-token"):
        r = ask_job(hub, other)
        assert r.status_code == 403, (r.status_code, r.text[:200])

    # the user-facing list: the user's own token, not another user's
    r = requests.get(
        f"{hub.api}/batchspawner_x/users/{USER}/jobs",
        headers={"Authorization": f"token {user_token(hub, USER)}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    (job,) = r.json()["jobs"]
    assert (job["job_id"], job["server_name"], job["url"]) == (job_id, "", f"/user/{USER}/")
    r = requests.get(
        f"{hub.api}/batchspawner_x/users/{USER}/jobs",
        headers={"Authorization": f"token {user_token(hub, OTHER)}"},
        timeout=30,
    )
    # JupyterHub's answer to a scope a token lacks: as if the user did not exist
    assert r.status_code == 404 and "jobs" not in r.json(), r.text

    # the pages, as the logged-in user's browser gets them
    browser = hub.login(USER)
    left = re.compile(r'<span class="bsx-left" data-bsx-seconds-left="(\d+)">(\d+ (?:min|s)) left</span>')
    for page in ("/hub/home", "/hub/batchspawner_x/jobs"):
        r = browser.get(f"{hub.url}{page}", timeout=30)
        assert r.status_code == 200, (page, r.status_code)
        html = r.text
        assert f'<td class="bsx-job-id">{job_id}</td>' in html, page
        match = left.search(html)
        assert match is not None and 0 < int(match.group(1)) <= 180, (page, html[-4000:])
        # 900 s is more than the whole job: that warning is due from the start
        assert f"Job {job_id} ends in {match.group(2)}, when its time limit runs out" in html, page
    # the user's own cookie reads the list as the page's script does
    r = browser.get(
        f"{hub.api}/batchspawner_x/users/{USER}/jobs",
        headers={"X-XSRFToken": browser.cookies.get("_xsrf", ""), "Sec-Fetch-Mode": "cors"},
        timeout=30,
    )
    assert r.status_code == 200 and r.json()["jobs"][0]["job_id"] == job_id, r.text

    hub.stop(USER)
    r = ask_job(hub, token)
    assert r.status_code == 403, "a stopped server's token is no longer a server's"
