# Pattern of: https://github.com/ncar-xdev/hpcbinderhub (images/jupyterhub/jupyterhub_config.py)
# ProfilesSpawner offering a local server beside a Torque/PBS queue; the queue's commands
# given with full paths and arguments; a login-shell batch_script. Our own config of that
# shape (the site's other children were sudospawner and sshspawner); written for the
# tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"
c.JupyterHub.allow_named_servers = True
c.JupyterHub.hub_connect_ip = "hub"
c.Spawner.notebook_dir = "~/"
c.TorqueSpawner.ssh_host = "head.example.org"
c.ProfilesSpawner.profiles = [
    ("On the hub", "local", "jupyterhub.spawner.LocalProcessSpawner", {}),
    ("In the PBS queue", "pbs", "batchspawner_x.TorqueSpawner", {}),
]
c.BatchSpawnerBase.req_runtime = "02:00:00"
c.BatchSpawnerBase.req_nprocs = "1"
c.TorqueSpawner.batch_submit_cmd = "/opt/pbs/bin/qsub -V"
c.TorqueSpawner.batch_query_cmd = "/opt/pbs/bin/qstat -x {job_id}"
c.TorqueSpawner.batch_cancel_cmd = "/opt/pbs/bin/qdel {job_id}"
c.TorqueSpawner.batch_script = """#!/bin/bash -l
#PBS -l walltime={runtime}
#PBS -l nodes=1
#PBS -N notebook
conda activate
{cmd}
"""
