#!/bin/bash
#PBS -N jupyter-alice
#PBS -o /home/alice/.batchspawner_x/alice/job.out
#PBS -j oe
#PBS -S /bin/bash
#PBS -q batch
#PBS -l walltime=08:00:00
#PBS -l nodes=1:ppn=2
#PBS -l mem=4096mb
#PBS -W group_list=physics

set -eu
cd /home/alice
# The node side of batchspawner_x travels with the job: start.sh finds the Python of
# the server's environment, and singleuser.py reports the server's address to the hub
# and starts the server (see docs/node-side.md).
bsx_node=/home/alice/.batchspawner_x/alice/node
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
exec /bin/sh /home/alice/.batchspawner_x/alice/node/start.sh --env-file /home/alice/.batchspawner_x/alice/env.json -- jupyterhub-singleuser
