"""A researcher's whole path in a real browser (Debian's chromium, driven by playwright).

Log in, choose a profile and change one of its fields, see on the spawn page why
the job waits (heidi really holds it), and land in JupyterLab running inside the
Slurm job. Screenshots of the form and of the spawn page are kept in the test's
directory; with ``BSX_SCREENSHOT_DIR`` set they are also written there (the
documentation's images come from ``BSX_SCREENSHOT_DIR=docs/_static``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import cluster
from .hub import Hub
from .test_profiles import PROFILES, USER, release_with_begin_time
from .test_slurm_e2e import job_id_of

CHROMIUM = "/usr/bin/chromium"
#: Headless flags known to work with Debian's chromium on this kind of machine.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _browser_or_skip() -> None:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install playwright)")
    if missing:
        reason = "no real browser: missing " + " and ".join(missing)
        if os.environ.get("BSX_REQUIRE_CLUSTER"):
            pytest.fail(reason + "; ci/cluster/up.sh and the test extras install them")
        pytest.skip(reason)


def log_in(page: Any, hub_url: str, user: str, password: str = "anything", then: str = "/hub/spawn") -> None:
    """Log in on the hub's login page as a user types it, landing on ``then`` (a path).

    The login page is opened with ``next=then``: without it the hub sends a user with no
    running server on to /hub/spawn, which starts the default server (a second job)."""
    page.goto(f"{hub_url}/hub/login?next={urllib.parse.quote(then)}")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    page.wait_for_url(lambda url: "/hub/login" not in url)


@contextlib.contextmanager
def chromium_page(**options: Any) -> Iterator[Any]:
    """A page of a fresh headless chromium with its own profile; ``options`` go to
    Playwright's ``launch_persistent_context`` (``viewport`` ...)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile_dir:
        context = p.chromium.launch_persistent_context(
            profile_dir, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, **options
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_choose_a_profile_wait_in_the_queue_and_land_in_jupyterlab(
    make_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    # The job may start only 20 s after submission; heidi holds it meanwhile.
    hub = make_hub(PROFILES + 'c.BatchSpawnerBase.extra_directives = ["--begin=now+20"]\n')
    hub.create_user(USER)
    hub._spawned.add(USER)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile_dir:
        context = p.chromium.launch_persistent_context(
            profile_dir,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 760},
        )
        try:
            page = context.new_page()
            log_in(page, hub.url, USER)

            # the form: both profiles, the default chosen, fields of the others disabled
            expect(page.get_by_label("Small: 1 CPU, 1G, 1 h")).to_be_checked()
            wide_cpus = page.locator("#bsx-wide-cpus")
            expect(wide_cpus).to_be_disabled()
            page.get_by_label("Wide: 2 CPUs, 2G, 2 h").check()
            expect(wide_cpus).to_be_enabled()
            wide_cpus.fill("3")
            page.select_option("#bsx-wide-partition", "interactive")
            page.screenshot(path=shots / "profiles-form.png", full_page=True)
            page.click("#spawn_form [type=submit]")

            # the spawn page: the job waits, held by heidi
            page.wait_for_url("**/hub/spawn-pending/**")
            Hub.wait_for(
                lambda: bool((hub.server_model(USER) or {}).get("state", {}).get("job_id")), 30, "job id"
            )
            job_id = job_id_of(hub, USER)
            held = cluster.run("runuser", "-u", USER, "--", "scontrol", "hold", job_id)
            assert held.returncode == 0, held.stderr
            message = page.locator("#progress-message")
            expect(message).to_contain_text(
                "held by you (release it with scontrol release) (JobHeldUser)", timeout=30_000
            )
            page.locator("#progress-details summary").click()
            page.screenshot(path=shots / "queue-held.png", full_page=True)
            release_with_begin_time(job_id)
            expect(message).to_contain_text(
                "waiting for its requested start time (BeginTime); expected start", timeout=30_000
            )
            page.screenshot(path=shots / "queue-begintime.png", full_page=True)
            log = page.locator("#progress-log")
            expect(log).to_contain_text("is running on localhost", timeout=60_000)

            # JupyterLab, inside the Slurm job, with the chosen resources
            page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
            assert f"/user/{USER}/" in page.url
            info = cluster.job_info(job_id)
            assert info["JobState"] == "RUNNING" and info["Partition"] == "interactive"
            assert "cpu=3," in info["TRES"], info["TRES"]
        finally:
            context.close()

    target = os.environ.get("BSX_SCREENSHOT_DIR")
    if target:
        for shot in shots.iterdir():
            shutil.copy(shot, Path(target) / shot.name)


def test_the_cluster_menu_changes_the_profiles_and_partitions_offered(
    make_hub: Callable[..., Hub], sge: dict[str, str], tmp_path: Path
) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    from .test_gridengine import USER as SGE_USER
    from .test_gridengine import alive_jobs, qcmd

    clusters = {
        "flagship": {"display_name": "Flagship (Slurm)"},
        "legacy": {
            "display_name": "Legacy (Grid Engine)",
            "description": "The chemistry department's cluster",
            "scheduler": "gridengine",
            "ssh_port": int(sge["BSX_SGE_SSH_PORT"]),
            "ssh_known_hosts": sge["BSX_SGE_KNOWN_HOSTS"],
            "account": sge["BSX_SGE_PROJECT"],
            "parallel_environment": sge["BSX_SGE_PE"],
        },
    }
    profiles = [
        {"name": "cpu", "display_name": "Slurm CPU", "cpus": 1, "memory": "512M",
         "fields": {"partition": {"choices": "cluster"}}},
        {"name": "chem", "display_name": "Chemistry slots", "cluster": "legacy", "cpus": 1, "memory": "512M",
         "partition": sge["BSX_SGE_QUEUE"], "fields": {"partition": {"choices": [sge["BSX_SGE_QUEUE"]]}}},
    ]  # fmt: skip
    hub = make_hub(
        f"c.BatchSpawnerBase.clusters = {clusters!r}\nc.BatchSpawnerBase.profiles = {profiles!r}\n"
    )
    hub.create_user(SGE_USER)
    hub._spawned.add(SGE_USER)
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile_dir:
            context = p.chromium.launch_persistent_context(
                profile_dir, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = context.new_page()
                log_in(page, hub.url, SGE_USER)

                # the first cluster: its profile, with the partitions Slurm lists
                menu = page.locator("#bsx-cluster")
                expect(menu).to_have_value("flagship")
                expect(page.get_by_label("Slurm CPU")).to_be_checked()
                expect(page.get_by_label("Chemistry slots")).to_be_hidden()
                partitions = page.locator("#bsx-cpu-partition option")
                expect(partitions).to_have_text(["debug", "interactive"])

                # the other cluster: its own profiles and queue, the first's hidden
                menu.select_option("legacy")
                expect(page.get_by_label("Slurm CPU")).to_be_hidden()
                expect(page.get_by_label("Chemistry slots")).to_be_checked()
                expect(page.get_by_text("The chemistry department's cluster")).to_be_visible()
                expect(page.locator("#bsx-chem-partition option")).to_have_text([sge["BSX_SGE_QUEUE"]])
                page.screenshot(path=tmp_path / "clusters-form.png", full_page=True)
                page.click("#spawn_form [type=submit]")

                # the server runs as a Grid Engine job and serves JupyterLab
                page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
                state = hub.state(SGE_USER)
                assert (state["cluster"], state["scheduler"]) == ("legacy", "sge"), state
                assert list(alive_jobs(sge)) == [str(state["job_id"])]
            finally:
                context.close()
        hub.stop(SGE_USER)
    finally:
        qcmd(sge, "qdel", "-u", SGE_USER)
