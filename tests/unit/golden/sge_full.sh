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
# The server runs as a child so that the epilogue runs after it: the scheduler's early
# signal (USR1) and its end signal (TERM), which reach only this shell, are passed on.
rc=0
/opt/venvs/jupyter/bin/batchspawner-x-singleuser --env-file /home/erin/.batchspawner_x/erin+gpu/env.json -- jupyterhub-singleuser --debug &
bsx_server=$!
trap 'kill -USR1 "$bsx_server" 2>/dev/null || :' USR1
trap 'kill -TERM "$bsx_server" 2>/dev/null || :' TERM
while wait "$bsx_server" || rc=$?; kill -0 "$bsx_server" 2>/dev/null; do rc=0; done
echo "server exited with $rc"
exit "$rc"
