"""The optional JupyterLab extension (``labextension/``, installed into the single-user venv
by ``ci/cluster/labext.sh``) on the real stack: a real hub with its job API, a Slurm job,
the extension's server part asking the hub with the server's own token, and the status
bar in a real browser (Debian's chromium)."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from . import cluster
from .hub import Hub, cluster_env
from .test_browser import _browser_or_skip, chromium_page, log_in

USER = "bob"
#: A named server: its job directory is this test's own even when a neighbour spawns as bob.
SERVER = "lab"
PREFIX = f"/user/{USER}/{SERVER}"


def _extension_or_fail() -> None:
    venv = Path(cluster_env()["BSX_VENV"])
    if not list(venv.glob("lib/python3*/site-packages/batchspawner_x_lab/__init__.py")):
        reason = f"batchspawner-x-lab is not installed in {venv}"
        if os.environ.get("BSX_REQUIRE_CLUSTER"):
            pytest.fail(reason + ": run ci/cluster/labext.sh")
        pytest.skip(reason)


#: The package's hub pages (the home page with each server's job).
HOME_PAGE = "import batchspawner_x\nc.JupyterHub.template_paths = [batchspawner_x.hub_templates]\n"


def lab_hub(make_hub: Callable[..., Hub], extra: str = "") -> Hub:
    return make_hub(
        'c.JupyterHub.allow_named_servers = True\nc.BatchSpawnerBase.walltime = "00:30:00"\n' + extra
    )


def job_answer(hub: Hub) -> dict[str, Any]:
    """The server part's answer, fetched through the proxy as JupyterLab does."""
    r = hub.get_through_proxy(f"{PREFIX}/batchspawner-x/job")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    answer: dict[str, Any] = r.json()
    return answer


def test_the_status_bar_shows_the_jobs_time_left_from_the_hubs_job_api(
    make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    _extension_or_fail()
    _browser_or_skip()
    from playwright.sync_api import expect

    hub = lab_hub(make_hub)
    result = hub.spawn(USER, SERVER)
    assert result.ready, (result, hub.log_tail())
    job_id = str(hub.state(USER, SERVER)["job_id"])

    # the server part: the hub's record of this job, asked with the server's own token
    answers: list[dict[str, Any]] = []

    def has_time_left() -> bool:
        answers.append(job_answer(hub))
        return bool(answers[-1].get("job", {}).get("seconds_left"))

    Hub.wait_for(has_time_left, 30, "the job's time left from the hub")
    answer = answers[-1]
    assert answer["available"] is True, answer
    job = answer["job"]
    assert (job["job_id"], job["state"]) == (job_id, "running"), job
    assert job["time_limit_seconds"] == 1800 and 1500 < job["seconds_left"] <= 1800, job
    assert job["warnings_seconds"] == [900, 300], job
    assert hub.token not in str(answer)

    shots = tmp_path / "screenshots"
    shots.mkdir()
    with chromium_page(viewport={"width": 1100, "height": 700}) as page:
        log_in(page, hub.url, USER, then=f"{PREFIX}/lab")
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        item = page.locator(".bsx-job-status")
        expect(item).to_have_text(re.compile(rf"^Job {job_id} · (2\d|30) min left$"), timeout=30_000)
        expect(item).to_be_visible()
        page.screenshot(path=shots / "lab-status-bar.png")
    hub.stop(USER, SERVER)

    target = os.environ.get("BSX_SCREENSHOT_DIR")
    if target:
        for shot in shots.iterdir():
            shutil.copy(shot, Path(target) / shot.name)


NOTEBOOK = "unsaved.ipynb"


def put_notebook(hub: Hub, name: str) -> None:
    """An empty one-cell notebook in the user's home, through the server's contents API."""
    cell = {"cell_type": "code", "source": "", "metadata": {}, "outputs": [], "execution_count": None}
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    model = {"cells": [cell], "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5}
    r = requests.put(
        f"{hub.url}{PREFIX}/api/contents/{name}",
        headers={"Authorization": f"token {hub.token}"},
        json={"type": "notebook", "content": model},
        timeout=30,
    )
    assert r.status_code in (200, 201), (r.status_code, r.text[:300])


def saved_source(hub: Hub, name: str) -> str:
    r = hub.get_through_proxy(f"{PREFIX}/api/contents/{name}")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return "".join(str(cell["source"]) for cell in r.json()["content"]["cells"])


#: How soon after Slurm ends a job its end reason must be on the open home page (issue 17).
END_SHOWN = 5.0


@pytest.mark.newest_hub_only  # a 3-minute job to its end: the status-bar test covers both hubs
def test_warnings_notify_the_last_saves_the_notebook_and_the_home_page_says_why_it_ended(
    make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    """A 3-minute job warned 2 and 1 minutes before its end: two notifications, and an
    edit never saved by the user is on disk after the last one. The hub's home page, open
    in a second tab, shows the time left and the warning; once Slurm ends the job at its
    limit, it shows "time limit" as the reason within :data:`END_SHOWN` seconds (the node
    side tells the hub: it runs from the job script, ``node_command = []``)."""
    _extension_or_fail()
    _browser_or_skip()
    from playwright.sync_api import expect

    hub = lab_hub(
        make_hub,
        'c.BatchSpawnerBase.walltime = "00:03:00"\nc.BatchSpawnerBase.walltime_warnings = [60, 120]\n'
        + HOME_PAGE
        + "c.BatchSpawnerBase.node_command = []\n",
    )
    result = hub.spawn(USER, SERVER)
    assert result.ready, (result, hub.log_tail())
    job_id = str(hub.state(USER, SERVER)["job_id"])
    put_notebook(hub, NOTEBOOK)

    with chromium_page(viewport={"width": 1100, "height": 700}) as page:
        log_in(page, hub.url, USER, then=f"{PREFIX}/lab/tree/{NOTEBOOK}")
        item = page.locator(".bsx-job-status")
        expect(item).to_have_text(re.compile(rf"^Job {job_id} · (3|2) min left$"), timeout=120_000)

        # an edit the user does not save
        page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
        page.keyboard.type("answer = 42")
        expect(page.locator(".jp-mod-dirty")).not_to_have_count(0)
        assert "answer = 42" not in saved_source(hub, NOTEBOOK)

        # 2 minutes before the end: a warning; 1 minute before: the last, and a save
        first = page.get_by_text(f"Job {job_id} ends in 2 min. Save your work.")
        expect(first).to_be_visible(timeout=90_000)
        expect(item).to_have_text(f"Job {job_id} · 2 min left")
        last = page.get_by_text(re.compile(rf"Job {job_id} ends in .*Every open notebook was saved\."))
        expect(last.first).to_be_visible(timeout=90_000)
        expect(last.first).to_be_in_viewport(ratio=1)  # the toast has slid in
        page.screenshot(path=tmp_path / "lab-last-warning.png")
        Hub.wait_for(lambda: "answer = 42" in saved_source(hub, NOTEBOOK), 30, "the edit to be saved")
        expect(item).to_have_text(re.compile(rf"^Job {job_id} · \d+ s left$"), timeout=30_000)

        # the hub's home page in a second tab: the time left and the warning
        home = page.context.new_page()
        home.set_viewport_size({"width": 1100, "height": 560})
        home.goto(f"{hub.url}/hub/home")
        row = home.locator(f'tr.bsx-job[data-bsx-server="{SERVER}"]')
        expect(row.locator(".bsx-left")).to_have_text(re.compile(r"^\d+ s left$"), timeout=10_000)
        expect(row.locator(".bsx-warning")).to_contain_text(
            re.compile(rf"Job {job_id} ends in \d+ s, when its time limit runs out: save your work now\.")
        )
        home.screenshot(path=tmp_path / "home-time-left.png")

        # Slurm ends the job at its limit (it checks every few tens of seconds); from the
        # moment the job no longer runs, the open page says why within END_SHOWN seconds
        Hub.wait_for(lambda: cluster.job_state(job_id) not in ("RUNNING", ""), 150, "Slurm to end the job")
        since = time.monotonic()
        reason = home.locator(f'tr.bsx-ended[data-bsx-server="{SERVER}"] .bsx-end-reason')
        expect(reason).to_have_text(
            re.compile(r"^Your last session ended: time limit reached after 3 min\.$"), timeout=30_000
        )
        took = time.monotonic() - since
        info = cluster.job_info(job_id)
        home.screenshot(path=tmp_path / "home-end-reason.png")
        assert took < END_SHOWN, (took, info.get("JobState"), info.get("EndTime"), hub.log_tail())
        assert info["JobState"] == "TIMEOUT", info
        # and on the next visit, from the hub's own page
        home.reload()
        expect(reason).to_have_text(re.compile(r"time limit reached after 3 min"))
    print(f"the end reason was on the home page {took:.1f} s after job {job_id} left RUNNING")

    target = os.environ.get("BSX_SCREENSHOT_DIR")
    if target:
        for name in ("lab-last-warning.png", "home-time-left.png", "home-end-reason.png"):
            shutil.copy(tmp_path / name, Path(target) / name)
