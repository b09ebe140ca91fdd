# Pattern of: https://github.com/jupyterhub/batchspawner (README.md, the TorqueSpawner example)
# Torque with the queue on a named server ({queue}@{host} from req_host), walltime, nodes
# and ppn from req_nprocs, memory from req_memory. Our own config of that shape;
# written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.TorqueSpawner"
c.TorqueSpawner.ssh_host = "torque-login.example.edu"
c.BatchSpawnerBase.req_host = "pbsserver.example.edu"
c.BatchSpawnerBase.req_queue = "notebook"
c.BatchSpawnerBase.req_runtime = "04:00:00"
c.BatchSpawnerBase.req_nprocs = "2"
c.BatchSpawnerBase.req_memory = "4gb"
c.TorqueSpawner.batch_script = """#!/bin/sh
#PBS -q {queue}@{host}
#PBS -l walltime={runtime}
#PBS -l nodes=1:ppn={nprocs}
#PBS -l mem={memory}
#PBS -N notebook
#PBS -v {keepvars}
{cmd}
"""
