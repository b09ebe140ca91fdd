"""One error module: every exception of the package under one root, with typed fields."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

import pytest
from tornado import web

import batchspawner_x
from batchspawner_x import errors
from batchspawner_x.errors import (
    BatchSpawnerError,
    CancelFailed,
    ConnectFailed,
    JobEndedError,
    StatusUnavailable,
    SubmitError,
    TransportError,
)
from batchspawner_x.schedulers import (
    CondorScheduler,
    GridengineScheduler,
    LsfScheduler,
    MoabScheduler,
    PBSProScheduler,
    SlurmScheduler,
    TorqueScheduler,
)
from batchspawner_x.schedulers.base import CommandResult, Scheduler

from .fakes import new_spawner

#: Exceptions the package defines outside the root, by class name (wherever their module
#: moves), and why.
OUTSIDE_THE_ROOT = {
    # The node side imports only the standard library; the hub never catches it.
    "ReportRefused": "the node side must not import errors.py",
    # JupyterHub shows an HTTPError's message to the user and traitlets expects a TraitError;
    # errors.py would have to import tornado and traitlets to hold it.
    "InvalidSetting": "subclasses tornado's HTTPError and traitlets' TraitError",
}

#: Where each exception used to be defined: the old import keeps working.
OLD_HOMES = {
    "states": ["StatusUnavailable"],
    "submission": ["SubmissionUnknown", "ClaimFailed"],
    "transport": ["ConnectFailed", "FileOperationFailed"],
    "cancel": ["CancelFailed"],
    "reach": ["ServerUnreachable", "ServerHostRefused"],
    "profiles": ["OptionError"],
    "accounts": ["AccountRefused"],
    "cli": ["CliError"],
}


def _package_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(batchspawner_x.__path__, "batchspawner_x."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = obj
    return found


def test_every_exception_of_the_package_is_under_the_root() -> None:
    found = _package_exceptions()
    assert "batchspawner_x.errors.JobEndedError" in found, "the walk found the package's modules"
    outside = {cls.__name__ for cls in found.values() if not issubclass(cls, BatchSpawnerError)}
    assert outside == set(OUTSIDE_THE_ROOT)


def test_every_exception_under_the_root_lives_in_the_error_module() -> None:
    elsewhere = {
        name
        for name, cls in _package_exceptions().items()
        if issubclass(cls, BatchSpawnerError) and cls.__module__ != "batchspawner_x.errors"
    }
    assert elsewhere == set()


@pytest.mark.parametrize(("module", "names"), sorted(OLD_HOMES.items()))
def test_the_old_import_paths_give_the_same_classes(module: str, names: list[str]) -> None:
    old = importlib.import_module(f"batchspawner_x.{module}")
    for name in names:
        assert getattr(old, name) is getattr(errors, name)


def test_the_error_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(errors.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no import from the package"
            imported.add((node.module or "").split(".")[0])
    assert imported <= set(sys.stdlib_module_names)


# -- typed fields -----------------------------------------------------------------------------


def test_a_scheduler_command_error_carries_the_command_and_its_answer() -> None:
    answer = CommandResult(1, "", "squeue: error: Invalid user\n")
    error = StatusUnavailable.of("squeue", answer, "squeue failed: squeue: error: Invalid user")
    assert type(error) is StatusUnavailable
    assert (error.command, error.returncode, error.stderr) == ("squeue", 1, answer.stderr)
    assert str(error) == "squeue failed: squeue: error: Invalid user"
    refused = SubmitError("Invalid partition name specified", returncode=1, command="sbatch")
    assert (refused.scheduler_message, refused.returncode, refused.command) == (
        "Invalid partition name specified",
        1,
        "sbatch",
    )


def test_a_transport_error_says_whether_the_command_may_have_been_sent() -> None:
    assert TransportError("lost").maybe_sent is True
    assert TransportError("refused", maybe_sent=False).maybe_sent is False
    failed = ConnectFailed("Cannot connect", 12.5, host="login", port=2222)
    assert (failed.maybe_sent, failed.retry_at, failed.host, failed.port) == (False, 12.5, "login", 2222)


def test_a_cancel_failure_names_its_job() -> None:
    error = CancelFailed("scancel failed: busy", job_id="25")
    assert (error.job_id, error.permanent, str(error)) == ("25", False, "scancel failed: busy")


async def test_a_job_that_ends_during_start_goes_out_as_a_spawn_error_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawner = new_spawner(name="alice")
    cancelled: list[bool] = []

    async def cancel_quietly() -> None:
        cancelled.append(True)

    monkeypatch.setattr(spawner, "_cancel_quietly", cancel_quietly)
    ended = JobEndedError("25", "FAILED", 3, "cannot load the lab extension")
    out = await spawner._job_ended_failure(ended)
    assert cancelled == [True]
    assert isinstance(out, web.HTTPError) and out.status_code == 500
    assert (getattr(out, "jupyterhub_message", None) or out.log_message) == str(ended)
    if type(out).__name__ == "SpawnException":  # JupyterHub 6: the reason reaches the metrics
        assert getattr(out, "reason", None) == "job_ended"


# -- scheduler commands name themselves -------------------------------------------------------

BACKENDS = [
    (SlurmScheduler, "sbatch", "squeue"),
    (GridengineScheduler, "qsub", "qstat"),
    (PBSProScheduler, "qsub", "qstat"),
    (TorqueScheduler, "qsub", "qstat"),
    (MoabScheduler, "msub", "mdiag"),
    (LsfScheduler, "bsub", "bjobs"),
    (CondorScheduler, "condor_submit", "condor_q"),
]


@pytest.mark.parametrize(("backend", "submit", "status"), BACKENDS)
def test_a_refused_submission_carries_the_command_and_its_answer(
    backend: type[Scheduler], submit: str, status: str
) -> None:
    answer = CommandResult(1, "", "ERROR: the scheduler is not available\n")
    with pytest.raises(SubmitError) as refused:
        backend().parse_submit(answer)
    error = refused.value
    assert (error.command, error.returncode, error.stderr) == (submit, 1, answer.stderr)
    assert "the scheduler is not available" in error.scheduler_message


@pytest.mark.parametrize(("backend", "submit", "status"), BACKENDS)
def test_a_failed_status_query_carries_the_command_and_its_answer(
    backend: type[Scheduler], submit: str, status: str
) -> None:
    answer = CommandResult(1, "", "ERROR: the scheduler is not available\n")
    with pytest.raises(StatusUnavailable) as failed:
        backend().parse_status(["25"], answer)
    error = failed.value
    assert (error.command, error.returncode, error.stderr) == (status, 1, answer.stderr)
