"""Submitting exactly once: a lost answer is looked up by the submission's identity.

The transport here loses answers on purpose, the way a dropped SSH connection
does; the scheduler output is Slurm 22.05's as recorded on the test cluster.
The same faults on the real stack are in tests/integration/test_faults.py.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence

import pytest

from batchspawner_x import SlurmSpawner
from batchspawner_x.errors import CommandTimeout, SubmitError, TransportError
from batchspawner_x.schedulers.base import CommandResult, Scheduler
from batchspawner_x.schedulers.pbs import PBSProScheduler
from batchspawner_x.schedulers.slurm import SlurmScheduler, script_comment
from batchspawner_x.states import StatusUnavailable
from batchspawner_x.submission import SubmissionUnknown, Submitted, find, new_identity, submit
from batchspawner_x.transport import ConnectFailed

from .test_spawner import RecordedTransport, make_spawner

LOG = logging.getLogger("test")


class NotSent(TransportError):
    """An error raised before anything reached the login node (a refused login)."""

    maybe_sent = False


SCRIPT = "#!/bin/bash\n#SBATCH --job-name=jupyter-alice\n"


class FakeSlurm:
    """sbatch and squeue --me over a connection that drops when told to.

    ``drop`` lists, per sbatch call, where the connection drops: ``"before"`` (the job
    is not made), ``"after"`` (the job is made, its id never arrives) or None.
    ``lookups_fail`` squeue calls fail first, as while the login node is down.
    """

    def __init__(self, drop: Sequence[str | None] = (), lookups_fail: int = 0) -> None:
        self.drop = list(drop)
        self.lookups_fail = lookups_fail
        self.jobs: dict[str, str] = {"14704": "(null)"}  # someone else's earlier job
        self.next_id = 14710
        self.late: tuple[int, str, str] | None = None
        self.transport = RecordedTransport(self.answer)

    def answer(self, argv: list[str]) -> CommandResult:
        if argv[0] == "sbatch":
            drop = self.drop.pop(0) if self.drop else None
            if drop == "before":
                raise TransportError("Connection to alice@login:22 lost: Connection lost")
            if drop == "hung":  # sbatch times out and never makes its job
                raise CommandTimeout("sbatch did not finish within 5s on alice@login:22")
            if drop == "refused":
                raise NotSent("SSH login as 'alice' to login:22 was refused")
            comment = next((a.split("=", 1)[1] for a in argv if a.startswith("--comment=")), "(null)")
            job_id = str(self.next_id)
            self.next_id += 1
            if drop == "slow":  # sbatch times out, and its job appears two lookups later
                self.late = (2, job_id, comment)
                raise CommandTimeout("sbatch did not finish within 5s on alice@login:22")
            self.jobs[job_id] = comment
            if drop == "after":
                raise TransportError("Connection to alice@login:22 lost: Connection lost")
            return CommandResult(0, f"{job_id}\n")
        if argv[0] == "squeue":
            if self.lookups_fail:
                self.lookups_fail -= 1
                raise ConnectFailed("Cannot connect to login:22 as 'alice': Connection refused")
            if self.late is not None:
                wait, job_id, comment = self.late
                self.late = (wait - 1, job_id, comment) if wait > 1 else None
                if wait <= 1:
                    self.jobs[job_id] = comment
            return CommandResult(0, "".join(f"{j}|{c}\n" for j, c in self.jobs.items()))
        if argv[0] == "scancel":
            self.jobs.pop(argv[-1], None)
            return CommandResult(0)
        raise AssertionError(argv)

    def submissions(self) -> int:
        return sum(1 for argv in self.transport.commands if argv[0] == "sbatch")


async def submit_to(
    transport: RecordedTransport,
    identity: str = "bsx-1",
    *,
    scheduler: Scheduler | None = None,
    attempts: int = 3,
    job_name: str = "",
) -> Submitted:
    return await submit(
        transport,
        scheduler or SlurmScheduler(),
        SCRIPT,
        identity,
        timeout=5,
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


async def test_answer_lost_after_the_job_was_made_finds_that_job() -> None:
    slurm = FakeSlurm(drop=["after"])
    assert await submit_to(slurm.transport) == Submitted("14710", answer_lost=True)
    assert slurm.submissions() == 1, "a job that arrived is never submitted again"
    assert list(slurm.jobs) == ["14704", "14710"]


async def test_answer_lost_before_the_job_was_made_submits_again() -> None:
    slurm = FakeSlurm(drop=["before"])
    assert await submit_to(slurm.transport) == Submitted("14710")
    assert slurm.submissions() == 2
    assert [j for j, c in slurm.jobs.items() if c == "bsx-1"] == ["14710"]


async def test_a_timed_out_submission_is_waited_for_not_sent_again() -> None:
    slurm = FakeSlurm(drop=["slow"])
    assert await submit_to(slurm.transport) == Submitted("14710", answer_lost=True)
    assert slurm.submissions() == 1


async def test_a_timed_out_submission_that_never_shows_is_not_sent_again() -> None:
    slurm = FakeSlurm(drop=["hung"])
    with pytest.raises(SubmissionUnknown, match="not sent again"):
        await submit_to(slurm.transport)
    assert slurm.submissions() == 1


async def test_a_refused_login_is_raised_without_a_lookup() -> None:
    slurm = FakeSlurm(drop=["refused"])
    with pytest.raises(NotSent):
        await submit_to(slurm.transport)
    assert [argv[0] for argv in slurm.transport.commands] == ["sbatch"]


async def test_a_failing_cancel_of_a_second_job_keeps_the_first() -> None:
    slurm = FakeSlurm(drop=["after"])
    slurm.jobs["14700"] = "bsx-1"  # made by hand from the same script, say
    answer = slurm.transport.answer

    def no_scancel(argv: list[str]) -> CommandResult:
        if argv[0] == "scancel":
            raise TransportError("Connection to alice@login:22 lost: Connection lost")
        return answer(argv)

    slurm.transport.answer = no_scancel
    assert await submit_to(slurm.transport) == Submitted("14700", answer_lost=True)


async def test_lookup_waits_for_the_login_node_to_come_back() -> None:
    slurm = FakeSlurm(drop=["after"], lookups_fail=2)
    assert (await submit_to(slurm.transport)).job_id == "14710"
    assert slurm.submissions() == 1


async def test_login_node_gone_for_good_leaves_the_outcome_unknown_and_says_so() -> None:
    slurm = FakeSlurm(drop=["after"], lookups_fail=100)
    with pytest.raises(SubmissionUnknown, match="bsx-1"):
        await submit_to(slurm.transport)
    assert slurm.submissions() == 1


async def test_attempts_are_bounded() -> None:
    slurm = FakeSlurm(drop=["before", "before", "before"])
    with pytest.raises(SubmissionUnknown, match="after 2 attempts"):
        await submit_to(slurm.transport, attempts=2)
    assert slurm.submissions() == 2


async def test_a_rejection_is_not_looked_up() -> None:
    def answer(argv: list[str]) -> CommandResult:
        assert argv[0] == "sbatch", argv
        return CommandResult(1, "", "sbatch: error: invalid partition specified: nope\n")

    with pytest.raises(SubmitError, match="invalid partition"):
        await submit_to(RecordedTransport(answer))


async def test_connection_refused_before_sending_is_not_looked_up() -> None:
    def answer(argv: list[str]) -> CommandResult:
        raise ConnectFailed("Cannot connect to login:22 as 'alice': Connection refused")

    transport = RecordedTransport(answer)
    with pytest.raises(ConnectFailed):
        await submit_to(transport)
    assert [argv[0] for argv in transport.commands] == ["sbatch"]


async def test_a_scheduler_without_lookup_never_resends() -> None:
    def answer(argv: list[str]) -> CommandResult:
        raise TransportError("Connection to carol@login:22 lost: Connection lost")

    transport = RecordedTransport(answer)
    with pytest.raises(SubmissionUnknown, match=r"cannot be asked.*'jupyter-carol'"):
        await submit_to(transport, scheduler=PBSProScheduler(), job_name="jupyter-carol")
    assert len(transport.commands) == 1


async def test_find_returns_lowest_first() -> None:
    slurm = FakeSlurm()
    slurm.jobs = {"15000": "bsx-1", "9999": "bsx-1", "14000": "other"}
    found = await find(slurm.transport, SlurmScheduler(), "bsx-1", timeout=0, command_timeout=1)
    assert found == ["9999", "15000"]


# -- the spawner: a hub killed during a submission -----------------------------------


def restarted_spawner(slurm: FakeSlurm, identity: str) -> SlurmSpawner:
    """A spawner whose hub was killed after it saved the identity, before the job id."""
    spawner, _ = make_spawner(slurm.answer)
    spawner._transport = slurm.transport
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
    slurm.transport.answer = lambda argv: (
        CommandResult(0, "14720|PENDING|n/a|Priority|N/A\n")
        if argv[0] == "squeue" and "--me" not in argv
        else slurm.answer(argv)
    )
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
