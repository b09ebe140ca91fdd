#!/usr/bin/env bash
# A compute node the hub cannot reach, for the tunnel's integration tests:
#   network namespace bsxnode, joined to the root namespace (where the hub
#   runs) by a veth pair: 10.250.0.1 (hub) <-> 10.250.0.2 (login node);
#   the compute address 10.251.0.2 on bsxnode's lo, and an "unreachable"
#   route to 10.251.0.0/24 in the root namespace: the hub genuinely cannot
#   open a TCP connection to a server there (EHOSTUNREACH), while bsxnode,
#   whose default route points at the hub, reaches the hub's API;
#   the login node: an sshd inside bsxnode on 10.250.0.2:22, from which
#   Slurm's clients reach slurmctld through a socat bridge (bsxnode's
#   127.0.0.1:6817 -> the root namespace's 127.0.0.1:6817);
#   $BSX_NET_IN_NODE, a root-owned wrapper that runs a command inside bsxnode
#   as the user who called it through sudo, allowed by a sudoers rule for the
#   test user grace only: a Slurm job (run by slurmd in the root namespace)
#   puts its notebook server on the compute network with
#   node_command = ["sudo", "-n", "$BSX_NET_IN_NODE", ".../batchspawner-x-singleuser"];
#   /etc/batchspawner-x-test/net.env describing all of it.
#
# Usage: ci/cluster/net-up.sh      (as root, after ci/cluster/up.sh, which
#                                   creates the test users, keys and Slurm)
#
# Idempotent: what exists and matches is left alone; a changed sshd config
# restarts that sshd. Processes are found only by their pidfiles. Stop with
# ci/cluster/net-down.sh.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=net-lib.sh
. "$HERE/net-lib.sh"

START_TIME=$SECONDS
require_root
umask 022
cd /

die() {
    local msg=$1 f
    shift
    echo "net-up.sh: ERROR: $msg" >&2
    for f in "$@"; do
        if [[ -s $f ]]; then
            echo "----- last 30 lines of $f -----" >&2
            tail -n 30 "$f" >&2
        fi
    done
    exit 1
}
trap 'echo "net-up.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

install_packages() {
    local missing=() p
    for p in socat sudo iproute2; do
        pkg_installed "$p" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return
    if [[ -z $(apt-cache policy socat 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"') ]]; then
        apt-get update
    fi
    log "apt: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=300 "${missing[@]}"
}

check_prerequisites() {
    local p
    for p in /usr/sbin/sshd /usr/bin/socat /usr/bin/sudo /usr/bin/nsenter /usr/bin/setpriv /usr/sbin/visudo; do
        [[ -x $p ]] || die "$p is missing (up.sh installs openssh-server)"
    done
    if ! id -u "$BSX_NET_USER" >/dev/null 2>&1 || [[ ! -s $BSX_KEYS_DIR/$BSX_NET_USER || ! -s $BSX_SSHD_CONFIG ]]; then
        die "test user $BSX_NET_USER, its key or $BSX_SSHD_CONFIG is missing: run ci/cluster/up.sh first"
    fi
}

# --- 1. the namespaces and the link ---------------------------------------------------

ns_inode() { stat -L -c %i "$1" 2>/dev/null; }

setup_network() {
    if [[ -e $BSX_NET_NETNS_PATH ]] && [[ $(ns_inode "$BSX_NET_NETNS_PATH") == "$(ns_inode /proc/self/ns/net)" ]]; then
        die "net-up.sh runs inside namespace $BSX_NET_NETNS; run it from the root namespace"
    fi
    # Pin the root namespace for the bridge (/proc/1/ns/net is not readable here).
    if [[ $(ns_inode "$BSX_NET_ROOTNS") != "$(ns_inode /proc/self/ns/net)" ]]; then
        mountpoint -q "$BSX_NET_ROOTNS" 2>/dev/null &&
            die "$BSX_NET_ROOTNS pins another network namespace than this script's"
        log "netns: pinning the root namespace at $BSX_NET_ROOTNS"
        touch "$BSX_NET_ROOTNS"
        mount --bind /proc/self/ns/net "$BSX_NET_ROOTNS"
    fi
    if ! in_node_ns true 2>/dev/null; then
        log "netns: creating $BSX_NET_NETNS"
        ip netns delete "$BSX_NET_NETNS" 2>/dev/null || true
        ip netns add "$BSX_NET_NETNS"
    fi
    in_node_ns ip link set lo up
    if ! ip link show "$BSX_NET_VETH_HUB" >/dev/null 2>&1; then
        log "netns: veth $BSX_NET_VETH_HUB <-> $BSX_NET_VETH_NODE"
        in_node_ns ip link delete "$BSX_NET_VETH_NODE" 2>/dev/null || true
        ip link add "$BSX_NET_VETH_HUB" type veth peer name "$BSX_NET_VETH_NODE"
        ip link set "$BSX_NET_VETH_NODE" netns "$BSX_NET_NETNS"
    fi
    ip addr replace "$BSX_NET_HUB_IP/$BSX_NET_LINK_PREFIX" dev "$BSX_NET_VETH_HUB"
    ip link set "$BSX_NET_VETH_HUB" up
    in_node_ns ip addr replace "$BSX_NET_LOGIN_IP/$BSX_NET_LINK_PREFIX" dev "$BSX_NET_VETH_NODE"
    in_node_ns ip link set "$BSX_NET_VETH_NODE" up
    in_node_ns ip addr replace "$BSX_NET_NODE_IP/32" dev lo
    in_node_ns ip route replace default via "$BSX_NET_HUB_IP"
    # The hub's side has no way to the compute network.
    ip route replace unreachable "$BSX_NET_NODE_NET"
}

# --- 2. the wrapper and the sudoers rule ----------------------------------------------------

setup_wrapper() {
    install -d -m 0755 -o root -g root "$BSX_NET_DIR"
    # Runs as root through sudo; enters the namespace, then drops to the
    # calling user (SUDO_UID, set by sudo itself) before running anything.
    if write_if_changed "$BSX_NET_IN_NODE" 0755 <<EOF
#!/bin/sh
# Written by batchspawner_x ci/cluster/net-up.sh. Usage, as $BSX_NET_USER:
#   sudo -n $BSX_NET_IN_NODE COMMAND [ARG...]
# runs COMMAND as the caller inside network namespace $BSX_NET_NETNS.
set -eu
case "\${SUDO_UID:-}" in
    '' | 0 | *[!0-9]*) echo "in-node: run me through sudo as an ordinary user" >&2; exit 2 ;;
esac
home=\$(getent passwd "\$SUDO_UID" | cut -d: -f6)
exec /usr/bin/nsenter --net=$BSX_NET_NETNS_PATH -- \\
    /usr/bin/setpriv --reuid="\$SUDO_UID" --regid="\$SUDO_GID" --init-groups --inh-caps=-all -- \\
    /usr/bin/env HOME="\$home" USER="\$SUDO_USER" LOGNAME="\$SUDO_USER" "\$@"
EOF
    then
        log "wrapper: wrote $BSX_NET_IN_NODE"
    fi
    chown root:root "$BSX_NET_IN_NODE"
    local tmp
    tmp=$(mktemp)
    cat >"$tmp" <<EOF
# Written by batchspawner_x ci/cluster/net-up.sh: the tunnel tests' user may
# run its job's server inside namespace $BSX_NET_NETNS. The job id is kept so
# that the node-side command can tell the hub which job it belongs to.
Defaults!$BSX_NET_IN_NODE env_keep += "SLURM_JOB_ID SLURM_JOBID"
$BSX_NET_USER ALL=(root) NOPASSWD: $BSX_NET_IN_NODE
EOF
    visudo -cqf "$tmp" || die "visudo rejects the rule for $BSX_NET_SUDOERS"
    write_if_changed "$BSX_NET_SUDOERS" 0440 <"$tmp" && log "sudo: wrote $BSX_NET_SUDOERS"
    rm -f "$tmp"
}

# --- 3. the login node: Slurm bridge and sshd inside the namespace ---------------------------

setup_slurm_bridge() {
    if write_if_changed "$BSX_NET_SLURM_BRIDGE" 0755 <<EOF
#!/bin/sh
# Written by batchspawner_x ci/cluster/net-up.sh: one connection from
# namespace $BSX_NET_NETNS to slurmctld on the root namespace's 127.0.0.1:$BSX_NET_SLURM_PORT.
exec /usr/bin/nsenter --net=$BSX_NET_ROOTNS /usr/bin/socat STDIO TCP:127.0.0.1:$BSX_NET_SLURM_PORT
EOF
    then
        log "bridge: wrote $BSX_NET_SLURM_BRIDGE"
    fi
    if pid_from_file "$BSX_NET_SOCAT_PIDFILE" /usr/bin/socat >/dev/null; then
        log "bridge: socat already listening in $BSX_NET_NETNS on 127.0.0.1:$BSX_NET_SLURM_PORT"
    else
        log "bridge: starting socat in $BSX_NET_NETNS on 127.0.0.1:$BSX_NET_SLURM_PORT"
        # setsid does not fork here (a background job is no group leader), so $! is socat's pid.
        setsid nsenter --net="$BSX_NET_NETNS_PATH" /usr/bin/socat -lf "$BSX_NET_SOCAT_LOG" \
            "TCP-LISTEN:$BSX_NET_SLURM_PORT,bind=127.0.0.1,reuseaddr,fork" \
            "EXEC:$BSX_NET_SLURM_BRIDGE" </dev/null >/dev/null 2>&1 &
        echo $! >"$BSX_NET_SOCAT_PIDFILE"
        # nsenter execs socat: the pid stays the same once it has.
        wait_until 5 pid_from_file "$BSX_NET_SOCAT_PIDFILE" /usr/bin/socat ||
            die "socat did not stay up (pid $(cat "$BSX_NET_SOCAT_PIDFILE"))" "$BSX_NET_SOCAT_LOG"
    fi
}

setup_sshd() {
    if [[ ! -s $BSX_NET_SSH_HOST_KEY ]]; then
        log "sshd: generating the login node's host key"
        rm -f "$BSX_NET_SSH_HOST_KEY" "$BSX_NET_SSH_HOST_KEY.pub"
        ssh-keygen -q -t ed25519 -N '' -C batchspawner-x-test-net-host -f "$BSX_NET_SSH_HOST_KEY"
    fi
    [[ -s $BSX_NET_SSH_HOST_KEY.pub ]] || ssh-keygen -y -f "$BSX_NET_SSH_HOST_KEY" >"$BSX_NET_SSH_HOST_KEY.pub"
    chmod 0600 "$BSX_NET_SSH_HOST_KEY"
    chmod 0644 "$BSX_NET_SSH_HOST_KEY.pub"
    local type key _
    read -r type key _ <"$BSX_NET_SSH_HOST_KEY.pub"
    write_if_changed "$BSX_NET_KNOWN_HOSTS" 0644 <<<"$BSX_NET_LOGIN_IP $type $key" &&
        log "sshd: wrote $BSX_NET_KNOWN_HOSTS"

    # The Slurm login node's settings, with this sshd's address, host key and
    # pidfile; TCP forwarding explicitly on (the tunnel needs it).
    local conf_changed=0
    {
        echo "# Written by batchspawner_x ci/cluster/net-up.sh from $BSX_SSHD_CONFIG;"
        echo "# runs inside network namespace $BSX_NET_NETNS. Overwritten on every run."
        sed -e '/^#/d' -e '/^AllowTcpForwarding /d' \
            -e "s|^Port .*|Port $BSX_NET_SSH_PORT|" \
            -e "s|^ListenAddress .*|ListenAddress $BSX_NET_LOGIN_IP|" \
            -e "s|^HostKey .*|HostKey $BSX_NET_SSH_HOST_KEY|" \
            -e "s|^PidFile .*|PidFile $BSX_NET_SSHD_PIDFILE|" \
            "$BSX_SSHD_CONFIG"
        echo "AllowTcpForwarding yes"
    } | write_if_changed "$BSX_NET_SSHD_CONFIG" 0644 && conf_changed=1
    install -d -m 0755 /run/sshd
    /usr/sbin/sshd -t -f "$BSX_NET_SSHD_CONFIG" || die "sshd -t rejects $BSX_NET_SSHD_CONFIG"
    if pid_from_file "$BSX_NET_SSHD_PIDFILE" /usr/sbin/sshd >/dev/null; then
        if ((conf_changed)); then
            log "sshd: config changed, restarting the login node"
            stop_pidfile net-sshd "$BSX_NET_SSHD_PIDFILE" /usr/sbin/sshd
        else
            log "sshd: login node already running in $BSX_NET_NETNS"
            return
        fi
    fi
    log "sshd: starting the login node in $BSX_NET_NETNS on $BSX_NET_LOGIN_IP:$BSX_NET_SSH_PORT"
    in_node_ns /usr/sbin/sshd -f "$BSX_NET_SSHD_CONFIG" -E "$BSX_NET_SSHD_LOG" ||
        die "sshd failed to start" "$BSX_NET_SSHD_LOG"
    wait_until 10 pid_from_file "$BSX_NET_SSHD_PIDFILE" /usr/sbin/sshd ||
        die "sshd wrote no live pid to $BSX_NET_SSHD_PIDFILE" "$BSX_NET_SSHD_LOG"
}

# --- 4. net.env and checks ---------------------------------------------------------------------

write_env() {
    if write_if_changed "$BSX_NET_ENV" 0644 <<EOF
BSX_NET_NETNS=$BSX_NET_NETNS
BSX_NET_USER=$BSX_NET_USER
BSX_NET_HUB_IP=$BSX_NET_HUB_IP
BSX_NET_LOGIN_IP=$BSX_NET_LOGIN_IP
BSX_NET_SSH_PORT=$BSX_NET_SSH_PORT
BSX_NET_KNOWN_HOSTS=$BSX_NET_KNOWN_HOSTS
BSX_NET_NODE_IP=$BSX_NET_NODE_IP
BSX_NET_IN_NODE=$BSX_NET_IN_NODE
BSX_NET_SSHD_CONFIG=$BSX_NET_SSHD_CONFIG
BSX_NET_SSHD_PIDFILE=$BSX_NET_SSHD_PIDFILE
BSX_NET_SSHD_LOG=$BSX_NET_SSHD_LOG
EOF
    then
        log "env: wrote $BSX_NET_ENV"
    fi
}

net_ssh() {
    ssh -p "$BSX_NET_SSH_PORT" -i "$BSX_KEYS_DIR/$BSX_NET_USER" \
        -o UserKnownHostsFile="$BSX_NET_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10 \
        "$BSX_NET_USER@$BSX_NET_LOGIN_IP" "$@"
}

check() {
    local out
    out=$(net_ssh squeue --noheader --user "$BSX_NET_USER" 2>&1) ||
        die "squeue as $BSX_NET_USER on the login node failed: $out" "$BSX_NET_SSHD_LOG" "$BSX_NET_SOCAT_LOG"
    # The wrapper puts the caller's command on the compute address, as the caller.
    out=$(runuser -u "$BSX_NET_USER" -- sudo -n "$BSX_NET_IN_NODE" /usr/bin/python3 -c "
import os, socket
s = socket.socket(); s.bind(('$BSX_NET_NODE_IP', 0)); print(os.getuid(), os.environ['HOME'])" 2>&1) ||
        die "the wrapper does not run a command on $BSX_NET_NODE_IP: $out"
    [[ $out == "$(id -u "$BSX_NET_USER") $(getent passwd "$BSX_NET_USER" | cut -d: -f6)" ]] ||
        die "the wrapper ran the command as '$out', not as $BSX_NET_USER"
    # ... which the hub's namespace has no route to.
    if out=$(python3 -c "
import socket
socket.create_connection(('$BSX_NET_NODE_IP', 9), 3)" 2>&1); then
        die "the root namespace reaches $BSX_NET_NODE_IP: the test would prove nothing"
    fi
    [[ $out == *"No route to host"* ]] || die "connecting to $BSX_NET_NODE_IP failed, but not for want of a route: $out"
    log "check: squeue through the login node, the wrapper, and no route from the hub to $BSX_NET_NODE_IP"
}

install_packages
check_prerequisites
setup_network
setup_wrapper
setup_slurm_bridge
setup_sshd
write_env
check

cat <<EOF

== unreachable-compute-node network is up ($((SECONDS - START_TIME)) s) ==
  netns   : $BSX_NET_NETNS; hub $BSX_NET_HUB_IP <-> login $BSX_NET_LOGIN_IP; compute $BSX_NET_NODE_IP (no route from the hub)
  ssh     : $BSX_NET_USER@$BSX_NET_LOGIN_IP:$BSX_NET_SSH_PORT (sshd pid $(pid_from_file "$BSX_NET_SSHD_PIDFILE" /usr/sbin/sshd || echo '?')), known_hosts $BSX_NET_KNOWN_HOSTS
  slurm   : socat pid $(pid_from_file "$BSX_NET_SOCAT_PIDFILE" /usr/bin/socat || echo '?') bridges $BSX_NET_NETNS's 127.0.0.1:$BSX_NET_SLURM_PORT to slurmctld
  wrapper : sudo -n $BSX_NET_IN_NODE CMD (as $BSX_NET_USER)
  env     : $BSX_NET_ENV
EOF
