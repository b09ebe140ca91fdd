# Pattern of: https://github.com/jupyterhub/batchspawner/issues/129 (the site's jupyterhub_config.py)
# ProfilesSpawner with Slurm children and one shared batch_script that uses short
# options and the old variables ({queue} as the QOS, {runtime}, {nprocs}, {homedir});
# TLS files for the proxy. Our own config of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"
c.JupyterHub.ssl_cert = "/etc/pki/tls/certs/hub.crt"
c.JupyterHub.ssl_key = "/etc/pki/tls/private/hub.key"
c.Spawner.http_timeout = 120
c.Spawner.notebook_dir = "~"
c.SlurmSpawner.ssh_host = "slurm-login.example.gov"
c.SlurmSpawner.batch_script = """#!/bin/bash
#SBATCH -q {queue}
#SBATCH -p debug
#SBATCH -t {runtime}
#SBATCH -N 1
#SBATCH -n {nprocs}
#SBATCH -o {homedir}/notebook.%j.out
#SBATCH --export ALL
source /etc/profile
{cmd}
"""
c.ProfilesSpawner.profiles = [
    (
        "Debug, 1 core, 30 min",
        "debug-1",
        "batchspawner_x.SlurmSpawner",
        dict(req_queue="normal", req_nprocs="1", req_runtime="00:30:00"),
    ),
    (
        "Debug, 4 cores, 2 h",
        "debug-4",
        "batchspawner_x.SlurmSpawner",
        dict(req_queue="long", req_nprocs="4", req_runtime="02:00:00"),
    ),
]
