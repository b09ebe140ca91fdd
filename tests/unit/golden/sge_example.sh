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
# The node side of batchspawner_x travels with the job: start.sh finds the Python of
# the server's environment, and singleuser.py reports the server's address to the hub
# and starts the server (see docs/node-side.md).
bsx_node=/home/erin/.batchspawner_x/erin/node
bsx_write() {
    mkdir -p "$(dirname "$bsx_node/$1")"
    cat >"$bsx_node/$1.$$"
    mv -f "$bsx_node/$1.$$" "$bsx_node/$1"
}
bsx_write start.sh <<'BATCHSPAWNER_X_EOF'
# start.sh: batchspawner_x.node_side.START_SH, verbatim
BATCHSPAWNER_X_EOF
bsx_write batchspawner_x/__init__.py <<'BATCHSPAWNER_X_EOF'
BATCHSPAWNER_X_EOF
bsx_write batchspawner_x/handshake.py <<'BATCHSPAWNER_X_EOF'
# batchspawner_x/handshake.py: this package's module, verbatim
BATCHSPAWNER_X_EOF
bsx_write batchspawner_x/job_events.py <<'BATCHSPAWNER_X_EOF'
# batchspawner_x/job_events.py: this package's module, verbatim
BATCHSPAWNER_X_EOF
bsx_write batchspawner_x/supervise.py <<'BATCHSPAWNER_X_EOF'
# batchspawner_x/supervise.py: this package's module, verbatim
BATCHSPAWNER_X_EOF
bsx_write batchspawner_x/singleuser.py <<'BATCHSPAWNER_X_EOF'
# batchspawner_x/singleuser.py: this package's module, verbatim
BATCHSPAWNER_X_EOF
exec /bin/sh /home/erin/.batchspawner_x/erin/node/start.sh --env-file /home/erin/.batchspawner_x/erin/env.json -- jupyterhub-singleuser
