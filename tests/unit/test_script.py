"""Job script rendering: golden files, site overrides, strictness and injection."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from batchspawner_x.errors import TemplateError
from batchspawner_x.jobspec import JobPlace, JobSettings, make_job_context
from batchspawner_x.node_side import NodeFile
from batchspawner_x.profiles import Choice
from batchspawner_x.schedulers.base import Scheduler
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.script import packaged_template_dir, render

from .node_stand_in import STAND_INS

GOLDEN = Path(__file__).parent / "golden"
TEMPLATE = "slurm.sh.j2"


def job_context(
    *,
    user: str,
    server: str = "",
    home: str,
    workdir: str = "",
    partition: str = "",
    account: str = "",
    qos: str = "",
    walltime: str = "08:00:00",
    gpus: int = 0,
    mem_limit: int | None = None,
    cpu_limit: float | None = None,
    extra_directives: tuple[str, ...] = (),
    prologue: str = "",
    epilogue: str = "",
    node_command: tuple[str, ...] = (),
    cmd: tuple[str, ...] = ("jupyterhub-singleuser",),
    scheduler: Scheduler | None = None,
    options: Mapping[str, Any] | None = None,
    node_files: tuple[NodeFile, ...] = STAND_INS,
    warning_seconds: tuple[int, ...] = (),
) -> dict[str, Any]:
    """The context a spawner renders with (a SlurmSpawner's unless ``scheduler`` is
    given, with the settings of its spawner class in ``options``), from the pure job
    specification."""
    key = user + (f"-{server}" if server else "")
    job_dir = f"{home}/.batchspawner_x/{key}"
    settings = JobSettings(
        partition=partition,
        account=account,
        qos=qos,
        walltime=walltime,
        gpus=gpus,
        mem_limit=mem_limit,
        cpu_limit=cpu_limit,
        workdir=workdir,
        extra_directives=extra_directives,
        prologue=prologue,
        epilogue=epilogue,
        node_command=node_command,
        server_command=cmd,
        scheduler_options=options or {},
        node_files=node_files,
        warning_seconds=warning_seconds,
    )
    return make_job_context(
        settings,
        Choice(profile=""),
        JobPlace(user, server, "jupyter-" + key, job_dir, home, f"{job_dir}/env.json"),
        scheduler or SlurmScheduler(),
    )


def example_context() -> dict[str, Any]:
    """The issue's example: partition interactive, 8 h, 4 GiB, 2 CPUs, one extra directive."""
    return job_context(
        user="alice",
        home="/home/alice",
        partition="interactive",
        walltime="08:00:00",
        mem_limit=4 * 2**30,
        cpu_limit=2,
        extra_directives=("--constraint=skylake",),
    )


def full_context() -> dict[str, Any]:
    return job_context(
        user="bob",
        server="gpu",
        home="/home/bob",
        workdir="/scratch/bob",
        partition="gpu",
        account="proj42",
        qos="high",
        walltime="1-12:00:00",
        gpus=1,
        mem_limit=16 * 2**30,
        cpu_limit=7.5,
        prologue="module load python/3.11\nsource /opt/venvs/jupyter/bin/activate",
        epilogue='echo "server exited with $rc"',
        node_command=("/opt/venvs/jupyter/bin/batchspawner-x-singleuser",),
        cmd=("jupyterhub-singleuser", "--debug"),
        warning_seconds=(900, 300),
    )


def golden(name: str) -> str:
    return (GOLDEN / name).read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# golden files


def test_golden_example() -> None:
    assert render(TEMPLATE, example_context()) == golden("slurm_example.sh")


def test_golden_full() -> None:
    assert render(TEMPLATE, full_context()) == golden("slurm_full.sh")


def test_packaged_template_reachable_by_prefix() -> None:
    assert render("batchspawner_x/slurm.sh.j2", example_context()) == golden("slurm_example.sh")


SHELL_TEMPLATES = ["lsf.sh.j2", "moab.sh.j2", "pbs.sh.j2", "sge.sh.j2", "slurm.sh.j2", "torque.sh.j2"]


def test_every_template_extends_the_one_shared_body() -> None:
    packaged = packaged_template_dir()
    assert sorted(p.name for p in packaged.glob("*.sh.j2")) == sorted(
        ["base.sh.j2", "node_side.sh.j2", *SHELL_TEMPLATES]
    )
    for name in SHELL_TEMPLATES:
        text = (packaged / name).read_text(encoding="utf-8")
        assert '{% extends "batchspawner_x/base.sh.j2" %}' in text, name
        assert "set -eu" not in text and "{% block command %}" not in text, name
    condor = (packaged / "condor.sub.j2").read_text(encoding="utf-8")
    assert '{% extends "batchspawner_x/base.sh.j2" %}' in condor
    assert "set -eu" not in condor and "{% block command %}" not in condor


def test_a_site_base_template_does_not_replace_the_packaged_one(tmp_path: Path) -> None:
    (tmp_path / "base.sh.j2").write_text("#!/bin/sh\necho site\n")
    assert render(TEMPLATE, example_context(), (str(tmp_path),)) == golden("slurm_example.sh")


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ("partition", "#SBATCH --partition="),
        ("account", "#SBATCH --account="),
        ("qos", "#SBATCH --qos="),
        ("time_limit", "#SBATCH --time="),
        ("memory_mb", "#SBATCH --mem="),
        ("cpus", "#SBATCH --cpus-per-task="),
        ("gpus", "#SBATCH --gpus="),
    ],
)
def test_options_only_when_set(key: str, line: str) -> None:
    context = full_context()
    assert line in render(TEMPLATE, context)
    context[key] = None if key in ("memory_mb", "cpus") else ("" if isinstance(context[key], str) else 0)
    script = render(TEMPLATE, context)
    assert line not in script
    assert line.split("=")[0] not in script
    # only that one line went away
    assert len(script.splitlines()) == len(golden("slurm_full.sh").splitlines()) - 1


def test_no_account_qos_gpus_lines_in_example() -> None:
    script = render(TEMPLATE, example_context())
    for option in ("--account", "--qos", "--gpus"):
        assert option not in script


def test_extra_directives_each_on_its_own_line() -> None:
    context = example_context()
    context["extra_directives"] = ["--constraint=skylake", "--exclusive", "--licenses=matlab:1"]
    lines = render(TEMPLATE, context).splitlines()
    start = lines.index("#SBATCH --constraint=skylake")
    assert lines[start : start + 3] == [
        "#SBATCH --constraint=skylake",
        "#SBATCH --exclusive",
        "#SBATCH --licenses=matlab:1",
    ]


# ---------------------------------------------------------------------------
# strictness and errors


def write(directory: Path, name: str, text: str) -> str:
    (directory / name).write_text(text, encoding="utf-8")
    return str(directory)


def test_undefined_variable_is_named(tmp_path: Path) -> None:
    paths = (write(tmp_path, "site.sh.j2", "#!/bin/bash\necho {{ no_such_variable }}\n"),)
    with pytest.raises(TemplateError) as info:
        render("site.sh.j2", example_context(), paths)
    assert "no_such_variable" in str(info.value)
    assert "undefined" in str(info.value)


def test_undefined_variable_in_condition(tmp_path: Path) -> None:
    paths = (write(tmp_path, "site.sh.j2", "#!/bin/bash\n{% if no_such_flag %}x{% endif %}\n"),)
    with pytest.raises(TemplateError, match="no_such_flag"):
        render("site.sh.j2", example_context(), paths)


def test_packaged_template_needs_every_variable() -> None:
    context = example_context()
    del context["qos"]
    with pytest.raises(TemplateError, match="qos"):
        render(TEMPLATE, context)


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    paths = (write(tmp_path, "broken.sh.j2", "#!/bin/bash\necho hello\necho {{ job_name }\n"),)
    with pytest.raises(TemplateError) as info:
        render("broken.sh.j2", example_context(), paths)
    assert "line 3" in str(info.value)
    assert "broken.sh.j2" in str(info.value)


def test_missing_template(tmp_path: Path) -> None:
    with pytest.raises(TemplateError) as info:
        render("nonexistent.sh.j2", example_context(), (str(tmp_path),))
    assert "'nonexistent.sh.j2' not found" in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_script_must_start_with_shebang(tmp_path: Path) -> None:
    paths = (write(tmp_path, "noshebang.sh.j2", "echo {{ job_name }}\n"),)
    with pytest.raises(TemplateError, match="#!"):
        render("noshebang.sh.j2", example_context(), paths)


# ---------------------------------------------------------------------------
# site templates


def test_site_template_extends_packaged_one(tmp_path: Path) -> None:
    site = (
        '{% extends "batchspawner_x/slurm.sh.j2" %}\n'
        "{% block setup %}\n"
        "module load python/3.11\n"
        "{% endblock %}\n"
    )
    paths = (write(tmp_path, "slurm.sh.j2", site),)
    expected = golden("slurm_example.sh").replace("set -eu\n", "set -eu\nmodule load python/3.11\n", 1)
    assert render(TEMPLATE, example_context(), paths) == expected


def test_site_template_shadows_packaged_one(tmp_path: Path) -> None:
    paths = (write(tmp_path, "slurm.sh.j2", "#!/bin/sh\necho site {{ job_name }}\n"),)
    assert render(TEMPLATE, example_context(), paths) == "#!/bin/sh\necho site jupyter-alice\n"
    # without the site dir the packaged one is used again
    assert render(TEMPLATE, example_context()) == golden("slurm_example.sh")


def test_site_template_extends_block_with_super(tmp_path: Path) -> None:
    site = (
        '{% extends "batchspawner_x/slurm.sh.j2" %}\n'
        "{% block extra_directives %}\n"
        "{{ super() }}#SBATCH --reservation=jupyter\n"
        "{% endblock %}\n"
    )
    paths = (write(tmp_path, "slurm.sh.j2", site),)
    expected = golden("slurm_example.sh").replace(
        "#SBATCH --constraint=skylake\n", "#SBATCH --constraint=skylake\n#SBATCH --reservation=jupyter\n"
    )
    assert render(TEMPLATE, example_context(), paths) == expected


def test_site_template_adds_to_setup_with_super(tmp_path: Path) -> None:
    site = (
        '{% extends "batchspawner_x/slurm.sh.j2" %}\n'
        "{% block setup %}\n"
        "module purge\n"
        "{{ super() }}"
        "{% endblock %}\n"
    )
    paths = (write(tmp_path, "slurm.sh.j2", site),)
    expected = golden("slurm_full.sh").replace("trap '' USR1\n", "trap '' USR1\nmodule purge\n")
    assert render(TEMPLATE, full_context(), paths) == expected


# ---------------------------------------------------------------------------
# injection

DIRECTIVE_VARS = [
    "job_name",
    "output",
    "workdir",
    "partition",
    "account",
    "qos",
    "walltime",
    "time_limit",
    "gpus",
    "memory_mb",
    "cpus",
]
BAD_SUFFIXES = ["\n", "\r", "\x00", "\n#SBATCH --uid=0"]


@pytest.mark.parametrize("bad", BAD_SUFFIXES, ids=["lf", "cr", "nul", "sbatch-line"])
@pytest.mark.parametrize("key", DIRECTIVE_VARS)
def test_line_break_in_directive_variable_refused(key: str, bad: str) -> None:
    context = full_context()
    context[key] = f"{context[key]}{bad}"
    with pytest.raises(TemplateError, match="line break or control character"):
        render(TEMPLATE, context)


@pytest.mark.parametrize("bad", BAD_SUFFIXES, ids=["lf", "cr", "nul", "sbatch-line"])
def test_line_break_in_extra_directive_refused(bad: str) -> None:
    context = example_context()
    context["extra_directives"] = ["--constraint=skylake" + bad]
    with pytest.raises(TemplateError, match="line break or control character"):
        render(TEMPLATE, context)


@pytest.mark.parametrize("with_epilogue", [False, True])
@pytest.mark.parametrize("bad", BAD_SUFFIXES, ids=["lf", "cr", "nul", "sbatch-line"])
def test_line_break_in_command_refused(bad: str, with_epilogue: bool) -> None:
    context = full_context() if with_epilogue else example_context()
    context["command"] = [*context["command"], "--arg=x" + bad]
    with pytest.raises(TemplateError, match="line break or control character"):
        render(TEMPLATE, context)


def test_untrusted_multiline_prologue_refused() -> None:
    context = example_context()
    context["prologue"] = "module load python\n#SBATCH --uid=0"  # a plain str, not Trusted
    with pytest.raises(TemplateError, match="line break or control character"):
        render(TEMPLATE, context)


NASTY = [
    "$(rm -rf ~)",
    "`id`",
    "a b",
    "it's",
    '"double"',
    "{{ job_name }}",
    "{% if 1 %}x{% endif %}",
    "$HOME",
    "*",
    "~",
    "; reboot",
    "&& id",
    "|| true",
    "\\",
    "",
    "tab\there",
    "--ServerApp.ip='0.0.0.0'",
]


@pytest.mark.parametrize("with_epilogue", [False, True])
def test_command_round_trips_through_shlex(with_epilogue: bool) -> None:
    context = full_context() if with_epilogue else example_context()
    context["command"] = [*context["command"], *NASTY]
    lines = render(TEMPLATE, context).splitlines()
    if with_epilogue:
        (line,) = [ln for ln in lines if ln.endswith(" &")]
        assert shlex.split(line) == [*context["command"], "&"]
    else:
        (line,) = [ln for ln in lines if ln.startswith("exec ") and "start.sh" in ln]
        assert shlex.split(line) == ["exec", *context["command"]]


@pytest.mark.parametrize("value", NASTY)
def test_q_filter_round_trips(tmp_path: Path, value: str) -> None:
    paths = (write(tmp_path, "q.sh.j2", "#!/bin/bash\necho {{ value | q }}\nrun {{ argv | shjoin }}\n"),)
    script = render("q.sh.j2", {"value": value, "argv": ["cmd", value, "x y"]}, paths)
    _, echo, run = script.splitlines()
    assert shlex.split(echo) == ["echo", value]
    assert shlex.split(run) == ["run", "cmd", value, "x y"]
