"""batchspawner-x render and check, without a cluster.

The hub's configuration is a real file loaded by JupyterHub's application;
the checks that need the cluster run against a transport that answers as a
login node would (the real login node is in tests/integration/test_cli.py).
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from batchspawner_x import checks, cli, compat
from batchspawner_x.errors import KeyFileError, TransportError
from batchspawner_x.schedulers.base import CommandResult

from .fakes import Answer, FakeTransport
from .node_stand_in import without_node_side
from .test_slurm_lists import RESERVATIONS

BASE = """
c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.JupyterHub.hub_connect_url = "http://hub.cluster.example.edu:8081"
c.SlurmSpawner.ssh_host = "login.cluster.example.edu"
c.SlurmSpawner.partition = "interactive"
c.SlurmSpawner.walltime = "04:00:00"
c.Spawner.mem_limit = "4G"
c.Spawner.cpu_limit = 2
c.Spawner.cmd = ["/opt/jupyter/bin/jupyterhub-singleuser"]
c.BatchSpawnerBase.node_command = ["/opt/jupyter/bin/batchspawner-x-singleuser"]
"""


def write_config(tmp_path: Path, extra: str = "", base: str = BASE) -> str:
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(base + textwrap.dedent(extra))
    return str(path)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_render_prints_the_script_and_the_submit_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["render", "--config", write_config(tmp_path), "--user", "alice"], capsys)
    assert code == 0
    assert out == (
        "==> job script: SlurmSpawner, template slurm.sh.j2, home /home/alice <==\n"
        "#!/bin/bash\n"
        "#SBATCH --job-name=jupyter-alice\n"
        "#SBATCH --output=/home/alice/.batchspawner_x/alice/job-%j.out\n"
        "#SBATCH --chdir=/home/alice\n"
        "#SBATCH --nodes=1\n"
        "#SBATCH --ntasks=1\n"
        "#SBATCH --partition=interactive\n"
        "#SBATCH --time=04:00:00\n"
        "#SBATCH --signal=B:USR1@900\n"
        "#SBATCH --mem=4096M\n"
        "#SBATCH --cpus-per-task=2\n"
        "\n"
        "set -eu\n"
        "# The scheduler's early signal (USR1) may come any time, even before the node side,\n"
        "# which turns it into a warning, has started: until then it is ignored, not fatal.\n"
        "trap '' USR1\n"
        "exec /opt/jupyter/bin/batchspawner-x-singleuser"
        " --env-file /home/alice/.batchspawner_x/alice/env.json"
        " -- /opt/jupyter/bin/jupyterhub-singleuser\n"
        "==> submit command, run over SSH as alice@login.cluster.example.edu:22 with the job script on its "
        "standard input <==\n"
        "sbatch --parsable\n"
    )


def test_render_uses_the_given_home_server_and_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        """
        c.Spawner.apply_user_options = {"partition": "partition"}
        c.SlurmSpawner.ssh_username = "{username}-hpc"
        """,
    )
    argv = ["render", "-f", config, "-u", "alice", "--server", "gpu", "--home", "/u/alice"]
    argv += ["--options", '{"partition": "gpu"}', "--script-only"]
    code, out, _ = run(argv, capsys)
    assert code == 0
    assert out.startswith("#!/bin/bash\n#SBATCH --job-name=jupyter-alice+gpu\n")
    assert "#SBATCH --output=/u/alice/.batchspawner_x/alice+gpu/job-%j.out\n" in out
    assert "#SBATCH --partition=gpu\n" in out
    assert "==>" not in out


def test_render_of_a_local_connection_shows_the_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        """
        c.SlurmSpawner.connection = "local"
        c.SlurmSpawner.scheduler_commands = {"submit": "/opt/slurm/bin/sbatch"}
        """,
    )
    code, out, _ = run(["render", "--config", config, "--user", "bob"], capsys)
    assert code == 0
    assert out.endswith(
        "==> submit command, run on this host as bob with the job script on its standard input <==\n"
        "sudo -n -u bob -- /opt/slurm/bin/sbatch --parsable\n"
    )


def test_render_of_a_predecessor_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    compat._WARNED.clear()
    config = write_config(
        tmp_path,
        '''
        c.BatchSpawnerBase.req_partition = "gpu"
        c.SlurmSpawner.req_memory = "8G"
        c.SlurmSpawner.batch_script = """#!/bin/bash
        #SBATCH --partition={{partition}}
        #SBATCH --mem={{memory}}
        {{cmd}}
        """
        ''',
        base='c.JupyterHub.spawner_class = "slurm"\n',
    )
    code, out, _ = run(["render", "--config", config, "--user", "alice", "--script-only"], capsys)
    assert code == 0
    assert without_node_side(out) == (
        "#!/bin/bash\n#SBATCH --partition=gpu\n#SBATCH --mem=8192M\n"
        "/bin/sh /home/alice/.batchspawner_x/alice/node/start.sh"
        " --env-file /home/alice/.batchspawner_x/alice/env.json -- jupyterhub-singleuser"
    )
    assert "SlurmSpawner.req_partition is deprecated (a batchspawner setting): use partition." in caplog.text


SSH_PREFIX = """
c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.SlurmSpawner.exec_prefix = "ssh -i /keys/{username}.key -l {username} {host}"
c.SlurmSpawner.req_host = "login.cluster.edu"
"""


def test_render_of_an_ssh_exec_prefix_uses_the_built_in_ssh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    compat._WARNED.clear()
    code, out, _ = run(["render", "--config", write_config(tmp_path, base=SSH_PREFIX), "-u", "alice"], capsys)
    assert code == 0
    assert "==> submit command, run over SSH as alice@login.cluster.edu:22 with the job script" in out
    assert out.endswith("\nsbatch --parsable\n")
    assert "c.SlurmSpawner.ssh_keys = ['/keys/{username}.key']" in caplog.text


@pytest.mark.parametrize("command", ["render", "check"])
def test_an_untranslatable_exec_prefix_is_refused_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    base = SSH_PREFIX.replace("-i /keys", "-o ProxyCommand=/bin/nc -i /keys")
    code, out, err = run([command, "--config", write_config(tmp_path, base=base), "-u", "alice"], capsys)
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    assert err.startswith(f"batchspawner-x {command}: cannot build SlurmSpawner: SlurmSpawner.exec_prefix: ")
    assert "c.SlurmSpawner.ssh_host = 'login.cluster.edu'" in err
    assert err.rstrip().endswith("c.SlurmSpawner.ssh_keys = ['/keys/{username}.key']")


def test_render_reports_a_bad_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, 'c.SlurmSpawner.account = "a b"\n')
    code, out, err = run(["render", "--config", config, "--user", "alice"], capsys)
    assert code == 1
    assert out == ""
    assert err.strip().endswith(
        "batchspawner-x render: account: 'a b' is not a valid name (letters, digits and _ . , + : = @ -)"
    )


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ('c.JupyterHub.spawner_class = "simple"\n', "not a batchspawner_x spawner"),
        ("raise RuntimeError('broken config')\n", "cannot load"),
    ],
)
def test_a_config_that_cannot_be_used_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, says: str
) -> None:
    code, _, err = run(["render", "--config", write_config(tmp_path, extra), "--user", "alice"], capsys)
    assert code == 2
    assert says in err


def test_a_missing_config_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["check", "--config", str(tmp_path / "nope.py"), "--user", "alice"], capsys)
    assert code == 2
    assert "nope.py: no such file" in err


def test_options_must_be_a_json_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["render", "--config", write_config(tmp_path), "--user", "alice", "--options", "[1]"])
    assert info.value.code == 2
    assert "--options must be a JSON object" in capsys.readouterr().err


PROFILE = """
c.SlurmSpawner.profiles = [
    {"name": "small", "partition": "debug", "cpus": 1, "memory": "2G", "walltime": "02:00:00",
     "fields": {"cpus": {"max": 4}, "partition": {"choices": "cluster"}}},
]
"""


def test_render_applies_a_profile_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, PROFILE)
    argv = ["render", "--config", config, "--user", "alice", "--script-only"]
    code, out, _ = run([*argv, "--options", '{"profile": "small", "cpus": "3"}'], capsys)
    assert code == 0
    assert (
        "#SBATCH --partition=debug\n#SBATCH --time=02:00:00\n#SBATCH --signal=B:USR1@900\n"
        "#SBATCH --mem=2048M\n"
    ) in out
    assert "#SBATCH --cpus-per-task=3\n" in out
    code, out, err = run([*argv, "--options", '{"profile": "small", "cpus": "5"}'], capsys)
    assert code != 0 and out == ""
    assert "the hub would refuse these options with HTTP 400: Invalid choice for cpus: 5 is above" in err


# -- check, against a login node that answers from a script ------------------------------


class LoginNode(FakeTransport):
    """A login node answering from a script, whose home may be read-only; records each
    file written."""

    def __init__(self, answer: Answer, *, writable: bool = True) -> None:
        super().__init__(answer, key=("fake", "login"))
        self.writable = writable
        self.written: list[str] = []

    async def write_file(self, path: str, data: bytes) -> None:
        if not self.writable:
            raise TransportError(f"Cannot write {path} as alice: Permission denied")
        await super().write_file(path, data)
        self.written.append(path)


def login_node(*, missing: tuple[str, ...] = (), hub: CommandResult | None = None) -> Answer:
    def answer(argv: list[str]) -> CommandResult:
        if argv == ["/bin/sh", "-c", "true"]:
            return CommandResult(0)
        if argv[0] == "sinfo":  # recorded on the test cluster
            return CommandResult(
                0, "debug|1:00:00|64|20000|(null)|up\ninteractive|infinite|64|20000|(null)|up\n"
            )
        if argv[:2] == ["/bin/sh", "-c"] and argv[2] == checks._FIND_COMMANDS:
            lines = [f"missing {c}" if c in missing else f"found {c} /usr/bin/{c}" for c in argv[4:]]
            return CommandResult(0, "".join(line + "\n" for line in lines))
        if argv[:2] == ["/bin/sh", "-c"] and argv[2] == checks._HUB_PROBE:
            assert argv[4:] == [
                "hub.cluster.example.edu",
                "8081",
                "3",
                "http://hub.cluster.example.edu:8081/hub/api",
            ]
            return hub or CommandResult(0)
        raise AssertionError(f"unexpected command {shlex.join(argv)}")

    return answer


async def checker(tmp_path: Path, node: LoginNode, extra: str = "") -> cli.Checker:
    config = write_config(tmp_path, 'c.SlurmSpawner.connection = "local"\n' + extra)
    spawner = await cli.make_spawner(cli.load_hub(config), "alice")
    spawner._transport = node
    return cli.Checker(spawner, "alice", timeout=3)


async def test_every_check_passes_on_a_good_setup(tmp_path: Path) -> None:
    node = LoginNode(login_node())
    results = await (await checker(tmp_path, node)).run_all()
    assert [r.line() for r in results] == [
        "OK   login node reachable: connection = 'local': commands run here behind sudo -n -u alice --",
        "OK   host key known: not used (connection = 'local')",
        "OK   authentication: ran a command as alice",
        "OK   scheduler commands: submit=/usr/bin/sbatch, status=/usr/bin/squeue, cancel=/usr/bin/scancel, "
        "info=/usr/bin/scontrol, partitions=/usr/bin/sinfo",
        "OK   scheduler answers: partitions debug (64 CPUs, 20000M, 01:00:00), interactive (64 CPUs, 20000M)",
        "OK   template renders: slurm.sh.j2 gives a 17-line script (home /home/alice)",
        "OK   job directory writable: wrote and removed a probe file in "
        "/home/alice/.batchspawner_x/alice/certs",
        "OK   hub reachable from the cluster: this host as the user connects to "
        "hub.cluster.example.edu:8081, "
        "the address jobs call back (http://hub.cluster.example.edu:8081/hub/api)",
    ]
    assert len(node.written) == 1 and node.files == {}


async def test_a_missing_scheduler_command_fails_with_a_fix(tmp_path: Path) -> None:
    node = LoginNode(login_node(missing=("squeue",)))
    result = await (await checker(tmp_path, node)).scheduler_commands()
    assert result.ok is None  # not logged in yet
    check = await checker(tmp_path, node)
    check.logged_in = True
    assert (await check.scheduler_commands()).line() == (
        "FAIL scheduler commands: not found by `command -v` as alice: squeue (status) -- fix: install the "
        "Slurm client commands on the login node (on the PATH of a non-interactive shell), or name them: "
        'c.SlurmSpawner.scheduler_commands = {"status": "/full/path/to/squeue"}'
    )


async def test_a_refused_hub_connection_says_nothing_listens(tmp_path: Path) -> None:
    refused = CommandResult(1, "", "[Errno 111] Connection refused\n")
    check = await checker(tmp_path, LoginNode(login_node(hub=refused)))
    check.logged_in = True
    result = await check.hub_reachable()
    assert result.ok is False
    assert result.detail == (
        "this host as the user cannot connect to hub.cluster.example.edu:8081 "
        "(http://hub.cluster.example.edu:8081/hub/api): [Errno 111] Connection refused"
    )
    assert result.fix.startswith("nothing listens at hub.cluster.example.edu:8081 as seen from this host")
    assert "c.JupyterHub.hub_connect_url" in result.fix


async def test_a_loopback_hub_address_fails_for_a_remote_login_node(tmp_path: Path) -> None:
    check = await checker(
        tmp_path,
        LoginNode(login_node()),
        'c.SlurmSpawner.connection = "ssh"\nc.JupyterHub.hub_connect_url = "http://127.0.0.1:8081"\n',
    )
    check.logged_in = True
    result = await check.hub_reachable()
    assert result.ok is False
    assert "a loopback address of the compute node" in result.detail


async def test_an_unwritable_job_directory_fails(tmp_path: Path) -> None:
    check = await checker(tmp_path, LoginNode(login_node(), writable=False))
    check.logged_in = True
    result = await check.job_directory()
    assert result.ok is False
    assert result.detail.startswith("cannot write /home/alice/.batchspawner_x/alice/certs/.check-")
    assert "job_dir" in result.fix


async def test_a_template_error_fails_with_the_message(tmp_path: Path) -> None:
    check = await checker(tmp_path, LoginNode(login_node()), 'c.SlurmSpawner.template = "site.sh.j2"\n')
    result = await check.template()
    assert result.ok is False
    assert result.detail.startswith("site.sh.j2: job script template 'site.sh.j2' not found")
    assert "batchspawner-x render --user alice" in result.fix


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (
            KeyFileError("Cannot read SSH key /keys/alice: No such file", path="/keys/alice"),
            "make the key file",
        ),
        (TransportError("Cannot read SSH key /keys/alice: said sudo"), "let the hub's account run commands"),
    ],
)
async def test_an_unreadable_key_is_told_by_its_type_not_its_words(
    tmp_path: Path, error: TransportError, fix: str
) -> None:
    def refuse(argv: list[str]) -> CommandResult:
        raise error

    result = await (await checker(tmp_path, LoginNode(refuse))).authentication()
    assert (result.ok, result.detail) == (False, str(error))
    assert result.fix.startswith(fix)


def test_check_exits_1_when_a_check_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # nothing listens on port 1 of this host: the first check fails, the ones that need it are skipped
    config = write_config(
        tmp_path,
        """
        c.SlurmSpawner.ssh_host = "127.0.0.1"
        c.SlurmSpawner.ssh_port = 1
        """,
    )
    code, out, _ = run(["check", "--config", config, "--user", "alice", "--timeout", "2"], capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("FAIL login node reachable: cannot open a TCP connection to 127.0.0.1:1")
    assert "-- fix: check ssh_host and ssh_port" in lines[0]
    assert lines[1] == "SKIP host key known: needs a reachable login node"
    assert lines[2] == "SKIP authentication: needs a reachable login node with a known host key"
    assert lines[4] == "SKIP scheduler answers: needs a working login"
    assert lines[5].startswith("OK   template renders: slurm.sh.j2")
    assert len(lines) == 8


def test_the_console_script_is_declared() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["batchspawner-x"] == "batchspawner_x.cli:main"


@pytest.mark.parametrize(
    ("message", "failure"),
    [
        ("[Errno 111] Connection refused", "refused"),
        ("curl: (7) Failed to connect to hub port 8081 after 0 ms: Connection refused", "refused"),
        ("timed out", "timeout"),
        ("curl: (28) Connection timed out after 3001 milliseconds", "timeout"),
        ("[Errno 113] No route to host", None),
    ],
)
def test_the_hub_probe_failure_is_read_from_python3_and_curl(message: str, failure: str | None) -> None:
    assert checks.probe_failure(message) == failure


TWO_CLUSTERS = """
c.BatchSpawnerBase.clusters = {
    "flagship": {"display_name": "Flagship"},
    "legacy": {"display_name": "Legacy", "scheduler": "gridengine", "ssh_host": "sge.example.edu",
               "partition": "all.q", "parallel_environment": "threads"},
}
c.BatchSpawnerBase.profiles = [
    {"name": "small", "cpus": 1, "memory": "2G"},
    {"name": "chem", "cluster": "legacy", "cpus": 4, "memory": "8G"},
]
"""


@pytest.mark.parametrize(
    ("args", "header", "directive"),
    [
        ([], "SlurmSpawner, cluster flagship", "#SBATCH --partition=interactive"),
        (["--cluster", "legacy"], "SlurmSpawner, cluster legacy", "#$ -pe threads 4"),
        (["--profile", "chem"], "SlurmSpawner, cluster legacy", "#$ -q all.q"),
    ],
)
def test_render_takes_a_cluster_and_a_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], header: str, directive: str
) -> None:
    config = write_config(tmp_path, TWO_CLUSTERS)
    code, out, err = run(["render", "--config", config, "--user", "alice", *args], capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"==> job script: {header}, template ")
    assert directive in out.splitlines()
    if "legacy" in header:
        assert "run over SSH as alice@sge.example.edu:22" in out and out.rstrip().endswith("qsub")


def test_render_refuses_a_cluster_the_hub_does_not_have(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, TWO_CLUSTERS)
    code, _, err = run(["render", "--config", config, "--user", "alice", "--cluster", "gpu"], capsys)
    assert code == 2
    assert "Invalid choice for cluster: 'gpu' is not a cluster you can use (flagship, legacy)" in err


async def test_check_reports_each_login_node(tmp_path: Path) -> None:
    async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2p1 stand-in\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(banner, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        config = write_config(tmp_path, f'c.SlurmSpawner.login_hosts = ["127.0.0.1:1", "127.0.0.1:{port}"]\n')
        spawner = await cli.make_spawner(cli.load_hub(config), "alice")
        check = cli.Checker(spawner, "alice", timeout=3)
        down, up = await check.reachability()
    finally:
        server.close()
    assert down.ok is False and "127.0.0.1:1" in down.detail
    assert (
        up.line() == f"OK   login node reachable: 127.0.0.1:{port} answers (SSH-2.0-OpenSSH_9.2p1 stand-in)"
    )
    # the later checks go on through the node that answers
    assert check.reachable and check.reachable_hosts == [("127.0.0.1", port)]


def test_a_refused_option_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    # as an admin runs it: JupyterHub's own log of the refusal would print a traceback
    config = write_config(tmp_path, 'c.BatchSpawnerBase.clusters = {"a": {}}\n')
    argv = ["render", "--config", config, "--user", "alice", "--cluster", "nope"]
    done = subprocess.run(
        [sys.executable, "-m", "batchspawner_x.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "batchspawner-x render: the hub would refuse these options with HTTP 400: "
        "Invalid choice for cluster: 'nope' is not a cluster you can use (a)"
    ]


async def test_check_reads_the_lists_profiles_offer_from_the_cluster(tmp_path: Path) -> None:
    base = login_node()

    def answer(argv: list[str]) -> CommandResult:
        if argv[:4] == ["scontrol", "--oneliner", "show", "reservation"]:
            return CommandResult(0, RESERVATIONS)
        if argv[0] == "sacctmgr":
            return CommandResult(1, "", "sacctmgr: error: Slurm accounting storage is disabled\n")
        return base(argv)

    profiles = (
        'c.SlurmSpawner.profiles = [{"name": "lab", "fields": {'
        '"reservation": {"choices": "cluster", "optional": True}, "account": {"choices": "cluster"}}}]\n'
    )
    check = await checker(tmp_path, LoginNode(answer), profiles)
    check.logged_in = True
    lines = [r.line() for r in await check.profile_lists()]
    assert lines == [
        "FAIL profile lists: sacctmgr --noheader --parsable2 show associations user=alice format=account,qos "
        "failed: sacctmgr failed: sacctmgr: error: Slurm accounting storage is disabled -- fix: run it as "
        "alice on the login node; the form then offers only the site's choices",
        "OK   profile lists: reservations for alice: intro-class, all-but-dave",
    ]
    # without such a profile: no line, no command
    assert await (await checker(tmp_path, LoginNode(answer))).profile_lists() == []


def test_render_shows_a_chosen_environment_and_refuses_a_hostile_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(
        tmp_path,
        """
c.SlurmSpawner.environments = {
    "py311": {"display_name": "Python 3.11", "setup": "module load python/3.11"},
    "box": {"display_name": "Container", "wrap": ["apptainer", "exec", "/opt/images/j.sif"]},
}
c.SlurmSpawner.profiles = [{"name": "lab", "environments": ["py311", "box"], "reservation": "class"}]
""",
    )
    base = ["render", "--config", config, "--user", "alice", "--profile", "lab"]
    code, out, err = run([*base, "--options", '{"environment": "box"}'], capsys)
    assert code == 0, err
    assert "#SBATCH --reservation=class" in out.splitlines()
    assert "exec apptainer exec /opt/images/j.sif " in out
    code, out, err = run(base, capsys)
    assert "module load python/3.11" in out.splitlines()
    code, _, err = run([*base, "--options", '{"environment": "box; reboot"}'], capsys)
    assert code == 2
    assert "Invalid choice for environment: 'box; reboot' is not one of py311, box" in err
