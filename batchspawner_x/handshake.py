"""The job↔hub protocol of the port handshake, in one place.

A notebook server's job and the hub agree on a few things, and this module
holds all of them:

- the **files** in the job directory: the hub writes the server's environment
  to :data:`ENV_FILE` (0600) and, with internal SSL, the key, certificate and
  CA into :data:`CERT_DIR`; the node side writes its address to
  :data:`SERVER_FILE` (0600) beside the environment file, so that a restarted
  hub finds the server too;
- the **environment variables** the node side reads: the hub's
  (``JUPYTERHUB_API_URL``, ``JUPYTERHUB_API_TOKEN`` ...), this package's
  (``BATCHSPAWNER_X_BIND_IP``, ``BATCHSPAWNER_X_PORT_RANGE``,
  ``BATCHSPAWNER_X_REPORT``) and the scheduler's job id
  (:data:`JOB_ID_VARIABLES`);
- the **report**: ``POST`` to :data:`REPORT_PATH` below the hub's API URL, with
  the server's own API token, of the body ``{"host": str, "port": int}``, plus
  ``"job_id": str`` from node-side commands that know it, and nothing else;
- the **checks** both sides make on a host, a port range, a report and a job id.

The hub side (:mod:`batchspawner_x.api`, :mod:`batchspawner_x.spawner`) and the
node side (:mod:`batchspawner_x.singleuser`) both import it. Standard library
only, and nothing else of this package: the node-side command starts in any
environment without loading JupyterHub, and may one day travel inside the job
script with this module as its only companion.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

# -- the report -----------------------------------------------------------------------

#: Where the node side posts its report, below the hub's API URL (``JUPYTERHUB_API_URL``,
#: which ends in ``/hub/api``).
REPORT_PATH = "/batchspawner_x/server"

#: The only fields a report may carry; ``job_id`` is optional.
REPORT_FIELDS = ("host", "port", "job_id")

# -- files in the job directory -------------------------------------------------------

#: The server's environment, API token included, as ``{"env": {NAME: VALUE}}`` (0600).
ENV_FILE = "env.json"
#: The address the node side chose, as the report's body with ``job_id`` always present (0600).
SERVER_FILE = "server.json"
#: The directory of the internal-SSL files.
CERT_DIR = "certs"
#: The internal-SSL files in :data:`CERT_DIR`, by the keys of ``Spawner.move_certs``.
CERT_FILES: Mapping[str, str] = MappingProxyType(
    {"keyfile": "key.pem", "certfile": "cert.pem", "cafile": "ca.pem"}
)

#: The node-side command's option that names the environment file.
ENV_FILE_OPTION = "--env-file"

# -- environment variables ------------------------------------------------------------

#: The hub's API URL; the report goes to this plus :data:`REPORT_PATH`.
API_URL_VAR = "JUPYTERHUB_API_URL"
#: The server's own API token, which authenticates the report.
API_TOKEN_VAR = "JUPYTERHUB_API_TOKEN"
#: The server's URL; the node side sets its host and port to the chosen address.
SERVICE_URL_VAR = "JUPYTERHUB_SERVICE_URL"
#: Internal SSL: the CA that signs the hub's certificate, and the server's own pair.
SSL_CA_VAR = "JUPYTERHUB_SSL_CLIENT_CA"
SSL_CERT_VAR = "JUPYTERHUB_SSL_CERTFILE"
SSL_KEY_VAR = "JUPYTERHUB_SSL_KEYFILE"

#: The address the server binds to (``Spawner.ip``); empty or ``0.0.0.0`` for all.
BIND_IP_VAR = "BATCHSPAWNER_X_BIND_IP"
#: The ports the server may use, ``LOW-HIGH`` (see :func:`parse_port_range`); unset for any.
PORT_RANGE_VAR = "BATCHSPAWNER_X_PORT_RANGE"
#: What host to report: ``hostname`` (the default, when unset) or ``ip``.
REPORT_MODE_VAR = "BATCHSPAWNER_X_REPORT"

#: Where each scheduler puts the job id in the job's environment, in the order they are read:
#: Slurm, Moab (before Torque's, which a Moab job also has), PBS and Torque, LSF, Grid Engine.
JOB_ID_VARIABLES = ("SLURM_JOB_ID", "MOAB_JOBID", "PBS_JOBID", "LSB_JOBID", "JOB_ID")

# -- checks ---------------------------------------------------------------------------

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PORT_RANGE = re.compile(r"^([0-9]{1,5})(?:-([0-9]{1,5}))?$")
#: A batch job id as any supported scheduler prints it (``123``, ``123.server``, ``7_2``).
_JOB_ID = re.compile(r"[A-Za-z0-9_.\[\]+-]{1,128}")


def valid_host(host: str) -> bool:
    """True for an IPv4 or IPv6 address or a DNS hostname (letters, digits, ``-``, dots).

    IPv6 scope ids (``fe80::1%eth0``) are refused: Python accepts any text after the
    ``%``, line breaks included, and such text would reach logs and messages.
    """
    if "%" in host or _CONTROL.search(host):
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOSTNAME.fullmatch(host))


def parse_port_range(text: str) -> tuple[int, int] | None:
    """``"LOW-HIGH"`` or ``"PORT"`` as ``(low, high)``; None for an empty string.

    Raises ValueError, saying why, for anything else: ports outside 1-65535, a
    range whose end comes before its start, signs, spaces or other text.
    """
    if not text:
        return None
    match = _PORT_RANGE.fullmatch(text)
    if match is None:
        raise ValueError(f"{text[:40]!r} is not a port range such as 40000-40999")
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if not 1 <= low <= high <= 65535:
        raise ValueError(f"{text!r} is not a port range: ports go from 1 to 65535, low to high")
    return low, high


def validate_report(body: Any) -> tuple[str, int]:
    """Check a report's body; return (host, port) or raise ValueError saying why.

    The body is ``{"host": str, "port": int}`` and, from node-side commands that know
    it, ``"job_id": str`` (see :func:`report_job_id`); nothing else.
    """
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    extra = set(body) - set(REPORT_FIELDS)
    if extra:
        raise ValueError(f"unexpected fields: {', '.join(sorted(map(str, extra)))}")
    host, port = body.get("host"), body.get("port")
    if not isinstance(host, str) or not valid_host(host):
        raise ValueError(
            "host must be a hostname or an IP address, without an IPv6 scope id or control characters"
        )
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError("port must be an integer from 1 to 65535")
    report_job_id(body)
    return host, port


def report_job_id(body: Mapping[str, Any]) -> str:
    """The id of the job that sent the report, or "" if it did not say (older node-side
    commands, HTCondor); raises ValueError for anything but a job id."""
    job_id = body.get("job_id", "")
    if not isinstance(job_id, str) or (job_id and not _JOB_ID.fullmatch(job_id)):
        raise ValueError("job_id must be a batch job id")
    return job_id


def job_id_from_env(env: Mapping[str, str]) -> str:
    """The batch job's id, or "" where the scheduler sets none (HTCondor)."""
    for name in JOB_ID_VARIABLES:
        if env.get(name):
            return env[name]
    return ""


# -- building and reading the messages ------------------------------------------------


def report_url(api_url: str) -> str:
    """Where the report goes, from the hub's API URL (:data:`API_URL_VAR`)."""
    return api_url.rstrip("/") + REPORT_PATH


def report_body(host: str, port: int, job_id: str = "") -> bytes:
    """The report as posted; ``job_id`` only when known (a second job of one submission,
    with the same token, is told apart by it)."""
    report: dict[str, object] = {"host": host, "port": port}
    if job_id:
        report["job_id"] = job_id
    return json.dumps(report).encode()


def report_headers(token: str) -> dict[str, str]:
    """The request headers of the report, authenticated by the server's own token."""
    return {"Authorization": "token " + token, "Content-Type": "application/json"}


def server_file_text(host: str, port: int, job_id: str) -> str:
    """What the node side writes to :data:`SERVER_FILE`: the report, ``job_id`` always
    present (empty where the scheduler sets none)."""
    return json.dumps({"host": host, "port": port, "job_id": job_id})


def parse_server_file(data: str | bytes) -> tuple[str, int, str]:
    """(host, port, job id) from the text of a :data:`SERVER_FILE`; ValueError if it is
    malformed. Fields other than host and port are not checked (the job id is compared to
    the job's own, nothing more); a missing job id is ""."""
    report = json.loads(data)
    if not isinstance(report, dict):
        raise ValueError(f"{SERVER_FILE} must hold a JSON object")
    host, port = validate_report({"host": report.get("host"), "port": report.get("port")})
    return host, port, str(report.get("job_id", ""))


def env_file_body(env: Mapping[str, str]) -> bytes:
    """The content of :data:`ENV_FILE` for the server's environment ``env``."""
    return json.dumps({"env": dict(env)}).encode()


def parse_env_file(data: str | bytes, source: str) -> dict[str, str]:
    """The environment in the text of an :data:`ENV_FILE`; ValueError naming ``source``
    (the file's path) unless it is ``{"env": {str: str}}``."""
    loaded = json.loads(data)
    env = loaded.get("env") if isinstance(loaded, dict) else None
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise ValueError(f"{source} does not hold an environment")
    return env


__all__ = [
    "API_TOKEN_VAR",
    "API_URL_VAR",
    "BIND_IP_VAR",
    "CERT_DIR",
    "CERT_FILES",
    "ENV_FILE",
    "ENV_FILE_OPTION",
    "JOB_ID_VARIABLES",
    "PORT_RANGE_VAR",
    "REPORT_FIELDS",
    "REPORT_MODE_VAR",
    "REPORT_PATH",
    "SERVER_FILE",
    "SERVICE_URL_VAR",
    "SSL_CA_VAR",
    "SSL_CERT_VAR",
    "SSL_KEY_VAR",
    "env_file_body",
    "job_id_from_env",
    "parse_env_file",
    "parse_port_range",
    "parse_server_file",
    "report_body",
    "report_headers",
    "report_job_id",
    "report_url",
    "server_file_text",
    "valid_host",
    "validate_report",
]
