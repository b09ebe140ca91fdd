#!/bin/bash
#SBATCH --job-name=jupyter-alice
#SBATCH --output=/home/alice/.batchspawner_x/alice/job-%j.out
#SBATCH --chdir=/home/alice
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --partition=interactive
#SBATCH --time=08:00:00
#SBATCH --mem=4096M
#SBATCH --cpus-per-task=2
#SBATCH --constraint=skylake

set -eu
exec batchspawner-x-singleuser --env-file /home/alice/.batchspawner_x/alice/env.json -- jupyterhub-singleuser
