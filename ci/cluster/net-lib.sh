# shellcheck shell=bash
# Paths of the "unreachable compute node" test network, shared by
# ci/cluster/net-up.sh and ci/cluster/net-down.sh. Sourced after lib.sh.
# shellcheck disable=SC2034,SC2153

# The compute side lives in network namespace bsxnode, joined to the root
# namespace (the hub's) by a veth pair. The hub reaches the login node's
# address on that link; the compute address sits on the namespace's lo,
# behind an "unreachable" route in the root namespace.
BSX_NET_NETNS=bsxnode
BSX_NET_NETNS_PATH=/run/netns/$BSX_NET_NETNS
BSX_NET_ROOTNS=/run/bsx-rootns                      # the root namespace, pinned (as sge-up.sh does)
BSX_NET_VETH_HUB=bsxn0                              # root-namespace end
BSX_NET_VETH_NODE=bsxn1                             # bsxnode end
BSX_NET_HUB_IP=10.250.0.1                           # the hub's address, as the nodes see it
BSX_NET_LOGIN_IP=10.250.0.2                         # the login node, reachable from the hub
BSX_NET_LINK_PREFIX=30
BSX_NET_NODE_IP=10.251.0.2                          # the compute address, not reachable from the hub
BSX_NET_NODE_NET=10.251.0.0/24

BSX_NET_DIR=$BSX_TEST_DIR/net
BSX_NET_ENV=$BSX_TEST_DIR/net.env
BSX_NET_IN_NODE=$BSX_NET_DIR/in-node                # sudo wrapper: run a command in bsxnode as the caller
BSX_NET_SUDOERS=/etc/sudoers.d/batchspawner-x-test-net
BSX_NET_USER=grace                                  # the only user allowed to use the wrapper

# The login node: an sshd inside bsxnode on $BSX_NET_LOGIN_IP:22.
BSX_NET_SSH_PORT=22
BSX_NET_SSHD_CONFIG=$BSX_NET_DIR/sshd_config
BSX_NET_SSH_HOST_KEY=$BSX_NET_DIR/ssh_host_ed25519_key
BSX_NET_KNOWN_HOSTS=$BSX_NET_DIR/ssh_known_hosts
BSX_NET_SSHD_PIDFILE=/run/batchspawner-x-test-net-sshd.pid
BSX_NET_SSHD_LOG=/var/log/batchspawner-x-test-net-sshd.log

# Slurm's clients on the login node reach slurmctld (127.0.0.1:6817 in the
# root namespace) through a socat bridge listening on bsxnode's 127.0.0.1:6817.
BSX_NET_SLURM_PORT=6817
BSX_NET_SLURM_BRIDGE=$BSX_NET_DIR/slurmctld-bridge
BSX_NET_SOCAT_PIDFILE=/run/batchspawner-x-test-net-socat.pid
BSX_NET_SOCAT_LOG=/var/log/batchspawner-x-test-net-socat.log

in_node_ns() { nsenter --net="$BSX_NET_NETNS_PATH" "$@"; }
