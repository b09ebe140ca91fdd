#!/bin/bash
#MSUB -N jupyter-alice
#MSUB -o /home/alice/.batchspawner_x/alice/job.out
#MSUB -j oe
#MSUB -S /bin/bash
#MSUB -q batch
#MSUB -l nodes=1:ppn=2,mem=4096mb,walltime=08:00:00
#MSUB -W group_list=physics

set -eu
cd /home/alice
exec batchspawner-x-singleuser --env-file /home/alice/.batchspawner_x/alice/env.json -- jupyterhub-singleuser
