#!/bin/bash
#SBATCH --job-name=jupyter-bob-gpu
#SBATCH --output=/home/bob/.batchspawner_x/bob-gpu/job-%j.out
#SBATCH --chdir=/scratch/bob
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --partition=gpu
#SBATCH --account=proj42
#SBATCH --qos=high
#SBATCH --time=1-12:00:00
#SBATCH --mem=16384M
#SBATCH --cpus-per-task=8
#SBATCH --gpus=1

set -eu
module load python/3.11
source /opt/venvs/jupyter/bin/activate
rc=0
/opt/venvs/jupyter/bin/batchspawner-x-singleuser --env-file /home/bob/.batchspawner_x/bob-gpu/env.json -- jupyterhub-singleuser --debug || rc=$?
echo "server exited with $rc"
exit "$rc"
