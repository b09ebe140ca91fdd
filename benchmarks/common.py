"""What the benchmarks share: the test user, held jobs cancelled at exit, spawners as a hub builds them.

The benchmarks run as root against the local test cluster that ``ci/cluster/up.sh``
(and ``sge-up.sh``) set up, and use only the test user ``frank``: every job they
submit is held, asks for 1 MB and never runs, and is cancelled by id at exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import os
import platform
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from batchspawner_x import SlurmSpawner  # noqa: E402
from batchspawner_x.poller import StatusPoller  # noqa: E402
from batchspawner_x.spawner import BatchSpawnerBase  # noqa: E402
from batchspawner_x.transport import SSHPool  # noqa: E402
from tests.integration.hub import cluster_env  # noqa: E402

USER = "frank"
JOB_NAME = "bsx-bench"
S = TypeVar("S", bound=BatchSpawnerBase)


# ---------------------------------------------------------------------------
# Held jobs, always cancelled


class HeldJobs:
    """Held, 1 MB Slurm jobs of USER; every id is cancelled at exit, whatever happens.

    The ids are also written to ``record`` (in the temporary directory) while the
    benchmark runs, for an administrator to cancel should the process be killed.
    """

    def __init__(self, record: str = "bsx-bench-jobs.txt") -> None:
        self.ids: list[str] = []
        self.record = Path(tempfile.gettempdir()) / record
        atexit.register(self.cancel_all)

    def add(self, ids: Sequence[str]) -> None:
        self.ids.extend(i for i in ids if i and i not in self.ids)
        self.record.write_text("\n".join(self.ids) + "\n")

    def submit_script(self, n: int) -> str:
        """A shell loop, run as USER, that submits n held jobs and prints one id a line."""
        return (
            f"for i in $(seq {int(n)}); do sbatch --parsable --hold --mem=1M --time=01:00:00 "
            f"--job-name={JOB_NAME} --output=/dev/null --wrap 'sleep 3600' || exit 1; done"
        )

    def as_user(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run as USER where this scheduler's commands work."""
        return ["runuser", "-u", USER, "--", *argv]

    def parse_ids(self, stdout: str) -> list[str]:
        return [line.split(";")[0].strip() for line in stdout.splitlines() if line.strip()]

    def cancel_argv(self, ids: Sequence[str]) -> list[str]:
        return ["scancel", *ids]

    def env(self) -> dict[str, str] | None:
        """The environment the scheduler's commands need (None: this process's)."""
        return None

    def submit(self, n: int, parallel: int = 1) -> list[str]:
        """Submit n held jobs, in ``parallel`` loops at once."""
        counts = [n // parallel + (1 if i < n % parallel else 0) for i in range(parallel)]
        procs = [
            subprocess.Popen(
                self.as_user(["sh", "-c", self.submit_script(count)]),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd="/tmp",
                env=self.env(),
            )
            for count in counts
            if count
        ]
        ids: list[str] = []
        errors: list[str] = []
        failed = False
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            found = self.parse_ids(out)
            ids += found
            self.add(found)
            failed = failed or proc.returncode != 0
            errors.append(err.strip())
        if failed or len(ids) != n:
            raise RuntimeError(f"submitting failed after {len(ids)} of {n} jobs: {' '.join(errors).strip()}")
        return ids

    def cancel_all(self) -> None:
        ids, self.ids = list(self.ids), []
        for start in range(0, len(ids), 500):
            subprocess.run(
                self.cancel_argv(ids[start : start + 500]),
                capture_output=True,
                timeout=120,
                check=False,
                env=self.env(),
            )
        if ids:
            print(f"# cancelled {len(ids)} benchmark job(s) by id", file=sys.stderr)
        self.record.unlink(missing_ok=True)


def terminate(signum: int, frame: Any) -> None:
    """SIGTERM as Ctrl-C: the ``finally`` blocks and exit handlers cancel the jobs."""
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------------------
# Processes and spawners


async def run_local(
    argv: Sequence[str], input: bytes | None = None, env: dict[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/tmp",
        env=env,
    )
    out, err = await proc.communicate(input)
    return proc.returncode if proc.returncode is not None else 255, out, err


def cluster() -> dict[str, str]:
    return cluster_env()


def spawner_config(**extra: Any) -> dict[str, Any]:
    c = cluster()
    config: dict[str, Any] = dict(
        ssh_host=c["BSX_SSH_HOST"],
        ssh_port=int(c["BSX_SSH_PORT"]),
        ssh_username=USER,
        ssh_keys=[f"{c['BSX_KEYS_DIR']}/{USER}"],
        ssh_known_hosts=c["BSX_KNOWN_HOSTS"],
        status_ssh_username=USER,  # the status identity (here the same account)
        partition="debug",
        walltime="01:00:00",
        node_command=[f"{c['BSX_VENV']}/bin/batchspawner-x-singleuser"],
        cmd=[f"{c['BSX_VENV']}/bin/jupyterhub-singleuser"],
    )
    config.update(extra)
    return config


def make_spawner(name: str, cls: type[S] = SlurmSpawner, **config: Any) -> S:  # type: ignore[assignment]
    """A spawner of ``cls`` as JupyterHub builds one, with stand-ins for the user and the hub."""
    user = SimpleNamespace(name=name, url=f"/user/{name}/", server=None, base_url="/", escaped_name=name)
    hub = SimpleNamespace(public_host="", api_url="http://127.0.0.1:8081/hub/api", base_url="/hub/")
    return cls(
        user=user,
        hub=hub,
        name="",
        api_token=secrets.token_hex(16),
        oauth_client_id=f"jupyterhub-user-{name}",
        **spawner_config(**config),
    )


async def reset_pool() -> None:
    """Stop every poller and close every connection: each section starts from nothing."""
    StatusPoller.close_all()
    await SSHPool.close_all()


def settle() -> None:
    """Collect, then freeze what the benchmark built so far (spawner objects, jobs lists):
    the collector's pauses over the benchmark's own setup are not what is measured."""
    gc.collect()
    gc.freeze()


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    slurm = subprocess.run(["sinfo", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return (
        f"{platform.platform()}, {os.cpu_count()} CPU(s) ({cpu}), {mem:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {slurm}, sshd on loopback"
    )
