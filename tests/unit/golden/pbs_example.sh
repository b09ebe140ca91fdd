#!/bin/bash
#PBS -N jupyter-alice
#PBS -o /home/alice/.batchspawner_x/alice/job.out
#PBS -j oe
#PBS -S /bin/bash
#PBS -q workq
#PBS -l walltime=08:00:00
#PBS -l select=1:ncpus=2:mem=4096mb
#PBS -W group_list=physics

set -eu
cd /home/alice
exec batchspawner-x-singleuser --env-file /home/alice/.batchspawner_x/alice/env.json -- jupyterhub-singleuser
