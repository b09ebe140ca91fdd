"""Accounts, QOS and reservations read from the real cluster (issue 16's proof).

The test cluster runs slurmdbd (ci/cluster/up.sh): ivan's associations are physics (QOS
normal) and chemistry (QOS normal, high); the account biology exists but is not his.
Reservations are made here with ``scontrol create reservation`` and deleted after.
Only ivan spawns; slurmop (an operator who never runs jobs) is "another user" whose
form must not offer ivan's reservation.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Callable, Iterator

import pytest
import requests

from . import cluster
from .hub import Hub
from .test_profiles import SLOW_SPAWN_DEFAULT, spawn_body
from .test_slurm_e2e import assert_server_answers, job_id_of

pytestmark = pytest.mark.newest_hub_only

USER = "ivan"
OTHER = "slurmop"

#: One profile whose account, QOS and reservation come from the cluster.
PROFILES = """
c.BatchSpawnerBase.profiles = [
    {"name": "lists", "display_name": "From the cluster", "default": True,
     "partition": "debug", "cpus": 1, "memory": "1G", "walltime": "00:20:00",
     "fields": {"account": {"choices": "cluster"}, "qos": {"choices": "cluster"},
                "reservation": {"choices": "cluster", "optional": True}}},
]
"""


@pytest.fixture
def reservation() -> Iterator[str]:
    """A reservation of two cores on node localhost for ivan only, starting now."""
    name = f"bsx-ivan-{secrets.token_hex(3)}"
    made = cluster.run(
        "scontrol", "create", "reservation", f"ReservationName={name}", "StartTime=now",
        "Duration=30", "Nodes=localhost", "CoreCnt=2", f"Users={USER}",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    try:
        yield name
    finally:
        # a reservation with a job in it cannot be deleted: end ivan's jobs first
        cluster.cancel_all(USER)
        Hub.wait_for(
            lambda: cluster.run("scontrol", "delete", f"ReservationName={name}").returncode == 0,
            60,
            f"reservation {name} deleted",
        )


def form_of(hub: Hub, user: str) -> str:
    """The spawn form ``user`` sees, logged in through the hub's login page."""
    s = requests.Session()
    s.get(f"{hub.url}/hub/login", timeout=30)
    xsrf = s.cookies.get("_xsrf", "")
    r = s.post(f"{hub.url}/hub/login", data={"username": user, "password": "x", "_xsrf": xsrf}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    r = s.get(f"{hub.url}/hub/spawn", timeout=60)
    assert r.status_code == 200 and "bsx-profiles" in r.text, (r.status_code, r.text[:500])
    return r.text


def offered(form: str, field: str) -> list[str]:
    """The values of the ``lists.FIELD`` menu on the form."""
    menu = re.search(rf'<select[^>]*name="lists\.{field}"[^>]*>(.*?)</select>', form, re.S)
    assert menu, f"no {field} menu on the form"
    return [html.unescape(v) for v in re.findall(r'<option value="([^"]*)"', menu.group(1))]


def post_server(hub: Hub, user_options: dict[str, object]) -> tuple[int, str]:
    hub.create_user(USER)
    hub._spawned.add(USER)
    r = hub.request("POST", f"/users/{USER}/server", json=spawn_body(hub, user_options))
    return r.status_code, r.text


def test_the_form_offers_what_sacctmgr_and_scontrol_list_for_each_user(
    make_hub: Callable[..., Hub], reservation: str
) -> None:
    hub = make_hub(PROFILES + SLOW_SPAWN_DEFAULT)
    form = form_of(hub, USER)
    assert offered(form, "account") == ["chemistry", "physics"]
    assert offered(form, "qos") == ["high", "normal"]
    assert reservation in offered(form, "reservation")

    other = form_of(hub, OTHER)
    assert offered(other, "account") == ["physics"]
    assert offered(other, "qos") == ["normal"]
    assert reservation not in offered(other, "reservation")

    # not his account; a QOS his chosen account may not use; another's reservation name
    for options, field in [
        ({"account": "biology", "qos": "normal"}, "account"),
        ({"account": "physics", "qos": "high"}, "qos"),
        ({"account": "physics", "qos": "normal", "reservation": "bsx-not-his"}, "reservation"),
    ]:
        status, text = post_server(hub, {"profile": "lists", **options})
        assert status == 400, text
        assert f"Invalid choice for {field}:" in text, text
    assert cluster.alive_jobs(USER) == []


def test_a_chosen_account_qos_and_reservation_reach_the_job(
    make_hub: Callable[..., Hub], reservation: str
) -> None:
    hub = make_hub(PROFILES + SLOW_SPAWN_DEFAULT)
    status, text = post_server(
        hub, {"profile": "lists", "account": "chemistry", "qos": "high", "reservation": reservation}
    )
    assert status in (201, 202), text
    Hub.wait_for(lambda: (hub.server_model(USER) or {}).get("ready") is True, 120, f"{USER} ready")
    assert_server_answers(hub, USER)
    info = cluster.job_info(job_id_of(hub, USER))
    assert (info["Account"], info["QOS"], info["Reservation"]) == ("chemistry", "high", reservation), info
