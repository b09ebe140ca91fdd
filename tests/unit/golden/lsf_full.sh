#!/bin/bash
#BSUB -J jupyter-bob-gpu
#BSUB -o /home/bob/.batchspawner_x/bob-gpu/job-%J.out
#BSUB -cwd /scratch/bob
#BSUB -q gpu
#BSUB -P proj42
#BSUB -W 36:00
#BSUB -n 8
#BSUB -R "rusage[mem=16] span[hosts=1]"
#BSUB -M 16
#BSUB -gpu "num=1"

set -eu
module load python/3.11
source /opt/venvs/jupyter/bin/activate
rc=0
/opt/venvs/jupyter/bin/batchspawner-x-singleuser --env-file /home/bob/.batchspawner_x/bob-gpu/env.json -- jupyterhub-singleuser --debug || rc=$?
echo "server exited with $rc"
exit "$rc"
