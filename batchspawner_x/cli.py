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
import ipaddress
import json
import logging
import os
import posixpath
import secrets
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO
from urllib.parse import quote, urlparse

from tornado import web

from .errors import (
    BatchSpawnerError,
    CliError,
    ConfigError,
    HostKeyError,
    KeyFileError,
    TemplateError,
    TransportError,
)
from .handshake import CERT_DIR
from .settings import interval_note
from .spawner import BatchSpawnerBase
from .transport import SSHPool, Transport

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
    cls = app.spawner_class
    if not (isinstance(cls, type) and issubclass(cls, BatchSpawnerBase)):
        name = getattr(cls, "__name__", cls)
        wrapper = " (a wrapper such as wrapspawner's, which picks its child at spawn time)"
        raise CliError(
            f"c.JupyterHub.spawner_class is {name}{wrapper if hasattr(cls, 'child_class') else ''}, "
            'not a batchspawner_x spawner (for example "batchspawner_x.SlurmSpawner"); to preview a '
            "child, run with a copy of the configuration whose spawner_class is that child"
        )
    user = StandInUser(username, app.base_url)
    try:
        spawner = cls(
            user=user,
            orm_spawner=StandInServerRecord(name=server, display_name=server),
            hub=app.hub,
            config=app.config,
            user_options=dict(options or {}),
            trusted_alt_names=list(app.trusted_alt_names),
        )
    except Exception as e:
        raise CliError(f"cannot build {cls.__name__}: {e}") from None
    if offline:
        spawner.cluster_limits_ttl = 0
    apply = getattr(spawner, "_run_apply_user_options", None)
    if options and apply is not None:  # JupyterHub >= 5.3 applies user options this way
        try:
            await apply(spawner.user_options)
        except web.HTTPError as e:
            refusal = getattr(e, "jupyterhub_message", None) or e.log_message or str(e)
            raise CliError(
                f"the hub would refuse these options with HTTP {e.status_code}: {refusal}"
            ) from None
    if hooks:
        pre_spawn = spawner.run_pre_spawn_hook()
        if asyncio.iscoroutine(pre_spawn) or isinstance(pre_spawn, asyncio.Future):
            await pre_spawn
    return spawner


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
        app, args.user, args.server, args.options, args.run_pre_spawn_hook, offline=True
    )
    cluster_user = await spawner.cluster_username()
    home = args.home or f"/home/{cluster_user}"
    script = await spawner.render_script(home=home)
    if args.script_only:
        out.write(script)
        return 0
    source = "batch_script" if spawner.batch_script else f"template {spawner.template}"
    out.write(f"==> job script: {type(spawner).__name__}, {source}, home {home} <==\n")
    out.write(script if script.endswith("\n") else script + "\n")
    out.write(
        f"==> submit command, run {where_commands_run(spawner, cluster_user)} "
        "with the job script on its standard input <==\n"
    )
    out.write(shlex.join(submit_command(spawner, cluster_user)) + "\n")
    return 0


# ---------------------------------------------------------------------------
# check


@dataclass
class Result:
    name: str
    ok: bool | None  # None: not checked, because an earlier check failed
    detail: str
    fix: str = ""
    #: Works, but worth a word (shown as WARN; the check still passes).
    warning: bool = False

    def line(self) -> str:
        label = "WARN" if self.warning and self.ok else {True: "OK", False: "FAIL", None: "SKIP"}[self.ok]
        text = f"{label:<4} {self.name}: {self.detail}"
        if self.ok is False and self.fix:
            text += f" -- fix: {self.fix}"
        return text


_HUB_PROBE = r"""
if command -v python3 >/dev/null 2>&1; then
  exec python3 -c '
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), float(sys.argv[3])).close()
except OSError as e:
    sys.exit(str(e) or type(e).__name__)
' "$1" "$2" "$3"
elif command -v curl >/dev/null 2>&1; then
  exec curl -sS -o /dev/null --max-time "$3" "$4"
else
  echo "cannot test: neither python3 nor curl is installed there" >&2
  exit 127
fi
"""


def probe_failure(message: str) -> Literal["refused", "timeout"] | None:
    """How the hub probe failed, read from the words python3's ``OSError`` or curl printed:
    the connection was refused, it timed out, or None for anything else. A foreign answer,
    read by its words because no exit code tells these apart (python3 exits 1 for every
    error; curl's 7 is a refusal and no route alike).

    >>> probe_failure("curl: (7) Failed to connect to hub port 8081 after 0 ms: Connection refused")
    'refused'
    """
    words = message.lower()
    if "refused" in words:
        return "refused"
    if "timed out" in words or "timeout" in words:
        return "timeout"
    return None


_FIND_COMMANDS = 'for c do p=$(command -v "$c") && echo "found $c $p" || echo "missing $c"; done'


class Checker:
    """The checks of ``batchspawner-x check``, in order; each yields one :class:`Result`."""

    def __init__(self, spawner: BatchSpawnerBase, cluster_user: str, timeout: float) -> None:
        self.spawner = spawner
        self.user = cluster_user
        self.timeout = timeout
        self.reachable = True
        self.host_key_ok = True
        self.logged_in = False
        self.home: str | None = None

    @property
    def ssh(self) -> bool:
        return self.spawner.connection == "ssh"

    def _where(self) -> str:
        return f"{self.spawner.ssh_host}:{self.spawner.ssh_port}"

    async def transport(self) -> Transport:
        return await self.spawner.transport()

    async def run_all(self) -> list[Result]:
        steps = [
            self.reachability,
            self.host_key,
            self.authentication,
            self.scheduler_commands,
            self.template,
            self.job_directory,
            self.hub_reachable,
        ]
        return [await step() for step in steps]

    async def reachability(self) -> Result:
        name = "login node reachable"
        s = self.spawner
        if not self.ssh:
            prefix = [p.format(username=self.user) for p in s.local_prefix]
            return Result(name, True, f"connection = 'local': commands run here behind {shlex.join(prefix)}")
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(s.ssh_host, s.ssh_port), self.timeout
            )
        except (OSError, asyncio.TimeoutError) as e:
            self.reachable = False
            why = str(e) or f"no answer within {self.timeout:g}s"
            return Result(
                name,
                False,
                f"cannot open a TCP connection to {self._where()}: {why}",
                "check ssh_host and ssh_port, the name's DNS entry and the firewalls between the hub "
                "and the login node",
            )
        try:
            banner = await asyncio.wait_for(reader.readline(), self.timeout)
        except (OSError, asyncio.TimeoutError):
            banner = b""
        finally:
            writer.close()
        text = banner.decode("ascii", "replace").strip()
        if not text.startswith("SSH-"):
            self.reachable = False
            return Result(
                name,
                False,
                f"{self._where()} answers, but not as an SSH server ({text[:60]!r})",
                "ssh_port must be the port of the login node's sshd",
            )
        return Result(name, True, f"{self._where()} answers ({text[:60]})")

    async def host_key(self) -> Result:
        import asyncssh

        name = "host key known"
        s = self.spawner
        if not self.ssh:
            return Result(name, True, "not used (connection = 'local')")
        if not self.reachable:
            return Result(name, None, "needs a reachable login node")
        port = "" if s.ssh_port == 22 else f"-p {s.ssh_port} "
        scan = f"ssh-keyscan {port}{s.ssh_host} >> {s.ssh_known_hosts}"
        fix = f"check the login node's fingerprint with its administrators, then: {scan}"
        if not s.ssh_known_hosts or not os.path.isfile(s.ssh_known_hosts):
            self.host_key_ok = False
            return Result(name, False, f"ssh_known_hosts {s.ssh_known_hosts!r} is not a file", fix)
        try:
            conn = await asyncssh.connect(
                s.ssh_host,
                s.ssh_port,
                username=self.user,
                known_hosts=s.ssh_known_hosts,
                client_keys=None,
                agent_path=None,
                password=None,
                kbdint_auth=False,
                gss_host=None,
                config=None,
                connect_timeout=self.timeout,
            )
            conn.close()
        except asyncssh.HostKeyNotVerifiable as e:
            self.host_key_ok = False
            return Result(
                name,
                False,
                f"the host key of {self._where()} is not in {s.ssh_known_hosts} or does not match it "
                f"({e.reason})",
                fix,
            )
        except asyncssh.PermissionDenied:
            pass  # the host key was accepted; logging in is the next check
        except (OSError, asyncssh.Error) as e:
            self.host_key_ok = False
            return Result(name, False, f"the SSH handshake with {self._where()} failed: {e}", fix)
        return Result(name, True, f"{self._where()} matches an entry of {s.ssh_known_hosts}")

    async def authentication(self) -> Result:
        name = "authentication"
        s = self.spawner
        if not (self.reachable and self.host_key_ok):
            return Result(name, None, "needs a reachable login node with a known host key")
        keys = [k.format(username=self.user) for k in s.ssh_keys]
        try:
            transport = await self.transport()
            result = await transport.run(["/bin/sh", "-c", "true"], timeout=self.timeout)
        except HostKeyError as e:
            return Result(name, False, str(e), "see the host key check")
        except TransportError as e:
            message = str(e)
            if isinstance(e, KeyFileError):
                fix = "make the key file exist and be readable by the hub's account only (mode 0600)"
            elif self.ssh:
                pub = f"ssh-keygen -y -f {keys[0]}" if keys else "the public key"
                fix = (
                    f"add the public key ({pub}) to ~{self.user}/.ssh/authorized_keys on the login node, "
                    "or set ssh_keys to the user's key"
                )
            else:
                fix = "let the hub's account run commands as the user through local_prefix (sudoers)"
            return Result(name, False, message, fix)
        if result.returncode != 0:
            return Result(
                name,
                False,
                f"`/bin/sh -c true` as {self.user} exited {result.returncode}: {result.message()}",
                "check the user's login shell and account on the cluster",
            )
        self.logged_in = True
        how = f"with {', '.join(keys)}" if self.ssh and keys else ""
        return Result(name, True, f"ran a command as {self.user} {how}".rstrip())

    async def scheduler_commands(self) -> Result:
        name = "scheduler commands"
        if not self.logged_in:
            return Result(name, None, "needs a working login")
        commands = self.spawner.scheduler.commands
        executables = list(dict.fromkeys(commands.values()))
        transport = await self.transport()
        try:
            result = await transport.run(
                ["/bin/sh", "-c", _FIND_COMMANDS, "sh", *executables], timeout=self.timeout
            )
        except TransportError as e:
            return Result(name, False, f"cannot run `command -v`: {e}", "see the authentication check")
        found: dict[str, str] = {}
        for line in result.stdout.splitlines():
            word, _, rest = line.partition(" ")
            if word == "found":
                exe, _, path = rest.partition(" ")
                found[exe] = path
        missing = [f"{exe} ({role})" for role, exe in commands.items() if exe not in found]
        if missing:
            roles = {role: exe for role, exe in commands.items() if exe not in found}
            example = ", ".join(
                f'"{role}": "/full/path/to/{posixpath.basename(exe)}"' for role, exe in roles.items()
            )
            return Result(
                name,
                False,
                f"not found by `command -v` as {self.user}: {', '.join(missing)}",
                f"install the {self.spawner.scheduler_class.display_name} client commands on the login node "
                f"(on the PATH of a non-interactive shell), or name them: "
                f"c.{type(self.spawner).__name__}.scheduler_commands = {{{example}}}",
            )
        listing = ", ".join(f"{role}={found[exe]}" for role, exe in commands.items())
        return Result(name, True, listing)

    async def template(self) -> Result:
        name = "template renders"
        s = self.spawner
        if self.logged_in:
            try:
                self.home = await (await self.transport()).home()
            except TransportError:
                self.home = None
        home = self.home or f"/home/{self.user}"
        source = "batch_script" if s.batch_script else s.template
        try:
            script = await s.render_script(home=home)
        except (ConfigError, TemplateError) as e:
            return Result(
                name,
                False,
                f"{source}: {e}",
                "correct the setting or the template; preview with: "
                f"batchspawner-x render --user {self.user}",
            )
        lines = script.count("\n")
        return Result(name, True, f"{source} gives a {lines}-line script (home {home})")

    async def job_directory(self) -> Result:
        name = "job directory writable"
        if not self.logged_in:
            return Result(name, None, "needs a working login")
        s = self.spawner
        try:
            job_dir = await s.resolve_job_dir()
        except BatchSpawnerError as e:
            return Result(name, False, str(e), "set job_dir to a path without spaces or special characters")
        probe = posixpath.join(job_dir, CERT_DIR, f".check-{secrets.token_hex(4)}")
        transport = await self.transport()
        try:
            await transport.write_file(probe, b"batchspawner-x check\n")
            back = await transport.read_tail(probe, 100)
            await transport.remove([probe])
        except TransportError as e:
            return Result(
                name,
                False,
                f"cannot write {probe} as {self.user}: {e}",
                "the user must be able to create job_dir (mode 0700) on a file system the compute nodes "
                "share: check its permissions and quota, or set job_dir to another absolute path",
            )
        if back != b"batchspawner-x check\n":
            return Result(name, False, f"wrote {probe} but read back {back!r}", "check the file system")
        return Result(name, True, f"wrote and removed a probe file in {posixpath.dirname(probe)}")

    async def hub_reachable(self) -> Result:
        name = "hub reachable from the cluster"
        hub = self.spawner.hub
        url = str(hub.api_url)
        parsed = urlparse(url)
        host = parsed.hostname or ""
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        fix_url = (
            "make the hub listen on an address the compute nodes reach (c.JupyterHub.hub_ip or "
            "hub_bind_url) and tell the jobs that address: c.JupyterHub.hub_connect_url = "
            "'http://HUB-ADDRESS:8081'"
        )
        if not self.logged_in:
            return Result(name, None, f"needs a working login (the job calls back {url})")
        if self.ssh and _is_loopback(host) and not _is_loopback(self.spawner.ssh_host):
            return Result(
                name, False, f"the job would call back {url}, a loopback address of the compute node", fix_url
            )
        transport = await self.transport()
        argv = ["/bin/sh", "-c", _HUB_PROBE, "sh", host, str(port), f"{self.timeout:g}", url]
        try:
            result = await transport.run(argv, timeout=self.timeout + 5)
        except TransportError as e:
            return Result(name, False, f"cannot run the probe: {e}", "see the authentication check")
        where = "the login node" if self.ssh else "this host as the user"
        if result.returncode != 0:
            message = result.message()
            failure = probe_failure(message)
            if failure == "refused":
                fix = f"nothing listens at {host}:{port} as seen from {where}: start the hub; {fix_url}"
            elif failure == "timeout":
                fix = f"a firewall drops connections from the cluster to {host}:{port}; open it, or {fix_url}"
            else:
                fix = fix_url
            return Result(name, False, f"{where} cannot connect to {host}:{port} ({url}): {message}", fix)
        return Result(name, True, f"{where} connects to {host}:{port}, the address jobs call back ({url})")


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def check(args: argparse.Namespace, out: TextIO) -> int:
    app = load_hub(args.config)
    spawner = await make_spawner(app, args.user, args.server, args.options, args.run_pre_spawn_hook)
    try:
        cluster_user = await spawner.cluster_username()
    except ConfigError as e:
        out.write(Result("cluster user name", False, str(e), "correct ssh_username").line() + "\n")
        return 1
    checker = Checker(spawner, cluster_user, args.timeout)
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
        "--run-pre-spawn-hook", action="store_true", help="also run c.Spawner.pre_spawn_hook (off by default)"
    )
    top = argparse.ArgumentParser(
        prog="batchspawner-x",
        description="Preview a user's job script, or check that a hub can spawn into the cluster.",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="{render,check}")
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
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stderr)
    command = render if args.command == "render" else check
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
