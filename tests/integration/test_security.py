"""Security promises on the real stack: local mode's environment, the reported host.

Uses carol (and dave), whom the other suites rarely use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .hub import Hub

USER = "carol"


def job_output(hub: Hub, user: str) -> str:
    state = hub.state(user)
    return (Path(state["job_dir"]) / f"job-{state['job_id']}.out").read_text(errors="replace")


def test_local_mode_keeps_the_hubs_secrets_from_the_job(
    make_hub: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    # a prefix that keeps the environment, unlike sudo: whatever the hub passes reaches sbatch,
    # and sbatch's default --export=ALL copies it into the job
    monkeypatch.setenv("BSX_HUB_SECRET", "do-not-leak")
    hub = make_hub(
        """
        c.BatchSpawnerBase.connection = "local"
        c.BatchSpawnerBase.local_prefix = ["runuser", "-u", "{username}", "--"]
        c.BatchSpawnerBase.prologue = 'echo "hub secret: ${BSX_HUB_SECRET:-absent}; home: $HOME"'
        """
    )
    result = hub.spawn(USER)
    assert result.ready, result
    output = job_output(hub, USER)
    assert "hub secret: absent; home: /home/carol" in output, output
    assert "do-not-leak" not in output
    hub.stop(USER)
