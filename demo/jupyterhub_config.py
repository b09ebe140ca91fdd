# A JupyterHub whose notebook servers run as batch jobs on the local test
# clusters brought up by ci/cluster/up.sh (Slurm) and ci/cluster/sge-up.sh
# (Grid Engine). Started by demo/run.py, which sets BSX_DEMO_PASSWORD; log in
# as alice or bob with that password.
# The spawner settings are the ones a site would write for real clusters.
import subprocess
from pathlib import Path

import batchspawner_x


def facts(path):
    return dict(line.split("=", 1) for line in Path(path).read_text().splitlines() if "=" in line)


cluster = facts("/etc/batchspawner-x-test/cluster.env")
c = get_config()  # noqa: F821

c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8081"
c.ConfigurableHTTPProxy.command = [cluster["BSX_CHP"]]
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = __import__("os").environ["BSX_DEMO_PASSWORD"]
c.Authenticator.allowed_users = {"alice", "bob"}
c.JupyterHub.allow_named_servers = True
# The hub's home page and its Jobs page show each job's time left.
c.JupyterHub.template_paths = [batchspawner_x.hub_templates]
# HPC sites keep jobs running when the hub restarts; the demo cancels them on exit.
c.JupyterHub.cleanup_servers = True

c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.BatchSpawnerBase.ssh_host = cluster["BSX_SSH_HOST"]
c.BatchSpawnerBase.ssh_port = int(cluster["BSX_SSH_PORT"])
c.BatchSpawnerBase.ssh_username = "{username}"
c.BatchSpawnerBase.ssh_keys = [cluster["BSX_KEYS_DIR"] + "/{username}"]
c.BatchSpawnerBase.ssh_known_hosts = cluster["BSX_KNOWN_HOSTS"]
c.BatchSpawnerBase.partition = "interactive"
c.BatchSpawnerBase.walltime = "08:00:00"
# Users may extend a running job by an hour at a time, up to 4 h in all: the hub raises the
# limit as slurmop, an account the test cluster makes a Slurm operator.
c.BatchSpawnerBase.walltime_operator_username = "slurmop"
c.BatchSpawnerBase.walltime_operator_keys = [cluster["BSX_KEYS_DIR"] + "/slurmop"]
c.BatchSpawnerBase.max_walltime = "04:00:00"
c.BatchSpawnerBase.node_command = [cluster["BSX_VENV"] + "/bin/batchspawner-x-singleuser"]
c.Spawner.cmd = [cluster["BSX_VENV"] + "/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.mem_limit = "1G"
c.Spawner.cpu_limit = 1
# Compute node and hub are the same machine here; on a cluster leave ip unset
# (all interfaces) and make the hub reachable from the nodes (hub_connect_url).
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 300

# Two clusters: the Slurm cluster, and the Grid Engine cluster when it is up.
clusters = {"slurm": {"display_name": "Slurm cluster", "description": "Partitions debug and interactive"}}
sge_env = Path("/etc/batchspawner-x-test/sge.env")
if sge_env.exists():
    sge = facts(sge_env)
    clusters["gridengine"] = {
        "display_name": "Grid Engine cluster",
        "description": "The older cluster: queue all.q",
        "scheduler": "gridengine",
        "ssh_port": int(sge["BSX_SGE_SSH_PORT"]),
        "ssh_known_hosts": sge["BSX_SGE_KNOWN_HOSTS"],
        "partition": sge["BSX_SGE_QUEUE"],
        "account": sge["BSX_SGE_PROJECT"],
        "parallel_environment": sge["BSX_SGE_PE"],
    }
c.BatchSpawnerBase.clusters = clusters

c.BatchSpawnerBase.profiles = [
    {
        "name": "small",
        "display_name": "Small: 1 CPU, 1G, 1 h",
        "description": "Starts at once",
        "cpus": 1,
        "memory": "1G",
        "walltime": "01:00:00",
        "fields": {"cpus": {"max": 4}, "partition": {"choices": "cluster"}},
    },
    {
        "name": "big-memory",
        "display_name": "Big memory: 4G, 2 h",
        "description": "Waits in the queue behind a job that holds the node's memory for a minute",
        "cpus": 1,
        "memory": "4G",
        "walltime": "02:00:00",
    },
    {
        "name": "sge",
        "display_name": "Two slots, 1G, 1 h",
        "cluster": "gridengine",
        "cpus": 2,
        "memory": "1G",
        "walltime": "01:00:00",
    }
    if "gridengine" in clusters
    else None,
]
c.BatchSpawnerBase.profiles = [p for p in c.BatchSpawnerBase.profiles if p]

#: The demo's stand-in for other researchers: it holds most of the node's memory.
QUEUE_FILLER = ["runuser", "-u", "frank", "--", "sbatch", "--parsable", "--job-name=demo-queue-filler",
                "--chdir=/tmp", "--output=/dev/null", "--partition=interactive", "--mem=18000M",
                "--time=2", "--wrap", "sleep 60"]  # fmt: skip


def fill_the_queue(spawner):
    """Before a big-memory spawn, start a job that makes it wait about a minute."""
    if spawner.resource_choice().profile == "big-memory":
        subprocess.run(QUEUE_FILLER, check=True, capture_output=True, timeout=30)


c.Spawner.pre_spawn_hook = fill_the_queue
