#!/bin/bash
#$ -N jupyter-erin+gpu
#$ -o /home/erin/.batchspawner_x/erin+gpu/job.out
#$ -j y
#$ -S /bin/bash
#$ -wd /scratch/erin
#$ -q gpu.q
#$ -P proj42
#$ -l h_rt=36:00:00
#$ -pe threads 8
#$ -l h_vmem=16384M
#$ -l mem_free=16384M
#$ -l gpu=1

set -eu
module load python/3.11
source /opt/venvs/jupyter/bin/activate
rc=0
/opt/venvs/jupyter/bin/batchspawner-x-singleuser --env-file /home/erin/.batchspawner_x/erin+gpu/env.json -- jupyterhub-singleuser --debug || rc=$?
echo "server exited with $rc"
exit "$rc"
