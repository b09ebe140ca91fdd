# Pattern of: https://github.com/jupyterhub/batchspawner/pull/225 (the example in its discussion)
# ProfilesSpawner with Slurm GPU children: req_gres and memory in "M" per profile, and a
# batch_script that writes {gres}, {memory}, {nprocs} and {partition} itself.
# Our own config of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "wrapspawner.ProfilesSpawner"
c.SlurmSpawner.ssh_host = "gpu-login.example.ac"
c.SlurmSpawner.batch_script = """#!/bin/bash
#SBATCH --chdir={homedir}
#SBATCH --output={homedir}/lab_%j.log
#SBATCH --partition={partition}
#SBATCH --time={runtime}
#SBATCH --cpus-per-task={nprocs}
#SBATCH --mem={memory}
#SBATCH --gres={gres}
#SBATCH --job-name=lab
module load anaconda
{cmd}
"""
c.ProfilesSpawner.profiles = [
    (
        "GPU node, 1 V100",
        "gpu-v100",
        "batchspawner_x.SlurmSpawner",
        dict(
            req_partition="gpu",
            req_nprocs="4",
            req_runtime="01:00:00",
            req_memory="8192M",
            req_gres="gpu:v100:1",
        ),
    ),
    (
        "GPU node, 2 A100",
        "gpu-a100",
        "batchspawner_x.SlurmSpawner",
        dict(
            req_partition="gpu-a100",
            req_nprocs="8",
            req_runtime="01:00:00",
            req_memory="16384M",
            req_gres="gpu:a100:2",
        ),
    ),
]
