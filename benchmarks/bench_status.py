"""What status queries cost: batchspawner_x's shared poller against the predecessor's way.

Runs against the real local Slurm and sshd that ``ci/cluster/up.sh`` sets up
(facts in /etc/batchspawner-x-test/cluster.env), as root, and uses only the
test user ``frank``. Jobs it submits are held (``sbatch --hold``), ask for
1 MB and never run, so they take nothing from other users of the cluster; they
are cancelled by id at the end, also on errors and Ctrl-C.

Sections (all in one run, each against its baseline measured in the same run):

a. One poll round of N spawners (N = 1, 100, 1000 held jobs): ours (every
   spawner's ``poll()``, answered by one batched ``squeue`` over SSH) against
   the predecessor's way (one ``squeue -h -j ID -o '%T %B'`` process per
   spawner, run as the user) and against one plain batched ``squeue`` run
   locally (the floor).
b. A burst of 50 concurrent spawns, driven in-process (real SlurmSpawner
   objects, real SSH, real Slurm; each spawn submits a held job): scheduler
   calls, SSH connections opened, worst event-loop lag; against the
   predecessor's commands (sbatch, then one squeue per spawner every 0.5 s).
c. Memory per tracked spawner (tracemalloc).
d. Time from spawn request to server ready through a real JupyterHub and
   proxy: batchspawner_x against the predecessor (batchspawner from PyPI,
   installed in its own venv).

Usage (as root, from the repository root)::

    python benchmarks/bench_status.py                 # everything
    python benchmarks/bench_status.py --sections a,c  # some sections
    nox -s bench -- --ready-runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from common import (
    JOB_NAME,
    USER,
    HeldJobs,
    cluster,
    machine,
    make_spawner,
    reset_pool,
    run_local,
    settle,
)
from common import terminate as _terminate

from batchspawner_x import SlurmSpawner, claim
from batchspawner_x.poller import StatusPoller
from batchspawner_x.schedulers.slurm import SlurmScheduler
from batchspawner_x.transport import SSHPool
from tests.integration.hub import Hub

PREDECESSOR = "batchspawner==1.3.0"
PREDECESSOR_VENV = Path("/opt/bsx-bench-predecessor")
T = TypeVar("T")

JOBS = HeldJobs()


# ---------------------------------------------------------------------------
# Helpers


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def timed(coro: Awaitable[T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = await coro
    return result, time.perf_counter() - start


class LagMonitor:
    """A task that sleeps 5 ms in a loop and records how late it wakes."""

    def __init__(self, step: float = 0.005) -> None:
        self.step = step
        self.lags: list[float] = []
        self.busy: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(self.step)
            self.lags.append(loop.time() - before - self.step)
            # CPU the event loop's thread itself spent meanwhile: work that blocked the loop,
            # as opposed to waiting for a CPU that other processes (sshd, slurmctld) held
            self.busy.append(time.thread_time() - cpu)

    def __enter__(self) -> LagMonitor:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()

    @property
    def worst_ms(self) -> float:
        return max(self.lags, default=0.0) * 1000

    @property
    def busy_ms(self) -> float:
        return max(self.busy, default=0.0) * 1000

    @property
    def p99_ms(self) -> float:
        if not self.lags:
            return 0.0
        ordered = sorted(self.lags)
        return ordered[int(0.99 * (len(ordered) - 1))] * 1000


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


# ---------------------------------------------------------------------------
# (a) one poll round


async def ours_round(spawners: Sequence[SlurmSpawner]) -> tuple[int, float]:
    """Every spawner's poll() at once, with nothing fresh enough in the cache."""
    for poller in StatusPoller._registry.values():
        # rounds are an interval apart in a hub; never closer than min_spacing
        await asyncio.sleep(max(0.0, poller.last_round + poller.min_spacing - time.monotonic()))
        poller.invalidate()
    before = SSHPool.commands["squeue"]
    results, seconds = await timed(asyncio.gather(*(s.poll() for s in spawners)))
    assert all(r is None for r in results), f"held jobs must be alive: {set(results)}"
    return SSHPool.commands["squeue"] - before, seconds


async def poller_round() -> float:
    """The shared poller's own round alone (one batched squeue over SSH, parsed and cached)."""
    (poller,) = StatusPoller._registry.values()
    await asyncio.sleep(max(0.0, poller.last_round + poller.min_spacing - time.monotonic()))
    poller.invalidate()
    _, seconds = await timed(poller.refresh())
    return seconds


async def baseline_round(ids: Sequence[str], concurrency: int) -> tuple[int, float, int]:
    """The predecessor: one squeue process per spawner, as the user."""
    gate = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(job_id: str) -> None:
        nonlocal failures
        async with gate:
            rc, out, _ = await run_local(predecessor_squeue(job_id))
            if rc != 0 or not out.startswith(b"PENDING"):
                failures += 1

    _, seconds = await timed(asyncio.gather(*(one(j) for j in ids)))
    return len(ids), seconds, failures


def predecessor_squeue(job_id: str) -> list[str]:
    """The predecessor's status command (its SlurmSpawner's batch_query_cmd), as the user."""
    return ["runuser", "-u", USER, "--", "squeue", "-h", "-j", job_id, "-o", "%T %B"]


async def floor_round(ids: Sequence[str]) -> float:
    """One batched squeue for the same jobs, run directly: what a query cannot go below."""
    argv = SlurmScheduler().status_argv(list(ids))
    (rc, out, err), seconds = await timed(run_local(argv))
    if rc != 0 or out.count(b"\n") != len(ids):
        raise RuntimeError(f"batched squeue failed: {err.decode(errors='replace')}")
    return seconds


async def section_a(sizes: Sequence[int], repeats: int, concurrency: int) -> list[dict[str, Any]]:
    rows = []
    for n in sizes:
        if len(JOBS.ids) < n:
            JOBS.submit(n - len(JOBS.ids))
        ids = JOBS.ids[:n]
        spawners = [make_spawner(f"bsxbench-{i}") for i in range(n)]
        for s, jid in zip(spawners, ids, strict=True):
            s.load_state({"job_id": jid})
        await reset_pool()
        settle()
        _, first = await ours_round(spawners)  # opens the connection
        # interleaved, so that each kind of round meets the controller in the same moods
        # (a backfill pass, jobs being purged) as the others
        ours, queries, floors = [], [], []
        for _ in range(repeats):
            ours.append(await ours_round(spawners))
            queries.append(await poller_round())
            floors.append(await floor_round(ids))
        base_repeats = max(1, min(repeats, 3) if n <= 100 else 1)
        bases = [await baseline_round(ids, 1) for _ in range(base_repeats)]
        parallel = [await baseline_round(ids, concurrency) for _ in range(base_repeats)]
        row = dict(
            n=n,
            ours_calls=max(c for c, _ in ours),
            ours_s=median([s for _, s in ours]),
            ours_first_s=first,
            query_s=median(queries),
            base_calls=bases[0][0],
            base_s=median([s for _, s, _ in bases]),
            par_s=median([s for _, s, _ in parallel]),
            base_failures=sum(f for _, _, f in bases + parallel),
            floor_s=median(floors),
        )
        rows.append(row)
        gc.unfreeze()
        print(
            f"# (a) N={n}: ours {row['ours_calls']} call(s) {fmt_ms(row['ours_s'])} ms "
            f"(the poller's query alone {fmt_ms(row['query_s'])} ms) "
            f"(first, with SSH connect: {fmt_ms(first)} ms); baseline {row['base_calls']} calls "
            f"{fmt_ms(row['base_s'])} ms ({fmt_ms(row['par_s'])} ms {concurrency} at a time); "
            f"floor {fmt_ms(row['floor_s'])} ms",
            file=sys.stderr,
        )
    return rows


# ---------------------------------------------------------------------------
# (c) memory


async def section_c(n: int) -> dict[str, float]:
    if len(JOBS.ids) < n:
        JOBS.submit(n - len(JOBS.ids))
    ids = JOBS.ids[:n]
    await reset_pool()
    warm = make_spawner("bsxbench-warm")
    warm.load_state({"job_id": ids[0]})
    await warm.poll()  # connection, imports and caches outside the measurement
    StatusPoller.close_all()

    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    spawners = [make_spawner(f"bsxbench-{i}") for i in range(n)]
    for s, jid in zip(spawners, ids, strict=True):
        s.load_state({"job_id": jid})
    await asyncio.gather(*(s.poll() for s in spawners))
    gc.collect()
    with_spawners = tracemalloc.get_traced_memory()[0] - base
    poller = next(iter(StatusPoller._registry.values()))
    del spawners
    gc.collect()
    poller_only = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert len(poller.cache) == n
    return {"n": n, "spawner_bytes": with_spawners / n, "poller_bytes": poller_only / n}


# ---------------------------------------------------------------------------
# (b) a burst of spawns


async def section_b(n: int, window: float) -> dict[str, Any]:
    await reset_pool()
    names = [f"bsxburst-{i}" for i in range(n)]
    spawners = [
        make_spawner(name, extra_directives=["--hold"], mem_limit="1M", cancel_timeout=30) for name in names
    ]
    queued_at: dict[str, float] = {}
    ids: list[str] = []
    settle()
    with LagMonitor() as lag:
        t0 = time.perf_counter()
        starts = [asyncio.ensure_future(s.start()) for s in spawners]
        while time.perf_counter() - t0 < window:
            await asyncio.sleep(0.02)
            for s in spawners:
                if s.user.name not in queued_at and any("in the queue" in e["message"] for e in s._events):
                    queued_at[s.user.name] = time.perf_counter() - t0
            failed = [t for t in starts if t.done()]
            if failed:
                raise RuntimeError(f"a spawn ended early: {failed[0].exception()!r}")
        ids = [s.job_id for s in spawners if s.job_id]
        JOBS.add(ids)
        commands = dict(SSHPool.commands)
        opened = SSHPool.connections_opened()
    lag_ms, p99_ms, busy_ms = lag.worst_ms, lag.p99_ms, lag.busy_ms
    gc.unfreeze()
    # the spawns are abandoned: each cancels its job (scancel as the user) and waits for it to end
    for t in starts:
        t.cancel()
    await asyncio.gather(*starts, return_exceptions=True)
    for name in names:
        shutil.rmtree(f"/home/{USER}/.batchspawner_x/{name}", ignore_errors=True)
    if len(queued_at) != n:
        raise RuntimeError(f"only {len(queued_at)} of {n} spawns reached the queue within {window:g}s")
    return dict(
        n=n,
        window=window,
        submit=commands.get("sbatch", 0) + commands.get(claim.SUBMIT_NAME, 0),
        status=commands.get("squeue", 0) + commands.get("scontrol", 0),
        connections=opened,
        identities=1,
        lag_ms=lag_ms,
        p99_ms=p99_ms,
        busy_ms=busy_ms,
        all_queued_s=max(queued_at.values()),
    )


async def section_b_baseline(n: int, window: float, poll_interval: float = 0.5) -> dict[str, Any]:
    """The predecessor's commands for the same burst: sbatch, then squeue every 0.5 s per spawner."""
    calls = {"sbatch": 0, "squeue": 0}
    queued_at: list[float] = []
    ids: list[str] = []

    async def spawn() -> None:
        calls["sbatch"] += 1
        rc, out, err = await run_local(
            ["runuser", "-u", USER, "--", "sbatch", "--parsable", "--hold", "--mem=1M", "--time=01:00:00",
             f"--job-name={JOB_NAME}", "--output=/dev/null", "--wrap", "sleep 3600"]
        )  # fmt: skip
        job_id = out.decode().strip().split(";")[0]
        if rc != 0 or not job_id:
            raise RuntimeError(f"sbatch failed: {err.decode(errors='replace')}")
        ids.append(job_id)
        JOBS.add([job_id])
        seen = False
        while time.perf_counter() - t0 < window:
            calls["squeue"] += 1
            rc, out, _ = await run_local(predecessor_squeue(job_id))
            if not seen and out.startswith(b"PENDING"):
                seen = True
                queued_at.append(time.perf_counter() - t0)
            await asyncio.sleep(poll_interval)

    settle()
    with LagMonitor() as lag:
        t0 = time.perf_counter()
        await asyncio.gather(*(spawn() for _ in range(n)))
    gc.unfreeze()
    subprocess.run(["scancel", *ids], capture_output=True, timeout=60, check=False)
    return dict(
        n=n,
        window=window,
        submit=calls["sbatch"],
        status=calls["squeue"],
        connections=0,
        lag_ms=lag.worst_ms,
        p99_ms=lag.p99_ms,
        busy_ms=lag.busy_ms,
        all_queued_s=max(queued_at) if len(queued_at) == n else float("nan"),
    )


# ---------------------------------------------------------------------------
# (d) time to ready through a real JupyterHub


def ensure_predecessor(venv: Path) -> Path:
    """batchspawner from PyPI in its own venv, which the jobs can read.

    It reuses the single-user environment's packages (JupyterHub, JupyterLab)
    through a .pth file, so that only the predecessor itself is installed.
    """
    python = venv / "bin" / "python"
    if not (venv / "bin" / "batchspawner-singleuser").exists():
        c = cluster()
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
        site = subprocess.run(
            [
                f"{c['BSX_VENV']}/bin/python",
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        own = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(own, "singleuser-env.pth").write_text(site + "\n")
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", PREDECESSOR], check=True)
        subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
    return python


class OtherPythonHub(Hub):
    """A Hub run by another interpreter (the predecessor's venv)."""

    def __init__(self, workdir: Path, extra_config: str, *, python: Path, spawner: str) -> None:
        super().__init__(workdir, extra_config, spawner=spawner)
        self.python = python

    def start(self, timeout: float = 60) -> None:
        real = sys.executable
        sys.executable = str(self.python)
        try:
            super().start(timeout)
        finally:
            sys.executable = real


def predecessor_config(venv: Path) -> str:
    # The predecessor's venv borrows the single-user environment's packages through a .pth
    # file; Jupyter finds that environment's server extensions (JupyterLab) and its lab
    # directory only through these two variables, so that both servers are the same.
    single = cluster()["BSX_VENV"]
    return f"""
c.SlurmSpawner.environment = {{
    "JUPYTER_CONFIG_PATH": "{single}/etc/jupyter",
    "JUPYTER_PATH": "{single}/share/jupyter",
}}
c.SlurmSpawner.exec_prefix = "sudo -E -u {{username}}"
c.SlurmSpawner.req_partition = "debug"
c.SlurmSpawner.req_runtime = "01:00:00"
c.SlurmSpawner.req_memory = "1G"
c.SlurmSpawner.req_nprocs = "2"
c.SlurmSpawner.batchspawner_singleuser_cmd = "{venv}/bin/batchspawner-singleuser"
"""


def time_to_ready(hub: Hub) -> tuple[float, str, float]:
    """Seconds from the spawn request to the ready event, the job id, and how much of it
    was Spawner.start() (the rest is the hub waiting for the notebook server to answer)."""
    start = time.perf_counter()
    result = hub.spawn(USER)
    seconds = time.perf_counter() - start
    job_id = ""
    with contextlib.suppress(Exception):
        job_id = str(hub.state(USER).get("job_id", ""))
    JOBS.add([job_id])
    if not result.ready:
        raise RuntimeError(f"spawn failed: {result.messages}\n{hub.log_tail()}")
    hub.stop(USER)
    log = hub.log_text()
    took = re.findall(rf"User {USER} took ([0-9.]+) seconds to start", log)
    waited = re.findall(r"responded in ([0-9.]+)s", log)
    in_start = float(took[-1]) - float(waited[-1]) if took and waited else float("nan")
    return seconds, job_id, in_start


def section_d(runs: int, venv: Path) -> dict[str, Any]:
    python = ensure_predecessor(venv)
    work = Path(tempfile.mkdtemp(prefix="bsx-bench-hubs-"))
    (work / "ours").mkdir()
    (work / "predecessor").mkdir()
    ours = Hub(work / "ours", f'c.BatchSpawnerBase.status_ssh_username = "{USER}"\n')
    theirs = OtherPythonHub(
        work / "predecessor", predecessor_config(venv), python=python, spawner="batchspawner.SlurmSpawner"
    )
    times: dict[str, list[float]] = {"ours": [], "predecessor": []}
    in_start: dict[str, list[float]] = {"ours": [], "predecessor": []}
    lab = {"ours": 0, "predecessor": 0}  # runs whose server loaded JupyterLab (the same server)
    job_ids: list[str] = []
    try:
        ours.start()
        theirs.start()
        pair = [("predecessor", theirs), ("ours", ours)]
        for i in range(runs):
            for name, hub in pair if i % 2 == 0 else reversed(pair):  # ABBA: no order advantage
                seconds, job_id, start_s = time_to_ready(hub)
                job_ids.append(job_id)
                times[name].append(seconds)
                in_start[name].append(start_s)
                output = (
                    Path(f"/home/{USER}/.batchspawner_x/{USER}/job-{job_id}.out")
                    if name == "ours"
                    else Path(f"/home/{USER}/jupyterhub_slurmspawner_{job_id}.log")
                )
                with contextlib.suppress(OSError):
                    if "jupyterlab | extension was successfully loaded" in output.read_text(errors="replace"):
                        lab[name] += 1
                print(
                    f"# (d) {name}: ready in {seconds:.2f}s, {start_s:.2f}s of it in start() (job {job_id})",
                    file=sys.stderr,
                )
    finally:
        for hub in (ours, theirs):
            hub.terminate()
        subprocess.run(["scancel", *[j for j in job_ids if j]], capture_output=True, timeout=60, check=False)
        for j in job_ids:
            Path(f"/home/{USER}/jupyterhub_slurmspawner_{j}.log").unlink(missing_ok=True)
        shutil.rmtree(f"/home/{USER}/.batchspawner_x/{USER}", ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    return {"runs": runs, "ready": times, "start": in_start, "lab": lab}


# ---------------------------------------------------------------------------
# Report


def report(a: list[dict[str, Any]], b: dict[str, Any] | None, bb: dict[str, Any] | None,
           c: dict[str, float] | None, d: dict[str, Any] | None, concurrency: int) -> str:  # fmt: skip
    out = [f"Machine: {machine()}", ""]
    if a:
        failures = sum(r["base_failures"] for r in a)
        out += [
            "(a) One poll round of N spawners (median; scheduler status calls and wall time)",
            "",
            "| N | ours: calls | ours: ms | ours, the query alone: ms | predecessor: calls "
            f"| predecessor: ms | predecessor, {concurrency} at a time: ms | one batched squeue: ms "
            "| predecessor / ours | ours / batched squeue |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in a:
            out.append(
                f"| {r['n']:,} | {r['ours_calls']} | {fmt_ms(r['ours_s'])} | {fmt_ms(r['query_s'])} | "
                f"{r['base_calls']:,} | {fmt_ms(r['base_s'])} | {fmt_ms(r['par_s'])} | "
                f"{fmt_ms(r['floor_s'])} | "
                f"{r['base_s'] / r['ours_s']:,.0f}x ({r['par_s'] / r['ours_s']:,.0f}x) | "
                f"{r['ours_s'] / r['floor_s']:.2f}x ({r['query_s'] / r['floor_s']:.2f}x) |"
            )
        out += [
            "",
            "Ours: every spawner's poll() at once with the cache invalidated, over an open SSH "
            "connection (a first round that also opens it took "
            f"{fmt_ms(a[0]['ours_first_s'])} ms at N={a[0]['n']}). The query alone: the shared "
            "poller's round by itself, without the N poll() calls (ratio in brackets). "
            f"Predecessor: `runuser -u {USER} -- squeue -h -j ID -o '%T %B'` per spawner, one after "
            f"the other (what the spawners' own poll timers add up to over an interval), and "
            f"{concurrency} at a time (as after a hub restart; ratio in brackets)"
            + (f"; {failures} of its calls failed" if failures else "")
            + ". Batched squeue: the same command as ours, run directly (no SSH, no runuser).",
            "",
        ]
    if b is not None:
        out += [
            f"(b) Burst of {b['n']} concurrent spawns, {b['window']:g} s from the first request",
            "",
            "| | submit calls | status calls | SSH connections opened | worst loop lag ms | p99 lag ms "
            "| longest loop CPU stretch ms | all jobs seen queued after s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            f"| ours | {b['submit']} | {b['status']} | {b['connections']} (identities: {b['identities']}) | "
            f"{b['lag_ms']:.1f} | {b['p99_ms']:.1f} | {b['busy_ms']:.1f} | {b['all_queued_s']:.2f} |",
        ]
        if bb is not None:
            out += [
                f"| predecessor | {bb['submit']} | {bb['status']} | - (a process per call) | "
                f"{bb['lag_ms']:.1f} | {bb['p99_ms']:.1f} | {bb['busy_ms']:.1f} | {bb['all_queued_s']:.2f} |",
                f"| predecessor / ours | {bb['submit'] / max(b['submit'], 1):.1f}x | "
                f"{bb['status'] / max(b['status'], 1):.1f}x | | "
                f"{bb['lag_ms'] / max(b['lag_ms'], 0.001):.1f}x | "
                f"{bb['p99_ms'] / max(b['p99_ms'], 0.001):.1f}x | | |",
            ]
        out += [
            "",
            "Lag: how late a task that sleeps 5 ms wakes up. Loop CPU stretch: CPU time the event "
            "loop's own thread used within one such step (work that blocks the loop); the rest of "
            "a lag is waiting for a CPU, which on this machine sshd, slurmctld and the jobs' "
            "sbatch share with the hub. Status calls: squeue (and scontrol) commands; the "
            "predecessor's are one `squeue -j ID` per spawner every 0.5 s (its "
            "startup_poll_interval), ours one batched squeue per second for all.",
            "",
        ]
    if c is not None:
        out += [
            f"(c) Memory per tracked spawner, N = {c['n']:,} (tracemalloc): "
            f"{c['spawner_bytes'] / 1024:.1f} KiB per SlurmSpawner object with its cached status; "
            f"{c['poller_bytes']:.0f} bytes of shared poller state per tracked job.",
            "",
        ]
    if d is not None:
        o, p = median(d["ready"]["ours"]), median(d["ready"]["predecessor"])
        so, sp = median(d["start"]["ours"]), median(d["start"]["predecessor"])
        out += [
            f"(d) Spawn request to server ready through JupyterHub {_jupyterhub_version()} and its proxy "
            f"(median of {d['runs']}, runs interleaved)",
            "",
            "| | median s | of which in Spawner.start() s | runs s |",
            "|---|---:|---:|---|",
            f"| ours (SSH, shared poller) | {o:.2f} | {so:.2f} | "
            f"{', '.join(f'{x:.2f}' for x in d['ready']['ours'])} |",
            f"| predecessor ({PREDECESSOR}, local sudo) | {p:.2f} | {sp:.2f} | "
            f"{', '.join(f'{x:.2f}' for x in d['ready']['predecessor'])} |",
            f"| ours / predecessor | {o / p:.2f}x | {so / sp:.2f}x | |",
            "",
            "Our start() returns once the server listens (checked every 0.1 s), the predecessor's "
            "as soon as the job has reported a port; the rest of each spawn is JupyterHub checking "
            "the server itself, with a randomised back-off of up to 5 s. "
            f"JupyterLab loaded in {d['lab']['ours']}/{d['runs']} of our runs and "
            f"{d['lab']['predecessor']}/{d['runs']} of the predecessor's.",
            "",
        ]
    return "\n".join(out)


def _jupyterhub_version() -> str:
    import jupyterhub

    return str(jupyterhub.__version__)


async def main_async(args: argparse.Namespace) -> str:
    sections = set(args.sections.split(","))
    a: list[dict[str, Any]] = []
    b = bb = d = None
    c = None
    sizes = [int(x) for x in args.sizes.split(",")]
    try:
        if "a" in sections:
            a = await section_a(sizes, args.repeats, args.baseline_concurrency)
        if "c" in sections:
            c = await section_c(max(sizes))
        JOBS.cancel_all()  # the burst starts on an emptier queue
        if "b" in sections:
            b = await section_b(args.burst, args.burst_window)
            print(f"# (b) ours: {b}", file=sys.stderr)
            bb = await section_b_baseline(args.burst, args.burst_window)
            print(f"# (b) predecessor: {bb}", file=sys.stderr)
        await reset_pool()
        if "d" in sections:
            d = await asyncio.to_thread(section_d, args.ready_runs, Path(args.predecessor_venv))
    finally:
        await reset_pool()
        JOBS.cancel_all()
    return report(a, b, bb, c, d, args.baseline_concurrency)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sections", default="a,b,c,d", help="which sections to run (default: a,b,c,d)")
    parser.add_argument("--sizes", default="1,100,1000", help="numbers of spawners for (a) and (c)")
    parser.add_argument("--repeats", type=int, default=15, help="rounds per measurement in (a)")
    parser.add_argument(
        "--baseline-concurrency", type=int, default=8, help="predecessor squeues at once in (a)"
    )
    parser.add_argument("--burst", type=int, default=50, help="concurrent spawns in (b)")
    parser.add_argument("--burst-window", type=float, default=10.0, help="seconds observed in (b)")
    parser.add_argument("--ready-runs", type=int, default=5, help="spawns per spawner in (d)")
    parser.add_argument("--predecessor-venv", default=str(PREDECESSOR_VENV))
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark submits jobs as the test user and inspects the cluster")
    signal.signal(signal.SIGTERM, _terminate)
    table = asyncio.run(main_async(args))
    print(table)


if __name__ == "__main__":
    main()
