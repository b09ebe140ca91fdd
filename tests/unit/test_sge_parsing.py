"""GridengineScheduler fed the output Son of Grid Engine 8.1.9 really printed.

Every XML document and message below was recorded on the test cluster
(ci/cluster/sge-up.sh) unless its test says otherwise; the state letters not
seen there come from sge_status(5) (shared/scheduler-formats.md).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from batchspawner_x.errors import ConfigError, SubmitError
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.schedulers.sge import (
    SGE_STATES,
    GridengineScheduler,
    check_complex_name,
    exit_code_from_qacct,
    format_sge_walltime,
    memory_requests,
    parse_qstat_xml,
    sge_state,
)
from batchspawner_x.states import JobState, JobStatus, StatusUnavailable
from batchspawner_x.units import optional_walltime_seconds


@pytest.fixture
def sge() -> GridengineScheduler:
    return GridengineScheduler()


def job(number: str, state: str, queue: str = "", list_state: str = "pending") -> str:
    """One <job_list> element as qstat -xml prints it."""
    time_tag = "JAT_start_time" if list_state == "running" else "JB_submission_time"
    return (
        f'    <job_list state="{list_state}">\n'
        f"      <JB_job_number>{number}</JB_job_number>\n"
        "      <JAT_prio>0.25000</JAT_prio>\n"
        "      <JB_name>jupyter-erin</JB_name>\n"
        "      <JB_owner>erin</JB_owner>\n"
        f"      <state>{state}</state>\n"
        f"      <{time_tag}>2026-11-25T20:53:06</{time_tag}>\n"
        f"      <queue_name>{queue}</queue_name>\n"
        "      <slots>1</slots>\n"
        "    </job_list>\n"
    )


def document(running: str = "", pending: str = "") -> str:
    return (
        "<?xml version='1.0'?>\n"
        '<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/'
        'schemas/qstat/qstat.xsd">\n'
        f"  <queue_info>\n{running}  </queue_info>\n"
        f"  <job_info>\n{pending}  </job_info>\n"
        "</job_info>\n"
    )


#: qstat -xml -s prsz -u '$user' with a queue-suspended queue (recorded).
RECORDED_SUSPENDED_QUEUE = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>6</JB_job_number>
      <JAT_prio>0.25097</JAT_prio>
      <JB_name>run1</JB_name>
      <JB_owner>erin</JB_owner>
      <state>S</state>
      <JAT_start_time>2026-11-25T20:53:06</JAT_start_time>
      <queue_name>all.q@localhost</queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="running">
      <JB_job_number>7</JB_job_number>
      <JAT_prio>0.25014</JAT_prio>
      <JB_name>susp</JB_name>
      <JB_owner>erin</JB_owner>
      <state>Ss</state>
      <JAT_start_time>2026-11-25T20:53:06</JAT_start_time>
      <queue_name>all.q@localhost</queue_name>
      <slots>1</slots>
    </job_list>
  </queue_info>
  <job_info>
    <job_list state="pending">
      <JB_job_number>10</JB_job_number>
      <JAT_prio>0.25014</JAT_prio>
      <JB_name>err</JB_name>
      <JB_owner>erin</JB_owner>
      <state>Eqw</state>
      <JB_submission_time>2026-11-25T20:53:05</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="pending">
      <JB_job_number>11</JB_job_number>
      <JAT_prio>0.25000</JAT_prio>
      <JB_name>resch</JB_name>
      <JB_owner>erin</JB_owner>
      <state>Rq</state>
      <JB_submission_time>2026-11-25T20:53:12</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="pending">
      <JB_job_number>8</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>held</JB_name>
      <JB_owner>erin</JB_owner>
      <state>hqw</state>
      <JB_submission_time>2026-11-25T20:53:05</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="pending">
      <JB_job_number>9</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>later</JB_name>
      <JB_owner>erin</JB_owner>
      <state>qw</state>
      <JB_submission_time>2026-11-25T20:53:05</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="zombie">
      <JB_job_number>1</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>bsx-sge-up-check</JB_name>
      <JB_owner>erin</JB_owner>
      <state>z</state>
      <JB_submission_time>2026-11-25T20:50:30</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
    </job_list>
  </job_info>
</job_info>
"""

#: A running job just deleted with qdel, and a suspended one (recorded).
RECORDED_DELETING = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>7</JB_job_number>
      <JAT_prio>0.25014</JAT_prio>
      <JB_name>susp</JB_name>
      <JB_owner>erin</JB_owner>
      <state>s</state>
      <JAT_start_time>2026-11-25T20:53:06</JAT_start_time>
      <queue_name>all.q@localhost</queue_name>
      <slots>1</slots>
    </job_list>
    <job_list state="running">
      <JB_job_number>13</JB_job_number>
      <JAT_prio>0.25000</JAT_prio>
      <JB_name>sleep</JB_name>
      <JB_owner>erin</JB_owner>
      <state>dr</state>
      <JAT_start_time>2026-11-25T20:53:34</JAT_start_time>
      <queue_name>all.q@localhost</queue_name>
      <slots>1</slots>
    </job_list>
  </queue_info>
  <job_info>
  </job_info>
</job_info>
"""

#: qstat -xml for a user without jobs (recorded as dave).
RECORDED_EMPTY = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
  </queue_info>
  <job_info>
  </job_info>
</job_info>
"""

#: Any client while sge_qmaster is down (recorded, stderr, exit 1).
COMMLIB_ERROR = (
    "error: commlib error: got select error (Connection refused)\n"
    'error: unable to send message to qmaster using port 6444 on host "localhost": got send error\n'
)


# ---------------------------------------------------------------------------
# qsub


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [
        ('Your job 1 ("t1") has been submitted\n', "1"),
        ('Your job 22 ("jupyter-erin+srv") has been submitted\n', "22"),
        ('Your job 4711 ("STDIN") has been submitted', "4711"),
        ('Your job-array 30.1-10:1 ("array") has been submitted\n', "30"),
        ("2\n", "2"),  # qsub -terse
        ("123.1-10:1\n", "123"),  # qsub -terse, an array
    ],
)
def test_parse_submit_job_id(sge: GridengineScheduler, stdout: str, job_id: str) -> None:
    assert sge.parse_submit(CommandResult(0, stdout, "")) == job_id


def test_submit_reads_the_script_on_stdin(sge: GridengineScheduler) -> None:
    assert sge.submit_argv() == ["qsub"]
    assert GridengineScheduler({"submit": "/opt/sge/bin/lx-amd64/qsub"}).submit_argv() == [
        "/opt/sge/bin/lx-amd64/qsub"
    ]


@pytest.mark.parametrize(
    ("returncode", "stderr", "message"),
    [
        (
            1,
            'Unable to run job: Job was rejected because job requests unknown queue "nosuch"\nExiting.\n',
            'Job was rejected because job requests unknown queue "nosuch"',
        ),
        (
            # the same with a period, as other Grid Engine versions print it
            1,
            'Unable to run job: Job was rejected because job requests unknown queue "x".\nExiting.\n',
            'Job was rejected because job requests unknown queue "x".',
        ),
        (2, 'qsub: invalid option argument "-bogus"\n', 'qsub: invalid option argument "-bogus"'),
        (
            # the same option as a "#$" line of the script
            2,
            'Unable to read script file because of error: invalid option argument "-bogus"\n',
            'Unable to read script file because of error: invalid option argument "-bogus"',
        ),
        (2, "qsub: unknown option -bogus\n", "qsub: unknown option -bogus"),  # other versions' wording
        (
            1,
            'Unable to run job: job rejected: the requested project "nosuchproj" does not exist\nExiting.\n',
            'job rejected: the requested project "nosuchproj" does not exist',
        ),
        (
            1,
            "Unable to run job: job rejected: the requested parallel environment "
            '"nosuchpe" does not exist\nExiting.\n',
            'job rejected: the requested parallel environment "nosuchpe" does not exist',
        ),
        (1, 'Unable to run job: unknown resource "nosuchres"\nExiting.\n', 'unknown resource "nosuchres"'),
        (
            1,
            'Unable to run job: attribute "h_rt" is not a time value\nExiting.\n',
            'attribute "h_rt" is not a time value',
        ),
        (1, "Unable to run job: error: no suitable queues\nExiting.\n", "error: no suitable queues"),
        (
            1,
            'Unable to run job: denied: "1abc" is not a valid object name (cannot start with a digit)\n'
            "Exiting.\n",
            'denied: "1abc" is not a valid object name (cannot start with a digit)',
        ),
        (
            1,
            "error: commlib error: got select error (Connection refused)\n"
            'Unable to run job: unable to send message to qmaster using port 6444 on host "localhost": '
            "got send error\nExiting.\n",
            "error: commlib error: got select error (Connection refused)\n"
            'unable to send message to qmaster using port 6444 on host "localhost": got send error',
        ),
    ],
)
def test_submit_errors_keep_grid_engines_words(
    sge: GridengineScheduler, returncode: int, stderr: str, message: str
) -> None:
    with pytest.raises(SubmitError) as info:
        sge.parse_submit(CommandResult(returncode, "", stderr))
    assert info.value.scheduler_message == message
    assert info.value.returncode == returncode


def test_submit_without_a_job_id_is_an_error(sge: GridengineScheduler) -> None:
    with pytest.raises(SubmitError, match="qsub printed no job id: something else"):
        sge.parse_submit(CommandResult(0, "something else\n", ""))
    with pytest.raises(SubmitError, match="qsub printed no job id"):
        sge.parse_submit(CommandResult(0, "", ""))


# ---------------------------------------------------------------------------
# qstat -xml: one command for every job


def test_status_is_one_qstat_for_all_jobs_of_the_user(sge: GridengineScheduler) -> None:
    # $user is qstat's own placeholder (qstat(1)), passed literally, not by a shell
    assert sge.status_argv(["6", "7", "12"]) == ["qstat", "-xml", "-r", "-s", "prsz", "-u", "$user"]


def test_a_status_identity_lists_every_users_jobs() -> None:
    # the account asking owns none of the jobs: "$user" would list none of them
    sge = GridengineScheduler(all_users=True)
    assert sge.status_argv(["6"]) == ["qstat", "-xml", "-r", "-s", "prsz", "-u", "*"]


STARTED = "2026-11-25T20:53:06"

# qstat -xml -r -s prsz -u erin, printed by Son of Grid Engine 8.1.9 on the test cluster (as
# erin, 2026-12-04): a job with h_rt=00:03:00 running, one with h_rt=1:00:00 held, and a
# zombie that asked for none.
RECORDED_WITH_REQUESTS = """<?xml version='1.0'?>
<job_info  xmlns:xsd="http://arc.liv.ac.uk/repos/darcs/sge/source/dist/util/resources/schemas/qstat/qstat.xsd">
  <queue_info>
    <job_list state="running">
      <JB_job_number>2196</JB_job_number>
      <JAT_prio>0.50000</JAT_prio>
      <JB_name>sleep</JB_name>
      <JB_owner>erin</JB_owner>
      <state>r</state>
      <JAT_start_time>2026-12-04T16:36:42</JAT_start_time>
      <queue_name>all.q@localhost</queue_name>
      <slots>1</slots>
      <full_job_name>sleep</full_job_name>
      <hard_request name="h_rt" resource_contribution="0.000000">180</hard_request>
      <binding>NONE</binding>
    </job_list>
  </queue_info>
  <job_info>
    <job_list state="pending">
      <JB_job_number>2197</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>sleep</JB_name>
      <JB_owner>erin</JB_owner>
      <state>hqw</state>
      <JB_submission_time>2026-12-04T16:36:41</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
      <full_job_name>sleep</full_job_name>
      <hard_request name="h_rt" resource_contribution="0.000000">3600</hard_request>
      <binding>NONE</binding>
    </job_list>
    <job_list state="zombie">
      <JB_job_number>2195</JB_job_number>
      <JAT_prio>0.00000</JAT_prio>
      <JB_name>bsx-sge-up-check</JB_name>
      <JB_owner>erin</JB_owner>
      <state>z</state>
      <JB_submission_time>2026-12-04T16:20:53</JB_submission_time>
      <queue_name></queue_name>
      <slots>1</slots>
      <full_job_name>bsx-sge-up-check</full_job_name>
      <binding>NONE</binding>
    </job_list>
  </job_info>
</job_info>
"""


def test_recorded_start_and_time_limit(sge: GridengineScheduler) -> None:
    found = sge.parse_status(["2195", "2196", "2197"], CommandResult(0, RECORDED_WITH_REQUESTS, ""))
    times = {jid: (s.start_time, s.time_limit_seconds) for jid, s in found.items()}
    assert times == {"2196": ("2026-12-04T16:36:42", 180), "2197": (None, 3600), "2195": (None, None)}
    assert found["2196"].host == "localhost" and found["2197"].state is JobState.HELD


def test_a_time_limit_written_as_a_clock_is_read_too(sge: GridengineScheduler) -> None:
    text = RECORDED_WITH_REQUESTS.replace(">180</hard_request>", ">0:03:00</hard_request>")
    assert sge.parse_status(["2196"], CommandResult(0, text, ""))["2196"].time_limit_seconds == 180


def test_recorded_suspended_queue_document(sge: GridengineScheduler) -> None:
    ids = ["6", "7", "10", "11", "8", "9", "1"]
    found = sge.parse_status(ids, CommandResult(0, RECORDED_SUSPENDED_QUEUE, ""))
    assert found == {
        "6": JobStatus("6", JobState.SUSPENDED, raw_state="S", host="localhost", start_time=STARTED),
        "7": JobStatus("7", JobState.SUSPENDED, raw_state="Ss", host="localhost", start_time=STARTED),
        "10": JobStatus("10", JobState.HELD, raw_state="Eqw", reason="error"),
        "11": JobStatus("11", JobState.PENDING, raw_state="Rq"),
        "8": JobStatus("8", JobState.HELD, raw_state="hqw", reason="hold"),
        "9": JobStatus("9", JobState.PENDING, raw_state="qw"),
        "1": JobStatus("1", JobState.FINISHED, raw_state="z"),
    }


def test_recorded_deleting_document(sge: GridengineScheduler) -> None:
    found = sge.parse_status(["7", "13"], CommandResult(0, RECORDED_DELETING, ""))
    assert found["13"] == JobStatus(
        "13", JobState.FINISHING, raw_state="dr", host="localhost", start_time="2026-11-25T20:53:34"
    )
    assert found["13"].alive
    assert found["7"] == JobStatus(
        "7", JobState.SUSPENDED, raw_state="s", host="localhost", start_time=STARTED
    )


def test_running_job_and_its_host(sge: GridengineScheduler) -> None:
    text = document(running=job("25", "r", "all.q@node017.cluster.example", "running"))
    (status,) = parse_qstat_xml(text)
    assert status == JobStatus(
        "25", JobState.RUNNING, raw_state="r", host="node017.cluster.example", start_time=STARTED
    )


def test_ids_not_listed_are_gone(sge: GridengineScheduler) -> None:
    found = sge.parse_status(["6", "99"], CommandResult(0, RECORDED_DELETING, ""))
    assert found["6"] == JobStatus("6", JobState.GONE, raw_state="not listed")
    assert found["99"].state is JobState.GONE
    assert not found["99"].alive


def test_no_jobs_at_all_means_every_asked_id_is_gone(sge: GridengineScheduler) -> None:
    found = sge.parse_status(["5"], CommandResult(0, RECORDED_EMPTY, ""))
    assert found == {"5": JobStatus("5", JobState.GONE, raw_state="not listed")}


def test_other_jobs_of_the_user_are_ignored(sge: GridengineScheduler) -> None:
    found = sge.parse_status(["9"], CommandResult(0, RECORDED_SUSPENDED_QUEUE, ""))
    assert list(found) == ["9"]


@pytest.mark.parametrize("code", sorted(SGE_STATES))
def test_every_listed_state_letter(code: str) -> None:
    expected = {
        "qw": JobState.PENDING,
        "Rq": JobState.PENDING,
        "hqw": JobState.HELD,
        "hRwq": JobState.HELD,
        "r": JobState.RUNNING,
        "t": JobState.RUNNING,
        "Rr": JobState.RUNNING,
        "Rt": JobState.RUNNING,
        "s": JobState.SUSPENDED,
        "ts": JobState.SUSPENDED,
        "S": JobState.SUSPENDED,
        "tS": JobState.SUSPENDED,
        "T": JobState.SUSPENDED,
        "tT": JobState.SUSPENDED,
        "Rs": JobState.SUSPENDED,
        "Rts": JobState.SUSPENDED,
        "RS": JobState.SUSPENDED,
        "RtS": JobState.SUSPENDED,
        "RT": JobState.SUSPENDED,
        "RtT": JobState.SUSPENDED,
        "Eqw": JobState.HELD,
        "Ehqw": JobState.HELD,
        "EhRqw": JobState.HELD,
        "dr": JobState.FINISHING,
        "dt": JobState.FINISHING,
        "dRr": JobState.FINISHING,
        "dRt": JobState.FINISHING,
        "ds": JobState.FINISHING,
        "dS": JobState.FINISHING,
        "dT": JobState.FINISHING,
        "dRs": JobState.FINISHING,
        "dRS": JobState.FINISHING,
        "dRT": JobState.FINISHING,
        "z": JobState.FINISHED,
    }[code]
    list_state = (
        "running" if expected in (JobState.RUNNING, JobState.SUSPENDED, JobState.FINISHING) else "pending"
    )
    queue = "all.q@localhost" if list_state == "running" else ""
    (status,) = parse_qstat_xml(document(pending=job("42", code, queue, list_state)))
    assert status.state is expected
    assert status.raw_state == code
    assert status.host == ("localhost" if list_state == "running" else None)


def test_state_table_covers_every_code_of_the_shared_formats() -> None:
    pending = ["qw", "Rq", "hqw", "hRwq"]
    running = ["r", "t", "Rr", "Rt"]
    suspended = ["s", "ts", "S", "tS", "T", "tT", "Rs", "Rts", "RS", "RtS", "RT", "RtT"]
    error = ["Eqw", "Ehqw", "EhRqw"]
    deleting = ["dr", "dt", "dRr", "dRt", "ds", "dS", "dT", "dRs", "dRS", "dRT"]
    listed = pending + running + suspended + error + deleting
    assert set(listed) <= set(SGE_STATES)


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("Ss", JobState.SUSPENDED),  # recorded: user- and queue-suspended at once
        ("hr", JobState.RUNNING),  # a running job with a hold on its later array tasks
        ("dqw", JobState.FINISHING),
        ("dEqw", JobState.FINISHING),
        ("Ehqw", JobState.HELD),
        ("hRq", JobState.HELD),
    ],
)
def test_combinations_follow_their_letters(code: str, state: JobState) -> None:
    assert sge_state(code) is state


@pytest.mark.parametrize("code", ["", "x", "Running", "qw?"])
def test_an_unknown_state_is_unknown_and_alive(code: str) -> None:
    (status,) = parse_qstat_xml(document(pending=job("42", code)))
    assert status.state is JobState.UNKNOWN
    assert status.alive


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("hqw", "hold"),
        ("hRwq", "hold"),
        ("Eqw", "error"),
        ("Ehqw", "error"),
        ("EhRqw", "error"),
        ("qw", None),
    ],
)
def test_held_and_error_states_carry_a_reason(code: str, reason: str | None) -> None:
    (status,) = parse_qstat_xml(document(pending=job("42", code)))
    assert status.reason == reason


def test_reasons_in_words(sge: GridengineScheduler) -> None:
    error = sge.describe_reason("error")
    assert "error state" in error and "administrator" in error and "qmod -cj" in error
    assert "qrls" in sge.describe_reason("hold")
    assert sge.describe_reason("something new") == "something new"


@pytest.mark.parametrize(
    ("stderr", "stdout"),
    [
        (COMMLIB_ERROR, ""),
        # as other versions word it
        ('error: unable to contact qmaster using port 6444 on host "localhost"\n', ""),
        ("", "critical error: some other failure\n"),
    ],
)
def test_failed_qstat_is_unavailable_never_a_death(
    sge: GridengineScheduler, stderr: str, stdout: str
) -> None:
    with pytest.raises(StatusUnavailable, match="qstat failed"):
        sge.parse_status(["6"], CommandResult(1, stdout, stderr))


@pytest.mark.parametrize(
    "stdout",
    [
        "",
        "job-ID  prior   name       user         state submit/start at\n",
        "<?xml version='1.0'?>\n<job_info><queue_info>",  # cut off
        "<?xml version='1.0'?>\n<something_else/>\n",
        document(pending="    <job_list><state>qw</state></job_list>\n"),  # no job number
    ],
)
def test_output_that_is_not_qstats_xml_is_unavailable(sge: GridengineScheduler, stdout: str) -> None:
    with pytest.raises(StatusUnavailable):
        sge.parse_status(["6"], CommandResult(0, stdout, ""))


@pytest.mark.parametrize(
    "text",
    [
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">]>\n<job_info>&lol;</job_info>\n',
        '<?xml version="1.0"?>\n<!DOCTYPE job_info SYSTEM "file:///etc/passwd">\n<job_info/>\n',
        '<?xml version="1.0"?>\n<job_info><!ENTITY x "y"></job_info>\n',
    ],
)
def test_dtds_and_entities_are_refused(sge: GridengineScheduler, text: str) -> None:
    with pytest.raises(StatusUnavailable, match="DTD or entity"):
        sge.parse_status(["6"], CommandResult(0, text, ""))


def test_following_jobs_do_not_exist_means_gone(sge: GridengineScheduler) -> None:
    # qstat -j prints this (recorded, exit 1) for unknown ids
    result = CommandResult(1, "", "Following jobs do not exist: \n999\n")
    assert sge.parse_status(["999"], result) == {
        "999": JobStatus("999", JobState.GONE, raw_state="unknown to qstat")
    }
    result = CommandResult(1, "", "Following jobs do not exist: \n998, 999\n")
    assert {s.state for s in sge.parse_status(["998", "999"], result).values()} == {JobState.GONE}
    # an id it does not name may still be alive: no answer for it
    with pytest.raises(StatusUnavailable):
        sge.parse_status(["999", "6"], CommandResult(1, "", "Following jobs do not exist: \n999\n"))


# ---------------------------------------------------------------------------
# qdel


def test_cancel_argv(sge: GridengineScheduler) -> None:
    assert sge.cancel_argv("12") == ["qdel", "12"]


@pytest.mark.parametrize(
    "result",
    [
        CommandResult(0, "erin has registered the job 2 for deletion\n", ""),
        CommandResult(0, "erin has deleted job 8\n", ""),  # a pending job
        CommandResult(0, "job 2 is already in deletion\n", ""),
        CommandResult(1, 'denied: job "999" does not exist\n', ""),  # unknown or finished: harmless
    ],
)
def test_cancel_outcomes_that_are_fine(sge: GridengineScheduler, result: CommandResult) -> None:
    assert sge.cancel_failed(result) is None


def test_cancel_failure_keeps_grid_engines_words(sge: GridengineScheduler) -> None:
    assert sge.cancel_failed(CommandResult(1, "", COMMLIB_ERROR)) == COMMLIB_ERROR.strip()


# ---------------------------------------------------------------------------
# qacct -j

QACCT_OK = """==============================================================
qname        all.q               
hostname     localhost           
group        erin                
owner        erin                
project      NONE                
department   defaultdepartment   
jobname      t1                  
jobnumber    1                   
taskid       undefined
account      sge                 
priority     0                   
qsub_time    Wed Nov 25 20:44:57 2026
start_time   Wed Nov 25 20:44:58 2026
end_time     Wed Nov 25 20:45:18 2026
granted_pe   NONE                
slots        1                   
failed       0    
exit_status  0                   
ru_wallclock 20s
cpu          0.016s
maxvmem      4.938MB
arid         undefined
ar_sub_time  undefined
category     NONE
"""  # noqa: W291 (qacct pads its values with blanks)


def qacct(failed: str, exit_status: str) -> str:
    return QACCT_OK.replace("failed       0    ", f"failed       {failed}").replace(
        "exit_status  0                   ", f"exit_status  {exit_status}"
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (QACCT_OK, 0),
        (qacct("0    ", "3                   "), 3),  # exit 3
        (qacct("100 : assumedly after job", "137                  (Killed)"), 137),  # qdel
        (qacct("26  : opening input/output file", "0                   "), 1),  # never ran
        (qacct("0    ", "0") + qacct("0    ", "5"), 5),  # rescheduled: the last record counts
        ("", None),
        ("error: job id 3 not found\n", None),
    ],
)
def test_exit_code_from_qacct(text: str, code: int | None) -> None:
    assert exit_code_from_qacct(text) == code


def test_exit_code_argv(sge: GridengineScheduler) -> None:
    assert sge.exit_code_argv("21") == ["qacct", "-j", "21"]
    assert sge.parse_exit_code(qacct("0    ", "3")) == 3


# ---------------------------------------------------------------------------
# values for the job script


@pytest.mark.parametrize(
    ("walltime", "expected"),
    [
        ("08:00:00", "08:00:00"),
        ("1-12:00:00", "36:00:00"),
        ("2-00:30:15", "48:30:15"),
        ("90", "01:30:00"),  # minutes
        ("90:30", "01:30:30"),  # minutes:seconds
        ("1-6", "30:00:00"),  # days-hours
        ("0-1:30", "01:30:00"),  # days-hours:minutes
        ("100:00:00", "100:00:00"),
        ("", ""),
    ],
)
def test_walltime_becomes_h_rt(walltime: str, expected: str) -> None:
    assert format_sge_walltime(optional_walltime_seconds("walltime", walltime)) == expected


@pytest.mark.parametrize(
    ("memory_mb", "resources", "slots", "per_slot", "expected"),
    [
        (4096, ["h_vmem"], 1, True, ["h_vmem=4096M"]),
        (4096, ["h_vmem"], 2, True, ["h_vmem=2048M"]),
        (1000, ["h_vmem"], 3, True, ["h_vmem=334M"]),  # rounded up
        (4096, ["h_vmem", "mem_free"], 4, False, ["h_vmem=4096M", "mem_free=4096M"]),
        (4096, [], 2, True, []),
        (None, ["h_vmem"], 2, True, []),
    ],
)
def test_memory_requests(
    memory_mb: int | None, resources: list[str], slots: int, per_slot: bool, expected: list[str]
) -> None:
    assert memory_requests(memory_mb, resources, slots, per_slot) == expected


@pytest.mark.parametrize("name", ["h_vmem", "mem_free", "gpu", "smp", "m_mem_free", "shm.2", ""])
def test_complex_names_accepted(name: str) -> None:
    assert check_complex_name("memory_resources", name) == name


@pytest.mark.parametrize("name", ["h_vmem=1G", "a,b", "with space", "q@host", "2x", "x\n#$ -l y"])
def test_complex_names_refused(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_complex_name("memory_resources", name)
    assert info.value.field == "memory_resources"


# -- finding a submission by its identity (qsub -ac, then qstat -j) ---------------------

IDENTITY = "bsx-0123456789abcdef"


def qstat_j_block(number: str, context: str) -> str:
    """One job of ``qstat -j``, as Son of Grid Engine 8.1.9 printed it for a held job
    submitted with ``qsub -h -ac ...`` (the times and ids of the recording)."""
    return (
        "==============================================================\n"
        f"job_number:                 {number}\n"
        f"exec_file:                  job_scripts/{number}\n"
        "submission_time:            Thu Dec  3 23:39:35 2026\n"
        "owner:                      frank\n"
        "uid:                        1006\n"
        "group:                      frank\n"
        "gid:                        1006\n"
        "sge_o_home:                 /home/frank\n"
        "sge_o_log_name:             frank\n"
        "sge_o_path:                 /usr/local/bin:/usr/bin:/bin:/usr/games\n"
        "sge_o_shell:                /bin/bash\n"
        "sge_o_workdir:              /home/frank\n"
        "sge_o_host:                 localhost\n"
        "account:                    sge\n"
        "merge:                      y\n"
        "mail_list:                  frank@localhost\n"
        "notify:                     FALSE\n"
        "job_name:                   STDIN\n"
        "stdout_path_list:           NONE:NONE:/dev/null\n"
        "jobshare:                   0\n"
        "env_list:                   TERM=NONE\n"
        "script_file:                STDIN\n"
        f"context:                    {context}\n"
        "binding:                    NONE\n"
        "job_type:                   NONE\n"
        "scheduling info:            Job is in hold state\n"
    )


def test_submit_puts_the_identity_in_the_job_context(sge: GridengineScheduler) -> None:
    assert sge.submit_argv(IDENTITY) == ["qsub", "-ac", f"bsx_submission={IDENTITY}"]
    assert sge.identity_field is not None


def test_lookup_lists_the_users_own_jobs_then_their_details(sge: GridengineScheduler) -> None:
    argv = sge.lookup_argv(IDENTITY)
    assert argv is not None
    assert argv[:2] == ["/bin/sh", "-c"] and argv[3:] == ["batchspawner-x-lookup", "qstat"]
    script = argv[2]
    assert "-u '$user' -s prs" in script  # own jobs only, qstat expands $user
    assert IDENTITY not in " ".join(argv)  # the script lists; the parser picks


def test_lookup_finds_every_job_of_the_identity_lowest_first(sge: GridengineScheduler) -> None:
    text = (
        "Welcome to the login node\n"  # a login shell's greeting
        + qstat_j_block("11", f"bsx_submission={IDENTITY}")
        + qstat_j_block("9", f"site=x,other=y,bsx_submission={IDENTITY}")  # recorded: -ac beside #$ -ac
        + qstat_j_block("12", "bsx_submission=bsx-fedcba9876543210")  # another spawn's job
        + qstat_j_block("13", "NONE")
    )
    assert sge.parse_lookup(IDENTITY, CommandResult(0, text, "")) == ["9", "11"]


def test_lookup_of_a_user_without_jobs_finds_none(sge: GridengineScheduler) -> None:
    assert sge.parse_lookup(IDENTITY, CommandResult(0, "", "")) == []
    assert sge.parse_lookup(IDENTITY, CommandResult(0, qstat_j_block("5", "NONE"), "")) == []
    # the jobs listed ended before qstat -j asked about them (recorded for 998,999)
    gone = CommandResult(1, "", "Following jobs do not exist: \n998, 999\n")
    assert sge.parse_lookup(IDENTITY, gone) == []


@pytest.mark.parametrize(
    "result",
    [
        CommandResult(1, "", COMMLIB_ERROR),
        CommandResult(2, "", 'error: no option argument provided to "-u"'),
        CommandResult(255, "", "ssh: connect to host login port 22: Connection refused"),
    ],
)
def test_a_failed_lookup_is_unavailable_never_no_job(sge: GridengineScheduler, result: CommandResult) -> None:
    with pytest.raises(StatusUnavailable):
        sge.parse_lookup(IDENTITY, result)


QSTAT_LISTING = (  # qstat -u '$user' -s prs, recorded
    "job-ID  prior   name       user         state submit/start at     queue                          "
    "slots ja-task-ID \n"
    "-----------------------------------------------------------------------------------------------------"
    "------------\n"
    "     10 0.00000 STDIN      frank        hqw   12/03/2026 23:39:35                      "
    "              1        \n"
    "     11 0.00000 STDIN      frank        r     12/03/2026 23:39:36 all.q@localhost      "
    "              1        \n"
)


def run_lookup_script(tmp_path: Path, listing: str, listing_rc: int = 0) -> subprocess.CompletedProcess[str]:
    """LOOKUP_SCRIPT run for real by sh, with a qstat that prints ``listing`` for ``-u`` and
    its own arguments for ``-j``."""
    (tmp_path / "listing").write_text(listing)
    fake = tmp_path / "qstat"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = -u ]; then cat {tmp_path}/listing; echo "args: $*" >&2; exit {listing_rc}; fi\n'
        'echo "details of: $*"\n'
    )
    fake.chmod(0o755)
    argv = GridengineScheduler({"status": str(fake)}).lookup_argv(IDENTITY)
    assert argv is not None
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_lookup_script_asks_qstat_j_about_the_listed_jobs_only(tmp_path: Path) -> None:
    out = run_lookup_script(tmp_path, QSTAT_LISTING)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "details of: -j 10,11\n"
    assert out.stderr == "args: -u $user -s prs\n"


def test_lookup_script_without_jobs_asks_nothing_more(tmp_path: Path) -> None:
    out = run_lookup_script(tmp_path, "")
    assert (out.returncode, out.stdout) == (0, "")


def test_lookup_script_passes_a_failed_listing_on(tmp_path: Path) -> None:
    out = run_lookup_script(tmp_path, "", listing_rc=1)
    assert out.returncode == 1
    assert "details" not in out.stdout
