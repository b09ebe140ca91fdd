"""The job information the hub API, the hub pages and JupyterLab show (no cluster)."""

from __future__ import annotations

import datetime as dt
import hashlib
from types import SimpleNamespace
from typing import Any

from batchspawner_x.job_api import job_spawner, owns_token, user_jobs_json
from batchspawner_x.job_info import build_job_info, describe_duration, iso_utc, parse_time
from batchspawner_x.states import JobState, JobStatus

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 12, 4, 16, 31, 0, 500000, UTC)


def running(**fields: Any) -> JobStatus:
    values: dict[str, Any] = dict(
        job_id="41",
        state=JobState.RUNNING,
        raw_state="RUNNING",
        host="c1",
        start_time="2026-12-04T16:30:00",
        time_limit_seconds=180,
        end_time="2026-12-04T16:33:00",
    )
    values.update(fields)
    return JobStatus(**values)


def test_a_running_job_has_its_start_limit_end_and_time_left() -> None:
    info = build_job_info(
        "41", running(), now=NOW, cluster="main", profile="small", warnings=[60, 120, 60], tz=UTC
    )
    assert info.to_json() == {
        "job_id": "41",
        "cluster": "main",
        "node": "c1",
        "state": "running",
        "profile": "small",
        "start": "2026-12-04T16:30:00Z",
        "time_limit_seconds": 180,
        "end": "2026-12-04T16:33:00Z",
        "seconds_left": 119,
        "elapsed_seconds": 60,
        "warnings_seconds": [120, 60],
        "now": "2026-12-04T16:31:00Z",
        "extend": {
            "available": False,
            "step_seconds": None,
            "max_seconds": None,
            "reason": "Extending a session is not offered here.",
        },
    }
    assert info.time_left_words == "1 min left"
    assert info.warning_seconds == 120
    assert "save your work" in info.warning_words and "Job 41" in info.warning_words


def test_no_warning_before_the_first_threshold() -> None:
    info = build_job_info("41", running(), now=NOW, warnings=[60], tz=UTC)
    assert info.warning_seconds is None and info.warning_words == ""


def test_without_the_schedulers_end_the_end_is_start_plus_limit() -> None:
    info = build_job_info("41", running(end_time=None), now=NOW, tz=UTC)
    assert info.end == dt.datetime(2026, 12, 4, 16, 33, tzinfo=UTC)


def test_without_the_schedulers_limit_the_requested_walltime_counts() -> None:
    info = build_job_info(
        "41", running(time_limit_seconds=None, end_time=None), now=NOW, requested_seconds=600, tz=UTC
    )
    assert info.time_limit_seconds == 600 and info.seconds_left == 539


def test_a_waiting_job_has_no_start_and_no_time_left() -> None:
    status = JobStatus(
        "41", JobState.PENDING, "PENDING", start_time="2026-12-04T18:00:00", time_limit_seconds=180
    )
    info = build_job_info("41", status, now=NOW, tz=UTC)
    assert info.state == "pending" and info.start is None and info.end is None
    assert info.seconds_left is None and info.elapsed_seconds is None and info.time_left_words == ""
    assert info.time_limit_seconds == 180


def test_before_the_first_status_the_state_is_unknown_and_the_node_is_the_reported_one() -> None:
    info = build_job_info("41", None, now=NOW, node="c2", requested_seconds=180)
    assert info.state == "unknown" and info.node == "c2" and info.seconds_left is None


def test_past_the_end_the_time_left_is_zero() -> None:
    info = build_job_info("41", running(), now=NOW + dt.timedelta(minutes=5), warnings=[60], tz=UTC)
    assert info.seconds_left == 0 and info.time_left_words == "time limit reached"
    assert "reached its time limit" in info.warning_words


def test_times_without_a_zone_are_read_in_the_given_zone() -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    assert iso_utc(parse_time("2026-12-04T17:30:00", berlin)) == "2026-12-04T16:30:00Z"
    assert parse_time("2026-12-04T17:30:00+01:00") == dt.datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
    assert parse_time("Unknown") is None and parse_time(None) is None


def test_durations_in_words() -> None:
    assert [describe_duration(s) for s in (0, 59, 60, 3599, 3600, 4320, -5)] == [
        "0 s",
        "59 s",
        "1 min",
        "59 min",
        "1 h",
        "1 h 12 min",
        "0 s",
    ]


class OurSpawner:
    def __init__(self, name: str, token: str, info: Any) -> None:
        self.name = name
        self.token_sha256 = hashlib.sha256(token.encode()).hexdigest() if token else ""
        self._info = info

    def job_info(self) -> Any:
        return self._info


def test_only_the_servers_own_token_matches() -> None:
    spawner = OurSpawner("", "secret", None)
    assert owns_token(spawner, "secret")
    assert not owns_token(spawner, "other") and not owns_token(spawner, "")
    assert not owns_token(OurSpawner("", "", None), "")


def test_a_wrapped_child_is_found_and_other_spawners_are_not_ours() -> None:
    child = OurSpawner("", "t", None)
    assert job_spawner(SimpleNamespace(child_spawner=child)) is child
    assert job_spawner(SimpleNamespace(name="x")) is None  # an ORM row of a stopped server


def test_a_users_jobs_name_their_server_and_url() -> None:
    info = build_job_info("41", running(), now=NOW, tz=UTC)
    spawners = [OurSpawner("", "a", info), OurSpawner("gpu", "b", None), SimpleNamespace(name="old")]
    user = SimpleNamespace(
        all_spawners=lambda include_default=True: iter(spawners),
        server_url=lambda name="": f"/user/erin/{name}/" if name else "/user/erin/",
    )
    jobs = user_jobs_json(user)
    assert len(jobs) == 1
    assert jobs[0]["server_name"] == "" and jobs[0]["url"] == "/user/erin/" and jobs[0]["job_id"] == "41"


async def test_the_spawners_job_comes_from_its_state_and_the_pollers_answer() -> None:
    from .fakes import make_spawner
    from .test_spawner import squeue_says

    line = "5673|RUNNING|localhost|None|2026-12-04T16:28:24|3:00|2026-12-04T16:31:24"  # recorded
    spawner, transport = make_spawner(squeue_says(line), walltime="00:03:00", walltime_warnings=[60, 120])
    assert spawner.job_info() is None, "no job, no information"
    spawner.load_state({"job_id": "5673", "token_sha256": "ab", "host": "localhost", "port": 8888})
    assert await spawner.poll() is None
    now = dt.datetime(2026, 12, 4, 16, 29, 24).astimezone()  # a minute in, in the hub's zone
    asked = len(transport.commands)
    info = spawner.job_info(now)
    assert len(transport.commands) == asked, "the job information runs no command"
    assert info is not None
    body = info.to_json()
    assert (body["job_id"], body["state"], body["node"]) == ("5673", "running", "localhost")
    assert (body["time_limit_seconds"], body["seconds_left"], body["elapsed_seconds"]) == (180, 120, 60)
    assert body["warnings_seconds"] == [120, 60] and info.warning_seconds == 120


def test_times_in_pbs_and_epoch_forms_give_the_time_left() -> None:
    # PBS Pro's stime, Torque/Moab/HTCondor's seconds since the epoch (both 16:30:00 UTC)
    for started in ("Fri Dec  4 16:30:00 2026", "1796401800"):
        status = JobStatus("7", JobState.RUNNING, "R", start_time=started, time_limit_seconds=180)
        info = build_job_info("7", status, now=NOW, tz=UTC)
        assert (info.seconds_left, info.elapsed_seconds) == (119, 60), started
