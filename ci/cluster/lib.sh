# shellcheck shell=bash
# Shared paths and helpers for ci/cluster/up.sh and ci/cluster/down.sh.
# Sourced, never executed. Keep the paths here in sync with README.md.
# The variables are used by the scripts that source this file:
# shellcheck disable=SC2034

# --- paths -----------------------------------------------------------------
BSX_TEST_DIR=/etc/batchspawner-x-test              # root-owned test-cluster config
BSX_KEYS_DIR=$BSX_TEST_DIR/keys                    # hub-side private keys, one per user
BSX_SSHD_CONFIG=$BSX_TEST_DIR/sshd_config
BSX_SSH_HOST_KEY=$BSX_TEST_DIR/ssh_host_ed25519_key
BSX_KNOWN_HOSTS=$BSX_TEST_DIR/ssh_known_hosts
BSX_USER_CA=$BSX_TEST_DIR/user_ca                  # SSH user CA the test sshd trusts (private half: hub-side, 0600)
BSX_CLUSTER_ENV=$BSX_TEST_DIR/cluster.env
BSX_SSHD_PIDFILE=/run/batchspawner-x-test-sshd.pid
BSX_SSHD_LOG=/var/log/batchspawner-x-test-sshd.log # sshd -E (there is no syslog here)
BSX_SSH_HOST=127.0.0.1
BSX_SSH_PORT=2222
# A second login node of the same Slurm cluster (login-node failover): its own sshd, host
# key, pidfile and log, the same users, keys and CA. (2223 is the Grid Engine bridge.)
BSX_SSHD2_CONFIG=$BSX_TEST_DIR/sshd_config2
BSX_SSH_HOST_KEY2=$BSX_TEST_DIR/ssh_host_ed25519_key2
BSX_SSHD2_PIDFILE=/run/batchspawner-x-test-sshd2.pid
BSX_SSHD2_LOG=/var/log/batchspawner-x-test-sshd2.log
BSX_SSH_PORT2=2224
BSX_VENV=/opt/batchspawner-x/venv
# bare node environments (jupyterhub + jupyterlab only), made by node-envs.sh
BSX_NODE_ENV_JH41=/opt/bsx-node-env/jh41
BSX_NODE_ENV_JH5X=/opt/bsx-node-env/jh5x
# ivan: accounts, QOS and reservations (tests/integration/test_accounts.py), nobody else's.
# slurmop: the Slurm operator identity (AdminLevel=Operator in slurmdbd), the account
# that may raise a job's TimeLimit; jobs never run as it.
BSX_TEST_USERS=(alice bob carol dave erin frank grace heidi ivan slurmop)

SLURM_CONF=/etc/slurm/slurm.conf
SLURMCTLD_PIDFILE=/run/slurm/slurmctld.pid
SLURMD_PIDFILE=/run/slurm/slurmd.pid
SLURMCTLD_LOG=/var/log/slurm/slurmctld.log
SLURMD_LOG=/var/log/slurm/slurmd.log
MUNGE_KEY=/etc/munge/munge.key
MUNGED_PIDFILE=/run/munge/munged.pid               # munged's built-in default
MUNGED_LOG=/var/log/munge/munged.log
# Accounting: slurmdbd over Debian's MariaDB, both local only.
SLURMDBD_CONF=/etc/slurm/slurmdbd.conf
SLURMDBD_PIDFILE=/run/slurm/slurmdbd.pid
SLURMDBD_LOG=/var/log/slurm/slurmdbd.log
SLURMDBD_PORT=6819
MARIADB_PIDFILE=/run/mysqld/mysqld.pid
MARIADB_SOCKET=/run/mysqld/mysqld.sock
MARIADB_LOG=/var/log/mysql/bsx-mariadb.log
SLURM_DB=slurm_acct_db

# --- helpers ---------------------------------------------------------------
log() { printf '[%s] %s\n' "${0##*/}" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "${0##*/}" "$*" >&2; }

# require_root: exit with a message unless the script runs as root.
require_root() {
    if [[ $EUID -ne 0 ]]; then
        echo "${0##*/}: must run as root" >&2
        exit 1
    fi
}

# pid_from_file PIDFILE EXE: print the pid in PIDFILE if that process is alive,
# not a zombie, and runs EXE; otherwise print nothing and return 1.
# PID 1 on these machines never reaps, so a dead daemon stays a zombie and
# `kill -0` alone would call it alive; a recycled pid would fool it too.
pid_from_file() {
    local pidfile=$1 exe=$2 pid state
    # The daemon may remove its pidfile at any moment: read it in one go.
    pid=$(cat -- "$pidfile" 2>/dev/null) || return 1
    pid=${pid//[!0-9]/}
    [[ -n $pid ]] || return 1
    [[ -r /proc/$pid/stat ]] || return 1
    # Field 3 of /proc/PID/stat is the state; the comm field before it may
    # contain spaces, so strip everything up to the closing parenthesis.
    state=$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1) || return 1
    [[ $state != Z && $state != X ]] || return 1
    # Compare resolved paths: /usr/sbin/slurmctld is an alternatives symlink
    # to slurmctld-wlm, and /proc/PID/exe shows the real file.
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$(readlink -f "$exe")" ]] || return 1
    printf '%s\n' "$pid"
}

# stop_pidfile NAME PIDFILE EXE: SIGTERM the daemon named by PIDFILE (only if
# it really is EXE), wait up to 15 s, then SIGKILL. Removes the pidfile.
stop_pidfile() {
    local name=$1 pidfile=$2 exe=$3 pid i
    if ! pid=$(pid_from_file "$pidfile" "$exe"); then
        log "$name: not running (no live pid in $pidfile)"
        rm -f "$pidfile"
        return 0
    fi
    log "$name: stopping pid $pid"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        pid_from_file "$pidfile" "$exe" >/dev/null || break
        sleep 0.1
    done
    if pid_from_file "$pidfile" "$exe" >/dev/null; then
        warn "$name: pid $pid ignored SIGTERM for 15 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$pidfile"
}

# write_if_changed FILE MODE: write stdin to FILE (mode MODE, owner root) only
# when the content differs. Returns 0 if the file changed, 1 if it did not.
write_if_changed() {
    local file=$1 mode=$2 tmp
    tmp=$(mktemp "$file.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
        chmod "$mode" "$file"
        return 1
    fi
    mv -f "$tmp" "$file"
    return 0
}

# wait_until SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 on timeout.
wait_until() {
    local tenths=$(($1 * 10)) i
    shift
    for ((i = 0; i < tenths; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# pkg_installed PKG: true if dpkg has PKG fully installed.
pkg_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}
