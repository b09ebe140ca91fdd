"""The body of the port handshake: exactly {"host": str, "port": int}."""

from __future__ import annotations

from typing import Any

import pytest

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
