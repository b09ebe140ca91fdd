"""CondorScheduler, the submit description template, its quoting and CondorSpawner.

Output lines follow shared/scheduler-formats.md (condor_submit's "N job(s)
submitted to cluster C.", the JobStatus codes 0 to 7, RemoteHost
``slot1@node01.example.org``) and HTCondor's sources for the messages
(condor_submit.V6/submit.cpp: "\\nERROR: I don't know about the '%s'
universe.", ""%s" doesn't contain any "queue" commands"; condor_tools/tool.cpp:
"Couldn't find/remove all jobs in cluster %d."). The status command is
``condor_q IDS -af:j JobStatus RemoteHost ExitCode JobCurrentStartDate MaxRuntime HoldReason``: the same facts
as the ``-format "%s, " JobStatus -format "%s" RemoteHost`` lines of the shared
formats, in a form whose free-text field (HoldReason) comes last.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from batchspawner_x import CondorSpawner
from batchspawner_x.errors import ConfigError, SubmitError, TemplateError
from batchspawner_x.node_side import node_files
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.condor import (
    CONDOR_JOB_STATUS,
    CondorScheduler,
    bash_eval,
    condor_arguments,
    condor_host,
    condor_job_arguments,
    condor_template_values,
    exit_code_from_history,
    parse_condor_q_line,
)
from batchspawner_x.script import render
from batchspawner_x.states import JobState, JobStatus, StatusUnavailable

from .fakes import make_spawner
from .test_script import job_context

GOLDEN = Path(__file__).parent / "golden"
EMULATOR = Path(__file__).resolve().parents[1] / "emulators" / "condor" / "condoremu.py"


@pytest.fixture
def condor() -> CondorScheduler:
    return CondorScheduler()


@pytest.fixture(scope="module")
def emulator() -> ModuleType:
    """The emulator's reading of the submit language (the same rules, written apart)."""
    spec = importlib.util.spec_from_file_location("condoremu", EMULATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------
# condor_submit


@pytest.mark.parametrize(
    ("stdout", "stderr", "job_id"),
    [
        ("Submitting job(s).\n1 job(s) submitted to cluster 19.\n", "", "19"),
        ("Submitting job(s).\n1 job(s) submitted to cluster 1234567.\n", "", "1234567"),
        (
            "Submitting job(s).\n1 job(s) submitted to cluster 19.\n",
            "\nWARNING: the line 'foo = bar' was unused by condor_submit. Is it a typo?\n",
            "19",
        ),
    ],
    ids=["plain", "large", "warning"],
)
def test_parse_submit_cluster_id(condor: CondorScheduler, stdout: str, stderr: str, job_id: str) -> None:
    assert condor.submit_argv() == ["condor_submit"]  # description on stdin, normal output
    assert condor.parse_submit(CommandResult(0, stdout, stderr)) == job_id


@pytest.mark.parametrize(
    ("stdout", "stderr", "message"),
    [
        (
            "Submitting job(s)",
            "\nERROR: I don't know about the 'nosuchuniverse' universe.\n",
            "I don't know about the 'nosuchuniverse' universe.",
        ),
        (
            "Submitting job(s)",
            '\nERROR: "(null)" doesn\'t contain any "queue" commands -- no jobs queued\n',
            '"(null)" doesn\'t contain any "queue" commands -- no jobs queued',
        ),
        (
            "Submitting job(s)",
            "\nERROR: Failed to parse command file (line 3).\n",
            "Failed to parse command file (line 3).",
        ),
        ("", "\nERROR: Can't find address of local schedd\n", "Can't find address of local schedd"),
        (
            "Submitting job(s)",
            "\nERROR: Failed to commit job submission into the queue.\nERROR: Submit requirement X not met\n",
            "Failed to commit job submission into the queue.\nSubmit requirement X not met",
        ),
        ("Submitting job(s)", "", "exit status 1 and no output"),
    ],
    ids=["universe", "no-queue", "parse", "no-schedd", "requirements", "silent"],
)
def test_parse_submit_errors_carry_htcondors_words(
    condor: CondorScheduler, stdout: str, stderr: str, message: str
) -> None:
    with pytest.raises(SubmitError) as info:
        condor.parse_submit(CommandResult(1, stdout, stderr))
    assert info.value.scheduler_message == message
    assert info.value.returncode == 1


@pytest.mark.parametrize("stdout", ["", "Submitting job(s).\n", "19.0 - 19.0\n"])
def test_parse_submit_rc0_without_cluster_is_an_error(condor: CondorScheduler, stdout: str) -> None:
    with pytest.raises(SubmitError) as info:
        condor.parse_submit(CommandResult(0, stdout, ""))
    assert info.value.scheduler_message.startswith("condor_submit printed no cluster id")


# ---------------------------------------------------------------------------
# condor_q IDS -af:j JobStatus RemoteHost ExitCode JobCurrentStartDate MaxRuntime HoldReason


def test_status_argv_asks_for_every_job_at_once(condor: CondorScheduler) -> None:
    assert condor.status_argv(["19", "20"]) == [
        "condor_q",
        "19",
        "20",
        "-af:j",
        "JobStatus",
        "RemoteHost",
        "ExitCode",
        "JobCurrentStartDate",
        "MaxRuntime",
        "HoldReason",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "19.0 0 undefined undefined undefined undefined undefined",
            JobStatus("19", JobState.PENDING, "Unexpanded"),
        ),
        (
            "19.0 1 undefined undefined undefined undefined undefined",
            JobStatus("19", JobState.PENDING, "Idle"),
        ),
        (
            "19.0 2 slot1@node01.example.org undefined undefined undefined undefined",
            JobStatus("19", JobState.RUNNING, "Running", host="node01.example.org"),
        ),
        (
            "19.0 2 slot1_3@node01.example.org undefined undefined undefined undefined",
            JobStatus("19", JobState.RUNNING, "Running", host="node01.example.org"),
        ),
        (
            "19.0 3 slot1@node01.example.org undefined undefined undefined undefined",
            JobStatus("19", JobState.FINISHING, "Removed", host="node01.example.org"),
        ),
        (
            "19.0 4 undefined 0 undefined undefined undefined",
            JobStatus("19", JobState.FINISHED, "Completed", exit_code=0),
        ),
        (
            "19.0 4 undefined 3 undefined undefined undefined",
            JobStatus("19", JobState.FINISHED, "Completed", exit_code=3),
        ),
        (
            "19.0 5 undefined undefined undefined undefined via condor_hold (by user dave)",
            JobStatus("19", JobState.HELD, "Held", reason="via condor_hold (by user dave)"),
        ),
        (
            "19.0 5 undefined undefined undefined undefined "
            "Error from slot1@node01: Failed to execute '/x': (errno=2: 'No such file')",
            JobStatus(
                "19",
                JobState.HELD,
                "Held",
                reason="Error from slot1@node01: Failed to execute '/x': (errno=2: 'No such file')",
            ),
        ),
        (
            "19.0 6 slot1@node01.example.org undefined undefined undefined undefined",
            JobStatus("19", JobState.FINISHING, "Transferring Output", host="node01.example.org"),
        ),
        (
            "19.0 7 slot1@node01.example.org undefined undefined undefined undefined",
            JobStatus("19", JobState.SUSPENDED, "Suspended", host="node01.example.org"),
        ),
        ("19.0 9 undefined undefined undefined undefined undefined", JobStatus("19", JobState.UNKNOWN, "9")),
        # a hold reason kept from before a release does not make an idle job held
        (
            "19.0 1 undefined undefined undefined undefined via condor_hold",
            JobStatus("19", JobState.PENDING, "Idle"),
        ),
    ],
)
def test_parse_condor_q_line(line: str, expected: JobStatus) -> None:
    assert parse_condor_q_line(line) == expected


def test_a_running_jobs_start_and_max_runtime() -> None:
    # JobCurrentStartDate in seconds since the epoch; MaxRuntime as the description sets it
    status = parse_condor_q_line("19.0 2 slot1@node01 undefined 1796401800 180 undefined")
    assert (status.start_time, status.time_limit_seconds) == ("1796401800", 180)
    # an idle job has no start, and a job without MaxRuntime no limit
    status = parse_condor_q_line("19.0 1 undefined undefined undefined undefined undefined")
    assert (status.start_time, status.time_limit_seconds) == (None, None)


def test_every_job_status_code_is_mapped() -> None:
    assert set(CONDOR_JOB_STATUS) == {"0", "1", "2", "3", "4", "5", "6", "7"}
    alive = {code for code, (_, state) in CONDOR_JOB_STATUS.items() if state.alive}
    assert alive == {"0", "1", "2", "3", "5", "6", "7"}


@pytest.mark.parametrize(
    ("text", "host"),
    [("slot1@node01.example.org", "node01.example.org"), ("slot1_1@n2", "n2"), ("undefined", None)],
)
def test_remote_host(text: str, host: str | None) -> None:
    assert condor_host(text) == host


@pytest.mark.parametrize("line", ["19.0 2 slot1@n", "2, slot1@node01.example.org", "x.0 2 a b c"])
def test_unexpected_condor_q_line_is_unavailable(line: str) -> None:
    with pytest.raises(StatusUnavailable):
        parse_condor_q_line(line)


def test_parse_status_many_jobs_and_jobs_that_left_the_queue(condor: CondorScheduler) -> None:
    result = CommandResult(
        0,
        "19.0 2 slot1@node01 undefined undefined undefined undefined\n"
        "20.0 1 undefined undefined undefined undefined undefined\n"
        "20.1 2 slot2@node01 undefined undefined undefined undefined\n"
        "99.0 2 slot3@node01 undefined undefined undefined undefined\n",
    )
    statuses = condor.parse_status(["19", "20", "21"], result)
    assert statuses == {
        "19": JobStatus("19", JobState.RUNNING, "Running", host="node01"),
        "20": JobStatus("20", JobState.PENDING, "Idle"),
        # completed or removed: in the history now, finished (exit code from condor_history)
        "21": JobStatus("21", JobState.FINISHED, "left the queue"),
    }


@pytest.mark.parametrize(
    "result",
    [
        CommandResult(
            1,
            "",
            "\n-- Failed to fetch ads from: <127.0.0.1:9618?addrs=127.0.0.1-9618> : submit.example.org\n"
            "CEDAR:6001:Failed to connect to <127.0.0.1:9618>\n",
        ),
        CommandResult(1, "", "Error: Couldn't contact the condor_collector on cm.example.org.\n"),
        CommandResult(0, "garbage\n", ""),
    ],
    ids=["schedd-down", "collector-down", "garbage"],
)
def test_failed_condor_q_is_unavailable_never_a_death(condor: CondorScheduler, result: CommandResult) -> None:
    with pytest.raises(StatusUnavailable):
        condor.parse_status(["19"], result)


# ---------------------------------------------------------------------------
# condor_history (exit code) and condor_rm


def test_exit_code_argv(condor: CondorScheduler) -> None:
    assert condor.exit_code_argv("19") == [
        "condor_history",
        "19",
        "-limit",
        "1",
        "-af",
        "ExitBySignal",
        "ExitCode",
        "ExitSignal",
    ]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("false 0 undefined\n", 0),
        ("false 3 undefined\n", 3),
        ("true undefined 9\n", 137),
        ("undefined undefined undefined\n", None),  # removed before it ended
        ("", None),
    ],
)
def test_exit_code_from_history(condor: CondorScheduler, text: str, code: int | None) -> None:
    assert condor.parse_exit_code(text) == code == exit_code_from_history(text)


@pytest.mark.parametrize(
    ("result", "failure"),
    [
        (CommandResult(0, "Cluster 19 has been marked for removal.\n", ""), None),
        (CommandResult(0, "All jobs in cluster 19 have been marked for removal\n", ""), None),
        (CommandResult(1, "", "Couldn't find/remove all jobs in cluster 19.\n"), None),
        (
            CommandResult(
                1,
                "",
                "AUTHENTICATE:1003:Failed to authenticate\nCouldn't find/remove all jobs in cluster 19.\n",
            ),
            "AUTHENTICATE:1003:Failed to authenticate\nCouldn't find/remove all jobs in cluster 19.",
        ),
        (CommandResult(1, "", ""), "exit status 1 and no output"),
    ],
)
def test_cancel(condor: CondorScheduler, result: CommandResult, failure: str | None) -> None:
    assert condor.cancel_argv("19") == ["condor_rm", "19"]
    assert condor.cancel_failed(result) == failure


def test_describe_hold_reason(condor: CondorScheduler) -> None:
    assert (
        condor.describe_reason("via condor_hold (by user dave)")
        == "held by HTCondor: via condor_hold (by user dave)"
    )


# ---------------------------------------------------------------------------
# quoting: no value can add a submit line or be changed by HTCondor


@pytest.mark.parametrize(
    ("argv", "value"),
    [
        (["3", "simple", "arguments"], '"3 simple arguments"'),
        (["one", "two with spaces", "3"], "\"one 'two with spaces' 3\""),
        (["one", '"two"', "spacey 'quoted' argument"], "\"one \"\"two\"\" 'spacey ''quoted'' argument'\""),
        (["", "x"], "\"'' x\""),
        (["it's"], "\"'it''s'\""),
        (
            ["$(HOME)", "$$(Name)", "$ENV(PATH)", "a$b", "cost$", "$'x'"],
            "\"$(DOLLAR)(HOME) $(DOLLAR)$(DOLLAR)(Name) $(DOLLAR)ENV(PATH) a$(DOLLAR)b cost$ '$''x'''\"",
        ),
        (["tab\tinside"], None),
    ],
)
def test_condor_arguments(argv: list[str], value: str | None) -> None:
    if value is None:
        with pytest.raises(ValueError):
            condor_arguments(argv)
    else:
        assert condor_arguments(argv) == value


@pytest.mark.parametrize("bad", ["two\nlines", "carriage\rreturn", "nul\x00", "bell\x07"])
def test_condor_arguments_refuse_line_breaks_and_control_characters(bad: str) -> None:
    with pytest.raises(ValueError, match="line break or control character"):
        condor_arguments(["ok", bad])


@pytest.mark.parametrize(
    "argv",
    [
        ["3", "simple", "arguments"],
        ["one", "two with spaces", "3"],
        ["one", '"two"', "spacey 'quoted' argument"],
        ["", "''", '""', "'\"'\"'"],
        ["x = y", "queue", "#hash", "a\\", "\\"],
    ],
)
def test_condor_arguments_round_trip_through_the_submit_language(
    emulator: ModuleType, argv: list[str]
) -> None:
    value = condor_arguments(argv)
    assert "\n" not in value
    assert emulator.parse_arguments(emulator.expand(value, {})) == argv


def test_bash_eval() -> None:
    assert (
        bash_eval("set -eu\nexec x 'a b' \"$HOME\"\\\t")
        == "eval $'set -eu\\nexec x \\'a b\\' \"\\x24HOME\"\\\\\\t'"
    )


def test_job_arguments_run_the_script_as_written(emulator: ModuleType, tmp_path: Path) -> None:
    script = (
        "set -eu\n"
        'echo "it\'s $((1 + 2)) \\\\ ok"\n'
        "if true; then\n"
        "  printf '%s|' \"$@\" a 'b c' \"d'e\" '$(not run)'\n"
        "fi\n"
        "echo\n"
        "exit 4\n"
    )
    line = f"arguments = {condor_job_arguments(script)}"
    assert "\n" not in line
    commands, _, _ = emulator.parse_submit(line + "\nqueue\n")
    argv = emulator.parse_arguments(emulator.expand(commands["arguments"], {}))
    out = subprocess.run(["/bin/bash", *argv], capture_output=True, text=True, timeout=10, cwd=tmp_path)
    assert (out.returncode, out.stdout) == (4, "it's 3 \\ ok\na|b c|d'e|$(not run)|\n")


# ---------------------------------------------------------------------------
# the template


def condor_context(*, walltime_directive: str = "both", **kwargs: Any) -> dict[str, Any]:
    context = job_context(**kwargs)
    context["output"] = context["job_dir"] + "/job.out"
    context.update(
        condor_template_values(
            job_dir=context["job_dir"],
            home=kwargs["home"],
            walltime_directive=walltime_directive,
        )
    )
    return context


def example() -> dict[str, Any]:
    return condor_context(
        user="alice",
        home="/home/alice",
        mem_limit=4 * 2**30,
        cpu_limit=2,
        extra_directives=('requirements = (OpSysAndVer == "AlmaLinux9")',),
    )


def full() -> dict[str, Any]:
    return condor_context(
        user="bob",
        server="gpu",
        home="/home/bob",
        workdir="/scratch/bob",
        account="group_physics",
        walltime="1-12:00:00",
        gpus=1,
        mem_limit=16 * 2**30,
        cpu_limit=7.5,
        prologue='module load python/3.11\nexport PATH="$HOME/bin:$PATH"',
        epilogue='echo "server exited with $rc"',
        node_command=("/opt/venvs/jupyter/bin/batchspawner-x-singleuser",),
        cmd=("jupyterhub-singleuser", "--debug"),
        extra_directives=("requirements = (CUDACapability >= 7.0)", '+ProjectName = "physics"'),
        walltime_directive="periodic_remove",
    )


def rendered(context: dict[str, Any], paths: tuple[str, ...] = ()) -> str:
    return render("condor.sub.j2", context, paths, require_shebang=False)


def test_golden_example() -> None:
    assert rendered(example()) == (GOLDEN / "condor_example.sub").read_text()


def test_golden_full() -> None:
    assert rendered(full()) == (GOLDEN / "condor_full.sub").read_text()


def test_golden_full_is_what_condor_submit_reads(emulator: ModuleType) -> None:
    commands, attributes, queued = emulator.parse_submit(rendered(full()))
    assert queued == 1
    assert attributes == {"ProjectName": '"physics"'}
    assert commands["request_memory"] == "16384" and commands["request_cpus"] == "8"
    argv = emulator.parse_arguments(emulator.expand(commands["arguments"], {}))
    assert argv[0] == "-c"
    assert argv[1] == (
        "eval $'exec 2>&1\\nset -eu\\nmodule load python/3.11\\n"
        'export PATH="\\x24HOME/bin:\\x24PATH"\\n'
        "# The server runs as a child so that the epilogue runs after it: the scheduler\\'s early\\n"
        "# signal (USR1) and its end signal (TERM), which reach only this shell, are passed on.\\n"
        "rc=0\\n"
        "/opt/venvs/jupyter/bin/batchspawner-x-singleuser "
        "--env-file /home/bob/.batchspawner_x/bob-gpu/env.json "
        "-- jupyterhub-singleuser --debug &\\n"
        "bsx_server=\\x24!\\n"
        "trap \\'kill -USR1 \"\\x24bsx_server\" 2>/dev/null || :\\' USR1\\n"
        "trap \\'kill -TERM \"\\x24bsx_server\" 2>/dev/null || :\\' TERM\\n"
        'while wait "\\x24bsx_server" || rc=\\x24?; kill -0 "\\x24bsx_server" 2>/dev/null; do rc=0; done\\n'
        'echo "server exited with \\x24rc"\\nexit "\\x24rc"\\n\''
    )


@pytest.mark.parametrize(
    ("walltime_directive", "lines"),
    [
        ("both", ["+MaxRuntime = 28800", "periodic_remove = "]),
        ("max_runtime", ["+MaxRuntime = 28800"]),
        ("periodic_remove", ["periodic_remove = "]),
    ],
)
def test_walltime_directive(walltime_directive: str, lines: list[str]) -> None:
    text = rendered(condor_context(user="a", home="/home/a", walltime_directive=walltime_directive))
    found = [line for line in ("+MaxRuntime = 28800", "periodic_remove = ") if line in text]
    assert found == lines


def test_no_limits_no_lines() -> None:
    text = rendered(condor_context(user="a", home="/home/a", walltime=""))
    for word in (
        "request_cpus",
        "request_memory",
        "request_gpus",
        "accounting_group",
        "MaxRuntime",
        "periodic_remove",
    ):
        assert word not in text


def test_site_template_replaces_one_block(tmp_path: Path, emulator: ModuleType) -> None:
    (tmp_path / "condor.sub.j2").write_text(
        '{% extends "batchspawner_x/condor.sub.j2" %}\n'
        "{% block setup %}module load site\n{% endblock %}\n"
        "{% block directives %}{{ super() }}+Site = True\n{% endblock %}\n"
    )
    text = rendered(example(), (str(tmp_path),))
    commands, attributes, _ = emulator.parse_submit(text)
    assert attributes == {"MaxRuntime": "28800", "Site": "True"}
    assert "\\nmodule load site\\n# The node side of batchspawner_x" in commands["arguments"]


# ---------------------------------------------------------------------------
# CondorSpawner


def spawner(**traits: Any) -> CondorSpawner:
    return make_spawner(cls=CondorSpawner, **traits)[0]


async def test_spawner_renders_a_submit_description() -> None:
    text = await spawner(walltime="01:00:00", mem_limit="1G", cpu_limit=2.0).render_script()
    assert not text.startswith("#!")
    assert "request_cpus = 2\nrequest_memory = 1024\n" in text
    assert 'environment = "HOME=/home/alice"\n' in text
    assert "+MaxRuntime = 3600\n" in text
    assert text.endswith("\nqueue\n")
    assert spawner().scheduler.output_name("19") == "job.out"


@pytest.mark.parametrize("field", ["partition", "qos"])
async def test_spawner_refuses_queues_and_qos(field: str) -> None:
    with pytest.raises(ConfigError) as info:
        await spawner(**{field: "debug"}).render_script()
    assert info.value.field == field


# -- finding a submission by its identity (+BsxSubmission, condor_q -constraint) ----------

IDENTITY = "bsx-0123456789abcdef"


def test_submit_appends_the_identity_as_a_job_attribute(
    condor: CondorScheduler, emulator: ModuleType
) -> None:
    argv = condor.submit_argv(IDENTITY)
    assert argv == ["condor_submit", "-append", f'+BsxSubmission = "{IDENTITY}"']
    assert condor.identity_field is not None
    # the appended line is a custom attribute in the submit language
    _, attributes, _ = emulator.parse_submit(argv[2] + "\nqueue\n")
    assert attributes == {"BsxSubmission": f'"{IDENTITY}"'}


def test_lookup_asks_condor_q_for_the_attribute(condor: CondorScheduler) -> None:
    assert CondorScheduler(all_users=True).lookup_argv(IDENTITY) == [
        "condor_q",  # the user's own jobs: never -allusers, a lookup runs as the user
        "-constraint",
        f'BsxSubmission == "{IDENTITY}"',
        "-af",
        "ClusterId",
        "ProcId",
        "BsxSubmission",
    ]


def test_lookup_finds_every_job_of_the_identity_lowest_first(condor: CondorScheduler) -> None:
    stdout = (
        "Welcome to the submit node\n"  # a login shell's greeting
        f"31 0 {IDENTITY}\n"
        f"19 0 {IDENTITY}\n"
        "20 0 bsx-fedcba9876543210\n"  # another identity (a condor_q that ignored the constraint)
        "21 0 undefined\n"
    )
    assert condor.parse_lookup(IDENTITY, CommandResult(0, stdout, "")) == ["19", "31"]
    assert condor.parse_lookup(IDENTITY, CommandResult(0, "", "")) == []


@pytest.mark.parametrize(
    "result",
    [
        CommandResult(1, "", "\n-- Failed to fetch ads from: <10.0.0.1:9618> : submit01\n"),
        CommandResult(1, "", "Error: Can't find address of local schedd\n"),
        CommandResult(1, "", "Error: Invalid constraint: BsxSubmission ==\n"),
    ],
)
def test_a_failed_lookup_is_unavailable_never_no_job(condor: CondorScheduler, result: CommandResult) -> None:
    with pytest.raises(StatusUnavailable):
        condor.parse_lookup(IDENTITY, result)


def test_the_node_side_survives_the_quoting_into_arguments(tmp_path: Path, emulator: ModuleType) -> None:
    # the real files, not stand-ins: every byte of them passes through HTCondor's quoting
    context = job_context(user="alice", home=str(tmp_path), node_files=node_files())
    context.update(
        condor_template_values(job_dir=str(tmp_path), home=str(tmp_path), walltime_directive="both")
    )
    commands, _, _ = emulator.parse_submit(rendered(context))
    argv = emulator.parse_arguments(emulator.expand(commands["arguments"], {}))
    # runs to the node side, which stops: the hub wrote no env.json here
    out = subprocess.run(["/bin/bash", *argv], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert out.returncode == 2
    assert "batchspawner-x-singleuser: cannot read the server environment" in out.stdout
    node = Path(context["node_dir"])
    for f in node_files():
        assert (node / f.path).read_text() == f.text


async def test_a_predecessor_submit_file_cannot_carry_the_node_side() -> None:
    spawner, _ = make_spawner(cls=CondorSpawner, name="dave")
    spawner.batch_script = "executable = /bin/sh\narguments = \"-c '{cmd}'\"\nqueue\n"
    with pytest.raises(TemplateError, match="cannot carry the node side"):
        await spawner.render_script(home="/home/dave")
    spawner.node_command = ["batchspawner-x-singleuser"]
    assert "-c 'batchspawner-x-singleuser --env-file" in await spawner.render_script(home="/home/dave")
