#!/usr/bin/env bash
# Stop the Son of Grid Engine test cluster that ci/cluster/sge-up.sh started:
# the socat bridge on 127.0.0.1:2223, the sshd inside namespace bsxsge,
# sge_execd and sge_qmaster, in that order. Each is found only by the pid in
# its pidfile (and only if that pid really runs the expected binary); nothing
# is ever killed by name. Jobs still running keep running until they end.
# The namespaces, configuration, spool and keys stay, so a later sge-up.sh is
# fast.
#
# Usage: ci/cluster/sge-down.sh      (as root)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=sge-lib.sh
. "$HERE/sge-lib.sh"

require_root

stop_pidfile sge-socat "$BSX_SGE_SOCAT_PIDFILE" /usr/bin/socat
stop_pidfile sge-sshd "$BSX_SGE_SSHD_PIDFILE" /usr/sbin/sshd
stop_pidfile sge_execd "$SGE_EXECD_PIDFILE" "$SGE_EXECD_EXE"
stop_pidfile sge_qmaster "$SGE_QMASTER_PIDFILE" "$SGE_QMASTER_EXE"
log "Grid Engine test cluster stopped"
