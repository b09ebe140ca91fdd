"""The demo's own configuration (demo/jupyterhub_config.py) in a real browser.

Log in with the demo's shared password, see the clusters and profiles on the form,
choose the profile that waits in the queue, read why it waits and when it should
start, and land in JupyterLab once the queue moves. The hub runs on the harness's
ports; everything else is the demo's file as it ships. With ``BSX_SCREENSHOT_DIR`` set,
the screenshots of the form and of the queue message are also written there (the
README's come from ``BSX_SCREENSHOT_DIR=docs/_static``).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import cluster
from .hub import Hub
from .test_browser import CHROMIUM, CHROMIUM_ARGS, _browser_or_skip, log_in
from .test_slurm_e2e import job_id_of

#: The demo runs on the newest hub (nox -s demo); its config, not the hub, is under test.
pytestmark = pytest.mark.newest_hub_only

DEMO_CONFIG = Path(__file__).resolve().parents[2] / "demo" / "jupyterhub_config.py"
USER = "alice"


@pytest.fixture
def demo_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Hub, str]]:
    password = secrets.token_urlsafe(12)
    monkeypatch.setenv("BSX_DEMO_PASSWORD", password)
    hub = Hub(tmp_path, DEMO_CONFIG.read_text())
    # the harness's addresses, not the demo's fixed ports
    with open(hub.config_path, "a") as config:
        config.write(f'\nc.JupyterHub.bind_url = "{hub.url}"\n')
        config.write(f'c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub.hub_port}"\n')
    hub.start()
    try:
        yield hub, password
    finally:
        hub.terminate()
        cluster.cancel_all(USER)
        cluster.run("scancel", "--name=demo-queue-filler")


def test_the_demo_shows_the_form_the_queue_and_jupyterlab(demo_hub: tuple[Hub, str], tmp_path: Path) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    hub, password = demo_hub
    log = hub.log_text()
    assert "DummyAuthenticator" not in log and "deprecated" not in log.lower(), log[-2000:]
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile_dir:
        context = p.chromium.launch_persistent_context(
            profile_dir, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = context.new_page()
            log_in(page, hub.url, USER, password)

            # the form: a cluster menu, two Slurm profiles and a field, the default chosen
            expect(page.locator("#bsx-cluster")).to_have_value("slurm")
            expect(page.get_by_label("Small: 1 CPU, 1G, 1 h")).to_be_checked()
            expect(page.locator("#bsx-small-cpus")).to_be_enabled()
            page.get_by_label("Big memory: 4G, 2 h").check()
            page.screenshot(path=tmp_path / "demo-form.png", full_page=True)
            page.click("#spawn_form [type=submit]")

            # the spawn page: why the job waits, in words, with its expected start
            page.wait_for_url("**/hub/spawn-pending/**")
            message = page.locator("#progress-message")
            # behind the filler (Resources), or behind another waiting job when a neighbour's
            # test shares the cluster (Priority): either way, Slurm's reason in words
            reason = re.compile(
                r"waiting for the requested resources to become free \(Resources\)"
                r"|other jobs have higher priority \(Priority\)"
            )
            expect(message).to_contain_text(reason, timeout=60_000)
            expect(message).to_contain_text("expected start", timeout=30_000)
            page.screenshot(path=tmp_path / "demo-queue.png", full_page=True)

            # the filler ends within a minute; then JupyterLab, inside the Slurm job
            page.wait_for_selector("#jp-main-dock-panel", timeout=150_000)
            job_id = job_id_of(hub, USER)
            info = cluster.job_info(job_id)
            assert info["JobState"] == "RUNNING" and info["MinMemoryNode"] == "4G", info
            # the time left: in JupyterLab's status bar (the extension in the node's venv),
            # and on the hub's home page
            status = page.locator(".bsx-job-status")
            left = re.compile(rf"^Job {job_id} · (1 h 5\d min|2 h) left$")
            expect(status).to_have_text(left, timeout=90_000)
            page.screenshot(path=tmp_path / "demo-lab.png")
            page.goto(f"{hub.url}/hub/home")
            expect(page.get_by_text(job_id, exact=True).first).to_be_visible()
            expect(page.locator("body")).to_contain_text(re.compile(r"1 h 5\d min|2 h"))
            page.screenshot(path=tmp_path / "demo-home.png", full_page=True)
        finally:
            context.close()
    target = os.environ.get("BSX_SCREENSHOT_DIR")
    if target:
        for shot in ("demo-form.png", "demo-queue.png", "demo-lab.png", "demo-home.png"):
            shutil.copy(tmp_path / shot, Path(target) / shot)
