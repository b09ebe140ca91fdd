"""The hub pages' templates, rendered with JupyterHub's own templates as the hub loads them
(``c.JupyterHub.template_paths = [batchspawner_x.hub_templates]``); no hub runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader
from jupyterhub._data import DATA_FILES_PATH

import batchspawner_x
from batchspawner_x import job_api
from batchspawner_x.end_reasons import EndReason, JobEndFacts, classify
from batchspawner_x.job_info import ExtendOffer, build_job_info
from batchspawner_x.states import JobState, JobStatus

UTC = dt.timezone.utc


@pytest.fixture
def env() -> Environment:
    """The loaders and options JupyterHub's app builds from ``template_paths``."""
    base = os.path.join(DATA_FILES_PATH, "templates")
    loader = ChoiceLoader(
        [
            FileSystemLoader([batchspawner_x.hub_templates]),
            PrefixLoader({"templates": FileSystemLoader([base])}, "/"),
            FileSystemLoader([base]),
        ]
    )
    return Environment(loader=loader, autoescape=True)


class Ours:
    def __init__(self, name: str, info: Any) -> None:
        self.name = name
        self._info = info

    def job_info(self) -> Any:
        return self._info


def hostile_info() -> Any:
    status = JobStatus(
        "41",
        JobState.RUNNING,
        "RUNNING",
        host="c1<b>",
        start_time="2026-12-04T16:30:00",
        time_limit_seconds=180,
    )
    now = dt.datetime(2026, 12, 4, 16, 32, 30, tzinfo=UTC)
    return build_job_info("41", status, now=now, profile="<script>x</script>", warnings=[60], tz=UTC)


def namespace(spawners: list[Any]) -> dict[str, Any]:
    user = SimpleNamespace(
        name="erin",
        json_escaped_name="erin",
        all_spawners=lambda include_default=True: iter(spawners),
        server_url=lambda name="": "/user/erin/",
        spawner=None,
    )
    return dict(
        user=user,
        base_url="/hub/",
        static_url=lambda *a, **k: "/static/",
        default_server=SimpleNamespace(active=True),
        url="/user/erin/",
        xsrf_token="x",
        allow_named_servers=False,
    )


def test_home_page_shows_each_servers_job_time_left_and_warning_escaped(env: Environment) -> None:
    wrapped = SimpleNamespace(name="gpu", child_spawner=Ours("gpu", hostile_info()))
    stopped = SimpleNamespace(name="old")  # JupyterHub's database row of a stopped server
    html = env.get_template("home.html").render(**namespace([Ours("", hostile_info()), wrapped, stopped]))
    assert 'id="start"' in html, "the hub's own home page is kept"
    assert html.count('<tr class="bsx-job"') == 2
    assert '<span class="bsx-left" data-bsx-seconds-left="30">30 s left</span>' in html
    assert "Job 41 ends in 30 s, when its time limit runs out: save your work now." in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "c1&lt;b&gt;" in html
    assert 'href="/hub/batchspawner_x/jobs"' in html, "every page links to the jobs page"


def test_jobs_page_lists_the_jobs_or_says_there_are_none(env: Environment) -> None:
    info = hostile_info()
    html = env.get_template("batchspawner_x/jobs.html").render(jobs=[(Ours("", info), info)], **namespace([]))
    for cell in ("41", "running", "2 min", "30 s left"):
        assert f">{cell}<" in html
    html = env.get_template("batchspawner_x/jobs.html").render(jobs=[], **namespace([]))
    assert "You have no batch jobs now." in html


def test_the_extend_button_shows_only_when_offered_and_the_cap_says_why(env: Environment) -> None:
    info = hostile_info()
    offered = dataclasses.replace(info, extend=ExtendOffer(True, 3600, 14400))
    capped = dataclasses.replace(info, extend=ExtendOffer(False, 3600, 180, "Cap reached: at most 3 min."))
    pages = {
        name: env.get_template("batchspawner_x/jobs.html").render(jobs=[(Ours("", i), i)], **namespace([]))
        for name, i in (("off", info), ("offered", offered), ("capped", capped))
    }
    button = '<button type="button" class="btn btn-sm btn-outline-primary bsx-extend"'
    assert f"{button}>Extend by 1 h</button>" in pages["offered"]
    assert f"{button} hidden>" in pages["off"] and f"{button} hidden>" in pages["capped"]
    assert 'role="status">Cap reached: at most 3 min.</div>' in pages["capped"]
    assert 'role="status"></div>' in pages["off"], "a site without extending shows no note"
    assert "/extend" in pages["offered"], "the script posts to the extend endpoint"


def ended(kind_state: str, code: int, elapsed: int, job_id: str, tail: str = "") -> EndReason:
    return classify(JobEndFacts(kind_state, code, None, elapsed), job_id=job_id, output_tail=tail)


def test_the_home_page_says_why_each_stopped_servers_last_session_ended(env: Environment) -> None:
    """A live spawner not running, a stopped server's database row (its saved state) and a
    stopped wrapspawner's row (its child's state); a running server shows its job instead."""
    live = Ours("", None)
    live.last_end = ended("TIMEOUT", 0, 7200, "40")  # type: ignore[attr-defined]
    row = SimpleNamespace(name="oom", state={"last_end": ended("OUT_OF_MEMORY", 137, 300, "42").to_state()})
    tail = "Traceback ...\nMemoryError: <big>"
    wrapped = SimpleNamespace(
        name="gpu", state={"child_state": {"last_end": ended("FAILED", 3, 62, "43", tail).to_state()}}
    )
    running = Ours("lab", hostile_info())
    running.last_end = ended("TIMEOUT", 0, 60, "39")  # type: ignore[attr-defined]
    # job 41 has ended and its reason is recorded; JupyterHub has not stopped the server yet
    ending = Ours("end", hostile_info())
    ending.last_end = ended("TIMEOUT", 0, 180, "41")  # type: ignore[attr-defined]
    html = env.get_template("home.html").render(**namespace([live, row, wrapped, running, ending]))

    assert html.count('<tr class="bsx-ended"') == 4 and html.count('<tr class="bsx-job"') == 1
    assert '<tr class="bsx-ended" data-bsx-server="end">' in html
    assert ">Your last session ended: time limit reached after 2 h.</span>" in html
    assert ">Your last session ended: the job ran out of memory after 5 min (exit code 137).</span>" in html
    assert ">Your last session ended: the server exited with code 3 after 1 min.</span>" in html
    assert '<td class="bsx-job-id">43</td>' in html
    # a failure's last lines, collapsed and escaped; none for a time limit
    assert html.count('<details class="bsx-end-tail">') == 1
    assert "<pre>Traceback ...\nMemoryError: &lt;big&gt;</pre>" in html
    assert '<tr class="bsx-ended" data-bsx-server="lab"' not in html, "a running server shows its job"


def test_an_older_saved_reason_without_its_words_still_reads(env: Environment) -> None:
    saved = ended("TIMEOUT", 0, 60, "44").to_state()
    del saved["message"], saved["failure"]
    html = env.get_template("home.html").render(
        **namespace([SimpleNamespace(name="", state={"last_end": saved})])
    )
    assert ">Your last session ended: time limit reached after 1 min.</span>" in html


def test_the_users_job_list_carries_the_end_reasons_the_page_script_shows() -> None:
    live = Ours("", None)
    live.last_end = ended("TIMEOUT", 0, 180, "40")  # type: ignore[attr-defined]
    row = SimpleNamespace(name="old", state={"last_end": ended("FAILED", 3, 62, "43", "x").to_state()})
    broken = SimpleNamespace(name="broken", state={"last_end": "time limit"})
    ending = Ours("end", hostile_info())
    ending.last_end = ended("TIMEOUT", 0, 180, "41")  # type: ignore[attr-defined]
    stale = Ours("lab", hostile_info())
    stale.last_end = ended("TIMEOUT", 0, 180, "39")  # type: ignore[attr-defined]
    user = namespace([live, stale, row, broken, SimpleNamespace(name="none", state=None), ending])
    body = job_api.user_ended_json(user["user"])
    assert [e["server_name"] for e in body] == ["", "old", "end"], "not a running job's server"
    assert body.pop()["job_id"] == "41"
    assert body == [
        {
            "server_name": "",
            "job_id": "40",
            "kind": "time_limit",
            "message": "Your last session ended: time limit reached after 3 min.",
            "failure": False,
            "exit_code": 0,
            "when": 0.0,
            "output_tail": "",
        },
        {
            "server_name": "old",
            "job_id": "43",
            "kind": "failed",
            "message": "Your last session ended: the server exited with code 3 after 1 min.",
            "failure": True,
            "exit_code": 3,
            "when": 0.0,
            "output_tail": "x",
        },
    ]
