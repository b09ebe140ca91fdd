#!/usr/bin/env bash
# Stop what ci/cluster/net-up.sh started: the login node's sshd inside
# namespace bsxnode and the socat bridge to slurmctld, each found only by the
# pid in its pidfile. The namespace, the veth pair, the route, the wrapper and
# the sudoers rule stay (a later net-up.sh is then fast); --purge removes them
# too.
#
# Usage: ci/cluster/net-down.sh [--purge]      (as root)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=net-lib.sh
. "$HERE/net-lib.sh"

require_root

stop_pidfile net-sshd "$BSX_NET_SSHD_PIDFILE" /usr/sbin/sshd
stop_pidfile net-socat "$BSX_NET_SOCAT_PIDFILE" /usr/bin/socat
if [[ ${1:-} == --purge ]]; then
    log "removing the sudoers rule, the route, the veth pair and namespace $BSX_NET_NETNS"
    rm -f "$BSX_NET_SUDOERS" "$BSX_NET_ENV"
    ip route del unreachable "$BSX_NET_NODE_NET" 2>/dev/null || true
    ip link delete "$BSX_NET_VETH_HUB" 2>/dev/null || true
    ip netns delete "$BSX_NET_NETNS" 2>/dev/null || true
fi
log "unreachable-node test network stopped"
