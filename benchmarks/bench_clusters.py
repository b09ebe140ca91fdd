"""Two clusters behind one hub: status queries per cluster and interval, against the predecessor's.

Runs against the real local Slurm (login node: the sshd on 127.0.0.1:2222) and
the real local Son of Grid Engine (its own sshd, 127.0.0.1:2223) that
``ci/cluster/up.sh`` and ``ci/cluster/sge-up.sh`` set up, as root, and uses
only the test user ``frank``. It submits N jobs to each cluster (default 500),
all held (``sbatch --hold --mem=1M``, ``qsub -h``), so they never run and take
nothing from other users; every one is cancelled by id at the end, also on
errors and Ctrl-C.

Then, in the same run, for the same jobs and the same number of intervals:

1. Ours: N real SlurmSpawner and N real GridengineSpawner objects, one per job
   (a session each), every one's ``poll()`` called once per interval at its own
   moment, as JupyterHub's poll timers do (``poll_interval`` and
   ``status_interval`` are the interval). Each cluster's spawners share one
   poller (one status identity, ``frank``).
2. The predecessor's way (batchspawner 1.3.0): each session runs its own status
   command once per interval, as the user: Slurm ``squeue -h -j ID -o '%T %B'``,
   Grid Engine ``qstat -xml``; at most --baseline-concurrency at once per cluster.

Counted per cluster and interval: scheduler status commands (ours: target one,
whatever N), and for Slurm the controller's own count of RPCs from ``frank``
(``sdiag``, "statistics by user"; the benchmark's own ``sdiag`` calls run as
root and are not in it). Grid Engine keeps no such count; its status commands
are counted.

Usage (as root, from the repository root)::

    python benchmarks/bench_clusters.py                        # 500 jobs per cluster, 3 intervals of 5 s
    python benchmarks/bench_clusters.py --jobs 1000 --intervals 3
    nox -s bench_clusters -- --interval 10
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from common import JOB_NAME, USER, HeldJobs, cluster, machine, make_spawner, reset_pool, run_local, settle
from common import terminate as _terminate

from batchspawner_x import GridengineSpawner, SlurmSpawner
from batchspawner_x.spawner import BatchSpawnerBase
from batchspawner_x.transport import SSHPool
from tests.integration.facts import SGE_ENV, sge_env

PREDECESSOR = "batchspawner 1.3.0"
#: The controller's RPC statistics ``sdiag`` prints: section header -> key in the parsed result.
SDIAG_SECTIONS = {
    "Remote Procedure Call statistics by message type": "type",
    "Remote Procedure Call statistics by user": "user",
}
_SDIAG_LINE = re.compile(r"^\s+(\S+)\s+\(\s*\d+\)\s+count:(\d+)")


# ---------------------------------------------------------------------------
# The controller's own count


def parse_sdiag(text: str) -> dict[str, Counter[str]]:
    """``sdiag``'s RPC counts: ``{"type": {message type: count}, "user": {user: count}}``.

    Lines look like ``\\tREQUEST_JOB_INFO_SINGLE   ( 2021) count:422    ave_time:215 ...``
    and ``\\tfrank   (    1006) count:150 ...`` under their section's header.
    """
    found: dict[str, Counter[str]] = {key: Counter() for key in SDIAG_SECTIONS.values()}
    section: str | None = None
    for line in text.splitlines():
        if line and not line[0].isspace():
            section = SDIAG_SECTIONS.get(line.strip())
            continue
        match = _SDIAG_LINE.match(line)
        if section is not None and match:
            found[section][match.group(1)] += int(match.group(2))
    return found


async def sdiag() -> dict[str, Counter[str]]:
    rc, out, err = await run_local(["sdiag"])
    if rc != 0:
        raise RuntimeError(f"sdiag failed: {err.decode(errors='replace').strip()}")
    return parse_sdiag(out.decode())


def rpc_delta(before: dict[str, Counter[str]], after: dict[str, Counter[str]]) -> tuple[int, Counter[str]]:
    """RPCs from USER between two readings, and the message types all users sent meanwhile."""
    mine = after["user"][USER] - before["user"][USER]
    if mine < 0:
        raise RuntimeError("slurmctld's RPC counts went back (restarted, or sdiag -r) during the measurement")
    types = after["type"].copy()
    types.subtract(before["type"])
    return mine, +types


# ---------------------------------------------------------------------------
# The two clusters


class HeldGridEngineJobs(HeldJobs):
    """Held (``qsub -h``) Grid Engine jobs of USER, submitted and deleted inside the
    daemons' network namespace, as an administrator would; deleted by id at exit."""

    def __init__(self, sge: dict[str, str]) -> None:
        super().__init__("bsx-bench-sge-jobs.txt")
        self.sge = sge

    def env(self) -> dict[str, str]:
        return {**os.environ, "SGE_ROOT": self.sge["BSX_SGE_ROOT"], "SGE_CELL": self.sge["BSX_SGE_CELL"]}

    def in_namespace(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.sge["BSX_SGE_NETNS"], *argv]

    def as_user(self, argv: Sequence[str]) -> list[str]:
        return self.in_namespace(["runuser", "-u", USER, "--", *argv])

    def submit_script(self, n: int) -> str:
        return (
            f"for i in $(seq {int(n)}); do qsub -terse -h -b y -N {JOB_NAME} -q {self.sge['BSX_SGE_QUEUE']} "
            f"-wd /tmp -o /dev/null -e /dev/null sleep 3600 || exit 1; done"
        )

    def parse_ids(self, stdout: str) -> list[str]:
        return [line.strip() for line in stdout.splitlines() if line.strip().isdigit()]

    def cancel_argv(self, ids: Sequence[str]) -> list[str]:
        return self.in_namespace(["qdel", *ids])


@dataclass
class Target:
    """One cluster under test: how its spawners reach it and what the predecessor ran."""

    name: str
    spawner_class: type[BatchSpawnerBase]
    #: Spawner settings beside the common ones (the login node, the queue).
    config: dict[str, Any]
    #: The status command's name, as the transport counts it.
    status_command: str
    jobs: HeldJobs
    #: The predecessor's status command for one job, as the user.
    predecessor_argv: Callable[[str], list[str]]
    #: Whether its output says the job is alive (held).
    predecessor_ok: Callable[[str, bytes], bool]
    ids: list[str] = field(default_factory=list)


def predecessor_squeue(job_id: str) -> list[str]:
    """The predecessor's Slurm status command (its ``batch_query_cmd``), as the user."""
    return ["runuser", "-u", USER, "--", "squeue", "-h", "-j", job_id, "-o", "%T %B"]


def targets() -> list[Target]:
    sge = sge_env()
    sge_jobs = HeldGridEngineJobs(sge)
    c = cluster()
    return [
        Target(
            name="Slurm",
            spawner_class=SlurmSpawner,
            config={},
            status_command="squeue",
            jobs=HeldJobs("bsx-bench-slurm-jobs.txt"),
            predecessor_argv=predecessor_squeue,
            predecessor_ok=lambda job_id, out: out.startswith(b"PENDING"),
        ),
        Target(
            name="Grid Engine",
            spawner_class=GridengineSpawner,
            config=dict(
                ssh_host=c["BSX_SSH_HOST"],
                ssh_port=int(sge["BSX_SGE_SSH_PORT"]),
                ssh_known_hosts=sge["BSX_SGE_KNOWN_HOSTS"],
                partition=sge["BSX_SGE_QUEUE"],
            ),
            status_command="qstat",
            jobs=sge_jobs,
            predecessor_argv=lambda job_id: sge_jobs.as_user(["qstat", "-xml"]),
            predecessor_ok=lambda job_id, out: f"<JB_job_number>{job_id}</JB_job_number>".encode() in out,
        ),
    ]


def grid_engine_version(target: Target) -> str:
    assert isinstance(target.jobs, HeldGridEngineJobs)
    out = subprocess.run(
        target.jobs.in_namespace(["qstat", "-help"]),
        capture_output=True,
        text=True,
        env=target.jobs.env(),
        check=False,
    ).stdout
    return out.splitlines()[0].strip() if out else "Grid Engine (version unknown)"


# ---------------------------------------------------------------------------
# Measuring


@dataclass
class Window:
    """One interval: what each cluster was asked, and slurmctld's count of USER's RPCs."""

    seconds: float
    calls: dict[str, int]
    rpcs: int
    rpc_types: Counter[str]
    polls: dict[str, int] = field(default_factory=dict)
    poll_ms: dict[str, list[float]] = field(default_factory=dict)
    #: Sessions whose job was not seen alive: someone else ended a held job.
    failures: dict[str, int] = field(default_factory=dict)
    #: Seconds from the interval's start to each cluster's last answer (the predecessor's).
    done_after: dict[str, float] = field(default_factory=dict)
    #: Other commands our spawners sent (an exit code looked up for a job that ended).
    other_commands: Counter[str] = field(default_factory=Counter)


async def sleep_until(when: float) -> None:
    await asyncio.sleep(max(0.0, when - asyncio.get_running_loop().time()))


async def ours(all_targets: Sequence[Target], interval: float, intervals: int, seed: int) -> list[Window]:
    """Every session's poll() once per interval at its own moment; counted per interval."""
    await reset_pool()
    spawners: dict[str, list[BatchSpawnerBase]] = {}
    for t in all_targets:
        slug = t.status_command
        spawners[t.name] = [
            make_spawner(
                f"bsxclusters-{slug}-{i}",
                t.spawner_class,
                poll_interval=interval,
                status_interval=interval,
                **t.config,
            )
            for i in range(len(t.ids))
        ]
        for s, job_id in zip(spawners[t.name], t.ids, strict=True):
            s.load_state({"job_id": job_id})
    settle()
    # the first poll of each session (a hub's first poll after a restart): connects, and
    # starts each cluster's poller
    first = await asyncio.gather(*(s.poll() for group in spawners.values() for s in group))
    if any(r is not None for r in first):
        raise RuntimeError(f"held jobs must be alive: {Counter(first)}")
    # Then one round of every poller at the same moment, whatever the first rounds took (an
    # SSH connection each): rounds follow every interval from there, and the measured
    # intervals start half an interval later, so that each holds one round of each cluster.
    loop = asyncio.get_running_loop()
    pollers = [await group[0].poller() for group in spawners.values()]
    await asyncio.sleep(1.0)  # more than min_spacing after the first rounds
    await asyncio.gather(*(p.refresh() for p in pollers))
    start = max(p.last_round for p in pollers) + interval / 2  # (the loop's clock is monotonic)
    rng = random.Random(seed)
    answers: dict[str, list[tuple[int, float, int | None]]] = {t.name: [] for t in all_targets}

    async def hub_poll_timer(name: str, spawner: BatchSpawnerBase, phase: float) -> None:
        for k in range(intervals):
            await sleep_until(start + k * interval + phase)
            before = loop.time()
            result = await spawner.poll()
            answers[name].append((k, (loop.time() - before) * 1000, result))

    timers = [
        asyncio.ensure_future(hub_poll_timer(name, s, rng.uniform(0, interval)))
        for name, group in spawners.items()
        for s in group
    ]
    commands, readings, times = [], [], []
    try:
        for k in range(intervals + 1):
            await sleep_until(start + k * interval)
            times.append(loop.time())
            commands.append(Counter(SSHPool.commands))
            readings.append(await sdiag())
            if k:
                print(f"# ours: interval {k} of {intervals}", file=sys.stderr)
        await asyncio.gather(*timers)
    finally:
        for task in timers:
            task.cancel()
        gc.unfreeze()
    windows = []
    status_commands = {t.status_command for t in all_targets}
    for k in range(intervals):
        rpcs, types = rpc_delta(readings[k], readings[k + 1])
        window = Window(
            seconds=times[k + 1] - times[k],
            calls={
                t.name: commands[k + 1][t.status_command] - commands[k][t.status_command] for t in all_targets
            },
            rpcs=rpcs,
            rpc_types=types,
            other_commands=Counter(
                {
                    name: n
                    for name, n in (commands[k + 1] - commands[k]).items()
                    if name not in status_commands
                }
            ),
        )
        for t in all_targets:
            mine = [(ms, r) for i, ms, r in answers[t.name] if i == k]
            window.polls[t.name] = len(mine)
            window.poll_ms[t.name] = [ms for ms, _ in mine]
            window.failures[t.name] = sum(1 for _, r in mine if r is not None)
        windows.append(window)
        print(f"# ours: interval {k + 1}: {describe(window)}", file=sys.stderr)
    await reset_pool()
    return windows


async def predecessor(
    all_targets: Sequence[Target], interval: float, intervals: int, concurrency: int, seed: int
) -> list[Window]:
    """Each session's own status command once per interval, as the user, at its own moment.

    An interval lasts until its last command has answered: when the commands take longer
    than the interval, the predecessor's interval stretches (its poll timers fall behind).
    """
    loop = asyncio.get_running_loop()
    rng = random.Random(seed)
    phases = {(t.name, j): rng.uniform(0, interval) for t in all_targets for j in t.ids}
    calls: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    done_after: dict[str, float] = {}

    async def one(t: Target, job_id: str, start: float, gate: asyncio.Semaphore) -> None:
        await sleep_until(start + phases[t.name, job_id])
        async with gate:
            calls[t.name] += 1
            rc, out, _ = await run_local(t.predecessor_argv(job_id), env=t.jobs.env())
        done_after[t.name] = max(done_after.get(t.name, 0.0), loop.time() - start)
        if rc != 0 or not t.predecessor_ok(job_id, out):
            failures[t.name] += 1

    windows = []
    for k in range(intervals):
        calls.clear()
        failures.clear()
        done_after.clear()
        gates = {t.name: asyncio.Semaphore(concurrency) for t in all_targets}
        before = await sdiag()
        start = loop.time()
        await asyncio.gather(*(one(t, j, start, gates[t.name]) for t in all_targets for j in t.ids))
        await sleep_until(start + interval)
        seconds = loop.time() - start
        rpcs, types = rpc_delta(before, await sdiag())
        window = Window(
            seconds=seconds,
            calls={t.name: calls[t.name] for t in all_targets},
            rpcs=rpcs,
            rpc_types=types,
            failures={t.name: failures[t.name] for t in all_targets},
            done_after=dict(done_after),
        )
        windows.append(window)
        print(f"# predecessor: interval {k + 1}: {describe(window)}", file=sys.stderr)
    return windows


def describe(w: Window) -> str:
    calls = ", ".join(
        f"{name} {n} status call(s)"
        + (f" (the last answered after {w.done_after[name]:.2f} s)" if w.done_after else "")
        for name, n in w.calls.items()
    )
    types = ", ".join(f"{name} {n}" for name, n in w.rpc_types.most_common(4))
    failed = sum(w.failures.values())
    other = ", ".join(f"{name} {n}" for name, n in w.other_commands.items())
    return (
        f"{w.seconds:.2f} s, {calls}, slurmctld RPCs from {USER}: {w.rpcs} (all users, by type: {types})"
        + (f", other commands: {other}" if other else "")
        + (f", {failed} session(s) not seen alive" if failed else "")
    )


# ---------------------------------------------------------------------------
# Report


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def ratio(theirs: float, ours: float) -> str:
    return f"{theirs / ours:,.0f}x" if ours else "∞ (ours: 0)"


def report(
    all_targets: Sequence[Target],
    mine: Sequence[Window],
    theirs: Sequence[Window],
    interval: float,
    concurrency: int,
    target_ratio: float,
) -> str:
    sessions = sum(len(t.ids) for t in all_targets)
    slurm = all_targets[0].name
    out = [
        f"Machine: {machine()}; {grid_engine_version(all_targets[1])} on its own sshd",
        "",
        f"Two clusters behind one hub: {', '.join(f'{t.name} with {len(t.ids):,}' for t in all_targets)} "
        f"tracked sessions (held jobs of {USER}), {sessions:,} in all; {len(mine)} intervals of "
        f"{interval:g} s each way, in the same run.",
        "",
        "| interval | cluster | ours: status calls | predecessor: status calls | predecessor / ours "
        "| ours: slurmctld RPCs | predecessor: slurmctld RPCs | predecessor / ours "
        "| predecessor: last answer after s |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, (o, p) in enumerate(zip(mine, theirs, strict=True), start=1):
        for t in all_targets:
            rpcs = (
                f"| {o.rpcs:,} | {p.rpcs:,} | {ratio(p.rpcs, o.rpcs)} " if t.name == slurm else "| - | - | - "
            )
            out.append(
                f"| {k} | {t.name} | {o.calls[t.name]} | {p.calls[t.name]:,} | "
                f"{ratio(p.calls[t.name], o.calls[t.name])} {rpcs}| {p.done_after[t.name]:.2f} |"
            )
    o_calls = mean([sum(w.calls.values()) for w in mine])
    p_calls = mean([sum(w.calls.values()) for w in theirs])
    o_rpcs, p_rpcs = mean([w.rpcs for w in mine]), mean([w.rpcs for w in theirs])
    o_slurm_calls = mean([w.calls[slurm] for w in mine])
    p_slurm_calls = mean([w.calls[slurm] for w in theirs])
    n_slurm = len(all_targets[0].ids)
    o_ctl = o_rpcs + mean([sum(v for name, v in w.calls.items() if name != slurm) for w in mine])
    p_ctl = p_rpcs + mean([sum(v for name, v in w.calls.items() if name != slurm) for w in theirs])
    met = p_ctl / o_ctl >= target_ratio if o_ctl else True
    out += [
        "",
        f"Per interval, mean of {len(mine)}, at {sessions:,} sessions:",
        "",
        "| | ours | predecessor | predecessor / ours |",
        "|---|---:|---:|---:|",
        f"| status calls, both clusters | {o_calls:.3g} | {p_calls:,.0f} | {ratio(p_calls, o_calls)} |",
        f"| slurmctld RPCs ({n_slurm:,} Slurm sessions) | {o_rpcs:.3g} | {p_rpcs:,.0f} "
        f"| {ratio(p_rpcs, o_rpcs)} |",
        f"| slurmctld RPCs per status call | {o_rpcs / max(o_slurm_calls, 1):.1f} | "
        f"{p_rpcs / max(p_slurm_calls, 1):.1f} | |",
        f"| slurmctld RPCs per session | {o_rpcs / n_slurm:.4f} | {p_rpcs / n_slurm:.2f} | |",
        f"| controller requests, both clusters (slurmctld RPCs + Grid Engine status calls) | {o_ctl:.3g} | "
        f"{p_ctl:,.0f} | {ratio(p_ctl, o_ctl)} |",
        "",
        f"Target: at least {target_ratio:g}x fewer controller requests at {sessions:,} sessions: "
        + ("met." if met else "NOT met."),
        "",
        "Ours: every session's poll() once per interval at a random moment (JupyterHub's poll "
        "timers), answered from the cluster's shared poller, which sends one batched status "
        f"command per interval over one SSH connection as {USER}; poll() took "
        + "; ".join(
            f"{t.name} median {statistics.median(ms):.2f} ms, worst {max(ms):.1f} ms"
            for t in all_targets
            if (ms := [x for w in mine for x in w.poll_ms[t.name]])
        )
        + f". Predecessor ({PREDECESSOR}): each session's own status command once per interval at a "
        "random moment, as the user, "
        f"{concurrency} at a time per cluster (Slurm: `squeue -h -j ID -o '%T %B'`; Grid Engine: "
        "`qstat -xml`, which lists all of the user's jobs every time); an interval lasts until its "
        "last command answered (the last column: seconds from its start; more than the interval "
        "means its poll timers fell behind). slurmctld RPCs: `sdiag`'s count for "
        f"{USER} (the benchmark's own sdiag runs as root). Grid Engine keeps no count of its "
        "requests; each status command is at least one.",
    ]
    return "\n".join(out)


def disturbed(mine: Sequence[Window], theirs: Sequence[Window]) -> str | None:
    """Why the run's numbers are not valid, if they are not: a held job ended meanwhile."""
    failures = {name: sum(w.failures.get(name, 0) for w in [*mine, *theirs]) for name in mine[0].calls}
    if not any(failures.values()):
        return None
    return (
        f"NOT VALID: held jobs of {USER} ended during the run (sessions not seen alive, over all "
        f"intervals: {failures}). Someone else cancelled them (a test suite that cleans up {USER}'s "
        "jobs?), and its commands and RPCs are in the counts: run again when nothing else uses "
        f"{USER}."
    )


# ---------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> str:
    all_targets = targets()
    try:
        for t in all_targets:
            started = time.perf_counter()
            t.ids = t.jobs.submit(args.jobs, parallel=args.submit_parallel)
            print(
                f"# submitted {len(t.ids)} held {t.name} jobs in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
        mine = await ours(all_targets, args.interval, args.intervals, args.seed)
        theirs = await predecessor(
            all_targets, args.interval, args.intervals, args.baseline_concurrency, args.seed
        )
    finally:
        await reset_pool()
        for t in all_targets:
            t.jobs.cancel_all()
    table = report(all_targets, mine, theirs, args.interval, args.baseline_concurrency, args.target)
    problem = disturbed(mine, theirs)
    if problem:
        raise Disturbed(f"{table}\n\n{problem}")
    return table


class Disturbed(RuntimeError):
    """The run finished, but something outside it changed what it measured."""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=500, help="tracked sessions (held jobs) per cluster")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds per interval (poll_interval)")
    parser.add_argument("--intervals", type=int, default=3, help="intervals measured each way")
    parser.add_argument(
        "--baseline-concurrency", type=int, default=8, help="predecessor commands at once per cluster"
    )
    parser.add_argument(
        "--submit-parallel", type=int, default=4, help="submission loops at once per cluster (setup only)"
    )
    parser.add_argument("--target", type=float, default=100.0, help="required predecessor / ours ratio")
    parser.add_argument("--seed", type=int, default=15, help="seed of the sessions' poll moments")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("run as root: the benchmark submits jobs as the test user and inspects the clusters")
    if not SGE_ENV.exists():
        sys.exit(f"{SGE_ENV} is missing: run ci/cluster/sge-up.sh first (the Grid Engine cluster)")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        print(asyncio.run(main_async(args)))
    except Disturbed as e:
        print(e)
        sys.exit(1)


if __name__ == "__main__":
    main()
