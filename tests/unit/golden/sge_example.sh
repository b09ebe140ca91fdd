#!/bin/bash
#$ -N jupyter-erin
#$ -o /home/erin/.batchspawner_x/erin/job.out
#$ -j y
#$ -S /bin/bash
#$ -wd /home/erin
#$ -q all.q
#$ -l h_rt=08:00:00
#$ -pe smp 2
#$ -l h_vmem=2048M
#$ -l arch=lx-amd64

set -eu
exec batchspawner-x-singleuser --env-file /home/erin/.batchspawner_x/erin/env.json -- jupyterhub-singleuser
