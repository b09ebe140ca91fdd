# Pattern of: https://github.com/ComputeCanada/magic_castle (puppet/modules/jupyterhub/files/submit.sh)
# A site's own submit script as batch_script: {homedir} in the output path and the
# working directory, --export={keepvars}, fixed memory and cores, an environment unpacked
# before {cmd}. Our own script of that shape; written for the tests, not copied.
c = get_config()  # noqa: F821

c.JupyterHub.spawner_class = "batchspawner_x.SlurmSpawner"
c.SlurmSpawner.ssh_host = "login.magic.example.ca"
c.SlurmSpawner.batch_script = """#!/bin/bash
#SBATCH --output={homedir}/notebook_%j.log
#SBATCH --job-name=notebook
#SBATCH --chdir={homedir}
#SBATCH --mem=1500M
#SBATCH --cpus-per-task=1
#SBATCH --export={keepvars}
module restore
tar xf /project/venv.tar.gz -C /dev/shm
source /dev/shm/venv/bin/activate
{cmd}
"""
