"""SlurmSpawner with environments and per-profile scheduling: the form, user_options, the
job script, the cluster-read lists (cached per cluster account), and hostile values."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tornado import web
from traitlets.config import Config

from batchspawner_x import SlurmSpawner
from batchspawner_x.schedulers.base import CommandResult
from batchspawner_x.settings import InvalidSetting

from .fakes import FakeTransport, make_spawner, new_spawner
from .test_slurm_lists import RESERVATIONS

ENVIRONMENTS: dict[str, Any] = {
    "py311": {"display_name": "Python 3.11", "setup": "module load python/3.11"},
    "torch": {
        "display_name": "PyTorch (container)",
        "wrap": ["apptainer", "exec", "--nv", "--bind", "{job_dir}", "/opt/images/torch.sif"],
        "cmd": ["/opt/conda/bin/jupyterhub-singleuser"],
    },
}
PROFILES: list[dict[str, Any]] = [
    {
        "name": "lab",
        "display_name": "Lab",
        "partition": "gpu",
        "gpus": 1,
        "environments": ["py311", "torch"],
        "extra_directives": ["--exclusive"],
        "fields": {
            "reservation": {"choices": "cluster", "optional": True},
            "account": {"choices": "cluster"},
            "gpu_type": {"choices": "cluster"},
            "constraint": {"choices": ["ib"], "optional": True},
        },
    },
]
SINFO = "gpu|infinite|32|192000|gpu:a100:4(S:0-1),gpu:h100:4|up|ib,a100\n"
SACCTMGR = "teaching|normal\nchem|normal,high\n"


def answer(argv: list[str]) -> CommandResult:
    if argv[0] == "sinfo":
        return CommandResult(0, SINFO)
    if argv[0] == "scontrol" and argv[-1] == "reservation":
        return CommandResult(0, RESERVATIONS)
    if argv[0] == "sacctmgr":
        return CommandResult(0, SACCTMGR)
    return CommandResult(0)


def make(name: str = "alice", **traits: Any) -> tuple[SlurmSpawner, FakeTransport]:
    traits.setdefault("profiles", PROFILES)
    traits.setdefault("environments", ENVIRONMENTS)
    return make_spawner(answer, name=name, ssh_host=f"h-{uuid.uuid4().hex}", **traits)


async def test_the_form_offers_environments_and_the_users_own_lists() -> None:
    spawner, transport = make()
    html = await spawner.get_options_form()
    assert '<option value="torch">PyTorch (container)</option>' in html
    assert '<option value="intro-class">intro-class</option>' in html  # alice's reservation
    assert '<option value="physics_gpu"' not in html  # physics's, and alice is not in it
    assert '<option value="" selected>(none)</option>' in html
    assert '<option value="h100">h100</option>' in html  # from the partition's GRES
    assert '<option value="teaching" selected>teaching</option>' in html  # from sacctmgr
    assert ["sacctmgr", "--noheader", "--parsable2", "show", "associations", "user=alice"] in [
        c[:6] for c in transport.commands
    ]
    # read once per cluster account within cluster_limits_ttl, like the partitions
    await spawner.get_options_form()
    assert [c[0] for c in transport.commands].count("scontrol") == 1
    assert [c[0] for c in transport.commands].count("sacctmgr") == 1
    # bob sees another list: read as his account, never alice's copy
    bob, _ = make("bob")
    html = await bob.get_options_form()
    assert "intro-class" not in html and "all-but-dave" in html


async def test_a_form_request_becomes_the_job() -> None:
    spawner, _ = make()
    await spawner.get_options_form()
    options = spawner.run_options_from_form(
        {
            "profile": ["lab"],
            "lab.environment": ["torch"],
            "lab.reservation": ["intro-class"],
            "lab.account": ["teaching"],
            "lab.gpu_type": ["h100"],
            "lab.constraint": [""],
            "other.account": ["x"],
        }
    )
    assert options == {
        "profile": "lab",
        "environment": "torch",
        "reservation": "intro-class",
        "account": "teaching",
        "gpu_type": "h100",
        "constraint": "",
    }
    await spawner._run_apply_user_options(options)
    script = await spawner.render_script(home="/home/alice")
    for line in (
        "#SBATCH --account=teaching",
        "#SBATCH --reservation=intro-class",
        "#SBATCH --gres=gpu:h100:1",
        "#SBATCH --exclusive",
    ):
        assert line in script.splitlines()
    assert "--constraint" not in script
    last = script.splitlines()[-1]
    assert last.startswith(
        "exec apptainer exec --nv --bind /home/alice/.batchspawner_x/alice /opt/images/torch.sif"
    )
    assert last.endswith("-- /opt/conda/bin/jupyterhub-singleuser")
    spawner.job_id = "7"
    assert spawner.get_state()["resources"]["environment"] == "torch"


async def test_the_default_environment_applies_without_profiles() -> None:
    spawner, _ = make(profiles=[], default_environment="py311")
    await spawner._run_apply_user_options({})
    assert "module load python/3.11\nset -u\n" in await spawner.render_script(home="/home/alice")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"environment": "../../bin/sh"},
            "Invalid choice for environment: '../../bin/sh' is not one of py311, torch",
        ),
        ({"environment": "torch\nreboot"}, "Invalid choice for environment:"),
        (
            {"reservation": "physics_gpu"},
            "Invalid choice for reservation: 'physics_gpu' is not one you can choose",
        ),
        ({"reservation": "x --qos=high"}, "Invalid choice for reservation: 'x --qos=high' is not a name"),
        ({"account": "root"}, "Invalid choice for account: 'root' is not one you can choose"),
        ({"gpu_type": "a100:8"}, "Invalid choice for gpu_type:"),
        ({"constraint": "ib|bigmem"}, "Invalid choice for constraint:"),
        ({"qos": "high"}, "Invalid choice for qos: cannot be chosen in profile 'Lab'"),
        ({"extra_directives": ["--x"]}, "Invalid choice for extra_directives: is not an option"),
    ],
)
async def test_hostile_values_are_a_400_naming_the_field_and_no_job(
    options: dict[str, Any], message: str
) -> None:
    spawner, transport = make()
    with pytest.raises(web.HTTPError) as info:
        await spawner._run_apply_user_options({"profile": "lab", **options})
    assert info.value.status_code == 400
    assert message in info.value.log_message % info.value.args
    assert not any(c[0] == "sbatch" for c in transport.commands)


def test_a_profile_naming_an_unknown_environment_stops_the_hub() -> None:
    with pytest.raises(InvalidSetting, match=r"profiles\[lab\].environments: 'conda' is not an environment"):
        SlurmSpawner(profiles=[{"name": "lab", "environments": ["conda"]}], environments=ENVIRONMENTS)
    with pytest.raises(InvalidSetting, match="default_environment: 'nope' is not an environment"):
        SlurmSpawner(environments=ENVIRONMENTS, default_environment="nope")


async def test_a_failed_reading_leaves_only_the_sites_choices() -> None:
    def broken(argv: list[str]) -> CommandResult:
        if argv[0] in ("scontrol", "sacctmgr"):
            return CommandResult(1, "", "sacctmgr: error: Slurm accounting storage is disabled")
        return answer(argv)

    spawner, _ = make_spawner(
        broken, name="alice", ssh_host=f"h-{uuid.uuid4().hex}", profiles=PROFILES, environments=ENVIRONMENTS
    )
    html = await spawner.get_options_form()
    assert "intro-class" not in html and "teaching" not in html
    with pytest.raises(web.HTTPError, match="400"):
        await spawner._run_apply_user_options({"profile": "lab", "reservation": "intro-class"})


async def test_each_cluster_offers_its_own_lists_and_refuses_what_its_scheduler_lacks() -> None:
    config = Config()
    config.BatchSpawnerBase.clusters = {
        "flagship": {"scheduler": "slurm", "ssh_host": "flagship.example.edu"},
        "legacy": {"scheduler": "gridengine", "ssh_host": "sge.example.edu", "partition": "all.q"},
    }
    config.BatchSpawnerBase.profiles = [
        {"name": "class", "fields": {"reservation": {"choices": "cluster", "optional": True}}},
        {"name": "sge", "cluster": "legacy", "fields": {"reservation": {"choices": ["17"]}}},
    ]
    spawner: SlurmSpawner = new_spawner(SlurmSpawner, "alice", config=config)
    transport = FakeTransport(answer, home="/home/alice")
    for each in (spawner, spawner.cluster_prototype("flagship"), spawner.cluster_prototype("legacy")):
        each._make_transport = lambda username, keys: transport  # type: ignore[method-assign]
    html = await spawner.get_options_form()
    assert 'value="intro-class"' in html and '<option value="17"' in html
    assert [c[0] for c in transport.commands].count("scontrol") == 1  # only the Slurm cluster's
    await spawner._run_apply_user_options({"profile": "sge", "reservation": "17"})
    assert "#$ -ar 17" in await spawner.render_script(home="/home/alice")

    config.BatchSpawnerBase.profiles = [{"name": "sge", "cluster": "legacy", "gpu_type": "a100"}]
    # a site's error: the spawner is not built, rather than a user's 400 at every start
    with pytest.raises(InvalidSetting, match=r"profiles\[sge\].gpu_type: Grid Engine has no gpu type"):
        new_spawner(SlurmSpawner, "alice", config=config)
