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
#SBATCH --signal=B:USR1@900
#SBATCH --mem=16384M
#SBATCH --cpus-per-task=8
#SBATCH --gpus=1

set -eu
# The scheduler's early signal (USR1) may come any time, even before the node side,
# which turns it into a warning, has started: until then it is ignored, not fatal.
trap '' USR1
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
