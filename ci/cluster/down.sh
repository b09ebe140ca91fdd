#!/usr/bin/env bash
# Stop the test cluster that ci/cluster/up.sh started: slurmd, slurmctld, slurmdbd,
# MariaDB, the test sshds on 127.0.0.1:2222 and 127.0.0.1:2224 and munged, in that order. Each is found only by
# the pid in its pidfile (and only if that pid really runs the expected binary);
# nothing is ever killed by name. Users, keys, configs, Slurm state and the venv
# are left in place, so a later up.sh is fast.
#
# Usage: ci/cluster/down.sh      (as root)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

require_root

stop_pidfile slurmd "$SLURMD_PIDFILE" /usr/sbin/slurmd
stop_pidfile slurmctld "$SLURMCTLD_PIDFILE" /usr/sbin/slurmctld
stop_pidfile slurmdbd "$SLURMDBD_PIDFILE" /usr/sbin/slurmdbd
stop_pidfile mariadb "$MARIADB_PIDFILE" /usr/sbin/mariadbd
stop_pidfile sshd "$BSX_SSHD_PIDFILE" /usr/sbin/sshd
stop_pidfile sshd2 "$BSX_SSHD2_PIDFILE" /usr/sbin/sshd
stop_pidfile munged "$MUNGED_PIDFILE" /usr/sbin/munged
log "test cluster stopped"
