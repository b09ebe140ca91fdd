"""The job<->hub protocol: the report's body is exactly {"host": str, "port": int} (and the
job's id); the files and names both sides share; the node side stays standard library only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import batchspawner_x
from batchspawner_x import handshake
from batchspawner_x.handshake import report_job_id, validate_report


@pytest.mark.parametrize(
    "host",
    ["c1.cluster", "c1", "node-01.hpc.example.org", "localhost", "10.1.2.3", "127.0.0.1", "::1", "fe80::1"],
)
def test_accepts_host_and_port(host: str) -> None:
    assert validate_report({"host": host, "port": 8888}) == (host, 8888)


@pytest.mark.parametrize("port", [1, 8888, 65535])
def test_port_bounds_accepted(port: int) -> None:
    assert validate_report({"host": "c1.cluster", "port": port}) == ("c1.cluster", port)


def test_returns_exact_types() -> None:
    host, port = validate_report({"host": "c1.cluster", "port": 8888})
    assert type(host) is str
    assert type(port) is int


@pytest.mark.parametrize(
    "body",
    [
        {"host": "c1.cluster", "port": 8888, "ip": "1.2.3.4"},
        {"host": "c1.cluster", "port": 8888, "url": "http://evil/"},
        {"host": "c1.cluster", "port": 8888, "job_id": "25", "cmd": "x"},
    ],
)
def test_rejects_extra_fields(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unexpected fields"):
        validate_report(body)


@pytest.mark.parametrize("body", [{"host": "c1.cluster"}, {"port": 8888}, {}])
def test_rejects_missing_fields(body: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        validate_report(body)


@pytest.mark.parametrize("port", [0, -1, 65536, "8888", True, False, 8888.0, None, [8888]])
def test_rejects_bad_port(port: Any) -> None:
    with pytest.raises(ValueError, match="port must be an integer from 1 to 65535"):
        validate_report({"host": "c1.cluster", "port": port})


@pytest.mark.parametrize(
    "host",
    [
        "c1 cluster",
        " c1.cluster",
        "c1\ncluster",
        "$(id)",
        "c1.cluster;id",
        "",
        "-c1",
        "c1..cluster",
        "http://c1.cluster",
        "c1.cluster:8888",
        "a" * 64 + ".cluster",
        None,
        8888,
        ["c1"],
    ],
)
def test_rejects_bad_host(host: Any) -> None:
    with pytest.raises(ValueError, match="host must be a hostname or an IP address"):
        validate_report({"host": host, "port": 8888})


def test_rejects_host_with_trailing_newline() -> None:
    with pytest.raises(ValueError):
        validate_report({"host": "c1.cluster\n", "port": 8888})


@pytest.mark.parametrize("body", [None, [], ["c1", 8888], "c1:8888", 8888, b"{}"])
def test_rejects_non_dict_bodies(body: Any) -> None:
    with pytest.raises(ValueError, match="body must be a JSON object"):
        validate_report(body)


@pytest.mark.parametrize("job_id", ["25", "1234.pbs-server", "7_2", "Moab.12", ""])
def test_accepts_a_job_id(job_id: str) -> None:
    body = {"host": "c1.cluster", "port": 8888, "job_id": job_id}
    assert validate_report(body) == ("c1.cluster", 8888)
    assert report_job_id(body) == job_id
    assert report_job_id({"host": "c1.cluster", "port": 8888}) == ""


@pytest.mark.parametrize("job_id", [25, None, "25\n", "25; id", "$(id)", "x" * 129, ["25"]])
def test_rejects_a_bad_job_id(job_id: Any) -> None:
    with pytest.raises(ValueError, match="job_id"):
        validate_report({"host": "c1.cluster", "port": 8888, "job_id": job_id})


# -- the messages as they travel ------------------------------------------------------


def test_report_goes_below_the_hubs_api_url() -> None:
    assert handshake.report_url("http://10.0.0.1:8081/hub/api") == (
        "http://10.0.0.1:8081/hub/api/batchspawner_x/server"
    )
    assert handshake.report_url("http://10.0.0.1:8081/hub/api/") == (
        "http://10.0.0.1:8081/hub/api/batchspawner_x/server"
    )


def test_report_body_names_the_job_only_when_known() -> None:
    assert (
        handshake.report_body("c1.cluster", 8888, "25")
        == b'{"host": "c1.cluster", "port": 8888, "job_id": "25"}'
    )
    assert handshake.report_body("c1.cluster", 8888) == b'{"host": "c1.cluster", "port": 8888}'


def test_report_body_passes_the_hubs_check() -> None:
    body = json.loads(handshake.report_body("10.1.0.17", 40001, "1234.pbs-server"))
    assert validate_report(body) == ("10.1.0.17", 40001)
    assert report_job_id(body) == "1234.pbs-server"


def test_report_is_authenticated_by_the_servers_token() -> None:
    assert handshake.report_headers("secret") == {
        "Authorization": "token secret",
        "Content-Type": "application/json",
    }


def test_server_file_always_names_the_job() -> None:
    assert handshake.server_file_text("c1", 8888, "") == '{"host": "c1", "port": 8888, "job_id": ""}'
    assert handshake.parse_server_file(handshake.server_file_text("c1", 8888, "25")) == ("c1", 8888, "25")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b'{"host": "c1", "port": 8888}', ("c1", 8888, "")),
        (b'{"host": "c1", "port": 8888, "job_id": 25}', ("c1", 8888, "25")),
        (b'{"host": "c1", "port": 8888, "job_id": "25", "extra": 1}', ("c1", 8888, "25")),
    ],
)
def test_server_file_checks_only_host_and_port(text: bytes, expected: tuple[str, int, str]) -> None:
    assert handshake.parse_server_file(text) == expected


@pytest.mark.parametrize(
    "text",
    [b"", b"{", b"[]", b'"c1:8888"', b"null", b'{"host": "c1"}', b'{"host": "$(id)", "port": 8888}', b"\xff"],
)
def test_a_malformed_server_file_is_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        handshake.parse_server_file(text)


def test_env_file_round_trip() -> None:
    env = {"JUPYTERHUB_API_TOKEN": "secret", "BATCHSPAWNER_X_BIND_IP": ""}
    data = handshake.env_file_body(env)
    assert data == b'{"env": {"JUPYTERHUB_API_TOKEN": "secret", "BATCHSPAWNER_X_BIND_IP": ""}}'
    assert handshake.parse_env_file(data, "env.json") == env


def test_the_names_the_job_script_and_node_side_share() -> None:
    """Changing any of these breaks jobs that are running while the hub is upgraded."""
    assert (handshake.ENV_FILE, handshake.SERVER_FILE, handshake.CERT_DIR) == (
        "env.json",
        "server.json",
        "certs",
    )
    assert handshake.ENV_FILE_OPTION == "--env-file"
    assert (handshake.BIND_IP_VAR, handshake.PORT_RANGE_VAR, handshake.REPORT_MODE_VAR) == (
        "BATCHSPAWNER_X_BIND_IP",
        "BATCHSPAWNER_X_PORT_RANGE",
        "BATCHSPAWNER_X_REPORT",
    )


# -- the node side imports the standard library only ----------------------------------

_IMPORT_NODE_SIDE = """
import sys
sys.path.insert(0, {root!r})
before = set(sys.modules)
import batchspawner_x.handshake, batchspawner_x.singleuser
ours = {{"batchspawner_x", "batchspawner_x.handshake", "batchspawner_x.singleuser",
         "batchspawner_x.supervise", "batchspawner_x.job_events"}}
for name in sorted(set(sys.modules) - before):
    if name.split(".")[0] not in sys.stdlib_module_names and name not in ours:
        print(name)
"""


def test_node_side_imports_the_standard_library_only() -> None:
    """In a fresh interpreter without site-packages: no third-party module, nor any other
    module of this package, is needed or loaded."""
    root = str(Path(batchspawner_x.__file__).resolve().parent.parent)
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _IMPORT_NODE_SIDE.format(root=root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
