"""The node-side command: its pure helpers, and the whole of it against a recording hub."""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from batchspawner_x import singleuser
from batchspawner_x.handshake import JOB_ID_VARIABLES, job_id_from_env, parse_port_range
from batchspawner_x.singleuser import load_env, pick_port, report_host, service_url

# -- port ranges ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", None), ("9000-9010", (9000, 9010)), ("9000", (9000, 9000)), ("1-65535", (1, 65535))],
)
def test_parse_port_range(text: str, expected: tuple[int, int] | None) -> None:
    assert parse_port_range(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        *("abc", "9010-9000", "0-10", "0", "70000", "9000-70000", "-5", "9000-9010-9020", "a-b", "90 00"),
        *("+9000", "9_000", " 9000", "9000-", "9000:9010", "\u0669\u0660\u0660\u0660"),  # Arabic-Indic 9000
    ],
)
def test_parse_port_range_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        parse_port_range(text)


# -- picking a port --------------------------------------------------------------


@contextlib.contextmanager
def busy_range(size: int) -> Iterator[tuple[int, list[socket.socket]]]:
    """``size`` consecutive ports on 127.0.0.1, all bound by this test; yields (first, sockets)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(base, base + size):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            for s in held:
                s.close()
            continue
        try:
            yield base, held
        finally:
            for s in held:
                s.close()
        return
    pytest.fail("could not find free consecutive ports on 127.0.0.1")


def test_pick_port_any() -> None:
    port = pick_port("127.0.0.1", None)
    assert 1 <= port <= 65535


def test_pick_port_in_range() -> None:
    with busy_range(5) as (base, held):
        for s in held:
            s.close()
        for _ in range(10):
            assert base <= pick_port("127.0.0.1", (base, base + 4)) <= base + 4


def test_pick_port_skips_busy_ports() -> None:
    with busy_range(6) as (base, held):
        free = base + 3
        held[3].close()
        # whatever order the candidates are tried in, only the free one can be bound
        for _ in range(10):
            assert pick_port("127.0.0.1", (base, base + 5)) == free


def test_pick_port_all_busy() -> None:
    with busy_range(3) as (base, _held), pytest.raises(RuntimeError, match="no free port"):
        pick_port("127.0.0.1", (base, base + 2))


# -- host and URL -----------------------------------------------------------------


@pytest.mark.parametrize("ip", ["10.1.2.3", "127.0.0.1", "fe80::1"])
def test_report_host_specific_ip(ip: str) -> None:
    assert report_host(ip) == ip


@pytest.mark.parametrize("ip", ["", "0.0.0.0", "::"])
def test_report_host_wildcard_uses_fqdn(monkeypatch: pytest.MonkeyPatch, ip: str) -> None:
    monkeypatch.setattr(singleuser.socket, "getfqdn", lambda *a: "c1.cluster")
    assert report_host(ip) == "c1.cluster"


@pytest.mark.parametrize(
    ("original", "bind_ip", "port", "expected"),
    [
        ("https://127.0.0.1:8888/user/alice/", "0.0.0.0", 9000, "https://0.0.0.0:9000/user/alice/"),
        ("http://127.0.0.1:8888/user/alice/", "", 9000, "http://0.0.0.0:9000/user/alice/"),
        ("http://127.0.0.1/user/bob/gpu/", "10.1.2.3", 40001, "http://10.1.2.3:40001/user/bob/gpu/"),
        ("http://127.0.0.1:8888/user/alice/", "::", 9000, "http://[::]:9000/user/alice/"),
        ("http://127.0.0.1:8888/user/alice/?a=1", "0.0.0.0", 9000, "http://0.0.0.0:9000/user/alice/?a=1"),
        ("", "0.0.0.0", 9000, "http://0.0.0.0:9000/"),
    ],
)
def test_service_url(original: str, bind_ip: str, port: int, expected: str) -> None:
    assert service_url(original, bind_ip, port) == expected


# -- the environment file -----------------------------------------------------------


def write_json(tmp_path: Path, data: object) -> str:
    path = tmp_path / "env.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_load_env(tmp_path: Path) -> None:
    env = {"JUPYTERHUB_API_TOKEN": "secret", "JUPYTERHUB_API_URL": "http://10.0.0.1:8081/hub/api"}
    assert load_env(write_json(tmp_path, {"env": env})) == env


@pytest.mark.parametrize(
    "data",
    [
        {"env": {"PORT": 8888}},
        {"env": {"A": None}},
        {"env": {"A": ["x"]}},
        {"env": {"A": True}},
        {"env": ["A=1"]},
        {"env": "A=1"},
        {},
        ["A", "1"],
        "A=1",
    ],
)
def test_load_env_rejects_non_string_values(tmp_path: Path, data: object) -> None:
    path = write_json(tmp_path, data)
    with pytest.raises(ValueError, match="does not hold an environment"):
        load_env(path)


def test_load_env_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_env(str(tmp_path / "nope.json"))


def test_job_id_prefers_moab_over_torque() -> None:
    assert job_id_from_env({"PBS_JOBID": "12.torque-server", "MOAB_JOBID": "12"}) == "12"
    assert job_id_from_env({"LSB_JOBID": "1815"}) == "1815"
    assert job_id_from_env({}) == ""


def test_report_ip_is_the_address_on_the_route_to_the_hub() -> None:
    assert report_host("0.0.0.0", "ip", "http://127.0.0.1:8081/hub/api") == "127.0.0.1"
    assert report_host("10.1.0.17", "ip", "http://127.0.0.1:8081/hub/api") == "10.1.0.17"
    with pytest.raises(RuntimeError, match="no hub address"):
        report_host("0.0.0.0", "ip", "")


# -- the whole node side, against a hub that records what it is sent -----------------------


class _Hub(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []
    answer: ClassVar[int] = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, dict(self.headers), body))
        self.send_response(self.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[tuple[str, type[_Hub]]]:
    handler = type("Hub", (_Hub,), {"received": [], "answer": 204})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hub/api", handler
    finally:
        server.shutdown()
        server.server_close()


def run_node_side(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str]
) -> tuple[int, list[tuple[str, list[str], dict[str, str]]]]:
    """Run ``batchspawner-x-singleuser`` up to the start of the server, which is recorded."""
    for name in JOB_ID_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    execs: list[tuple[str, list[str], dict[str, str]]] = []

    def supervise(command: list[str], env: dict[str, str], job_dir: str, context: object) -> int:
        execs.append((command[0], list(command), dict(env)))
        return 0

    monkeypatch.setattr(singleuser, "supervise", supervise)
    env_file = write_json(tmp_path, {"env": env})
    code = singleuser.main(["--env-file", env_file, "--", "jupyterhub-singleuser", "--debug"])
    return code, execs


def test_node_side_reports_writes_the_server_file_and_starts_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hub: tuple[str, type[_Hub]]
) -> None:
    url, handler = hub
    env = {
        "JUPYTERHUB_API_URL": url,
        "JUPYTERHUB_API_TOKEN": "secret",
        "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:8888/user/alice/",
        "BATCHSPAWNER_X_BIND_IP": "127.0.0.1",
        "SLURM_JOB_ID": "25",
    }
    code, execs = run_node_side(monkeypatch, tmp_path, env)
    assert code == 0
    [(path, headers, body)] = handler.received
    port = json.loads(body)["port"]
    assert path == "/hub/api/batchspawner_x/server"
    assert headers["Authorization"] == "token secret"
    assert headers["Content-Type"] == "application/json"
    assert body == f'{{"host": "127.0.0.1", "port": {port}, "job_id": "25"}}'.encode()
    server_file = tmp_path / "server.json"
    assert server_file.read_text() == f'{{"host": "127.0.0.1", "port": {port}, "job_id": "25"}}'
    assert server_file.stat().st_mode & 0o777 == 0o600
    [(program, argv, server_env)] = execs
    assert (program, argv) == ("jupyterhub-singleuser", ["jupyterhub-singleuser", "--debug"])
    assert server_env["JUPYTERHUB_SERVICE_URL"] == f"http://127.0.0.1:{port}/user/alice/"
    assert server_env["JUPYTERHUB_API_TOKEN"] == "secret"


def test_node_side_without_a_job_id_leaves_it_out_of_the_report(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hub: tuple[str, type[_Hub]]
) -> None:
    url, handler = hub
    env = {"JUPYTERHUB_API_URL": url, "JUPYTERHUB_API_TOKEN": "t", "BATCHSPAWNER_X_BIND_IP": "127.0.0.1"}
    assert run_node_side(monkeypatch, tmp_path, env)[0] == 0
    [(_, _, body)] = handler.received
    assert set(json.loads(body)) == {"host", "port"}
    assert json.loads((tmp_path / "server.json").read_text())["job_id"] == ""


def test_node_side_stops_when_the_hub_refuses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hub: tuple[str, type[_Hub]]
) -> None:
    url, handler = hub
    handler.answer = 403
    env = {"JUPYTERHUB_API_URL": url, "JUPYTERHUB_API_TOKEN": "t", "BATCHSPAWNER_X_BIND_IP": "127.0.0.1"}
    code, execs = run_node_side(monkeypatch, tmp_path, env)
    assert (code, execs) == (4, [])
