"""Extending a session on the real stack (issue 17, point 3): the hub raises a running job's
time limit as the Slurm operator ``slurmop`` (AdminLevel=Operator, made by ci/cluster/up.sh),
one step at a time up to the profile's cap, and refuses past it in words.

Only ivan spawns here (besides test_accounts.py): the cleanup cancels his jobs.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from . import cluster
from .hub import Hub
from .test_browser import _browser_or_skip, chromium_page, log_in
from .test_lab_extension import _extension_or_fail
from .test_profiles import spawn_body

USER = "ivan"
OTHER = "heidi"  # created in the hub, never spawned

PROFILE = """
import batchspawner_x
c.JupyterHub.template_paths = [batchspawner_x.hub_templates]
c.BatchSpawnerBase.walltime_extension_step = "00:05:00"
c.BatchSpawnerBase.profiles = [
    {"name": "short", "display_name": "Short", "default": True, "partition": "debug",
     "cpus": 1, "memory": "1G", "walltime": "00:10:00", "max_walltime": "00:15:00"},
]
"""
OPERATOR = 'c.BatchSpawnerBase.walltime_operator_username = "slurmop"\n'


def spawn(hub: Hub) -> str:
    """ivan's server with the short profile, started; its job id."""
    hub.create_user(USER)
    hub._spawned.add(USER)
    r = hub.request("POST", f"/users/{USER}/server", json=spawn_body(hub, {"profile": "short"}))
    assert r.status_code in (201, 202), r.text
    events = list(hub.progress(USER))
    assert events and events[-1].get("ready"), events[-3:]
    hub.started_job(USER)
    return str(hub.state(USER)["job_id"])


def extend(hub: Hub, token: str, path: str = "/batchspawner_x/job/extend") -> requests.Response:
    return requests.post(f"{hub.api}{path}", headers={"Authorization": f"token {token}"}, timeout=60)


def user_token(hub: Hub, name: str) -> str:
    hub.create_user(name)
    r = hub.request("POST", f"/users/{name}/tokens", json={"note": "extend test"})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_extend_once_as_the_operator_then_the_cap_refuses(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(PROFILE + OPERATOR)
    job_id = spawn(hub)
    assert cluster.job_info(job_id)["TimeLimit"] == "00:10:00"
    token = hub.server_token(USER)
    body = hub.server_job(token).json()
    assert body["extend"] == {"available": True, "step_seconds": 300, "max_seconds": 900, "reason": None}

    browser = hub.login(USER)
    html = browser.get(f"{hub.url}/hub/home", timeout=30).text
    assert 'class="btn btn-sm btn-outline-primary bsx-extend">Extend by 5 min</button>' in html

    # another token may not extend this server: a user's own, another user's, the hub's
    for other in (user_token(hub, USER), user_token(hub, OTHER), hub.token):
        r = extend(hub, other)
        assert r.status_code == 403, (r.status_code, r.text[:200])
    assert cluster.job_info(job_id)["TimeLimit"] == "00:10:00"

    # the server's own token, as the JupyterLab extension asks: one step, as the operator
    r = extend(hub, token)
    assert r.status_code == 200, r.text
    assert cluster.job_info(job_id)["TimeLimit"] == "00:15:00"
    body = r.json()
    assert body["job_id"] == job_id and body["time_limit_seconds"] == 900, body
    assert body["extend"]["available"] is False and "Cap reached" in body["extend"]["reason"]
    assert hub.server_job(token).json()["time_limit_seconds"] == 900, "the job API shows the new limit"

    # past the cap: refused in words, the limit as it was
    r = extend(hub, token)
    assert r.status_code == 409, r.text
    assert r.json()["message"] == "Cap reached: this session may run at most 15 min in all.", r.text
    assert cluster.job_info(job_id)["TimeLimit"] == "00:15:00"

    # the user's own endpoint: the user's token and the user's cookie reach the same answer;
    # another user's token does not (JupyterHub's answer to a missing scope: 404)
    path = f"/batchspawner_x/users/{USER}/server/extend"
    r = extend(hub, user_token(hub, USER), path)
    assert r.status_code == 409 and "Cap reached" in r.json()["message"], r.text
    r = extend(hub, user_token(hub, OTHER), path)
    assert r.status_code in (403, 404), (r.status_code, r.text[:200])
    r = browser.post(
        f"{hub.api}{path}",
        headers={"X-XSRFToken": browser.cookies.get("_xsrf", ""), "Sec-Fetch-Mode": "cors"},
        timeout=60,
    )
    assert r.status_code == 409 and "Cap reached" in r.json()["message"], r.text
    # the hub page offers no button once the cap is reached, and says why
    html = browser.get(f"{hub.url}/hub/home", timeout=30).text
    assert "Cap reached: this session may run at most 15 min in all." in html
    assert cluster.job_info(job_id)["TimeLimit"] == "00:15:00"


@pytest.mark.newest_hub_only
def test_without_an_operator_extending_is_not_available(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub(PROFILE)
    job_id = spawn(hub)
    token = hub.server_token(USER)
    offer = hub.server_job(token).json()["extend"]
    assert offer["available"] is False and "walltime_operator_username" in offer["reason"], offer
    r = extend(hub, token)
    assert r.status_code == 501, r.text
    assert "not enabled on this hub" in r.json()["message"], r.text
    assert cluster.job_info(job_id)["TimeLimit"] == "00:10:00"


#: ivan's profile for the browser: 10 min, 5-minute steps, at most 20 min.
BROWSER_PROFILE = PROFILE.replace('"max_walltime": "00:15:00"', '"max_walltime": "00:20:00"')


@pytest.mark.newest_hub_only  # (passed on JupyterHub 5.5.4 too: its XSRF check takes the page's POST)
def test_extend_from_the_hub_page_then_from_jupyterlab_then_the_cap_refuses_on_the_page(
    make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """In a real browser: the home page's Extend button (10 → 15 min), the button of the
    JupyterLab extension's warning (15 → 20 min, the same POST as its Extend command), and
    the home page's button again: refused in words, the cap reached."""
    _extension_or_fail()
    _browser_or_skip()
    from playwright.sync_api import expect

    hub = make_hub(BROWSER_PROFILE + OPERATOR)
    job_id = spawn(hub)
    assert cluster.job_info(job_id)["TimeLimit"] == "00:10:00"
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with chromium_page(viewport={"width": 1100, "height": 700}) as home:
        log_in(home, hub.url, USER, then="/hub/home")
        row = home.locator("tr.bsx-job")
        button = row.locator(".bsx-extend")
        expect(button).to_have_text("Extend by 5 min", timeout=30_000)
        home.screenshot(path=shots / "home-extend.png")

        # the hub page: one step
        button.click()
        expect(row.locator(".bsx-extend-note")).to_have_text("Extended: the job may now run 15 min in all.")
        expect(row.locator(".bsx-left")).to_have_text(re.compile(r"^1[34] min left$"))
        assert cluster.job_info(job_id)["TimeLimit"] == "00:15:00"
        # from here until its next click the page keeps its last answer, as one opened just
        # before the cap is reached elsewhere does: it still offers the button
        held = [True]

        def jobs_list(route: Any) -> None:
            route.abort() if held else route.continue_()

        def extend_click(route: Any) -> None:
            held.clear()
            route.continue_()

        home.route(re.compile(r".*/api/batchspawner_x/users/[^/]+/jobs$"), jobs_list)
        home.route(re.compile(r".*/extend$"), extend_click)

        # JupyterLab: 15 min left is within the first warning (15 min before the end);
        # its notification carries the Extend button
        lab = home.context.new_page()
        lab.goto(f"{hub.url}/user/{USER}/lab")
        lab.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        lab.get_by_role("button", name="Extend by 5 min").first.click(timeout=60_000)
        extended = lab.get_by_text(re.compile(rf"Job {job_id} was extended: it now ends in (19|20) min\."))
        expect(extended.first).to_be_visible(timeout=30_000)
        assert cluster.job_info(job_id)["TimeLimit"] == "00:20:00"

        # the hub page again: past the cap, refused in words; the limit as it was. The
        # page then shows the job as it is: 20 minutes in all, no button
        home.bring_to_front()
        expect(button).to_be_visible()
        button.click()
        refusal = "Cap reached: this session may run at most 20 min in all."
        expect(row.locator(".bsx-extend-note")).to_have_text(refusal)
        expect(row.locator(".bsx-left")).to_have_text(re.compile(r"^1[89] min left$"))
        expect(button).to_be_hidden()
        home.screenshot(path=shots / "home-extend-refused.png")
        assert cluster.job_info(job_id)["TimeLimit"] == "00:20:00"
        # the next visit: no button, the reason instead
        home.reload()
        expect(row.locator(".bsx-extend")).to_be_hidden()
        expect(row.locator(".bsx-extend-note")).to_have_text(refusal)

    target = os.environ.get("BSX_SCREENSHOT_DIR")
    if target:
        for shot in shots.iterdir():
            shutil.copy(shot, Path(target) / shot.name)
