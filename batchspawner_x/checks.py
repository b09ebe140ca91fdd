"""The checks of ``batchspawner-x check``: one line each for what a spawn needs.

:class:`Checker` runs them in order on a built spawner: the login node (each login
host of the cluster), its host key, the user's login, the scheduler's commands, the
lists profile fields read from the cluster (when a profile asks for them), the
template, the job directory and the way back from the cluster to the hub. Each
yields a :class:`Result`; a check that cannot run because an earlier one failed is
skipped, not failed again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import posixpath
import secrets
import shlex
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

from .errors import (
    BatchSpawnerError,
    ConfigError,
    HostKeyError,
    KeyFileError,
    TemplateError,
    TransportError,
)
from .handshake import CERT_DIR
from .schedulers.base import CommandResult, PartitionInfo
from .spawner import BatchSpawnerBase
from .spawner_environments import lists_wanted
from .states import StatusUnavailable
from .transport import Transport
from .units import format_walltime


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
        #: The login nodes that answered as SSH servers.
        self.reachable_hosts: list[tuple[str, int]] = []
        self.host_key_ok = True
        self.logged_in = False
        self.home: str | None = None

    @property
    def ssh(self) -> bool:
        return self.spawner.connection == "ssh"

    def _hosts(self) -> list[tuple[str, int]]:
        """The cluster's login nodes, in the configured order."""
        return list(self.spawner.cluster.login_hosts())

    async def run_all(self) -> list[Result]:
        steps: list[Callable[[], Awaitable[Result | list[Result]]]] = [
            self.reachability,
            self.host_key,
            self.authentication,
            self.scheduler_commands,
            self.partitions,
            self.profile_lists,
            self.template,
            self.job_directory,
            self.hub_reachable,
        ]
        results: list[Result] = []
        for step in steps:
            found = await step()
            if isinstance(found, list):
                results.extend(found)
            else:
                results.append(found)
        return results

    async def transport(self) -> Transport:
        return await self.spawner.transport()

    async def reachability(self) -> list[Result]:
        """One line per login node; the later checks need one that answers."""
        name = "login node reachable"
        s = self.spawner
        if not self.ssh:
            prefix = [p.format(username=self.user) for p in s.local_prefix]
            return [
                Result(name, True, f"connection = 'local': commands run here behind {shlex.join(prefix)}")
            ]
        results = [await self._reach(host, port) for host, port in self._hosts()]
        self.reachable_hosts = [h for h, r in zip(self._hosts(), results, strict=True) if r.ok]
        self.reachable = bool(self.reachable_hosts)
        return results

    async def _reach(self, host: str, port: int) -> Result:
        name = "login node reachable"
        where = f"{host}:{port}"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.timeout)
        except (OSError, asyncio.TimeoutError) as e:
            why = str(e) or f"no answer within {self.timeout:g}s"
            return Result(
                name,
                False,
                f"cannot open a TCP connection to {where}: {why}",
                "check ssh_host and ssh_port (or login_hosts), the name's DNS entry and the firewalls "
                "between the hub and the login node",
            )
        try:
            banner = await asyncio.wait_for(reader.readline(), self.timeout)
        except (OSError, asyncio.TimeoutError):
            banner = b""
        finally:
            writer.close()
        text = banner.decode("ascii", "replace").strip()
        if not text.startswith("SSH-"):
            return Result(
                name,
                False,
                f"{where} answers, but not as an SSH server ({text[:60]!r})",
                "ssh_port must be the port of the login node's sshd",
            )
        return Result(name, True, f"{where} answers ({text[:60]})")

    async def host_key(self) -> list[Result]:
        """One line per login node that answers; a bad key fails its node only."""
        name = "host key known"
        s = self.spawner
        if not self.ssh:
            return [Result(name, True, "not used (connection = 'local')")]
        if not self.reachable:
            return [Result(name, None, "needs a reachable login node")]
        if not s.ssh_known_hosts or not os.path.isfile(s.ssh_known_hosts):
            self.host_key_ok = False
            host, port = self.reachable_hosts[0]
            return [
                Result(
                    name, False, f"ssh_known_hosts {s.ssh_known_hosts!r} is not a file", _scan(s, host, port)
                )
            ]
        results = [await self._host_key(host, port) for host, port in self.reachable_hosts]
        self.host_key_ok = any(r.ok for r in results)
        return results

    async def _host_key(self, host: str, port: int) -> Result:
        import asyncssh

        name = "host key known"
        s = self.spawner
        where = f"{host}:{port}"
        fix = _scan(s, host, port)
        try:
            conn = await asyncssh.connect(
                host,
                port,
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
            return Result(
                name,
                False,
                f"the host key of {where} is not in {s.ssh_known_hosts} or does not match it ({e.reason})",
                fix,
            )
        except asyncssh.PermissionDenied:
            pass  # the host key was accepted; logging in is the next check
        except (OSError, asyncssh.Error) as e:
            return Result(name, False, f"the SSH handshake with {where} failed: {e}", fix)
        return Result(name, True, f"{where} matches an entry of {s.ssh_known_hosts}")

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

    async def partitions(self) -> Result:
        """The scheduler answers: the partitions (queues) it lists, as the form reads them."""
        name = "scheduler answers"
        if not self.logged_in:
            return Result(name, None, "needs a working login")
        scheduler = self.spawner.scheduler
        argv = scheduler.partitions_argv()
        if argv is None:
            return Result(
                name,
                True,
                f"not asked: {scheduler.display_name} lists no partitions here"
                " (profiles give choices as lists)",
                warning=True,
            )
        transport = await self.transport()
        try:
            found = scheduler.parse_partitions(await transport.run(argv, timeout=self.timeout))
        except (TransportError, StatusUnavailable) as e:
            return Result(
                name,
                False,
                f"{shlex.join(argv)} failed: {e}",
                "run it as this user on the login node; the form then offers only the configured choices",
            )
        if not found:
            return Result(
                name, False, f"{shlex.join(argv)} lists no partitions", "check the scheduler's setup"
            )
        return Result(name, True, "partitions " + ", ".join(_describe_partition(p) for p in found.values()))

    async def profile_lists(self) -> list[Result]:
        """The reservations and accounts profile fields offer from the cluster, read as the
        form reads them (no line when no profile asks for them)."""
        name = "profile lists"
        s = self.spawner
        try:
            wanted = lists_wanted(s._cluster_profiles()) if s.profiles else (False, False)
        except ConfigError as e:  # a profile its scheduler cannot honour
            return [
                Result(name, False, str(e), "correct the profile (see docs/accounts-and-reservations.md)")
            ]
        if not any(wanted):
            return []
        if not self.logged_in:
            return [Result(name, None, "needs a working login")]
        scheduler = s.scheduler
        commands: list[tuple[str, list[str] | None, Callable[[CommandResult], Iterable[str]]]] = []
        if wanted[1]:
            commands.append(
                ("accounts", scheduler.associations_argv(self.user), scheduler.parse_associations)
            )
        if wanted[0]:
            argv = scheduler.reservations_argv()
            commands.append(("reservations", argv, lambda r: scheduler.parse_reservations(r, self.user)))
        transport = await self.transport()
        results = []
        for kind, argv, parse in commands:
            if argv is None:
                detail = f"{scheduler.display_name} lists no {kind}: only the site's choices are offered"
                results.append(Result(name, True, detail, warning=True))
                continue
            try:
                found = parse(await transport.run(argv, timeout=self.timeout))
            except (TransportError, StatusUnavailable) as e:
                fix = f"run it as {self.user} on the login node; the form then offers only the site's choices"
                results.append(Result(name, False, f"{shlex.join(argv)} failed: {e}", fix))
                continue
            results.append(Result(name, True, f"{kind} for {self.user}: {', '.join(found) or 'none'}"))
        return results

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


def _scan(spawner: BatchSpawnerBase, host: str, port: int) -> str:
    """The fix for a login node's unknown host key."""
    option = "" if port == 22 else f"-p {port} "
    scan = f"ssh-keyscan {option}{host} >> {spawner.ssh_known_hosts}"
    return f"check the login node's fingerprint with its administrators, then: {scan}"


def _describe_partition(p: PartitionInfo) -> str:
    """``debug (64 CPUs, 20000M, 1:00:00)``, or ``debug (down)``."""
    if not p.available:
        return f"{p.name} (down)"
    limits = []
    if p.cpus:
        limits.append(f"{p.cpus} CPUs")
    if p.memory_mb:
        limits.append(f"{p.memory_mb}M")
    if p.gpus:
        limits.append(f"{p.gpus} GPUs")
    if p.max_walltime_seconds:
        limits.append(format_walltime(p.max_walltime_seconds))
    return f"{p.name} ({', '.join(limits)})" if limits else p.name


__all__ = ["Checker", "Result", "probe_failure"]
