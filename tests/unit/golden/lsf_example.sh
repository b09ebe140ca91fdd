#!/bin/bash
#BSUB -J jupyter-alice
#BSUB -o /home/alice/.batchspawner_x/alice/job-%J.out
#BSUB -cwd /home/alice
#BSUB -q normal
#BSUB -W 08:00
#BSUB -n 2
#BSUB -R "rusage[mem=4096] span[hosts=1]"
#BSUB -M 4096
#BSUB -app jupyter

set -eu
exec batchspawner-x-singleuser --env-file /home/alice/.batchspawner_x/alice/env.json -- jupyterhub-singleuser
