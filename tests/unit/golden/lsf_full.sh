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
# The server runs as a child so that the epilogue runs after it: the scheduler's early
# signal (USR1) and its end signal (TERM), which reach only this shell, are passed on.
rc=0
/opt/venvs/jupyter/bin/batchspawner-x-singleuser --env-file /home/bob/.batchspawner_x/bob-gpu/env.json -- jupyterhub-singleuser --debug &
bsx_server=$!
trap 'kill -USR1 "$bsx_server" 2>/dev/null || :' USR1
trap 'kill -TERM "$bsx_server" 2>/dev/null || :' TERM
while wait "$bsx_server" || rc=$?; kill -0 "$bsx_server" 2>/dev/null; do rc=0; done
echo "server exited with $rc"
exit "$rc"
