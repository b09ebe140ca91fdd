# Pattern of: https://github.com/brisbane/jupyter_hybridcloud_spawner (examples/jupyterhub_config.py)
# A Slurm batch_script filled in with str.format ({queue}, {runtime}, {cmd}),
# --get-user-env=L, long start and http timeouts set on the spawner's own section.
# Our own config of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.allow_named_servers = True
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.SlurmSpawner.ssh_host = "hpc-login.example.org"
c.SlurmSpawner.cmd = ["jupyterhub-singleuser"]
c.SlurmSpawner.req_queue = "cloudburst"
c.SlurmSpawner.req_runtime = "12:00:00"
c.SlurmSpawner.batch_script = """#!/bin/bash
#SBATCH --job-name=notebook
#SBATCH --output={output}
#SBATCH --partition={queue}
#SBATCH --nodes=1
#SBATCH --time={runtime}
#SBATCH --get-user-env=L
cd $HOME
{cmd}
"""
c.SlurmSpawner.start_timeout = 3600
c.SlurmSpawner.http_timeout = 3600
