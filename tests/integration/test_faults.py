"""Faults of the real cluster that must not cost anybody their server."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import cluster
from .hub import Hub, SpawnResult, cluster_env
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
        # a spawn in that window fails with the scheduler's own words, and leaves nothing
        refused = hub.spawn("bob")
        assert refused.failed, refused
        assert "Unable to contact slurm controller" in "\n".join(refused.messages), refused
    finally:
        cluster.start_slurmctld()
    assert cluster.alive_jobs("bob") == []
    assert hub.spawn("bob").ready, "once the controller is back, spawning works again"
    hub.stop("bob")
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


def test_server_dying_right_after_its_report_fails_the_spawn_within_seconds(
    make_hub: Callable[..., Hub], world_tmp: Path
) -> None:
    # The node-side command reports the address, then runs the server command: here one
    # that fails at once the first time, as a broken environment would, and works after.
    user = "carol"
    tmp = world_tmp / "server"
    tmp.mkdir(mode=0o755)
    shutil.chown(tmp, user)
    marker = tmp / "failed-once"
    script = tmp / "notebook"
    venv = cluster_env()["BSX_VENV"]
    script.write_text(
        "#!/bin/sh\n"
        f"if [ ! -e {marker} ]; then\n"
        f"  touch {marker}\n"
        '  echo "notebook: cannot load the lab extension (broken environment)" >&2\n'
        "  exit 3\n"
        "fi\n"
        f'exec {venv}/bin/jupyterhub-singleuser "$@"\n'
    )
    script.chmod(0o755)
    # the REST call waits for the spawn's outcome (up to 60 s: longer than any honest failure)
    hub = make_hub(
        f'c.Spawner.cmd = ["{script}"]\nc.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 60}}\n'
    )
    answer, seconds, progress = hub.spawn_watched(user)
    assert marker.exists(), "the server command ran, so the job had reported its address"
    rest = answer.json().get("message", "") if answer.status_code >= 400 else answer.text
    assert answer.status_code >= 400, (answer.status_code, answer.text[:300])
    assert seconds < 15, f"the spawn failed only after {seconds:.1f}s"
    for where, text in (("REST answer", rest), ("progress", "\n".join(progress.messages))):
        assert "exit code 3" in text, (where, text)
        assert "notebook: cannot load the lab extension (broken environment)" in text, (where, text)
    assert progress.failed, progress
    assert cluster.alive_jobs(user) == []
    # the user can start again (and this time the server command works)
    assert hub.spawn(user).ready
    assert_server_answers(hub, user)
    hub.stop(user)
    assert cluster.alive_jobs(user) == []


# -- the login node and its connection ------------------------------------------------


@pytest.mark.newest_hub_only  # the transport under test; the hub's side is the one of the tests above
def test_login_node_sshd_down_and_back_keeps_every_server(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub("c.BatchSpawnerBase.status_timeout = 4\nc.BatchSpawnerBase.ssh_reconnect_max_delay = 2\n")
    assert hub.spawn("alice").ready
    assert hub.spawn("bob").ready
    jobs = {user: job_id_of(hub, user) for user in ("alice", "bob")}
    cluster.stop_sshd()  # every connection is cut, as when the login node reboots
    try:
        # status interval 2 s, poll interval 5 s: wait out at least two poll intervals
        time.sleep(12)
        for user in jobs:
            model = hub.server_model(user)
            assert model is not None and model["ready"], f"{user}'s server must survive the login node"
        assert "keeping last known states" in hub.log_text()
    finally:
        cluster.start_sshd()
    # the pool reconnects by itself; no job was touched
    before = hub.log_text().count("Opened SSH connection")
    Hub.wait_for(lambda: hub.log_text().count("Opened SSH connection") > before, 30, "a new connection")
    for user, job_id in jobs.items():
        assert cluster.alive_jobs(user) == [job_id]
        assert cluster.job_state(job_id) == "RUNNING"
        assert_server_answers(hub, user)
    hub.stop("alice")  # commands work again over the new connection
    assert cluster.alive_jobs("alice") == []
    hub.stop("bob")


@pytest.mark.newest_hub_only  # the transport under test; the hub's side is the one of the tests above
def test_stop_during_a_login_node_outage_cancels_the_job_when_it_returns(
    make_hub: Callable[..., Hub],
) -> None:
    # JupyterHub forgets the job when stop() ends, even with an error: the cancel must
    # wait for the login node rather than fail and leave the job running
    hub = make_hub("c.BatchSpawnerBase.status_timeout = 4\nc.BatchSpawnerBase.ssh_reconnect_max_delay = 4\n")
    assert hub.spawn("alice").ready
    job_id = job_id_of(hub)
    errors: list[BaseException] = []

    def stop() -> None:
        try:
            hub.stop("alice")
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    cluster.stop_sshd()
    stopping = threading.Thread(target=stop)
    try:
        stopping.start()
        Hub.wait_for(lambda: "cannot cancel the job yet" in hub.log_text(), 30, "a cancel that waits")
        time.sleep(5)  # long enough for the pool to back off
        assert cluster.job_state(job_id) == "RUNNING", "nothing reached the cluster yet"
    finally:
        cluster.start_sshd()
    stopping.join(150)
    assert not stopping.is_alive() and not errors, errors
    assert cluster.alive_jobs("alice") == []
    assert "could not cancel the job" not in hub.log_text()


def slow_sbatch(tmp: Path, *, cut: str, user: str = "alice") -> tuple[Path, Path]:
    """An sbatch that pauses once, ``before`` or ``after`` it submits, so that the test can
    cut the connection at that moment, or (``on``) that pauses 20 s and then submits and
    writes ``<marker>.done``, so that it ends after a cut that lets it run on; returns the
    wrapper and its "paused" marker."""
    tmp.mkdir(mode=0o755)
    shutil.chown(tmp, user)
    marker = tmp / "paused"
    wrapper = tmp / "sbatch"
    sbatch = shutil.which("sbatch")
    if cut == "before":
        body = f'if [ ! -e {marker} ]; then touch {marker}; sleep 60; fi\nexec {sbatch} "$@"\n'
    elif cut == "on":
        body = (
            f"if [ ! -e {marker} ]; then\n"
            f'  touch {marker}; sleep 20; {sbatch} "$@"; rc=$?; touch {marker}.done; exit $rc\n'
            f'fi\nexec {sbatch} "$@"\n'
        )
    else:
        body = (
            f'out=$({sbatch} "$@"); rc=$?\n'
            f"if [ ! -e {marker} ]; then touch {marker}; sleep 60; fi\n"
            'printf "%s\\n" "$out"; exit $rc\n'
        )
    wrapper.write_text("#!/bin/sh\n" + body)
    wrapper.chmod(0o755)
    return wrapper, marker


@pytest.fixture
def world_tmp() -> Iterator[Path]:
    """A directory the cluster users can read (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="bsx-faults-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.newest_hub_only  # the transport under test; the hub's side is the one of the tests above
@pytest.mark.parametrize("cut", ["after", "before"])
def test_connection_cut_during_submission_makes_exactly_one_job(
    make_hub: Callable[..., Hub], world_tmp: Path, cut: str
) -> None:
    wrapper, marker = slow_sbatch(world_tmp / cut, cut=cut)
    hub = make_hub(f'c.BatchSpawnerBase.scheduler_commands = {{"submit": "{wrapper}"}}\n')
    hub.spawn("alice", wait=False)
    Hub.wait_for(marker.exists, 60, "the submission to pause")
    if cut == "after":
        Hub.wait_for(lambda: len(cluster.alive_jobs("alice")) == 1, 30, "sbatch to submit")
    assert cluster.drop_ssh_connections("alice") >= 1
    result = SpawnResult(list(hub.progress("alice")))
    assert result.ready, result
    jobs = cluster.alive_jobs("alice")
    assert jobs == [job_id_of(hub)], f"exactly one job for the spawn, not {jobs}"
    if cut == "after":
        assert "was lost" in hub.log_text() and "it is job" in hub.log_text()
    else:
        assert "made no job; submitting again" in hub.log_text()
    hub.stop("alice")
    assert cluster.alive_jobs("alice") == []


class JobCounter:
    """Counts a user's live jobs every 0.3 s in a thread, from start() until stop()."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.seen: set[str] = set()
        self.most = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            jobs = cluster.alive_jobs(self.user)
            self.seen.update(jobs)
            self.most = max(self.most, len(jobs))
            self._done.wait(0.3)

    def start(self) -> JobCounter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join(10)


@pytest.mark.newest_hub_only  # the transport under test; the hub's side is the one of the tests above
def test_connection_cut_while_the_submit_command_runs_on_makes_exactly_one_job(
    make_hub: Callable[..., Hub], world_tmp: Path
) -> None:
    # (as grace, whom no other test uses: the job directory is per user, not per hub)
    # The network drops while sbatch still runs on the login node: sshd dies, the command
    # does not, and its job appears 20 s later. Looking the job up at the cut finds
    # nothing; sending the job again then makes a second one.
    wrapper, marker = slow_sbatch(world_tmp / "on", cut="on", user="grace")
    hub = make_hub(f'c.BatchSpawnerBase.scheduler_commands = {{"submit": "{wrapper}"}}\n')
    hub.spawn("grace", wait=False)
    Hub.wait_for(marker.exists, 60, "the submit command to start")
    assert cluster.alive_jobs("grace") == []
    assert cluster.drop_ssh_connections("grace", commands=False) >= 1
    counter = JobCounter("grace").start()
    try:
        result = SpawnResult(list(hub.progress("grace")))
        assert result.ready, result
        # the first attempt's job may come after the server is up: count until it ended
        Hub.wait_for(Path(f"{marker}.done").exists, 60, "the first submit command to end")
        time.sleep(3)
    finally:
        counter.stop()
    job_id = job_id_of(hub, "grace")
    assert counter.seen == {job_id}, f"one job for the spawn, not {sorted(counter.seen)}"
    assert counter.most == 1
    assert cluster.alive_jobs("grace") == [job_id]
    assert "holds the answer" in hub.log_text()
    assert_server_answers(hub, "grace")
    hub.stop("grace")
    assert cluster.alive_jobs("grace") == []
    time.sleep(3)
    assert cluster.alive_jobs("grace") == [], "nothing appears after the stop"


def test_hub_killed_during_submission_finds_the_job(make_hub: Callable[..., Hub], world_tmp: Path) -> None:
    wrapper, marker = slow_sbatch(world_tmp / "hub", cut="after")
    hub = make_hub(f'c.BatchSpawnerBase.scheduler_commands = {{"submit": "{wrapper}"}}\n')
    hub.spawn("alice", wait=False)
    Hub.wait_for(marker.exists, 60, "the submission to pause")
    Hub.wait_for(lambda: len(cluster.alive_jobs("alice")) == 1, 30, "sbatch to submit")
    [job_id] = cluster.alive_jobs("alice")
    hub.kill()  # the job exists; the hub never heard its id
    cluster.drop_ssh_connections("alice")  # (the dead hub's connection, and the paused wrapper)
    hub.start()
    Hub.wait_for(
        lambda: (hub.server_model("alice") or {}).get("ready") is True, 120, "the found job's server"
    )
    assert job_id_of(hub) == job_id
    assert cluster.alive_jobs("alice") == [job_id]
    assert_server_answers(hub)
    # and the user carries on without an admin: stop, start again, stop
    hub.stop("alice")
    assert cluster.alive_jobs("alice") == []
    assert hub.spawn("alice").ready
    hub.stop("alice")
    assert cluster.alive_jobs("alice") == []
