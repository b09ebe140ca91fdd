#!/bin/bash
#PBS -N jupyter-bob+gpu
#PBS -o /home/bob/.batchspawner_x/bob+gpu/job.out
#PBS -j oe
#PBS -S /bin/bash
#PBS -q gpu
#PBS -A proj42
#PBS -l walltime=36:00:00
#PBS -l select=1:ncpus=8:mem=16384mb:gpus=1

set -eu
cd /scratch/bob
module load python/3.11
source /opt/venvs/jupyter/bin/activate
rc=0
/opt/venvs/jupyter/bin/batchspawner-x-singleuser --env-file /home/bob/.batchspawner_x/bob+gpu/env.json -- jupyterhub-singleuser --debug || rc=$?
echo "server exited with $rc"
exit "$rc"
