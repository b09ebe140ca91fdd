"""GridengineSpawner end to end: a real Son of Grid Engine, its own sshd, a real
JupyterHub and proxy (ci/cluster/sge-up.sh).

The hub logs in to the Grid Engine login node (an sshd inside the daemons'
network namespace, reached on 127.0.0.1:2223) as erin, the only user these
tests use. Grid Engine itself is inspected as root inside that namespace,
as an administrator would: ``ip netns exec bsxsge qstat -j ID``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from batchspawner_x.claim import claim_dir
from batchspawner_x.schedulers.sge import GridengineScheduler
from batchspawner_x.submission import Submitted, find, new_identity, submit
from batchspawner_x.transport import SSHPool, SSHTarget, SSHTransport

from .hub import Hub

#: The scheduler backend, not the hub, is under test here: run against the newest hub only.
pytestmark = pytest.mark.newest_hub_only

SGE_ENV = Path("/etc/batchspawner-x-test/sge.env")
USER = "erin"


def sge_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in SGE_ENV.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            env[key.strip()] = value.strip().strip('"')
    return env


def qcmd(sge: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """A Grid Engine command as root, inside the daemons' network namespace."""
    env = {**os.environ, "SGE_ROOT": sge["BSX_SGE_ROOT"], "SGE_CELL": sge["BSX_SGE_CELL"]}
    return subprocess.run(
        ["ip", "netns", "exec", sge["BSX_SGE_NETNS"], *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def job_details(sge: dict[str, str], job_id: str) -> dict[str, str]:
    """``qstat -j ID`` as a dict; empty once Grid Engine no longer knows the job."""
    out = qcmd(sge, "qstat", "-j", job_id)
    details: dict[str, str] = {}
    if out.returncode != 0:
        return details
    for line in out.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            details.setdefault(key.strip(), value.strip())
    return details


def alive_jobs(sge: dict[str, str]) -> dict[str, str]:
    """erin's jobs that are pending, running, suspended or being deleted: id -> state."""
    out = qcmd(sge, "qstat", "-u", USER)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()[2:]  # after the header and the dashes
    return {line.split()[0]: line.split()[4] for line in lines if line.strip()}


def wait_gone(sge: dict[str, str], job_id: str, timeout: float = 60) -> None:
    Hub.wait_for(lambda: job_id not in alive_jobs(sge), timeout, f"job {job_id} to leave qstat")


@pytest.fixture
def sge_hub(sge: dict[str, str], make_hub: Callable[..., Hub]) -> Iterator[Callable[[str], Hub]]:
    """A hub whose spawner is GridengineSpawner on the Grid Engine login node."""

    def factory(extra_config: str = "") -> Hub:
        ours = (
            f"c.BatchSpawnerBase.ssh_port = {sge['BSX_SGE_SSH_PORT']}\n"
            f"c.BatchSpawnerBase.ssh_known_hosts = {sge['BSX_SGE_KNOWN_HOSTS']!r}\n"
            f"c.BatchSpawnerBase.partition = {sge['BSX_SGE_QUEUE']!r}\n"
            f"c.BatchSpawnerBase.account = {sge['BSX_SGE_PROJECT']!r}\n"
            f"c.GridengineSpawner.parallel_environment = {sge['BSX_SGE_PE']!r}\n"
        )
        return make_hub(ours + extra_config, spawner="batchspawner_x.GridengineSpawner")

    yield factory
    # make_hub's own clean-up knows Slurm only: delete what this test left in Grid Engine
    qcmd(sge, "qdel", "-u", USER)


def job_id_of(hub: Hub) -> str:
    job_id = hub.state(USER).get("job_id")
    assert job_id, f"no job id in {USER}'s spawner state"
    return str(job_id)


def assert_server_answers(hub: Hub) -> None:
    r = hub.get_through_proxy(f"/user/{USER}/api/status")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "started" in r.json()


def test_spawn_serves_through_proxy_with_limits_in_qstat(
    sge: dict[str, str], sge_hub: Callable[[str], Hub]
) -> None:
    hub = sge_hub("c.BatchSpawnerBase.gpus = 1\n")
    result = hub.spawn(USER)
    assert result.ready, result
    text = "\n".join(result.messages)
    assert "Submitted Grid Engine job" in text, text
    assert "is running on localhost" in text, text
    assert_server_answers(hub)

    job_id = job_id_of(hub)
    assert alive_jobs(sge) == {job_id: "r"}
    details = job_details(sge, job_id)
    assert details["owner"] == USER
    assert details["job_name"] == f"jupyter-{USER}"
    assert details["hard_queue_list"] == "all.q"
    assert details["project"] == "bsx"
    # mem_limit = 1G over cpu_limit = 2 slots: h_vmem is per slot; walltime 01:00:00 = 3600 s
    assert details["parallel environment"] == "smp range: 2", details
    resources = set(details["hard resource_list"].split(","))
    assert resources == {"h_vmem=512M", "h_rt=3600", "gpu=1"}, details["hard resource_list"]
    # the same qstat gives the hub the job's start and h_rt: its server learns its time left
    job = hub.started_job(USER)
    assert job["time_limit_seconds"] == 3600 and 3500 < job["seconds_left"] <= 3600, job

    # the token reaches the job in a private file, never in the spooled job script
    token_file = Path(hub.state(USER)["job_dir"]) / "env.json"
    token = json.loads(token_file.read_text())["env"]["JUPYTERHUB_API_TOKEN"]
    spooled = Path("/var/spool/gridengine/execd/localhost/job_scripts") / job_id  # execd's copy
    assert "#$ -pe smp 2" in spooled.read_text()
    assert token not in spooled.read_text()

    hub.stop(USER)
    wait_gone(sge, job_id)
    assert alive_jobs(sge) == {}
    assert not token_file.exists(), "the token file must be removed when the server stops"
    record = qcmd(sge, "qacct", "-j", job_id).stdout
    assert "exit_status" in record, "qdel ended the job: Grid Engine accounted for it"


def test_rejected_submission_shows_grid_engines_words(
    sge: dict[str, str], sge_hub: Callable[[str], Hub]
) -> None:
    hub = sge_hub('c.BatchSpawnerBase.partition = "nosuchqueue"\n')
    result = hub.spawn(USER)
    assert result.failed, result
    text = "\n".join(result.messages)
    assert "Grid Engine rejected the job" in text, text
    assert 'Job was rejected because job requests unknown queue "nosuchqueue"' in text, text
    assert hub.server_model(USER) is None
    assert alive_jobs(sge) == {}
    assert not Path(f"/home/{USER}/.batchspawner_x/{USER}/env.json").exists()


def test_held_job_says_so_and_starts_when_released(
    sge: dict[str, str], sge_hub: Callable[[str], Hub]
) -> None:
    hub = sge_hub('c.GridengineSpawner.extra_directives = ["-h"]\n')
    hub.spawn(USER, wait=False)
    Hub.wait_for(lambda: bool((hub.server_model(USER) or {}).get("state", {}).get("job_id")), 30, "a job id")
    job_id = job_id_of(hub)
    Hub.wait_for(lambda: alive_jobs(sge).get(job_id) == "hqw", 30, "the job to be held")
    time.sleep(3)  # a few status queries see it held
    assert qcmd(sge, "qrls", job_id).returncode == 0
    messages = [str(e.get("message", "")) for e in hub.progress(USER)]
    text = "\n".join(messages)
    assert f"Job {job_id} is waiting in the queue: on hold" in text, text
    assert "is running on localhost" in text, text
    assert (hub.server_model(USER) or {}).get("ready") is True
    assert_server_answers(hub)


def test_a_status_identity_sees_the_users_job(sge: dict[str, str], sge_hub: Callable[[str], Hub]) -> None:
    # qstat lists only the caller's own jobs unless told otherwise: queried as frank,
    # erin's job would look gone and her server would be taken for dead
    hub = sge_hub('c.BatchSpawnerBase.status_ssh_username = "frank"\n')
    result = hub.spawn(USER)
    assert result.ready, result
    job_id = job_id_of(hub)
    assert job_details(sge, job_id)["owner"] == USER
    time.sleep(4)  # a few status rounds, all of them as frank
    assert (hub.server_model(USER) or {}).get("ready") is True
    assert_server_answers(hub)
    hub.stop(USER)
    wait_gone(sge, job_id)


def test_qdel_from_outside_is_noticed(sge: dict[str, str], sge_hub: Callable[[str], Hub]) -> None:
    hub = sge_hub()
    assert hub.spawn(USER).ready
    job_id = job_id_of(hub)
    assert qcmd(sge, "qdel", job_id).returncode == 0
    Hub.wait_for(lambda: hub.server_model(USER) is None, 60, "the hub to notice the deleted job")
    assert alive_jobs(sge) == {}


def test_job_in_error_state_is_explained_and_deleted_at_start_timeout(
    sge: dict[str, str], sge_hub: Callable[[str], Hub]
) -> None:
    # An output file the user cannot write: Grid Engine puts the job in error state (Eqw).
    hub = sge_hub(
        'c.GridengineSpawner.extra_directives = ["-o /root/nope.out"]\nc.Spawner.start_timeout = 15\n'
    )
    result = hub.spawn(USER)
    assert result.failed, result
    text = "\n".join(result.messages)
    assert "is waiting in the queue: in error state" in text, text
    assert "cleared by an administrator (qmod -cj)" in text, text
    Hub.wait_for(lambda: alive_jobs(sge) == {}, 60, "the job in error state to be deleted")


# -- finding a submission by its identity (qsub -ac, qstat -j) -----------------------------
# These tests log in as frank and grace, not erin: the spawner tests' clean-up deletes
# every job of erin's.

HELD_SCRIPT = "#!/bin/sh\n#$ -h\n#$ -o /dev/null\n#$ -j y\nsleep 300\n"


def login(sge: dict[str, str], user: str) -> SSHTransport:
    """The user's own SSH login to the Grid Engine login node, as the spawner makes it."""
    target = SSHTarget(
        host="127.0.0.1",
        port=int(sge["BSX_SGE_SSH_PORT"]),
        username=user,
        keys=(f"/etc/batchspawner-x-test/keys/{user}",),
        known_hosts=sge["BSX_SGE_KNOWN_HOSTS"],
    )
    return SSHTransport(target)


async def qsub_with_identity(transport: SSHTransport, identity: str) -> str:
    """A held job carrying ``identity``, submitted as the spawner's submit_argv does."""
    scheduler = GridengineScheduler()
    result = await transport.run(scheduler.submit_argv(identity, HELD_SCRIPT), input=HELD_SCRIPT, timeout=60)
    return scheduler.parse_submit(result)


def jobs_with_context(sge: dict[str, str], identity: str) -> list[str]:
    """Every user's jobs whose context holds ``identity``, as root sees them."""
    out = qcmd(sge, "qstat", "-j", "*")
    found, job = [], ""
    for line in out.stdout.splitlines():
        key, _, value = line.partition(":")
        if key == "job_number":
            job = value.strip()
        elif key == "context" and f"bsx_submission={identity}" in value.strip().split(","):
            found.append(job)
    return found


@pytest.fixture
def lookup_jobs(sge: dict[str, str]) -> Iterator[list[str]]:
    """Ids of jobs a test submitted; deleted afterwards, by id."""
    ids: list[str] = []
    yield ids
    if ids:
        qcmd(sge, "qdel", *ids)


async def test_lookup_finds_real_jobs_by_identity_and_only_the_users_own(
    sge: dict[str, str], lookup_jobs: list[str]
) -> None:
    frank, grace = login(sge, "frank"), login(sge, "grace")
    scheduler = GridengineScheduler()
    identity = new_identity()
    try:
        first = await qsub_with_identity(frank, identity)
        lookup_jobs.append(first)
        other = await qsub_with_identity(frank, new_identity())  # another spawn of frank's
        lookup_jobs.append(other)
        graces = await qsub_with_identity(grace, identity)  # same identity, another user
        lookup_jobs.append(graces)
        second = await qsub_with_identity(frank, identity)
        lookup_jobs.append(second)
        assert sorted(jobs_with_context(sge, identity), key=int) == sorted([first, graces, second], key=int)

        found = await find(frank, scheduler, identity, timeout=0, command_timeout=60)
        assert found == [first, second]
        assert await find(grace, scheduler, identity, timeout=0, command_timeout=60) == [graces]
        assert await find(frank, scheduler, new_identity(), timeout=0, command_timeout=60) == []
    finally:
        await SSHPool.close_all()


async def test_a_submission_whose_command_died_is_found_not_sent_again(
    sge: dict[str, str], lookup_jobs: list[str]
) -> None:
    """The first attempt's submit command made its job and died before writing its exit
    code (as when it is killed with its session): the resend finds the claim taken, the
    holder dead, and the job by its identity; it submits nothing more."""
    frank = login(sge, "frank")
    scheduler = GridengineScheduler()
    identity = new_identity()
    claim = claim_dir(f"/home/frank/.bsx-lookup-test-{identity}", identity)
    try:
        job = await qsub_with_identity(frank, identity)
        lookup_jobs.append(job)
        # the claim that attempt left: its holder's pid (now dead), on this login node, no rc
        made = await frank.run(
            ["/bin/sh", "-c", 'mkdir -p -- "$1" && sh -c \'echo "$$ - $(uname -n)"\' >"$1/pids"', "-", claim],
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        submitted = await submit(
            frank,
            scheduler,
            HELD_SCRIPT,
            identity,
            claim=claim,
            timeout=30,
            lookup_timeout=30,
            command_timeout=60,
            attempts=3,
            log=logging.getLogger("test"),
        )
        assert submitted == Submitted(job, answer_lost=True)
        assert jobs_with_context(sge, identity) == [job]  # nothing was sent again
    finally:
        await frank.run(["rm", "-rf", "--", claim.rsplit("/submit/", 1)[0]], timeout=60)
        await SSHPool.close_all()
