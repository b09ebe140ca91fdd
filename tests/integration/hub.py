"""A real JupyterHub (with configurable-http-proxy) driven as a client would.

Each :class:`Hub` runs ``python -m jupyterhub`` in its own directory with a
generated config, on free loopback ports, and is used only through its REST
API and the proxy. The cluster facts come from ``ci/cluster/up.sh`` (see
``/etc/batchspawner-x-test/cluster.env``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

from . import cluster
from .facts import CLUSTER_ENV, cluster_env

__all__ = ["CLUSTER_ENV", "HeldPorts", "Hub", "cluster_env"]


class HeldPorts:
    """``count`` distinct free loopback ports, each kept bound until :meth:`release`.

    Bound together, they are distinct; kept bound, no other pick of a free port (by the
    kernel, for this process or a neighbour's) gets one of them meanwhile. Release them
    just before the process that listens on them starts.
    """

    def __init__(self, count: int) -> None:
        self._sockets: list[socket.socket] = []
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            self._sockets.append(s)
        self.ports = [int(s.getsockname()[1]) for s in self._sockets]

    def release(self) -> None:
        for s in self._sockets:
            s.close()
        self._sockets = []


class SpawnResult:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events

    @property
    def ready(self) -> bool:
        return any(e.get("ready") for e in self.events)

    @property
    def failed(self) -> bool:
        return any(e.get("failed") for e in self.events)

    @property
    def messages(self) -> list[str]:
        return [str(e.get("message", "")) for e in self.events]

    def __repr__(self) -> str:
        return f"SpawnResult(ready={self.ready}, messages={self.messages!r})"


class Hub:
    """One JupyterHub process and its proxy, in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        extra_config: str = "",
        *,
        spawner: str = "batchspawner_x.SlurmSpawner",
        internal_ssl: bool = False,
    ) -> None:
        self.workdir = workdir
        self.cluster = cluster_env()
        self.token = secrets.token_hex(16)
        self.proxy_token = secrets.token_hex(16)
        self._ports = HeldPorts(3)
        self.public_port, self.hub_port, self.proxy_api_port = self._ports.ports
        self.url = f"http://127.0.0.1:{self.public_port}"
        self.api = f"{self.url}/hub/api"
        self.proc: subprocess.Popen[bytes] | None = None
        #: pid -> start time of every process seen below the hub (its proxy, ...)
        self._children: dict[int, int] = {}
        self._spawned: set[str] = set()
        self.log_path = workdir / "jupyterhub.log"
        self.config_path = workdir / "jupyterhub_config.py"
        c = self.cluster
        scheme = "https" if internal_ssl else "http"
        self.config_path.write_text(
            textwrap.dedent(
                f"""
                c.JupyterHub.bind_url = "{self.url}"
                c.JupyterHub.internal_ssl = {internal_ssl}
                c.JupyterHub.hub_bind_url = "{scheme}://127.0.0.1:{self.hub_port}"
                c.ConfigurableHTTPProxy.api_url = "{scheme}://127.0.0.1:{self.proxy_api_port}"
                c.ConfigurableHTTPProxy.auth_token = "{self.proxy_token}"
                c.ConfigurableHTTPProxy.command = ["{c["BSX_CHP"]}"]
                c.JupyterHub.db_url = "sqlite:///{workdir}/jupyterhub.sqlite"
                c.JupyterHub.cookie_secret_file = "{workdir}/cookie_secret"
                c.JupyterHub.pid_file = "{workdir}/jupyterhub.pid"
                c.JupyterHub.cleanup_servers = False
                c.JupyterHub.authenticator_class = "dummy"
                c.Authenticator.allow_all = True
                c.JupyterHub.log_level = "DEBUG"
                # POST /server returns at once, so the progress stream shows every event
                c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}
                c.JupyterHub.services = [{{"name": "tester", "api_token": "{self.token}"}}]
                c.JupyterHub.load_roles = [
                    {{"name": "tester", "services": ["tester"],
                      "scopes": ["admin:users", "admin:servers", "access:servers", "tokens", "read:users"]}}
                ]
                c.JupyterHub.spawner_class = "{spawner}"
                c.Spawner.cmd = ["{c["BSX_VENV"]}/bin/jupyterhub-singleuser"]
                c.Spawner.ip = "127.0.0.1"
                c.Spawner.start_timeout = 120
                c.Spawner.http_timeout = 60
                c.Spawner.poll_interval = 5
                c.BatchSpawnerBase.status_interval = 2
                c.BatchSpawnerBase.ssh_host = "{c["BSX_SSH_HOST"]}"
                c.BatchSpawnerBase.ssh_port = {c["BSX_SSH_PORT"]}
                c.BatchSpawnerBase.ssh_keys = ["{c["BSX_KEYS_DIR"]}/{{username}}"]
                c.BatchSpawnerBase.ssh_known_hosts = "{c["BSX_KNOWN_HOSTS"]}"
                c.BatchSpawnerBase.node_command = ["{c["BSX_VENV"]}/bin/batchspawner-x-singleuser"]
                c.BatchSpawnerBase.partition = "debug"
                c.BatchSpawnerBase.walltime = "01:00:00"
                c.Spawner.mem_limit = "1G"
                c.Spawner.cpu_limit = 2
                """
            )
            + textwrap.dedent(extra_config)
        )

    # -- process -----------------------------------------------------------------
    def start(self, timeout: float = 60) -> None:
        """Start the hub and wait until its API answers. A hub that does not come up is ended
        with its proxy and whatever else it started, and the error shows its log."""
        self._ports.release()  # now: the hub and its proxy bind them next
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(self.config_path)],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._note_children()
            if self.proc.poll() is not None:
                self.terminate()
                raise RuntimeError(f"JupyterHub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.api}/", timeout=2).status_code == 200:
                    self._note_children()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.terminate()
        raise RuntimeError(f"JupyterHub did not come up:\n{self.log_tail()}")

    def _note_children(self) -> None:
        """Remember the processes below the live hub: once it has died they are orphans
        that only their pid and start time still name."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for pid in cluster.descendants(self.proc.pid)[1:]:
            started = cluster.process_start_time(pid)
            if started is not None:
                self._children.setdefault(pid, started)

    def _proxy_from_pid_file(self) -> None:
        """Add the proxy named by the hub's pid file, if that pid is a live proxy: the hub
        may have started it after the last look at its children."""
        pid_file = self.workdir / "jupyterhub-proxy.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text().strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            started = cluster.process_start_time(pid)
            if b"configurable-http-proxy" in command and started is not None:
                self._children.setdefault(pid, started)

    def _end_children(self) -> None:
        """SIGTERM the hub's remembered processes that still live (the same pid *and* start
        time), then SIGKILL those still there after 10 s."""
        for sig, grace in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            alive = [pid for pid, t in self._children.items() if cluster.process_start_time(pid) == t]
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + grace
            while alive and time.monotonic() < deadline:
                time.sleep(0.1)
                alive = [pid for pid in alive if cluster.process_start_time(pid) == self._children[pid]]
            if not alive:
                break
        self._children.clear()

    def kill(self) -> None:
        """SIGKILL the hub, as a crash would; the proxy and the jobs stay."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        """Stop the hub, its proxy and anything else it started; the jobs stay."""
        self._ports.release()
        self._note_children()
        self._proxy_from_pid_file()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._end_children()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    # -- REST ------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = kwargs.pop("headers", {})
        headers.setdefault("Authorization", f"token {self.token}")
        kwargs.setdefault("timeout", 30)
        return requests.request(method, f"{self.api}{path}", headers=headers, **kwargs)

    def create_user(self, name: str) -> None:
        r = self.request("POST", f"/users/{name}")
        assert r.status_code in (201, 409), r.text

    def user(self, name: str) -> dict[str, Any]:
        r = self.request("GET", f"/users/{name}")
        r.raise_for_status()
        data: dict[str, Any] = r.json()
        return data

    def server_model(self, name: str, server: str = "") -> dict[str, Any] | None:
        servers: dict[str, Any] = self.user(name).get("servers", {})
        return servers.get(server)

    def progress(self, name: str, server: str = "", timeout: float = 180) -> Iterator[dict[str, Any]]:
        path = f"/users/{name}/servers/{server}/progress" if server else f"/users/{name}/server/progress"
        with self.request("GET", path, stream=True, timeout=timeout) as r:
            r.raise_for_status()
            for line in r.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    event = json.loads(line[5:])
                    yield event
                    if event.get("ready") or event.get("failed"):
                        return

    def spawned_users(self) -> set[str]:
        return set(self._spawned)

    def spawn(
        self, name: str, server: str = "", *, wait: bool = True, options: dict[str, Any] | None = None
    ) -> SpawnResult:
        self.create_user(name)
        self._spawned.add(name)
        path = f"/users/{name}/servers/{server}" if server else f"/users/{name}/server"
        r = self.request("POST", path, json=options or {})
        if r.status_code >= 400:
            return SpawnResult([{"failed": True, "message": r.json().get("message", r.text)}])
        if not wait:
            return SpawnResult([])
        return SpawnResult(list(self.progress(name, server)))

    def spawn_watched(
        self, name: str, *, timeout: float = 120
    ) -> tuple[requests.Response, float, SpawnResult]:
        """Spawn as a REST client that waits for the answer, while following the progress
        stream as the spawn page does: the REST answer, the seconds from the request to that
        answer, and every progress event.

        The REST answer carries the spawn's outcome only on a hub whose ``slow_spawn_timeout``
        outlasts the spawn (``c.JupyterHub.tornado_settings``); else it is a 202 at once.
        """
        self.create_user(name)
        self._spawned.add(name)
        answer: list[tuple[requests.Response, float]] = []
        errors: list[BaseException] = []

        def post() -> None:
            try:
                sent = time.monotonic()
                r = self.request("POST", f"/users/{name}/server", json={}, timeout=timeout)
                answer.append((r, time.monotonic() - sent))
            except BaseException as e:  # reported by the calling thread
                errors.append(e)

        poster = threading.Thread(target=post)
        poster.start()
        events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not events and time.monotonic() < deadline:
            try:  # 404 or 400 until the hub has taken the POST in
                events = list(self.progress(name, timeout=timeout))
            except requests.HTTPError as e:
                if e.response is None or e.response.status_code not in (400, 404):
                    raise
                time.sleep(0.1)
        poster.join(timeout)
        if errors:
            raise errors[0]
        assert answer, "no answer to the spawn request"
        return answer[0][0], answer[0][1], SpawnResult(events)

    def stop(self, name: str, server: str = "") -> None:
        path = f"/users/{name}/servers/{server}" if server else f"/users/{name}/server"
        r = self.request("DELETE", path)
        assert r.status_code in (202, 204), r.text
        self.wait_for(lambda: self.server_model(name, server) is None, 120, f"{name}'s server to stop")

    def state(self, name: str, server: str = "") -> dict[str, Any]:
        model = self.server_model(name, server)
        assert model is not None, f"{name} has no server"
        state: dict[str, Any] = model.get("state") or {}
        return state

    def server_job(self, token: str) -> requests.Response:
        """The job API (``GET /hub/api/batchspawner_x/job``) asked with ``token``, as a
        server asks it."""
        headers = {"Authorization": f"token {token}"}
        return requests.get(f"{self.api}/batchspawner_x/job", headers=headers, timeout=30)

    def server_token(self, name: str, server: str = "") -> str:
        """The API token the server of ``name`` holds: read from the job's private env
        file, where the node side reads it."""
        job_dir = Path(self.state(name, server)["job_dir"])
        return str(json.loads((job_dir / "env.json").read_text())["env"]["JUPYTERHUB_API_TOKEN"])

    def started_job(self, name: str, server: str = "", timeout: float = 30) -> dict[str, Any]:
        """The job API's answer for the server of ``name``, once it shows the job started
        (the poller's next round after the server came up)."""
        token = self.server_token(name, server)
        answers: list[dict[str, Any]] = []

        def started() -> bool:
            r = self.server_job(token)
            answers.append({"status": r.status_code, **(r.json() if r.status_code == 200 else {})})
            return r.status_code == 200 and r.json()["start"] is not None

        try:
            self.wait_for(started, timeout, f"the job API to show when {name}'s job started")
        except AssertionError as e:
            raise AssertionError(f"{e}; its last answer: {answers[-1:]}") from None
        return answers[-1]

    def login(self, name: str) -> requests.Session:
        """A browser's session of user ``name``: logged in through the hub's login form (the
        test hub's dummy authenticator takes any password), holding the hub's cookies."""
        session = requests.Session()
        r = session.get(f"{self.url}/hub/login", timeout=30)
        r.raise_for_status()
        form = {"username": name, "password": "any", "_xsrf": session.cookies.get("_xsrf", "")}
        # next: the home page, not the server (which a hub would start for a user without one)
        r = session.post(f"{self.url}/hub/login?next=%2Fhub%2Fhome", data=form, timeout=30)
        assert r.status_code == 200 and "jupyterhub-session-id" in session.cookies, (r.status_code, r.url)
        return session

    def get_through_proxy(self, path: str, token: str | None = None) -> requests.Response:
        return requests.get(
            f"{self.url}{path}", headers={"Authorization": f"token {token or self.token}"}, timeout=30
        )

    @staticmethod
    def wait_for(predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")
