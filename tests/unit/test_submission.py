"""Submitting exactly once: a lost answer is looked up by the submission's identity.

The transport here loses answers on purpose, the way a dropped SSH connection
does; the scheduler output is Slurm 22.05's as recorded on the test cluster.
The same faults on the real stack are in tests/integration/test_faults.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Sequence

import pytest

from batchspawner_x import SlurmSpawner, cancel
from batchspawner_x.claim import Holder
from batchspawner_x.errors import CommandTimeout, SubmitError, TransportError
from batchspawner_x.schedulers.base import CommandResult, Scheduler
from batchspawner_x.schedulers.pbs import PBSProScheduler
from batchspawner_x.schedulers.slurm import SlurmScheduler, script_comment
from batchspawner_x.states import StatusUnavailable
from batchspawner_x.submission import SubmissionUnknown, Submitted, find, new_identity, submit
from batchspawner_x.transport import ConnectFailed

from .claims import INSPECT, FakeClaims, unwrap
from .fakes import FakeTransport, make_spawner

LOG = logging.getLogger("test")


class NotSent(TransportError):
    """An error raised before anything reached the login node (a refused login)."""

    maybe_sent = False


SCRIPT = "#!/bin/bash\n#SBATCH --job-name=jupyter-alice\n"


CLAIM = "/home/alice/.batchspawner_x/alice/submit/bsx-1"


class FakeSlurm:
    """sbatch, under its claim, and squeue --me over a connection that drops when told to.

    ``drop`` lists, per submission, what happens: ``"before"`` (the connection drops
    before the command starts: no claim, no job), ``"after"`` (the command finishes and
    makes its job, the answer is lost), ``"running"`` (the connection drops while the
    command runs on; it makes its job two claim readings later), ``"hung"`` (the command
    times out and runs on, making nothing, until it is stopped), ``"slow"`` (it times out
    and finishes two readings later), ``"killed"`` (the command dies after it made its job,
    before it could write its exit code), ``"killed early"`` (it dies before making one),
    ``"elsewhere"`` (it runs on another login node and never finishes), ``"refused"`` (the
    login is refused), or None. ``lookups_fail`` squeue calls fail first, as while the
    login node is down.
    """

    def __init__(self, drop: Sequence[str | None] = (), lookups_fail: int = 0) -> None:
        self.drop = list(drop)
        self.lookups_fail = lookups_fail
        self.jobs: dict[str, str] = {"14704": "(null)"}  # someone else's earlier job
        self.next_id = 14710
        self.transport = FakeTransport(self.answer)
        self.claims = FakeClaims(self.transport.files)

    def make_job(self, argv: list[str]) -> str:
        comment = next((a.split("=", 1)[1] for a in argv if a.startswith("--comment=")), "(null)")
        job_id = str(self.next_id)
        self.next_id += 1
        self.jobs[job_id] = comment
        return job_id

    def submit(self, claim_path: str, argv: list[str]) -> CommandResult:
        drop = self.drop.pop(0) if self.drop else None
        if drop == "refused":
            raise NotSent("SSH login as 'alice' to login:22 was refused")
        if drop == "before":
            raise TransportError("Connection to alice@login:22 lost: Connection lost")
        taken = self.claims.take(claim_path)
        if taken is not None:
            return taken
        claim = self.claims.claims[claim_path]
        if drop in ("running", "slow"):
            claim.readings_left = 2
            claim.then = (0, "", "")
            claim.on_finish.append(lambda: self._finish_late(claim_path, argv))
            if drop == "slow":
                raise CommandTimeout("sbatch did not finish within 5s on alice@login:22")
            raise TransportError("Connection to alice@login:22 lost: Connection lost")
        if drop == "hung":
            raise CommandTimeout("sbatch did not finish within 5s on alice@login:22")
        if drop == "elsewhere":
            claim.holder = Holder.ELSEWHERE
            raise TransportError("Connection to alice@login:22 lost: Connection lost")
        if drop in ("killed", "killed early"):
            if drop == "killed":
                self.make_job(argv)
            claim.holder = Holder.DEAD
            raise TransportError("Connection to alice@login:22 lost: Connection lost")
        job_id = self.make_job(argv)
        self.claims.finish(claim_path, 0, f"{job_id}\n")
        if drop == "after":
            raise TransportError("Connection to alice@login:22 lost: Connection lost")
        return CommandResult(0, f"{job_id}\n")

    def _finish_late(self, claim_path: str, argv: list[str]) -> None:
        job_id = self.make_job(argv)
        claim = self.claims.claims[claim_path]
        claim.then = (0, f"{job_id}\n", "")

    def answer(self, argv: list[str]) -> CommandResult:
        inner = unwrap(argv)
        if inner is not argv:
            return self.submit(argv[4], inner)
        if argv[3:4] == [INSPECT]:
            return self.claims.inspect(argv)
        if argv[0] == "squeue":
            if self.lookups_fail:
                self.lookups_fail -= 1
                raise ConnectFailed("Cannot connect to login:22 as 'alice': Connection refused")
            return CommandResult(0, "".join(f"{j}|{c}\n" for j, c in self.jobs.items()))
        if argv[0] == "scancel":
            self.jobs.pop(argv[-1], None)
            return CommandResult(0)
        if argv[0] == "rm":
            self.claims.claims.pop(argv[-1], None)
            return CommandResult(0)
        raise AssertionError(argv)

    def submissions(self) -> int:
        return sum(1 for argv in self.transport.commands if unwrap(argv) is not argv)

    def of_submission(self, identity: str = "bsx-1") -> list[str]:
        return [j for j, c in self.jobs.items() if identity in c.split()]


async def submit_to(
    transport: FakeTransport,
    identity: str = "bsx-1",
    *,
    scheduler: Scheduler | None = None,
    attempts: int = 3,
    job_name: str = "",
    timeout: float = 1,
) -> Submitted:
    return await submit(
        transport,
        scheduler or SlurmScheduler(),
        SCRIPT,
        identity,
        claim=CLAIM,
        timeout=timeout,
        lookup_timeout=3,
        command_timeout=1,
        attempts=attempts,
        log=LOG,
        job_name=job_name,
    )


def test_identities_are_unique_and_safe() -> None:
    ids = {new_identity() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"bsx-[0-9a-f]{16}", i) for i in ids)


def test_slurm_carries_the_identity_on_the_command_line() -> None:
    assert SlurmScheduler().submit_argv("bsx-00ff") == ["sbatch", "--parsable", "--comment=bsx-00ff"]
    assert SlurmScheduler().submit_argv() == ["sbatch", "--parsable"]


def test_a_comment_the_script_sets_is_kept_before_the_identity() -> None:
    script = "#!/bin/bash\n#SBATCH --job-name=x\n#SBATCH --comment=site-override\n\necho hi\n"
    assert SlurmScheduler().submit_argv("bsx-1", script)[-1] == "--comment=site-override bsx-1"
    assert script_comment('#!/bin/sh\n#SBATCH --comment "two words"\n') == "two words"
    # the last directive wins; directives after the first command are not directives
    late = "#!/bin/sh\n#SBATCH --comment=a\n#SBATCH --comment=b\ntrue\n#SBATCH --comment=c\n"
    assert script_comment(late) == "b"
    assert script_comment("#!/bin/sh\n#SBATCH --comment='unbalanced\n") == ""
    assert script_comment("") == ""


def test_slurm_lookup_reads_squeue_output() -> None:
    sched = SlurmScheduler()
    out = "14704|(null)\n14707|bsx-0123456789abcdef\n14709|bsx-ffff\n14710|site words bsx-0123\n"
    assert sched.parse_lookup("bsx-0123456789abcdef", CommandResult(0, out)) == ["14707"]
    assert sched.parse_lookup("bsx-0123", CommandResult(0, out)) == ["14710"]
    assert sched.parse_lookup("bsx-1", CommandResult(0, out)) == []
    assert sched.parse_lookup("bsx-1", CommandResult(0, "")) == []
    with pytest.raises(StatusUnavailable):
        sched.parse_lookup(
            "bsx-1", CommandResult(1, "", "slurm_load_jobs error: Unable to contact slurm controller")
        )
    # the user's other jobs may be arrays or heterogeneous jobs
    other = "1234_[1-10%2]|(null)\n1235+0|(null)\n14707|bsx-1\n"
    assert sched.parse_lookup("bsx-1", CommandResult(0, other)) == ["14707"]
    with pytest.raises(StatusUnavailable):
        sched.parse_lookup("bsx-1", CommandResult(0, "JOBID|COMMENT bsx-1\n"))


async def test_a_plain_submission_is_sent_once() -> None:
    slurm = FakeSlurm()
    assert await submit_to(slurm.transport) == Submitted("14710")
    assert slurm.submissions() == 1 and slurm.jobs["14710"] == "bsx-1"


def test_the_submit_command_runs_under_its_claim() -> None:
    slurm = FakeSlurm()
    asyncio.run(submit_to(slurm.transport))
    [argv] = slurm.transport.commands
    assert argv[:2] == ["/bin/sh", "-c"] and argv[3:] == [
        "batchspawner-x-submit",
        CLAIM,
        str(len(SCRIPT.encode())),
        "sbatch",
        "--parsable",
        "--comment=bsx-1",
    ]


async def test_answer_lost_after_the_command_finished_is_read_from_the_claim() -> None:
    slurm = FakeSlurm(drop=["after"])
    assert await submit_to(slurm.transport) == Submitted("14710")
    assert slurm.submissions() == 1, "a job that arrived is never submitted again"
    assert not any(argv[0] == "squeue" for argv in slurm.transport.commands), "the claim answered"
    assert list(slurm.jobs) == ["14704", "14710"]


async def test_a_cut_while_the_command_runs_on_waits_for_it_and_sends_nothing_more() -> None:
    # the bug: sshd does not stop the command, its job shows after the hub looked
    slurm = FakeSlurm(drop=["running"])
    assert await submit_to(slurm.transport, timeout=5) == Submitted("14710")
    assert slurm.submissions() == 1
    assert slurm.of_submission() == ["14710"]


async def test_a_command_without_a_lookup_is_answered_from_its_claim_too() -> None:
    # PBS cannot be asked for the identity: the claim still gives exactly one job
    slurm = FakeSlurm(drop=["running"])
    answer = slurm.transport.answer

    def qsub(argv: list[str]) -> CommandResult:
        inner = unwrap(argv)
        if inner is not argv and inner[0] == "qsub":
            argv = [*argv[:6], "sbatch"]  # the fake makes the job, qsub's way of saying it
        return answer(argv)

    slurm.transport.answer = qsub
    submitted = await submit_to(slurm.transport, scheduler=PBSProScheduler(), timeout=5)
    assert submitted == Submitted("14710") and slurm.submissions() == 1


async def test_answer_lost_before_the_command_started_submits_again_under_the_same_claim() -> None:
    slurm = FakeSlurm(drop=["before"])
    assert await submit_to(slurm.transport) == Submitted("14710")
    assert slurm.submissions() == 2
    assert slurm.of_submission() == ["14710"]


async def test_a_resend_that_finds_the_claim_taken_waits_for_the_holder() -> None:
    slurm = FakeSlurm()
    slurm.claims.take(CLAIM)  # a first attempt that started late, after the hub looked
    slurm.claims.claims[CLAIM].readings_left = 1
    slurm.claims.claims[CLAIM].then = (0, "14777\n", "")
    assert await submit_to(slurm.transport) == Submitted("14777")
    assert slurm.submissions() == 1 and slurm.of_submission() == []


async def test_a_timed_out_submission_is_waited_for_not_sent_again() -> None:
    slurm = FakeSlurm(drop=["slow"])
    assert await submit_to(slurm.transport, timeout=5) == Submitted("14710")
    assert slurm.submissions() == 1


async def test_a_hung_submission_is_stopped_before_it_is_sent_again() -> None:
    slurm = FakeSlurm(drop=["hung"])
    assert await submit_to(slurm.transport, timeout=0.5) == Submitted("14710", answer_lost=True)
    assert slurm.claims.kills == 1, "stopped first"
    assert slurm.submissions() == 2 and slurm.of_submission() == ["14710"]


async def test_a_holder_that_died_after_making_its_job_is_looked_up() -> None:
    slurm = FakeSlurm(drop=["killed"])
    assert await submit_to(slurm.transport) == Submitted("14710", answer_lost=True)
    assert slurm.submissions() == 1


async def test_a_holder_that_died_before_making_its_job_is_sent_again() -> None:
    slurm = FakeSlurm(drop=["killed early"])
    assert await submit_to(slurm.transport) == Submitted("14710", answer_lost=True)
    assert slurm.submissions() == 2 and slurm.of_submission() == ["14710"]


async def test_a_holder_that_cannot_be_checked_is_never_sent_again() -> None:
    slurm = FakeSlurm(drop=["elsewhere"])
    with pytest.raises(SubmissionUnknown, match=r"another login node.*not sent again"):
        await submit_to(slurm.transport)
    assert slurm.submissions() == 1


async def test_a_refused_login_is_raised_without_a_lookup() -> None:
    slurm = FakeSlurm(drop=["refused"])
    with pytest.raises(NotSent):
        await submit_to(slurm.transport)
    assert len(slurm.transport.commands) == 1


async def test_a_second_job_seen_in_the_lookup_is_cancelled() -> None:
    slurm = FakeSlurm(drop=["killed"])
    slurm.jobs["14700"] = "bsx-1"  # made by hand from the same script, say
    assert await submit_to(slurm.transport) == Submitted("14700", answer_lost=True)
    assert ["scancel", "14710"] in slurm.transport.commands
    assert slurm.of_submission() == ["14700"]


async def test_a_failing_cancel_of_a_second_job_keeps_the_first() -> None:
    slurm = FakeSlurm(drop=["killed"])
    slurm.jobs["14700"] = "bsx-1"
    answer = slurm.transport.answer

    def no_scancel(argv: list[str]) -> CommandResult:
        if argv[0] == "scancel":
            raise TransportError("Connection to alice@login:22 lost: Connection lost")
        return answer(argv)

    slurm.transport.answer = no_scancel
    assert await submit_to(slurm.transport) == Submitted("14700", answer_lost=True)


async def test_lookup_waits_for_the_login_node_to_come_back() -> None:
    slurm = FakeSlurm(drop=["killed"], lookups_fail=2)
    assert (await submit_to(slurm.transport)).job_id == "14710"
    assert slurm.submissions() == 1


async def test_login_node_gone_for_good_leaves_the_outcome_unknown_and_says_so() -> None:
    slurm = FakeSlurm(drop=["killed"], lookups_fail=100)
    with pytest.raises(SubmissionUnknown, match="bsx-1"):
        await submit_to(slurm.transport)
    assert slurm.submissions() == 1


async def test_attempts_are_bounded() -> None:
    slurm = FakeSlurm(drop=["before", "before", "before"])
    with pytest.raises(SubmissionUnknown, match="sent 2 times"):
        await submit_to(slurm.transport, attempts=2)
    assert slurm.submissions() == 2


async def test_a_rejection_is_not_looked_up() -> None:
    slurm = FakeSlurm()

    def answer(argv: list[str]) -> CommandResult:
        assert unwrap(argv) is not argv, argv
        return CommandResult(1, "", "sbatch: error: invalid partition specified: nope\n")

    slurm.transport.answer = answer
    with pytest.raises(SubmitError, match="invalid partition"):
        await submit_to(slurm.transport)


async def test_a_rejection_kept_in_the_claim_is_the_answer() -> None:
    slurm = FakeSlurm(drop=["hung"])
    slurm.claims.take(CLAIM)
    slurm.claims.finish(CLAIM, 1, "", "sbatch: error: invalid partition specified: nope\n")
    with pytest.raises(SubmitError, match="invalid partition"):
        await submit_to(slurm.transport)
    assert slurm.submissions() == 1


async def test_a_claim_that_cannot_be_made_sends_nothing() -> None:
    def answer(argv: list[str]) -> CommandResult:
        return CommandResult(76, "", "batchspawner-x claim: cannot create /x/submit/bsx-1: No space left\n")

    transport = FakeTransport(answer)
    with pytest.raises(TransportError, match=r"cannot create.*No space left") as raised:
        await submit_to(transport)
    assert raised.value.maybe_sent is False and len(transport.commands) == 1


async def test_connection_refused_before_sending_is_not_looked_up() -> None:
    def answer(argv: list[str]) -> CommandResult:
        raise ConnectFailed("Cannot connect to login:22 as 'alice': Connection refused")

    transport = FakeTransport(answer)
    with pytest.raises(ConnectFailed):
        await submit_to(transport)
    assert len(transport.commands) == 1


async def test_a_scheduler_without_lookup_never_resends_after_a_death() -> None:
    slurm = FakeSlurm(drop=["killed early"])
    with pytest.raises(SubmissionUnknown, match=r"died without an answer.*cannot be asked.*'jupyter-carol'"):
        await submit_to(slurm.transport, scheduler=PBSProScheduler(), job_name="jupyter-carol")
    assert slurm.submissions() == 1


async def test_find_returns_lowest_first() -> None:
    slurm = FakeSlurm()
    slurm.jobs = {"15000": "bsx-1", "9999": "bsx-1", "14000": "other"}
    found = await find(slurm.transport, SlurmScheduler(), "bsx-1", timeout=0, command_timeout=1)
    assert found == ["9999", "15000"]


# -- the spawner: a hub killed during a submission -----------------------------------


def status_shows(slurm: FakeSlurm, line: str) -> None:
    """The status query (squeue --jobs) prints ``line``; the rest is as before."""
    slurm.transport.answer = lambda argv: (
        CommandResult(0, line) if argv[0] == "squeue" and "--me" not in argv else slurm.answer(argv)
    )


def restarted_spawner(slurm: FakeSlurm, identity: str) -> SlurmSpawner:
    """A spawner whose hub was killed after it saved the identity, before the job id."""
    spawner, _ = make_spawner(transport=slurm.transport)
    spawner.load_state({"submission": identity, "job_dir": "/home/alice/.batchspawner_x/alice"})
    return spawner


def test_the_identity_is_in_the_state_before_the_job_id() -> None:
    spawner = restarted_spawner(FakeSlurm(), "bsx-1")
    assert spawner.get_state() == {
        "submission": "bsx-1",
        "job_dir": "/home/alice/.batchspawner_x/alice",
        "token_sha256": "",
    }
    spawner.clear_state()
    assert spawner.get_state() == {}


async def test_poll_after_a_restart_adopts_the_submitted_job() -> None:
    slurm = FakeSlurm()
    slurm.jobs["14720"] = "bsx-1"
    spawner = restarted_spawner(slurm, "bsx-1")
    spawner.status_interval = 0.01
    status_shows(slurm, "14720|PENDING|n/a|Priority|N/A\n")
    assert await spawner.poll() is None
    assert spawner.job_id == "14720" and spawner.get_state()["job_id"] == "14720"


async def test_poll_after_a_restart_with_no_job_is_stopped() -> None:
    spawner = restarted_spawner(FakeSlurm(), "bsx-1")
    assert await spawner.poll() == 0


async def test_poll_is_not_a_death_when_the_lookup_fails() -> None:
    spawner = restarted_spawner(FakeSlurm(lookups_fail=1), "bsx-1")
    assert await spawner.poll() is None
    assert spawner.get_state()["submission"] == "bsx-1"


async def test_stop_cancels_the_job_of_a_lost_submission() -> None:
    slurm = FakeSlurm()
    slurm.jobs["14720"] = "bsx-1"
    spawner = restarted_spawner(slurm, "bsx-1")
    spawner.cancel_timeout = 0
    await spawner.stop()
    assert ["scancel", "14720"] in slurm.transport.commands
    assert "14720" not in slurm.jobs
    assert spawner.job_id == "" and spawner.submission_id == ""


def test_a_report_from_another_job_of_the_submission_is_refused() -> None:
    spawner = restarted_spawner(FakeSlurm(), "bsx-1")
    token = "0123456789abcdef"
    spawner.token_sha256 = hashlib.sha256(token.encode()).hexdigest()
    spawner.job_id = "14720"
    spawner._awaiting_report = True
    assert not spawner.accept_server_report(token, "c1", 8888, "14721")
    assert spawner.accept_server_report(token, "c1", 8888, "14720")
    assert spawner.accept_server_report(token, "c1", 8888, "")  # an older node-side command


async def test_stop_after_a_lost_answer_cancels_every_job_of_the_submission() -> None:
    slurm = FakeSlurm()
    slurm.jobs.update({"14720": "bsx-1", "14721": "bsx-1"})
    spawner = restarted_spawner(slurm, "bsx-1")
    spawner.job_id, spawner.submission_uncertain = "14720", True
    spawner.cancel_timeout = 0
    await spawner.stop()
    cancelled = [argv[-1] for argv in slurm.transport.commands if argv[0] == "scancel"]
    assert cancelled == ["14720", "14721"]
    assert spawner.get_state() == {}


async def test_poll_after_a_restart_waits_for_a_submit_command_that_still_runs() -> None:
    slurm = FakeSlurm()
    slurm.claims.take(CLAIM)
    spawner = restarted_spawner(slurm, "bsx-1")
    assert await spawner.poll() is None, "not a death: the job may still come"
    assert spawner.job_id == "" and slurm.claims.kills == 0
    slurm.claims.finish(CLAIM, 0, "14777\n")
    slurm.jobs["14777"] = "bsx-1"
    status_shows(slurm, "14777|PENDING|n/a|Priority|N/A\n")
    assert await spawner.poll() is None
    assert spawner.job_id == "14777" and not spawner.submission_uncertain, "the claim's own answer"


async def test_stop_after_a_restart_stops_a_hung_submit_command_then_cancels_its_job() -> None:
    slurm = FakeSlurm()
    slurm.claims.take(CLAIM)
    slurm.jobs["14720"] = "bsx-1"  # it made its job, then hung
    spawner = restarted_spawner(slurm, "bsx-1")
    spawner.status_timeout = 1
    spawner.cancel_timeout = 0
    await spawner.stop()
    assert slurm.claims.kills == 1
    assert "14720" not in slurm.jobs and CLAIM not in slurm.claims.claims
    assert spawner.get_state() == {}


async def test_poll_cancels_a_second_job_of_an_uncertain_submission_as_soon_as_it_shows() -> None:
    slurm = FakeSlurm()
    slurm.jobs["14720"] = "bsx-1"
    spawner = restarted_spawner(slurm, "bsx-1")
    spawner.job_id, spawner.submission_uncertain = "14720", True
    spawner.status_interval = 0.01
    status_shows(slurm, "14720|RUNNING|c1|None|N/A\n")
    assert await spawner.poll() is None
    slurm.jobs["14721"] = "bsx-1"  # a late one, which will never report
    assert await spawner.poll() is None
    assert "14721" in slurm.jobs, "looked up at most every few seconds"
    spawner._extras_checked -= 60
    assert await spawner.poll() is None
    assert slurm.of_submission() == ["14720"], "the extra job is cancelled, the tracked one kept"


async def test_a_second_job_that_cannot_be_cancelled_now_is_cancelled_in_the_background() -> None:
    slurm = FakeSlurm()
    slurm.jobs.update({"14720": "bsx-1", "14721": "bsx-1"})
    spawner = restarted_spawner(slurm, "bsx-1")
    spawner.job_id, spawner.submission_uncertain = "14720", True
    answer, refusals = slurm.answer, [1]

    def scancel_refused_once(argv: list[str]) -> CommandResult:
        if argv[0] == "scancel" and refusals:
            refusals.pop()
            raise ConnectFailed("Cannot connect to login:22 as 'alice': Connection refused")
        return answer(argv)

    slurm.transport.answer = scancel_refused_once
    before = set(cancel._background)
    await spawner._cancel_other_jobs_of_submission("14720")
    (task,) = set(cancel._background) - before  # one attempt, then the stop() rule's background
    await asyncio.wait_for(task, 10)
    assert slurm.of_submission() == ["14720"]
