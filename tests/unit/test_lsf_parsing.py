"""LsfScheduler, its template and LsfSpawner, fed the output LSF prints.

Output lines are those of shared/scheduler-formats.md (bsub, bjobs -o, the
twelve job states, exec_host forms), LSF's library messages as bsub, bjobs and
bkill print them (lsb_errmsg: "No such queue", "Job has already finished",
"No matching job found"), and lines recorded on real LSF clusters by other
projects (equinor/ert's LSF driver tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from batchspawner_x import LsfSpawner
from batchspawner_x.errors import ConfigError, SubmitError
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.lsf import (
    LSF_STATES,
    LsfScheduler,
    describe_lsf_reason,
    format_lsf_walltime,
    lsf_exec_host,
    lsf_memory,
    lsf_template_values,
    parse_bjobs_line,
)
from batchspawner_x.script import render
from batchspawner_x.states import JobState, JobStatus, StatusUnavailable
from batchspawner_x.units import optional_walltime_seconds

from .fakes import make_spawner
from .test_script import job_context

GOLDEN = Path(__file__).parent / "golden"
FORMAT = "jobid stat exec_host exit_code pend_reason delimiter='|'"


@pytest.fixture
def lsf() -> LsfScheduler:
    return LsfScheduler()


# ---------------------------------------------------------------------------
# bsub


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [
        ("Job <1815> is submitted to default queue <normal>.\n", "1815"),
        ("Job <1815> is submitted to queue <short>.\n", "1815"),
        ("Job <0> is submitted to default queue <normal>.", "0"),
        (
            # a site's esub reports the memory it set before bsub's own line
            "Memory reservation is (MB): 4000\nMemory Limit is (MB): 4000\n"
            "Job <2817201> is submitted to queue <normal>.\n",
            "2817201",
        ),
    ],
    ids=["default-queue", "named-queue", "zero", "esub-preamble"],
)
def test_parse_submit_job_id(lsf: LsfScheduler, stdout: str, job_id: str) -> None:
    assert lsf.submit_argv() == ["bsub"]
    assert lsf.parse_submit(CommandResult(0, stdout, "")) == job_id


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr", "message"),
    [
        (255, "", "nosuch: No such queue. Job not submitted.\n", "nosuch: No such queue. Job not submitted."),
        (255, "", "Bad queue name. Job not submitted.\n", "Bad queue name. Job not submitted."),
        (
            255,
            "",
            "Too many processors requested. Job not submitted.\n",
            "Too many processors requested. Job not submitted.",
        ),
        (
            255,
            "",
            "Error in rusage section. Job not submitted.\n",
            "Error in rusage section. Job not submitted.",
        ),
        (
            255,
            "",
            'Error near "select" : duplicate section. Job not submitted.\n',
            'Error near "select" : duplicate section. Job not submitted.',
        ),
        (
            255,
            "Memory reservation is (MB): 0\n",
            "Request aborted by esub. Job not submitted.\n",
            "Memory reservation is (MB): 0\nRequest aborted by esub. Job not submitted.",
        ),
        (
            255,
            "",
            "No command is specified in the script file. Job not submitted.\n",
            "No command is specified in the script file. Job not submitted.",
        ),
        (255, "", "", "exit status 255 and no output"),
    ],
    ids=[
        "no-such-queue",
        "bad-queue-name",
        "too-many-procs",
        "rusage",
        "duplicate",
        "esub",
        "empty",
        "silent",
    ],
)
def test_parse_submit_errors_carry_lsfs_words(
    lsf: LsfScheduler, returncode: int, stdout: str, stderr: str, message: str
) -> None:
    with pytest.raises(SubmitError) as info:
        lsf.parse_submit(CommandResult(returncode, stdout, stderr))
    assert info.value.scheduler_message == message
    assert info.value.returncode == returncode


@pytest.mark.parametrize(
    "stdout", ["", "Job <444> is subtted to default queue\n", "Job <fuzz> is submitted to queue <a>.\n"]
)
def test_parse_submit_rc0_without_job_id_is_an_error(lsf: LsfScheduler, stdout: str) -> None:
    with pytest.raises(SubmitError) as info:
        lsf.parse_submit(CommandResult(0, stdout, ""))
    assert info.value.scheduler_message.startswith("bsub printed no job id: ")


# ---------------------------------------------------------------------------
# bjobs -a -noheader -o "jobid stat exec_host exit_code pend_reason delimiter='|'"


def test_status_argv_asks_for_every_job_at_once(lsf: LsfScheduler) -> None:
    assert lsf.status_argv(["1815", "1816"]) == ["bjobs", "-a", "-noheader", "-o", FORMAT, "1815", "1816"]


def test_a_status_identity_asks_for_every_users_jobs() -> None:
    lsf = LsfScheduler(all_users=True)
    assert lsf.status_argv(["1815"]) == ["bjobs", "-a", "-noheader", "-o", FORMAT, "-u", "all", "1815"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "1815|PEND|-|-|New job is waiting for scheduling",
            JobStatus("1815", JobState.PENDING, "PEND", reason="New job is waiting for scheduling"),
        ),
        (
            "1815|PEND|-|-|Job's requirements for resource reservation not satisfied (Resource: mem);",
            JobStatus(
                "1815",
                JobState.PENDING,
                "PEND",
                reason="Job's requirements for resource reservation not satisfied (Resource: mem)",
            ),
        ),
        ("1815|WAIT|-|-|-", JobStatus("1815", JobState.PENDING, "WAIT")),
        (
            "1815|PSUSP|-|-|The job was suspended by the user while pending",
            JobStatus(
                "1815", JobState.HELD, "PSUSP", reason="The job was suspended by the user while pending"
            ),
        ),
        ("1815|RUN|node01|-|-", JobStatus("1815", JobState.RUNNING, "RUN", host="node01")),
        ("1815|RUN|node01:node01|-|-", JobStatus("1815", JobState.RUNNING, "RUN", host="node01")),
        ("1815|RUN|2*node01|-|-", JobStatus("1815", JobState.RUNNING, "RUN", host="node01")),
        ("1815|USUSP|node01|-|-", JobStatus("1815", JobState.SUSPENDED, "USUSP", host="node01")),
        ("1815|SSUSP|node01|-|-", JobStatus("1815", JobState.SUSPENDED, "SSUSP", host="node01")),
        ("1815|ZOMBI|node01|-|-", JobStatus("1815", JobState.FINISHING, "ZOMBI", host="node01")),
        ("1815|UNKWN|node01|-|-", JobStatus("1815", JobState.UNKNOWN, "UNKWN", host="node01")),
        ("1815|DONE|node01|-|-", JobStatus("1815", JobState.FINISHED, "DONE", host="node01", exit_code=0)),
        ("1815|EXIT|node01|3|-", JobStatus("1815", JobState.FINISHED, "EXIT", host="node01", exit_code=3)),
        ("1815|EXIT|node01|-|-", JobStatus("1815", JobState.FINISHED, "EXIT", host="node01")),
        ("1815|EXIT|-|-|-", JobStatus("1815", JobState.FINISHED, "EXIT")),
        (
            "1815|POST_DONE|node01|-|-",
            JobStatus("1815", JobState.FINISHED, "POST_DONE", host="node01", exit_code=0),
        ),
        ("1815|POST_ERR|node01|-|-", JobStatus("1815", JobState.FINISHED, "POST_ERR", host="node01")),
        ("1815|PDONE|node01|-|-", JobStatus("1815", JobState.FINISHED, "PDONE", host="node01", exit_code=0)),
        ("1815|PERR|node01|1|-", JobStatus("1815", JobState.FINISHED, "PERR", host="node01", exit_code=1)),
        # the predecessor's misspelling is not a state: unknown, and so alive
        ("1815|PUSP|-|-|-", JobStatus("1815", JobState.UNKNOWN, "PUSP")),
        ("1815|NEWSTATE|-|-|-", JobStatus("1815", JobState.UNKNOWN, "NEWSTATE")),
        # a reason with the delimiter in it stays whole; a running job has none
        (
            "1815|PEND|-|-|Not enough job slot(s): 3 hosts|2 more;",
            JobStatus("1815", JobState.PENDING, "PEND", reason="Not enough job slot(s): 3 hosts|2 more"),
        ),
        ("1815|RUN|node01|-|Stale reason", JobStatus("1815", JobState.RUNNING, "RUN", host="node01")),
    ],
)
def test_parse_bjobs_line(line: str, expected: JobStatus) -> None:
    assert parse_bjobs_line(line) == expected


def test_every_state_of_the_manual_is_mapped() -> None:
    manual = [
        "PEND",
        "RUN",
        "DONE",
        "EXIT",
        "PSUSP",
        "USUSP",
        "SSUSP",
        "POST_DONE",
        "POST_ERR",
        "UNKWN",
        "WAIT",
    ]
    manual.append("ZOMBI")
    assert set(manual) <= LSF_STATES.keys()
    alive = {s for s in manual if LSF_STATES[s].alive}
    assert alive == {"PEND", "RUN", "PSUSP", "USUSP", "SSUSP", "UNKWN", "WAIT", "ZOMBI"}


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("node01", "node01"),
        ("node01:node01", "node01"),
        ("2*node01", "node01"),
        ("4*node01:2*node02", "node01"),
        ("node01.example.org", "node01.example.org"),
        ("-", None),
        ("", None),
    ],
)
def test_exec_host_forms(text: str, host: str | None) -> None:
    assert lsf_exec_host(text) == host


@pytest.mark.parametrize("line", ["1815|RUN|node01", "RUN node01", "1815 RUN node01 - -"])
def test_unexpected_bjobs_line_is_unavailable(line: str) -> None:
    with pytest.raises(StatusUnavailable):
        parse_bjobs_line(line)


def bjobs(stdout: str = "", stderr: str = "", returncode: int = 0) -> CommandResult:
    return CommandResult(returncode, stdout, stderr)


def test_parse_status_many_jobs(lsf: LsfScheduler) -> None:
    result = bjobs("1815|RUN|node01|-|-\n1816|PEND|-|-|New job is waiting for scheduling\n1999|RUN|n9|-|-\n")
    statuses = lsf.parse_status(["1815", "1816"], result)
    assert statuses == {
        "1815": JobStatus("1815", JobState.RUNNING, "RUN", host="node01"),
        "1816": JobStatus("1816", JobState.PENDING, "PEND", reason="New job is waiting for scheduling"),
    }


def test_parse_status_purged_among_known_jobs(lsf: LsfScheduler) -> None:
    # seen: 255 when some ids are listed and others unknown
    result = bjobs("1815|DONE|node01|-|-\n", "Job <1816> is not found\n", 255)
    statuses = lsf.parse_status(["1815", "1816"], result)
    assert statuses["1815"] == JobStatus("1815", JobState.FINISHED, "DONE", host="node01", exit_code=0)
    assert statuses["1816"] == JobStatus("1816", JobState.GONE, "not found")


@pytest.mark.parametrize("returncode", [0, 255])
def test_parse_status_all_purged(lsf: LsfScheduler, returncode: int) -> None:
    result = bjobs("", "Job <1815> is not found\nJob <1816> is not found\n", returncode)
    statuses = lsf.parse_status(["1815", "1816"], result)
    assert {jid: s.state for jid, s in statuses.items()} == {"1815": JobState.GONE, "1816": JobState.GONE}
    assert not any(s.alive for s in statuses.values())


@pytest.mark.parametrize(
    "result",
    [
        bjobs("", "LSF is down. Please wait...\n", 255),
        bjobs("", "Cannot connect to LSF. Please wait...\n", 255),
        bjobs("", "batch system daemon not responding ... still trying\n", 255),
        bjobs("", "Failed in an LSF library call: Communication time out\n", 255),
        bjobs("1815|RUN|node01|-|-\n", "LSF is down. Please wait...\n", 255),
        bjobs("", "", 255),
        bjobs(""),  # a job neither listed nor reported unknown
        bjobs("garbage\n"),
    ],
    ids=[
        "down",
        "cannot-connect",
        "not-responding",
        "lslib",
        "partial-then-down",
        "silent-255",
        "empty",
        "garbage",
    ],
)
def test_failed_bjobs_is_unavailable_never_a_death(lsf: LsfScheduler, result: CommandResult) -> None:
    with pytest.raises(StatusUnavailable):
        lsf.parse_status(["1815"], result)


# ---------------------------------------------------------------------------
# bkill


@pytest.mark.parametrize(
    ("result", "failure"),
    [
        (CommandResult(0, "Job <1815> is being terminated\n", ""), None),
        (CommandResult(0, "Job <1815> is being signaled\n", ""), None),
        (CommandResult(255, "", "Job <1815>: Job has already finished\n"), None),
        (CommandResult(255, "", "Job <1815>: No matching job found\n"), None),
        (
            CommandResult(255, "", "Job <1815>: User permission denied\n"),
            "Job <1815>: User permission denied",
        ),
        (CommandResult(255, "", "LSF is down. Please wait...\n"), "LSF is down. Please wait..."),
        (CommandResult(255, "", ""), "exit status 255 and no output"),
    ],
)
def test_cancel(lsf: LsfScheduler, result: CommandResult, failure: str | None) -> None:
    assert lsf.cancel_argv("1815") == ["bkill", "1815"]
    assert lsf.cancel_failed(result) == failure


# ---------------------------------------------------------------------------
# reasons, walltime and memory


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("New job is waiting for scheduling", "the scheduler has not looked at it yet"),
        ("New job is waiting for scheduling;", "the scheduler has not looked at it yet"),
        ("Not enough job slot(s): 3 hosts;", "waiting for free cores"),
        ("The user has reached his/her job slot limit", "you are at your limit of running jobs"),
        ("The queue is inactivated by the administrator", "the queue is closed by an administrator"),
        ("Job dependency condition not satisfied", "waiting for another job to finish"),
        ("Some site-specific reason", "Some site-specific reason"),
    ],
)
def test_describe_reason(lsf: LsfScheduler, reason: str, words: str) -> None:
    assert lsf.describe_reason(reason) == words == describe_lsf_reason(reason)


@pytest.mark.parametrize(
    ("walltime", "seconds", "lsf"),
    [
        ("08:00:00", 28800, "08:00"),
        ("1-12:00:00", 129600, "36:00"),
        ("30", 1800, "00:30"),
        ("90", 5400, "01:30"),
        ("5:30", 330, "00:06"),  # Slurm's M:S, rounded up to a minute
        ("00:00:30", 30, "00:01"),
        ("1-0", 86400, "24:00"),
        ("2-03:04", 183840, "51:04"),
        ("100:00:00", 360000, "100:00"),
        ("", None, ""),
    ],
)
def test_walltime(walltime: str, seconds: int | None, lsf: str) -> None:
    assert optional_walltime_seconds("walltime", walltime) == seconds
    assert format_lsf_walltime(seconds) == lsf


@pytest.mark.parametrize(
    ("mb", "unit", "value"),
    [
        (4096, "MB", 4096),
        (4096, "KB", 4194304),
        (4096, "GB", 4),
        (1500, "GB", 2),
        (1, "TB", 1),
        (None, "MB", None),
    ],
)
def test_memory_units(mb: int | None, unit: str, value: int | None) -> None:
    assert lsf_memory(mb, unit) == value


@pytest.mark.parametrize(
    ("memory_request", "resources", "limit"),
    [
        ("both", "rusage[mem=4096] span[hosts=1]", 4096),
        ("rusage", "rusage[mem=4096] span[hosts=1]", None),
        ("limit", "span[hosts=1]", 4096),
    ],
)
def test_memory_request(memory_request: str, resources: str, limit: int | None) -> None:
    values = lsf_template_values(
        walltime_seconds=3600, memory_mb=4096, memory_request=memory_request, unit="MB"
    )
    assert values == {"lsf_walltime": "01:00", "lsf_resources": resources, "lsf_memory_limit": limit}


# ---------------------------------------------------------------------------
# the template


def lsf_context(**kwargs: Any) -> dict[str, Any]:
    request = kwargs.pop("memory_request", "both")
    unit = kwargs.pop("unit", "MB")
    options = {"memory_request": request, "lsf_unit_for_limits": unit}
    return job_context(scheduler=LsfScheduler(), options=options, **kwargs)


def example() -> dict[str, Any]:
    return lsf_context(
        user="alice",
        home="/home/alice",
        partition="normal",
        mem_limit=4 * 2**30,
        cpu_limit=2,
        extra_directives=("-app jupyter",),
    )


def full() -> dict[str, Any]:
    return lsf_context(
        user="bob",
        server="gpu",
        home="/home/bob",
        workdir="/scratch/bob",
        partition="gpu",
        account="proj42",
        walltime="1-12:00:00",
        gpus=1,
        mem_limit=16 * 2**30,
        cpu_limit=7.5,
        prologue="module load python/3.11\nsource /opt/venvs/jupyter/bin/activate",
        epilogue='echo "server exited with $rc"',
        node_command=("/opt/venvs/jupyter/bin/batchspawner-x-singleuser",),
        cmd=("jupyterhub-singleuser", "--debug"),
        unit="GB",
    )


def test_golden_example() -> None:
    assert render("lsf.sh.j2", example()) == (GOLDEN / "lsf_example.sh").read_text()


def test_golden_full() -> None:
    assert render("lsf.sh.j2", full()) == (GOLDEN / "lsf_full.sh").read_text()


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("partition", "#BSUB -q "),
        ("account", "#BSUB -P "),
        ("time_limit", "#BSUB -W "),
        ("cpus", "#BSUB -n "),
        ("lsf_memory_limit", "#BSUB -M "),
        ("gpus", "#BSUB -gpu "),
    ],
)
def test_directives_only_when_set(key: str, line: str) -> None:
    context = full()
    assert line in render("lsf.sh.j2", context)
    context[key] = (
        None if key in ("cpus", "lsf_memory_limit") else ("" if isinstance(context[key], str) else 0)
    )
    script = render("lsf.sh.j2", context)
    assert line not in script
    assert len(script.splitlines()) == len((GOLDEN / "lsf_full.sh").read_text().splitlines()) - 1


def test_site_template_replaces_one_block(tmp_path: Path) -> None:
    (tmp_path / "lsf.sh.j2").write_text(
        '{% extends "batchspawner_x/lsf.sh.j2" %}\n{% block setup %}module load site\n{% endblock %}\n'
    )
    script = render("lsf.sh.j2", example(), (str(tmp_path),))
    assert "module load site\n# The node side of batchspawner_x" in script
    assert '#BSUB -R "rusage[mem=4096] span[hosts=1]"' in script


# ---------------------------------------------------------------------------
# LsfSpawner


def spawner(**traits: Any) -> LsfSpawner:
    return make_spawner(cls=LsfSpawner, **traits)[0]


async def test_spawner_renders_the_sites_units() -> None:
    s = spawner(
        partition="normal", walltime="08:00:00", mem_limit="4G", cpu_limit=2.0, lsf_unit_for_limits="GB"
    )
    script = await s.render_script()
    assert '#BSUB -R "rusage[mem=4] span[hosts=1]"\n#BSUB -M 4\n' in script
    assert "#BSUB -o /home/alice/.batchspawner_x/alice/job-%J.out\n" in script
    assert "#BSUB -W 08:00\n#BSUB -n 2\n" in script
    assert s.scheduler.output_name("1815") == "job-1815.out"


async def test_spawner_memory_as_reservation_only() -> None:
    script = await spawner(mem_limit="1G", memory_request="rusage").render_script()
    assert '#BSUB -R "rusage[mem=1024] span[hosts=1]"' in script
    assert "#BSUB -M" not in script


async def test_spawner_refuses_qos() -> None:
    with pytest.raises(ConfigError) as info:
        await spawner(qos="high").render_script()
    assert info.value.field == "qos"


# -- finding a submission by its identity (bsub -Jd, bjobs -o job_description) -------------

IDENTITY = "bsx-0123456789abcdef"


def test_submit_puts_the_identity_in_the_job_description() -> None:
    lsf = LsfScheduler()
    assert lsf.submit_argv(IDENTITY) == ["bsub", "-Jd", IDENTITY]
    assert lsf.identity_field is not None


def test_lookup_lists_the_users_own_jobs_finished_ones_too() -> None:
    argv = LsfScheduler(all_users=True).lookup_argv(IDENTITY)
    # never "-u all", even with a status identity: a lookup runs over the user's login
    assert argv == ["bjobs", "-a", "-noheader", "-o", "jobid job_description delimiter='|'"]


def test_lookup_finds_every_job_of_the_identity_lowest_first() -> None:
    stdout = (
        "Last login: Thu Dec  3 09:12:44 2026 from 10.0.0.5\n"  # a login shell's greeting
        f"1822|{IDENTITY}\n"
        "1815|-\n"  # a job without a description
        "1816|bsx-fedcba9876543210\n"  # another spawn's job
        f"1817|{IDENTITY}\n"
        f"1818|my analysis {IDENTITY}x\n"  # not the same word
    )
    assert LsfScheduler().parse_lookup(IDENTITY, CommandResult(0, stdout, "")) == ["1817", "1822"]


@pytest.mark.parametrize("returncode", [0, 255])
def test_lookup_of_a_user_without_jobs_finds_none(returncode: int) -> None:
    result = CommandResult(returncode, "", "No job found\n")
    assert LsfScheduler().parse_lookup(IDENTITY, result) == []


@pytest.mark.parametrize(
    "result",
    [
        CommandResult(255, "", "LSF is down. Please wait...\n"),
        CommandResult(255, "", "job_description: Illegal field name\n"),
        CommandResult(255, "", ""),
        CommandResult(0, "", "Cannot connect to LSF. Please wait ...\n"),
    ],
)
def test_a_failed_lookup_is_unavailable_never_no_job(result: CommandResult) -> None:
    with pytest.raises(StatusUnavailable):
        LsfScheduler().parse_lookup(IDENTITY, result)
