"""Node-side command: ``batchspawner-x-singleuser --env-file FILE -- CMD ...``.

Runs inside the batch job. It

1. reads the server's environment from FILE (0600, written by the hub over
   SSH: the API token never appears in the job script or on a command line);
2. picks a free port, from ``BATCHSPAWNER_X_PORT_RANGE`` (``LOW-HIGH``) when
   set;
3. tells the hub ``{"host": ..., "port": ...}`` with the server's own token
   (the host is the node's name, or its IP address on the route to the hub
   when ``BATCHSPAWNER_X_REPORT=ip``),
   and writes the same to ``server.json`` beside FILE (0600) so that a
   restarted hub can find the server too;
4. runs CMD with that environment and ``JUPYTERHUB_SERVICE_URL`` pointing at
   the chosen address, as its child (:mod:`batchspawner_x.supervise`): it passes the
   scheduler's early signal on as a warning and tells the hub when the job ends.

What it writes, reads and sends is the protocol of :mod:`batchspawner_x.handshake`.
Standard library only (this module and the handshake module import nothing else),
so it starts fast in any environment.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import ssl
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from .handshake import (
    API_TOKEN_VAR,
    API_URL_VAR,
    BIND_IP_VAR,
    ENV_FILE_OPTION,
    PORT_RANGE_VAR,
    REPORT_MODE_VAR,
    SERVER_FILE,
    SERVICE_URL_VAR,
    SSL_CA_VAR,
    SSL_CERT_VAR,
    SSL_KEY_VAR,
    job_id_from_env,
    parse_env_file,
    parse_port_range,
    report_body,
    report_headers,
    report_url,
    server_file_text,
)
from .supervise import supervise


class ReportRefused(RuntimeError):
    """The hub answered the address report with a 4xx: this server is not wanted."""


def _log(message: str) -> None:
    print(f"batchspawner-x-singleuser: {message}", file=sys.stderr, flush=True)


def load_env(path: str) -> dict[str, str]:
    """The server's environment from the hub's environment file at ``path``."""
    with open(path, encoding="utf-8") as f:
        return parse_env_file(f.read(), path)


def pick_port(bind_ip: str, port_range: tuple[int, int] | None) -> int:
    """A port that is free now on ``bind_ip`` (any port, or one in the range)."""
    family = socket.AF_INET6 if ":" in bind_ip else socket.AF_INET
    candidates: Sequence[int]
    if port_range is None:
        candidates = [0]
    else:
        candidates = list(range(port_range[0], port_range[1] + 1))
        random.shuffle(candidates)
    for port in candidates:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((bind_ip or "", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free port in {port_range} on {bind_ip or 'any address'}")


def report_host(bind_ip: str, mode: str = "hostname", hub_url: str = "") -> str:
    """The host the hub is told to connect to.

    A server bound to one address reports that address. Otherwise ``mode``
    says what to report: ``"hostname"``, the node's fully qualified name, or
    ``"ip"``, the node's own address on the route to the hub (``hub_url``):
    the address the hub is most likely to reach the node at, for clusters
    whose node names the hub cannot resolve.
    """
    if bind_ip and bind_ip not in ("0.0.0.0", "::"):
        return bind_ip
    if mode == "ip":
        return route_ip(urllib.parse.urlsplit(hub_url).hostname or "")
    return socket.getfqdn()


def route_ip(target: str) -> str:
    """This machine's source address towards ``target``, as the routing table picks it.

    Connecting a UDP socket sends no packet; it only chooses the route.
    """
    if not target:
        raise RuntimeError(f"no hub address to find the route to ({API_URL_VAR} is not set)")
    try:
        infos = socket.getaddrinfo(target, 9, type=socket.SOCK_DGRAM)
    except OSError as e:
        raise RuntimeError(f"cannot resolve the hub's host {target!r}: {e}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect(address)
        return str(s.getsockname()[0])


def _ssl_context(env: dict[str, str]) -> ssl.SSLContext | None:
    cafile = env.get(SSL_CA_VAR)
    if not cafile:
        return None
    ctx = ssl.create_default_context(cafile=cafile)
    certfile, keyfile = env.get(SSL_CERT_VAR), env.get(SSL_KEY_VAR)
    if certfile and keyfile:
        ctx.load_cert_chain(certfile, keyfile)
    return ctx


def send_report(env: dict[str, str], host: str, port: int, attempts: int = 6) -> None:
    url = report_url(env[API_URL_VAR])
    body = report_body(host, port, job_id_from_env(env))
    context = _ssl_context(env)
    delay = 0.5
    for attempt in range(1, attempts + 1):
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers=report_headers(env[API_TOKEN_VAR]),
        )
        try:
            with urllib.request.urlopen(request, timeout=20, context=context):
                return
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500:
                raise ReportRefused(f"the hub refused the address report: HTTP {e.code} {e.reason}") from None
            problem = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError) as e:
            problem = str(e)
        _log(f"cannot reach the hub at {url} ({problem}); attempt {attempt} of {attempts}")
        time.sleep(delay)
        delay *= 2
    raise RuntimeError(f"could not report the server address to {url}")


def write_private(path: str, text: str) -> None:
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def service_url(original: str, bind_ip: str, port: int) -> str:
    parts = urllib.parse.urlsplit(original or "http://127.0.0.1/")
    host = bind_ip or "0.0.0.0"
    if ":" in host:
        host = f"[{host}]"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="batchspawner-x-singleuser", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        ENV_FILE_OPTION, dest="env_file", required=True, help="JSON file with the server's environment (0600)"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the single-user server command, after --")
    args = parser.parse_args(argv)
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        parser.error("no server command given after --")

    try:
        server_env = load_env(args.env_file)
    except (OSError, ValueError) as e:
        _log(f"cannot read the server environment: {e}")
        return 2
    env = dict(os.environ)
    env.update(server_env)
    bind_ip = env.get(BIND_IP_VAR, "")
    try:
        port = pick_port(bind_ip, parse_port_range(env.get(PORT_RANGE_VAR, "")))
        host = report_host(bind_ip, env.get(REPORT_MODE_VAR, "hostname"), env.get(API_URL_VAR, ""))
        report = server_file_text(host, port, job_id_from_env(env))
        write_private(os.path.join(os.path.dirname(os.path.abspath(args.env_file)), SERVER_FILE), report)
    except (RuntimeError, ValueError, OSError) as e:
        _log(str(e))
        return 3
    try:
        send_report(env, host, port)
    except ReportRefused as e:
        _log(str(e))
        return 4
    except (RuntimeError, KeyError) as e:
        # The hub may be restarting: it finds the server through the server file.
        _log(f"{e}; starting anyway, the hub will read {SERVER_FILE}")
    env[SERVICE_URL_VAR] = service_url(env.get(SERVICE_URL_VAR, ""), bind_ip, port)
    _log(f"server will listen on {host}:{port}")
    return supervise(command, env, os.path.dirname(os.path.abspath(args.env_file)), _ssl_context(env))


if __name__ == "__main__":
    sys.exit(main())
