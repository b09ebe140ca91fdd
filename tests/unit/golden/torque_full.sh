#!/bin/bash
#PBS -N jupyter-bob+gpu
#PBS -o /home/bob/.batchspawner_x/bob+gpu/job.out
#PBS -j oe
#PBS -S /bin/bash
#PBS -q gpu
#PBS -A proj42
#PBS -l walltime=36:00:00
#PBS -l nodes=1:ppn=8:gpus=1
#PBS -l pmem=2048mb

set -eu
cd /scratch/bob
module load python/3.11
source /opt/venvs/jupyter/bin/activate
# The server runs as a child so that the epilogue runs after it: the scheduler's early
# signal (USR1) and its end signal (TERM), which reach only this shell, are passed on.
rc=0
/opt/venvs/jupyter/bin/batchspawner-x-singleuser --env-file /home/bob/.batchspawner_x/bob+gpu/env.json -- jupyterhub-singleuser --debug &
bsx_server=$!
trap 'kill -USR1 "$bsx_server" 2>/dev/null || :' USR1
trap 'kill -TERM "$bsx_server" 2>/dev/null || :' TERM
while wait "$bsx_server" || rc=$?; kill -0 "$bsx_server" 2>/dev/null; do rc=0; done
echo "server exited with $rc"
exit "$rc"
