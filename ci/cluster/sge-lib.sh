# shellcheck shell=bash
# Paths of the Son of Grid Engine test cluster, shared by ci/cluster/sge-up.sh
# and ci/cluster/sge-down.sh. Sourced after lib.sh, never executed.
# shellcheck disable=SC2034

# Debian's cell (gridengine-common's defaults): every SGE command finds it
# through /etc/default/gridengine, the variables are for the tests' benefit.
SGE_ROOT=/var/lib/gridengine
SGE_CELL=default
SGE_COMMON=$SGE_ROOT/$SGE_CELL/common
SGE_HOST=localhost                                   # the one host, after host_aliases
SGE_QMASTER_EXE=/usr/lib/gridengine/sge_qmaster     # /usr/sbin/sge_* are wrapper scripts
SGE_EXECD_EXE=/usr/lib/gridengine/sge_execd
SGE_QMASTER_PIDFILE=/var/spool/gridengine/qmaster/qmaster.pid
SGE_QMASTER_LOG=/var/spool/gridengine/qmaster/messages
SGE_EXECD_PIDFILE=/var/spool/gridengine/execd/$SGE_HOST/execd.pid
SGE_EXECD_LOG=/var/spool/gridengine/execd/$SGE_HOST/messages

# The daemons bind 0.0.0.0 with no option to change it, so they live in a
# network namespace that has only lo; the jobs run in the root namespace.
BSX_SGE_NETNS=bsxsge
BSX_SGE_NETNS_PATH=/run/netns/$BSX_SGE_NETNS
BSX_ROOTNS=/run/bsx-rootns                           # the root namespace, pinned

# Everything root-owned that the scripts write.
BSX_SGE_DIR=$BSX_TEST_DIR/sge
BSX_SGE_ENV=$BSX_TEST_DIR/sge.env
BSX_SGE_SHEPHERD=$BSX_SGE_DIR/shepherd-rootns        # the global shepherd_cmd
BSX_SGE_BRIDGE=$BSX_SGE_DIR/ssh-bridge               # what socat runs per connection

# The login node: an sshd inside the namespace, reached through a socat
# bridge on 127.0.0.1:2223 in the root namespace.
BSX_SGE_SSHD_CONFIG=$BSX_SGE_DIR/sshd_config
BSX_SGE_SSH_HOST_KEY=$BSX_SGE_DIR/ssh_host_ed25519_key
BSX_SGE_KNOWN_HOSTS=$BSX_SGE_DIR/ssh_known_hosts
BSX_SGE_SSHD_PIDFILE=/run/batchspawner-x-test-sge-sshd.pid
BSX_SGE_SSHD_LOG=/var/log/batchspawner-x-test-sge-sshd.log
BSX_SGE_INNER_SSH_PORT=22                            # inside the namespace
BSX_SGE_SSH_PORT=2223                                # the bridge, root namespace
BSX_SGE_SOCAT_PIDFILE=/run/batchspawner-x-test-sge-socat.pid
BSX_SGE_SOCAT_LOG=/var/log/batchspawner-x-test-sge-socat.log

# What the test cluster offers (also written to sge.env for the tests).
BSX_SGE_QUEUE=all.q
BSX_SGE_PE=smp
BSX_SGE_PROJECT=bsx
BSX_SGE_GPUS=2                                       # a consumable "gpu" count, no real GPU

# in_sge_ns CMD...: run CMD in the daemons' namespace (nsenter keeps the
# mount namespace, unlike `ip netns exec`).
in_sge_ns() { nsenter --net="$BSX_SGE_NETNS_PATH" "$@"; }
