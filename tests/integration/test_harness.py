"""The test harness keeps its own promises: distinct ports, and no proxy left behind.

A fresh-clone run once gave the proxy and its API the same port; the hub could not
start and the proxy it had started stayed running, orphaned.
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
from pathlib import Path

import pytest

from . import cluster
from .hub import HeldPorts, Hub


def hub_elsewhere(workdir: Path) -> Hub:
    """A hub whose API the harness never finds (it serves under another base URL, on its own
    ports): it "does not come up" while its proxy runs."""
    hub = Hub(workdir)
    with hub.config_path.open("a") as config:
        config.write(f'c.JupyterHub.bind_url = "{hub.url}/not-here/"\n')
    return hub


def test_held_ports_are_distinct_and_nobody_else_gets_them_until_released() -> None:
    held = HeldPorts(50)
    try:
        assert len(set(held.ports)) == 50
        with socket.socket() as other:
            with pytest.raises(OSError) as taken:
                other.bind(("127.0.0.1", held.ports[0]))
            assert taken.value.errno == errno.EADDRINUSE
    finally:
        held.release()
    with socket.socket() as other:
        other.bind(("127.0.0.1", held.ports[0]))


def watch_proxy(workdir: Path, *, kill_hub: Hub | None = None) -> tuple[threading.Thread, list[int]]:
    """Note the proxy's pid once the hub has written it (and then SIGKILL the hub, as a hub
    that fails while starting dies)."""
    found: list[int] = []

    def watch() -> None:
        pid_file = workdir / "jupyterhub-proxy.pid"
        Hub.wait_for(lambda: pid_file.exists() and pid_file.read_text().strip() != "", 60, "the proxy")
        found.append(int(pid_file.read_text()))
        if kill_hub is not None and kill_hub.proc is not None:
            kill_hub.proc.send_signal(signal.SIGKILL)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread, found


def test_a_hub_that_dies_while_starting_takes_its_proxy_with_it(tmp_path: Path) -> None:
    hub = hub_elsewhere(tmp_path)
    watcher, proxy = watch_proxy(tmp_path, kill_hub=hub)
    with pytest.raises(RuntimeError, match="JupyterHub exited"):
        hub.start(timeout=60)
    watcher.join(10)
    assert proxy, "the hub started its proxy"
    assert cluster.process_start_time(proxy[0]) is None, "the proxy is left running"


def test_a_hub_that_does_not_come_up_is_ended_with_its_proxy(tmp_path: Path) -> None:
    hub = hub_elsewhere(tmp_path)
    watcher, proxy = watch_proxy(tmp_path)
    with pytest.raises(RuntimeError, match="did not come up"):
        hub.start(timeout=10)
    watcher.join(10)
    assert proxy, "the hub started its proxy"
    assert hub.proc is not None and hub.proc.poll() is not None, "the hub is left running"
    assert cluster.process_start_time(proxy[0]) is None, "the proxy is left running"
