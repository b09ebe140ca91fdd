#!/bin/bash
#MSUB -N jupyter-bob+gpu
#MSUB -o /home/bob/.batchspawner_x/bob+gpu/job.out
#MSUB -j oe
#MSUB -S /bin/bash
#MSUB -q gpu
#MSUB -A proj42
#MSUB -l nodes=1:ppn=8:gpus=1,pmem=2048mb,walltime=36:00:00

set -eu
cd /scratch/bob
module load python/3.11
source /opt/venvs/jupyter/bin/activate
rc=0
/opt/venvs/jupyter/bin/batchspawner-x-singleuser --env-file /home/bob/.batchspawner_x/bob+gpu/env.json -- jupyterhub-singleuser --debug || rc=$?
echo "server exited with $rc"
exit "$rc"
