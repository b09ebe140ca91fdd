"""Admin commands: preview a user's job script and check a hub's setup.

``batchspawner-x render --config jupyterhub_config.py --user alice`` prints the
job script and the submit command a spawn would use, without submitting and
without connecting anywhere. ``batchspawner-x check ... --user alice`` runs on
the hub host and checks, one line each, everything a spawn needs: the login
node, its host key, the user's login, the scheduler's commands, the template,
the job directory and the way back from the cluster to the hub.

The hub's configuration is loaded by JupyterHub's own application class, as
``jupyterhub -f`` would load it, and the configured spawner class is built for
a stand-in user: no hub is started and no database is opened.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import quote

from tornado import web

from . import migrate as migration
from . import migrate_values, wrapspawner_profiles
from .checks import Checker, Result
from .errors import (
    BatchSpawnerError,
    CliError,
    ConfigError,
)
from .settings import interval_note
from .spawner import BatchSpawnerBase
from .transport import SSHPool

# ---------------------------------------------------------------------------
# Loading the hub's configuration and building the spawner


class StandInUser:
    """What a spawner needs of a JupyterHub user, without the database."""

    def __init__(self, name: str, base_url: str = "/") -> None:
        self.name = name
        self.escaped_name = quote(name, safe="@~")
        self.base_url = base_url
        self.url = f"{base_url.rstrip('/')}/user/{self.escaped_name}/"
        self.server = None
        self.groups: list[Any] = []
        self.spawners: dict[str, Any] = {}
        self.settings: dict[str, Any] = {}

    def progress_url(self, server_name: str = "") -> str:
        return f"{self.base_url.rstrip('/')}/hub/api/users/{self.escaped_name}/servers/{server_name}/progress"


@dataclass
class StandInServerRecord:
    """The database row of a spawner, as far as a spawner reads it."""

    name: str = ""
    display_name: str = ""
    server: Any = None
    last_activity: Any = None
    state: Any = None


def load_hub(config_file: str) -> Any:
    """JupyterHub's application with ``config_file`` loaded and its Hub address set; not started."""
    from jupyterhub.app import JupyterHub

    if not os.path.isfile(config_file):
        raise CliError(f"{config_file}: no such file (give the hub's configuration with --config)")
    app = JupyterHub(config_file=config_file)
    try:
        app.load_config_file(config_file)
        app.init_hub()
    except Exception as e:
        raise CliError(f"cannot load {config_file}: {type(e).__name__}: {e}") from None
    return app


async def make_spawner(
    app: Any,
    username: str,
    server: str = "",
    options: dict[str, Any] | None = None,
    hooks: bool = False,
    *,
    offline: bool = False,
) -> BatchSpawnerBase:
    """The configured spawner for ``username``'s server, as the hub would build it before start().

    ``offline``: do not read the cluster's partition limits (profiles then use only
    their configured bounds).
    """
    try:
        cls = app.spawner_class
    except Exception as e:  # a class that does not import
        raise CliError(f"c.JupyterHub.spawner_class cannot be loaded: {type(e).__name__}: {e}") from None
    options = dict(options or {})
    user = StandInUser(username, app.base_url)
    kwargs = {
        "user": user,
        "orm_spawner": StandInServerRecord(name=server, display_name=server),
        "hub": app.hub,
        "config": app.config,
        "trusted_alt_names": list(app.trusted_alt_names),
    }
    spawner: Any
    if wrapspawner_profiles.is_wrapper(cls):  # wrapspawner: the child the user's choice builds
        wrapper = wrapspawner_profiles.build_wrapper(cls, {**kwargs, "user_options": {}})
        spawner = wrapspawner_profiles.build_child(wrapper, options.pop("profile", None))
    elif isinstance(cls, type) and issubclass(cls, BatchSpawnerBase):
        try:
            spawner = cls(**kwargs, user_options=options)
        except Exception as e:
            raise CliError(f"cannot build {cls.__name__}: {e}") from None
    else:
        spawner = None
    if not isinstance(spawner, BatchSpawnerBase):
        name = type(spawner).__name__ if spawner is not None else getattr(cls, "__name__", cls)
        raise CliError(
            f"the spawner class is {name}, not a batchspawner_x spawner (for example "
            '"batchspawner_x.SlurmSpawner"); `batchspawner-x migrate` converts a batchspawner configuration'
        )
    if offline:
        spawner.cluster_limits_ttl = 0
    apply = getattr(spawner, "_run_apply_user_options", None)
    if apply is not None and (options or spawner.clusters):  # JupyterHub >= 5.3 applies them this way
        quiet = _NoTraceback()  # JupyterHub logs the refusal with a traceback; the message suffices
        spawner.log.addFilter(quiet)
        try:
            await apply(spawner.user_options)
        except web.HTTPError as e:
            refusal = getattr(e, "jupyterhub_message", None) or e.log_message or str(e)
            raise CliError(
                f"the hub would refuse these options with HTTP {e.status_code}: {refusal}"
            ) from None
        finally:
            spawner.log.removeFilter(quiet)
    if hooks:
        pre_spawn = spawner.run_pre_spawn_hook()
        if asyncio.iscoroutine(pre_spawn) or isinstance(pre_spawn, asyncio.Future):
            await pre_spawn
    return spawner


class _NoTraceback(logging.Filter):
    """Drops the records JupyterHub logs with a traceback while it applies user options:
    the command prints the refusal itself, in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.exc_info is None


def where_commands_run(spawner: BatchSpawnerBase, cluster_user: str) -> str:
    if spawner.connection == "local":
        return f"on this host as {cluster_user}"
    return f"over SSH as {cluster_user}@{spawner.ssh_host}:{spawner.ssh_port}"


def submit_command(spawner: BatchSpawnerBase, cluster_user: str) -> list[str]:
    """The submit argv exactly as it is run (behind ``local_prefix`` for a local connection)."""
    argv = spawner.scheduler.submit_argv()
    if spawner.connection == "local":
        return [part.format(username=cluster_user) for part in spawner.local_prefix] + argv
    return argv


# ---------------------------------------------------------------------------
# render


async def render(args: argparse.Namespace, out: TextIO) -> int:
    app = load_hub(args.config)
    spawner = await make_spawner(
        app, args.user, args.server, _requested(args), args.run_pre_spawn_hook, offline=True
    )
    cluster_user = await spawner.cluster_username()
    home = args.home or f"/home/{cluster_user}"
    script = await spawner.render_script(home=home)
    if args.script_only:
        out.write(script)
        return 0
    source = "batch_script" if spawner.batch_script else f"template {spawner.template}"
    on = f", cluster {spawner.cluster_name}" if spawner.cluster_name else ""
    out.write(f"==> job script: {type(spawner).__name__}{on}, {source}, home {home} <==\n")
    out.write(script if script.endswith("\n") else script + "\n")
    out.write(
        f"==> submit command, run {where_commands_run(spawner, cluster_user)} "
        "with the job script on its standard input <==\n"
    )
    out.write(shlex.join(submit_command(spawner, cluster_user)) + "\n")
    return 0


# ---------------------------------------------------------------------------
# check


async def check(args: argparse.Namespace, out: TextIO) -> int:
    app = load_hub(args.config)
    options = _requested(args)
    spawner = await make_spawner(app, args.user, args.server, options, args.run_pre_spawn_hook)
    specs = spawner.cluster_specs()
    if not specs or "cluster" in options or "profile" in options:
        # one cluster: the only one, or the one the options chose
        return await _check_one(spawner, args.timeout, out)
    failed = 0
    for spec in specs:  # every cluster of the hub, whichever groups may use it
        out.write(f"== cluster {spec.name} ({spec.display_name}) ==\n")
        spawner.use_cluster(spec.name)
        failed += await _check_one(spawner, args.timeout, out)
    return 1 if failed else 0


async def _check_one(spawner: BatchSpawnerBase, timeout: float, out: TextIO) -> int:
    """The checks of the spawner's cluster, one line each; 0 if all pass."""
    try:
        cluster_user = await spawner.cluster_username()
    except ConfigError as e:
        out.write(Result("cluster user name", False, str(e), "correct ssh_username").line() + "\n")
        return 1
    checker = Checker(spawner, cluster_user, timeout)
    results = []
    try:
        for result in await checker.run_all():
            out.write(result.line() + "\n")
            out.flush()
            results.append(result)
    finally:
        await SSHPool.close_all()
    note = interval_note(spawner)
    if note is not None:
        out.write(Result("status interval", True, note, warning=True).line() + "\n")
    return 0 if all(r.ok for r in results) else 1


def _requested(args: argparse.Namespace) -> dict[str, Any]:
    """``--options`` with ``--cluster`` and ``--profile`` added."""
    options = dict(args.options)
    for key in ("cluster", "profile"):
        value = getattr(args, key, None)
        if value:
            options[key] = value
    return options


# ---------------------------------------------------------------------------
# migrate


async def migrate(args: argparse.Namespace, out: TextIO) -> int:
    with migrate_values.predecessor_modules():
        app = load_hub(args.old_config)
    out.write(migration.migrate(app.config, args.old_config))
    return 0


# ---------------------------------------------------------------------------
# entry point


def _options(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"--options is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError('--options must be a JSON object, like \'{"partition": "gpu"}\'')
    return value


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", "-f", default="jupyterhub_config.py", help="the hub's configuration file (%(default)s)"
    )
    common.add_argument("--user", "-u", required=True, help="the JupyterHub user name")
    common.add_argument(
        "--server", default="", help="the name of a named server (default: the user's default)"
    )
    common.add_argument(
        "--options",
        type=_options,
        default={},
        help="user options as a JSON object, applied as the hub does (Spawner.apply_user_options)",
    )
    common.add_argument(
        "--cluster",
        help="the cluster (a name in c.BatchSpawnerBase.clusters; default: the profile's, or the first;"
        " check: every cluster in turn)",
    )
    common.add_argument("--profile", help="the profile a user chooses (a name in the spawner's profiles)")
    common.add_argument(
        "--run-pre-spawn-hook", action="store_true", help="also run c.Spawner.pre_spawn_hook (off by default)"
    )
    top = argparse.ArgumentParser(
        prog="batchspawner-x",
        description="Preview a user's job script, or check that a hub can spawn into the cluster.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="{render,check,migrate}")
    render_cmd = sub.add_parser(
        "render",
        parents=[common],
        help="print the job script and the submit command a spawn would use (submits nothing)",
        description="Print the job script and the submit command a spawn would use. Nothing is "
        "submitted and nothing is connected to.",
    )
    render_cmd.add_argument(
        "--home", help="the user's home directory on the cluster (default: /home/<cluster user>)"
    )
    render_cmd.add_argument(
        "--script-only", action="store_true", help="print the job script alone, exactly as submitted"
    )
    check_cmd = sub.add_parser(
        "check",
        parents=[common],
        help="check the login node, host key, login, scheduler commands, template, job directory and hub",
        description="Check, one line each, what a spawn for this user needs. Exits 0 only if all pass. "
        "Writes and removes one probe file in the user's job directory; submits nothing.",
    )
    check_cmd.add_argument("--timeout", type=float, default=10.0, help="seconds for each check (%(default)s)")
    migrate_cmd = sub.add_parser(
        "migrate",
        help="print a native configuration for a batchspawner (or wrapspawner) one",
        description="Load OLD_CONFIG as the hub does and print a native jupyterhub_config.py: each "
        "changed line says what it came from, and settings that cannot be carried over stay as comments.",
    )
    migrate_cmd.add_argument("old_config", metavar="OLD_CONFIG", help="the old jupyterhub_config.py")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr)
    command = {"render": render, "check": check, "migrate": migrate}[args.command]
    try:
        return asyncio.run(command(args, sys.stdout))
    except CliError as e:
        print(f"batchspawner-x {args.command}: {e}", file=sys.stderr)
        return 2
    except (BatchSpawnerError, ValueError) as e:
        print(f"batchspawner-x {args.command}: {e}", file=sys.stderr)
        return 1


__all__ = ["Checker", "Result", "StandInUser", "load_hub", "main", "make_spawner", "render"]


if __name__ == "__main__":
    sys.exit(main())
