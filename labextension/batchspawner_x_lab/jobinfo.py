"""This server's job, as the hub and the job's events file tell it.

:func:`job_answer` is the whole answer of ``GET batchspawner-x/job``: the hub's job API
(``GET {JUPYTERHUB_API_URL}/batchspawner_x/job`` with this server's own token) and the
warnings the job wrote to its events file (``BATCHSPAWNER_X_EVENTS``, JSON lines). It
never raises for a missing hub, a refused token or a bad answer: the answer then says
``{"available": false, "reason": "..."}`` in words, and still carries the events file's
warnings, which arrive even when the hub cannot be reached. :func:`extend_answer` asks the
hub to extend the job by one step (``POST .../batchspawner_x/job/extend``), same token.

The token goes only into the request's ``Authorization`` header: it is never part of an
answer, a log line or an error message.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

#: Seconds to wait for the hub's answer: a slow hub makes the item stay hidden, not hang.
HUB_TIMEOUT = 10.0
#: Lines read from the end of the events file at most (a job writes a handful).
MAX_EVENTS = 100

#: The hub answer's keys and the JSON types each may have (``None`` where null is allowed).
JOB_FIELDS: dict[str, tuple[type, ...]] = {
    "job_id": (str,),
    "cluster": (str, type(None)),
    "node": (str, type(None)),
    "state": (str,),
    "profile": (str, type(None)),
    "start": (str, type(None)),
    "time_limit_seconds": (int, type(None)),
    "end": (str, type(None)),
    "seconds_left": (int, type(None)),
    "elapsed_seconds": (int, type(None)),
    "warnings_seconds": (list,),
    "now": (str,),
}


def hub_job_request(env: Mapping[str, str], *, extend: bool = False) -> HTTPRequest | None:
    """The request for this server's job at the hub, or ``None`` when not under JupyterHub.

    ``env`` is the server's environment: ``JUPYTERHUB_API_URL`` (for example
    ``http://10.0.0.1:8081/hub/api``) and ``JUPYTERHUB_API_TOKEN`` come from the hub; with
    internal SSL the hub also sets ``JUPYTERHUB_SSL_KEYFILE``, ``_CERTFILE`` and ``_CLIENT_CA``.
    ``extend``: the request that extends the job by one step
    (``POST {JUPYTERHUB_API_URL}/batchspawner_x/job/extend``) instead.
    """
    api_url = env.get("JUPYTERHUB_API_URL", "").rstrip("/")
    token = env.get("JUPYTERHUB_API_TOKEN") or env.get("JPY_API_TOKEN", "")
    if not api_url or not token:
        return None
    ssl: dict[str, Any] = {}
    if api_url.startswith("https:"):
        ssl = {
            "client_key": env.get("JUPYTERHUB_SSL_KEYFILE") or None,
            "client_cert": env.get("JUPYTERHUB_SSL_CERTFILE") or None,
            "ca_certs": env.get("JUPYTERHUB_SSL_CLIENT_CA") or None,
        }
    return HTTPRequest(
        f"{api_url}/batchspawner_x/job" + ("/extend" if extend else ""),
        method="POST" if extend else "GET",
        body=b"" if extend else None,
        headers={"Authorization": f"token {token}", "Accept": "application/json"},
        request_timeout=HUB_TIMEOUT,
        connect_timeout=HUB_TIMEOUT,
        **ssl,
    )


def parse_job(body: bytes) -> dict[str, Any] | None:
    """The hub's job answer, checked field by field, or ``None`` when it is not one.

    Unknown keys are dropped; a key of the wrong type makes the whole answer unusable
    rather than showing a wrong countdown.
    """
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    job: dict[str, Any] = {}
    for key, types in JOB_FIELDS.items():
        value = data.get(key)
        if not isinstance(value, types) or isinstance(value, bool):
            return None
        job[key] = value
    warnings = job["warnings_seconds"]
    if not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in warnings):
        return None
    job["warnings_seconds"] = sorted(warnings, reverse=True)
    job["extend"] = parse_extend(data.get("extend"))
    return job


#: The offer of a hub that says nothing about extending (one older than the feature).
NO_EXTEND: dict[str, Any] = {
    "available": False,
    "step_seconds": None,
    "max_seconds": None,
    "reason": "the hub does not offer extending a session",
}


def parse_extend(value: Any) -> dict[str, Any]:
    """The hub's ``extend`` offer, checked; :data:`NO_EXTEND` when absent or malformed."""
    if not isinstance(value, dict) or not isinstance(value.get("available"), bool):
        return dict(NO_EXTEND)
    offer: dict[str, Any] = {"available": value["available"]}
    for key in ("step_seconds", "max_seconds"):
        number = value.get(key)
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            return dict(NO_EXTEND)
        offer[key] = number
    reason = value.get("reason")
    offer["reason"] = reason if isinstance(reason, str) else None
    if offer["available"] and not offer["step_seconds"]:
        return dict(NO_EXTEND)
    return offer


def hub_message(body: bytes | None, code: int) -> str:
    """The hub's refusal in its own words (``{"message": ...}``), else by its status."""
    try:
        data = json.loads(body or b"")
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("message"), str) and data["message"]:
        return str(data["message"])
    return reason_for_status(code)


async def extend_answer(
    env: Mapping[str, str] | None = None, client: AsyncHTTPClient | None = None
) -> dict[str, Any]:
    """Ask the hub to extend this server's job by one step: ``{"extended": true, "job":
    {...}}`` with the job's new information, or ``{"extended": false, "message": "..."}``
    with the hub's refusal in its words (cap reached, the scheduler's message, not offered).
    """
    env = os.environ if env is None else env
    request = hub_job_request(env, extend=True)
    if request is None:
        return {"extended": False, "message": "not running under JupyterHub (no hub API URL or token)"}
    client = client or AsyncHTTPClient()
    try:
        response = await client.fetch(request)
    except HTTPClientError as e:
        if e.code == 599:
            return {"extended": False, "message": f"the hub could not be reached ({e.message})"}
        body = e.response.body if e.response is not None else None
        return {"extended": False, "message": hub_message(body, e.code)}
    except OSError as e:
        return {"extended": False, "message": f"the hub could not be reached ({e.strerror or e})"}
    job = parse_job(response.body)
    if job is None:
        return {"extended": False, "message": "the hub's answer is not a batchspawner_x job"}
    return {"extended": True, "job": job}


def read_events(path: str | None) -> list[dict[str, Any]]:
    """The warnings in the job's events file, oldest first; none when there is no file.

    Each line is a JSON object such as ``{"event": "warning", "seconds_left": 300,
    "time": 1765000000.0, "source": "scheduler"}``. Lines that are not such a warning (a
    line still being written, another event) are skipped.
    """
    if not path:
        return []
    try:
        lines = Path(path).read_text(errors="replace").splitlines()[-MAX_EVENTS:]
    except OSError:
        return []
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("event") != "warning":
            continue
        seconds_left, when = event.get("seconds_left"), event.get("time")
        if not isinstance(seconds_left, (int, float)) or not isinstance(when, (int, float)):
            continue
        if isinstance(seconds_left, bool) or isinstance(when, bool):
            continue
        source = event.get("source")
        events.append(
            {
                "event": "warning",
                "seconds_left": int(seconds_left),
                "time": float(when),
                "source": source if isinstance(source, str) else None,
            }
        )
    return events


def unavailable(reason: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer when the hub gives no job: why, in words, and the events file's warnings."""
    return {"available": False, "reason": reason, "events": events}


def reason_for_status(code: int) -> str:
    """Why a hub answer with HTTP status ``code`` gives no job, in words."""
    if code == 404:
        return (
            "the hub has no job for this server (not spawned by batchspawner_x, or a hub without its job API)"
        )
    if code in (401, 403):
        return f"the hub refused this server's token (HTTP {code})"
    return f"the hub answered HTTP {code}"


async def job_answer(
    env: Mapping[str, str] | None = None, client: AsyncHTTPClient | None = None
) -> dict[str, Any]:
    """This server's job: ``{"available": true, "job": {...}, "events": [...]}`` or, when the
    hub gives none, ``{"available": false, "reason": "...", "events": [...]}``.

    ``env`` defaults to the process environment; ``client`` to tornado's shared client.
    """
    env = os.environ if env is None else env
    events = read_events(env.get("BATCHSPAWNER_X_EVENTS"))
    request = hub_job_request(env)
    if request is None:
        return unavailable("not running under JupyterHub (no hub API URL or token)", events)
    client = client or AsyncHTTPClient()
    try:
        response = await client.fetch(request)
    except HTTPClientError as e:
        if e.code == 599:
            return unavailable(f"the hub could not be reached ({e.message})", events)
        return unavailable(reason_for_status(e.code), events)
    except OSError as e:
        return unavailable(f"the hub could not be reached ({e.strerror or e})", events)
    job = parse_job(response.body)
    if job is None:
        return unavailable("the hub's answer is not a batchspawner_x job", events)
    return {"available": True, "job": job, "events": events}
