# A JupyterHub whose notebook servers run as Slurm jobs on the local test
# cluster brought up by ci/cluster/up.sh. Started by demo/run.py, which sets
# BSX_DEMO_PASSWORD; log in as alice or bob with that password.
# The spawner settings are the ones a site would write for a real cluster.
from pathlib import Path

cluster = dict(
    line.split("=", 1)
    for line in Path("/etc/batchspawner-x-test/cluster.env").read_text().splitlines()
    if "=" in line
)
c = get_config()  # noqa: F821

c.JupyterHub.bind_url = "http://127.0.0.1:8000"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:8081"
c.ConfigurableHTTPProxy.command = [cluster["BSX_CHP"]]
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = __import__("os").environ["BSX_DEMO_PASSWORD"]
c.Authenticator.allowed_users = {"alice", "bob"}
# HPC sites keep jobs running when the hub restarts; the demo cancels them on exit.
c.JupyterHub.cleanup_servers = True

c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.SlurmSpawner.ssh_host = cluster["BSX_SSH_HOST"]
c.SlurmSpawner.ssh_port = int(cluster["BSX_SSH_PORT"])
c.SlurmSpawner.ssh_username = "{username}"
c.SlurmSpawner.ssh_keys = [cluster["BSX_KEYS_DIR"] + "/{username}"]
c.SlurmSpawner.ssh_known_hosts = cluster["BSX_KNOWN_HOSTS"]
c.SlurmSpawner.partition = "interactive"
c.SlurmSpawner.walltime = "08:00:00"
c.SlurmSpawner.node_command = [cluster["BSX_VENV"] + "/bin/batchspawner-x-singleuser"]
c.Spawner.cmd = [cluster["BSX_VENV"] + "/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.mem_limit = "2G"
c.Spawner.cpu_limit = 1
# Compute node and hub are the same machine here; on a cluster leave ip unset
# (all interfaces) and make the hub reachable from the nodes (hub_connect_url).
c.Spawner.ip = "127.0.0.1"
c.Spawner.start_timeout = 300
