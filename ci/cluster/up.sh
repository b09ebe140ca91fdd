#!/usr/bin/env bash
# Bring up the single-machine test cluster for batchspawner_x:
#   munged + slurmctld + slurmd (node "localhost", partitions debug/interactive),
#   accounting: MariaDB (unix socket only) + slurmdbd, with accounts, a QOS, the
#   test users' associations and an operator identity (setup_accounts),
#   a dedicated sshd on 127.0.0.1:2222 (the "login node"), and a second one on
#   127.0.0.1:2224 (another login node of the same cluster, for failover tests),
#   test users alice and bob with hub-side SSH keys,
#   the single-user venv /opt/batchspawner-x/venv,
#   bare node environments under /opt/bsx-node-env (node-envs.sh),
#   the optional JupyterLab extension (labextension/) in the venv (labext.sh),
#   /etc/batchspawner-x-test/cluster.env describing all of it.
#
# Usage: ci/cluster/up.sh [--repo DIR]      (as root)
#   --repo DIR   also `pip install DIR` (non-editable) into the single-user venv,
#                redone on every run so code changes land.
# Env:  BSX_SINGLEUSER_JUPYTERHUB  jupyterhub version for the venv (default 6.1.1)
#
# Idempotent: a service that is already running and healthy (live pid from its
# pidfile, or a health command) is left alone. Processes are never looked up by
# name. See /work/shared/cluster.md for the facts this relies on.
# -E: the ERR trap below also fires inside functions.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

JUPYTERHUB_VERSION=${BSX_SINGLEUSER_JUPYTERHUB:-6.1.1}
REPO=""
PROJECT_NOTE="" # for the summary: what happened to --repo
START_TIME=$SECONDS

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }

while (($#)); do
    case $1 in
        --repo)
            [[ $# -ge 2 ]] || { echo "up.sh: --repo needs a directory" >&2; exit 2; }
            REPO=$2
            shift 2
            ;;
        --repo=*) REPO=${1#--repo=}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "up.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

require_root
if [[ -n $REPO ]]; then
    [[ -d $REPO ]] || { echo "up.sh: --repo $REPO is not a directory" >&2; exit 2; }
    REPO=$(cd "$REPO" && pwd)
fi

# Everything we create (venv, cluster.env, known_hosts) must be readable by
# the test users; do not inherit a stricter umask from CI.
umask 022
export DEBIAN_FRONTEND=noninteractive
# Run from a directory every user can enter (runuser keeps the cwd).
cd /

# --- failure reporting ------------------------------------------------------

# tail_log FILE: show the last lines of FILE (if any) on stderr.
tail_log() {
    local f=$1
    if [[ -s $f ]]; then
        echo "----- last 30 lines of $f -----" >&2
        tail -n 30 "$f" >&2
        echo "-----" >&2
    else
        echo "(no log at $f)" >&2
    fi
}

# die MESSAGE [LOGFILE...]: print MESSAGE and the tails of LOGFILEs, exit 1.
die() {
    local msg=$1
    shift
    echo "up.sh: ERROR: $msg" >&2
    local f
    for f in "$@"; do tail_log "$f"; done
    exit 1
}

# on_err LINE: report an unexpected failure (set -e would otherwise exit silently).
on_err() {
    local rc=$?
    echo "up.sh: ERROR: command failed (exit $rc) at line $1: $BASH_COMMAND" >&2
    exit "$rc"
}
trap 'on_err $LINENO' ERR

# --- 1. packages ------------------------------------------------------------

install_packages() {
    # chromium: the browser tests drive Debian's chromium through playwright.
    # mariadb-server, slurmdbd: accounting (section 4). On a machine without them they
    # add about 30 s to the install (33 packages, seen on Debian 12).
    local want=(slurm-wlm munge openssh-server openssh-client python3-venv sudo chromium
        mariadb-server slurmdbd)
    # Node may come from NodeSource (its nodejs bundles npm and Conflicts: npm),
    # so ask apt for nodejs/npm only when the commands are missing.
    command -v node >/dev/null 2>&1 || want+=(nodejs)
    command -v npm >/dev/null 2>&1 || want+=(npm)

    local missing=() p
    for p in "${want[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        log "apt: installing ${missing[*]}"
        apt-get update
        apt-get install -y "${want[@]}"
    else
        log "apt: all packages already installed"
    fi

    if command -v configurable-http-proxy >/dev/null 2>&1; then
        log "npm: configurable-http-proxy already at $(command -v configurable-http-proxy)"
    else
        log "npm: installing configurable-http-proxy@5"
        # Works on Node 20 despite an EBADENGINE warning.
        npm install -g --no-fund --no-audit configurable-http-proxy@5
        hash -r
        command -v configurable-http-proxy >/dev/null 2>&1 ||
            die "configurable-http-proxy not on PATH after npm install -g (npm prefix: $(npm prefix -g))"
    fi
}

# --- 2. test users and their keys ---------------------------------------------

setup_users() {
    install -d -m 0755 -o root -g root "$BSX_TEST_DIR"
    install -d -m 0700 -o root -g root "$BSX_KEYS_DIR"
    local u home key
    for u in "${BSX_TEST_USERS[@]}"; do
        if ! id -u "$u" >/dev/null 2>&1; then
            log "users: creating $u"
            useradd -m -s /bin/bash "$u"
        fi
        # useradd leaves the account locked ('!'); with UsePAM no, sshd then
        # refuses even key logins. '*' = no password, but not locked.
        usermod -p '*' "$u"
        home=$(getent passwd "$u" | cut -d: -f6)

        # Hub-side private key, root-only.
        key=$BSX_KEYS_DIR/$u
        if [[ ! -s $key ]]; then
            log "users: generating ed25519 key for $u"
            rm -f "$key" "$key.pub"
            ssh-keygen -q -t ed25519 -N '' -C "$u@batchspawner-x-test" -f "$key"
        fi
        [[ -s $key.pub ]] || ssh-keygen -y -f "$key" >"$key.pub"
        chown root:root "$key" "$key.pub"
        chmod 0600 "$key"
        chmod 0644 "$key.pub"

        # User-side authorized_keys: add our key once, keep anything else.
        install -d -m 0700 -o "$u" -g "$u" "$home/.ssh"
        touch "$home/.ssh/authorized_keys"
        if ! grep -qxF -- "$(cat "$key.pub")" "$home/.ssh/authorized_keys"; then
            cat "$key.pub" >>"$home/.ssh/authorized_keys"
        fi
        chown "$u:$u" "$home/.ssh/authorized_keys"
        chmod 0600 "$home/.ssh/authorized_keys"
    done
}

# --- 3. munge -------------------------------------------------------------------

munge_healthy() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

setup_munge() {
    if [[ ! -s $MUNGE_KEY ]]; then
        log "munge: creating $MUNGE_KEY"
        install -d -m 0700 -o munge -g munge "$(dirname "$MUNGE_KEY")"
        mungekey --create --keyfile="$MUNGE_KEY"
    fi
    chown munge:munge "$MUNGE_KEY"
    chmod 0400 "$MUNGE_KEY"

    if munge_healthy; then
        log "munge: munged already running and healthy"
        return
    fi
    install -d -m 0755 -o munge -g munge /run/munge
    install -d -m 0700 -o munge -g munge /var/log/munge
    install -d -m 0711 -o munge -g munge /var/lib/munge
    log "munge: starting munged"
    # --force: take over a stale socket left by a killed munged.
    runuser -u munge -- /usr/sbin/munged --force ||
        die "munged failed to start" "$MUNGED_LOG"
    local i
    for ((i = 0; i < 100; i++)); do
        munge_healthy && return
        sleep 0.1
    done
    die "munged started but 'munge -n | unmunge' fails" "$MUNGED_LOG"
}

# --- 4. accounting: MariaDB + slurmdbd ------------------------------------------
# Facts (Debian 12, slurmdbd 22.05.8, MariaDB 10.11, seen on this machine kind):
# - `apt-get install mariadb-server slurmdbd` starts neither (policy-rc.d) and leaves
#   an initialised /var/lib/mysql. MariaDB is started here directly with
#   --skip-networking: it listens on its unix socket only. root@localhost logs in
#   over that socket as the OS root (unix_socket authentication): no root password.
# - slurmdbd refuses a slurmdbd.conf that is not mode 600 and owned by SlurmUser.
#   StorageHost=localhost makes the MySQL client use the default socket.
# - slurmctld takes up AccountingStorageType only when restarted (not on
#   `scontrol reconfigure`); it then registers with slurmdbd as cluster "bsx",
#   added beforehand with `sacctmgr -i add cluster bsx`.
# - slurmdbd 22.05 cannot be bound to loopback (its CommunicationParameters know no
#   NoInAddrAny): it listens on 0.0.0.0:6819. Every request needs a munge
#   credential made with this machine's key.
# - sacctmgr talks to slurmdbd, not slurmctld (it works while slurmctld is down),
#   but finds it through slurm.conf: without AccountingStorageType=...slurmdbd there
#   it says "You are not running a supported accounting_storage plugin".

DBD_PASS="" # the database password of Slurm's storage user, kept in slurmdbd.conf

mariadb_healthy() { mariadb-admin --socket="$MARIADB_SOCKET" ping >/dev/null 2>&1; }

setup_mariadb() {
    if mariadb_healthy; then
        log "mariadb: already running"
    else
        install -d -m 0755 -o mysql -g mysql /run/mysqld
        install -d -m 0750 -o mysql -g adm /var/log/mysql
        [[ -d /var/lib/mysql/mysql ]] ||
            mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
        log "mariadb: starting (unix socket $MARIADB_SOCKET only, no TCP)"
        # mariadbd does not daemonise: run it in its own session, detached.
        setsid /usr/sbin/mariadbd --user=mysql --skip-networking \
            --socket="$MARIADB_SOCKET" --pid-file="$MARIADB_PIDFILE" \
            --log-error="$MARIADB_LOG" </dev/null >/dev/null 2>&1 &
        wait_until 60 mariadb_healthy ||
            die "mariadb not answering on $MARIADB_SOCKET after 60 s" "$MARIADB_LOG"
    fi
    # Keep the password slurmdbd.conf already has; make one on the first run.
    if [[ -f $SLURMDBD_CONF ]]; then
        DBD_PASS=$(sed -n 's/^StoragePass=//p' "$SLURMDBD_CONF")
    fi
    [[ -n $DBD_PASS ]] || DBD_PASS=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    # The password travels on stdin, never in an argv.
    mariadb --socket="$MARIADB_SOCKET" <<SQL ||
CREATE DATABASE IF NOT EXISTS $SLURM_DB;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBD_PASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DBD_PASS';
GRANT ALL ON $SLURM_DB.* TO 'slurm'@'localhost';
SQL
        die "mariadb: creating database $SLURM_DB and its user failed" "$MARIADB_LOG"
}

slurmdbd_healthy() { sacctmgr -n -P show cluster format=cluster >/dev/null 2>&1; }

setup_slurmdbd() {
    local conf_changed=0
    if write_if_changed "$SLURMDBD_CONF" 0600 <<EOF; then
# Written by batchspawner_x ci/cluster/up.sh; overwritten on every run (the
# password is kept). Mode 600, owned by slurm: slurmdbd refuses anything else.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$SLURMDBD_PORT
SlurmUser=slurm
PidFile=$SLURMDBD_PIDFILE
LogFile=$SLURMDBD_LOG
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DBD_PASS
StorageLoc=$SLURM_DB
EOF
        conf_changed=1
    fi
    chown slurm:slurm "$SLURMDBD_CONF"
    install -d -m 0755 -o slurm -g slurm /run/slurm /var/log/slurm
    if ((conf_changed)) && pid_from_file "$SLURMDBD_PIDFILE" /usr/sbin/slurmdbd >/dev/null; then
        log "slurmdbd: config changed, restarting"
        stop_pidfile slurmdbd "$SLURMDBD_PIDFILE" /usr/sbin/slurmdbd
    fi
    if pid_from_file "$SLURMDBD_PIDFILE" /usr/sbin/slurmdbd >/dev/null; then
        log "slurmdbd: already running"
    else
        log "slurmdbd: starting"
        /usr/sbin/slurmdbd || die "slurmdbd failed to start" "$SLURMDBD_LOG"
    fi
    # The first start creates the tables: allow a minute on 2 slow cores.
    wait_until 60 slurmdbd_healthy || die "slurmdbd not answering sacctmgr after 60 s" "$SLURMDBD_LOG"
    if ! sacctmgr -n -P show cluster format=cluster | grep -qxF bsx; then
        log "slurmdbd: adding cluster bsx"
        sacctmgr -i add cluster bsx >/dev/null || die "sacctmgr add cluster bsx failed" "$SLURMDBD_LOG"
    fi
}

# --- 5. Slurm -------------------------------------------------------------------

write_slurm_conf() {
    install -d -m 0755 /etc/slurm
    write_if_changed "$SLURM_CONF" 0644 <<EOF
# Written by batchspawner_x ci/cluster/up.sh; overwritten on every run.
# Single-node test cluster: everything on 127.0.0.1, no cgroups; accounting in slurmdbd.
ClusterName=bsx
SlurmctldHost=localhost(127.0.0.1)
AuthType=auth/munge
SlurmUser=slurm
SlurmctldPidFile=$SLURMCTLD_PIDFILE
SlurmdPidFile=$SLURMD_PIDFILE
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldLogFile=$SLURMCTLD_LOG
SlurmdLogFile=$SLURMD_LOG
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
# --mem and --cpus-per-task are scheduled (memory is bookkeeping only here).
SelectTypeParameters=CR_Core_Memory
# Daemons bind 127.0.0.1 only.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
# Impossible requests fail at submit time instead of pending forever.
EnforcePartLimits=ALL
# Finished jobs stay visible to squeue --states=all / scontrol for 5 minutes.
MinJobAge=300
# A job without --mem gets 256 MB per CPU rather than the whole node's memory,
# so one such job does not keep every other job pending for "Resources".
DefMemPerCPU=256
MailProg=/bin/true
# Accounting through slurmdbd on this machine: sacct, and sacctmgr's accounts, QOS
# and AdminLevel (the operator who may raise a job's TimeLimit). Deliberately no
# AccountingStorageEnforce: a user without an association still submits.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$SLURMDBD_PORT
# Let the node claim more CPUs/memory than the machine has (2 cores here).
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=64 RealMemory=20000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=interactive Nodes=localhost MaxTime=INFINITE State=UP
EOF
}

slurmctld_healthy() {
    local out
    out=$(scontrol ping 2>/dev/null) || return 1
    [[ $out == *'is UP'* ]]
}

# node_state: the compact sinfo state of node localhost (e.g. idle, mix, down*).
node_state() {
    local out
    out=$(sinfo -h -N -n localhost -o %t 2>/dev/null) || true
    printf '%s\n' "${out%%$'\n'*}"
}

setup_slurm() {
    local conf_changed=0
    if write_slurm_conf; then
        conf_changed=1
        log "slurm: wrote $SLURM_CONF"
    fi
    install -d -m 0755 -o slurm -g slurm /run/slurm /var/log/slurm /var/lib/slurm
    install -d -m 0700 -o slurm -g slurm /var/lib/slurm/slurmctld
    install -d -m 0755 -o root -g root /var/lib/slurm/slurmd
    # slurmctld registers with slurmdbd when it starts, and sacctmgr reads the
    # accounting settings from slurm.conf: now, between the two.
    setup_slurmdbd

    # A changed config (node or partition lines) needs fresh daemons.
    if ((conf_changed)) &&
        { pid_from_file "$SLURMCTLD_PIDFILE" /usr/sbin/slurmctld >/dev/null ||
            pid_from_file "$SLURMD_PIDFILE" /usr/sbin/slurmd >/dev/null; }; then
        log "slurm: config changed, restarting daemons"
        stop_pidfile slurmd "$SLURMD_PIDFILE" /usr/sbin/slurmd
        stop_pidfile slurmctld "$SLURMCTLD_PIDFILE" /usr/sbin/slurmctld
    fi

    local i
    if pid_from_file "$SLURMCTLD_PIDFILE" /usr/sbin/slurmctld >/dev/null || slurmctld_healthy; then
        log "slurm: slurmctld already running"
    else
        log "slurm: starting slurmctld"
        /usr/sbin/slurmctld || die "slurmctld failed to start" "$SLURMCTLD_LOG"
    fi
    for ((i = 0; i < 300; i++)); do
        slurmctld_healthy && break
        sleep 0.1
    done
    slurmctld_healthy || die "slurmctld not answering 'scontrol ping' after 30 s" "$SLURMCTLD_LOG"

    local slurmd_started=""
    if pid_from_file "$SLURMD_PIDFILE" /usr/sbin/slurmd >/dev/null; then
        log "slurm: slurmd already running"
    else
        slurmd_started=$(date +%s)
        log "slurm: starting slurmd -N localhost"
        /usr/sbin/slurmd -N localhost || die "slurmd failed to start" "$SLURMD_LOG"
    fi

    # Wait (bounded) for the node to be usable; resume it if it is down/drained.
    local state="" resumed=0
    for ((i = 0; i < 300; i++)); do
        state=$(node_state)
        case $state in
            idle | mix | alloc | comp) break ;;
            down | drain | drng | fail | failg)
                if ((!resumed)); then
                    log "slurm: node is '$state', resuming"
                    scontrol update nodename=localhost state=resume || true
                    resumed=1
                fi
                ;;
        esac
        sleep 0.1
    done
    case $state in
        idle | mix | alloc | comp) log "slurm: node localhost is $state" ;;
        *) die "node localhost is '${state:-unknown}' after 30 s" "$SLURMCTLD_LOG" "$SLURMD_LOG" ;;
    esac
    [[ -z $slurmd_started ]] || end_lost_jobs "$slurmd_started"
}

# end_lost_jobs EPOCH: cancel the jobs slurmctld still counts as running although
# their processes died with the daemons (the machine or its processes were killed).
# slurmctld recovers such a job from its saved state, and the restarted slurmd only
# purges its script: the job stays RUNNING, holds its CPUs and memory, and is never
# ended. A job is lost when it started before EPOCH (slurmd's start in this run, so
# no job this run launched is touched) and no slurmstepd answers for it on the node
# (`scontrol listpids` talks to the job's slurmstepd over its socket in the spool
# directory).
end_lost_jobs() {
    local since=$1 out id user start host started
    out=$(squeue -h -t RUNNING,SUSPENDED -o '%A|%u|%S|%B' 2>&1) ||
        die "squeue (looking for jobs lost with the old daemons): $out" "$SLURMCTLD_LOG"
    while IFS='|' read -r id user start host; do
        [[ $id =~ ^[0-9]+$ && $host == localhost ]] || continue
        started=$(date -d "$start" +%s 2>/dev/null) || continue
        ((started < since)) || continue
        scontrol listpids "$id" >/dev/null 2>&1 && continue
        log "slurm: job $id ($user) was running when the old daemons stopped and its processes are gone; cancelling it"
        scancel "$id" || warn "slurm: scancel $id failed"
    done <<<"$out"
}

# Submit a real job as alice, see it in squeue/scontrol, and wait for it to end.
check_slurm_job() {
    local out jobid i info
    out=$(runuser -u alice -- sbatch --parsable --chdir=/tmp --output=/dev/null \
        --job-name=bsx-up-check --mem=16M --wrap true 2>&1) ||
        die "sbatch as alice was rejected: $out" "$SLURMCTLD_LOG"
    jobid=${out%%;*}
    [[ $jobid =~ ^[0-9]+$ ]] || die "sbatch printed no job id: $out" "$SLURMCTLD_LOG"
    out=$(squeue -h --states=all -j "$jobid" -o '%i' 2>&1) || true
    [[ $out == "$jobid" ]] || die "squeue does not see job $jobid: $out" "$SLURMCTLD_LOG"
    for ((i = 0; i < 300; i++)); do
        info=$(scontrol show job "$jobid" 2>&1) || die "scontrol show job $jobid: $info" "$SLURMCTLD_LOG"
        [[ $info == *JobState=COMPLETED* ]] && break
        [[ $info == *JobState=FAILED* || $info == *JobState=CANCELLED* ||
            $info == *JobState=NODE_FAIL* || $info == *JobState=TIMEOUT* ]] &&
            die "test job $jobid ended badly: $(grep -o 'JobState=[^ ]*\|ExitCode=[^ ]*\|Reason=[^ ]*' <<<"$info" | tr '\n' ' ')" \
                "$SLURMCTLD_LOG" "$SLURMD_LOG"
        sleep 0.1
    done
    [[ $info == *JobState=COMPLETED* ]] ||
        die "test job $jobid did not complete in 30 s: $(grep -o 'JobState=[^ ]*\|Reason=[^ ]*' <<<"$info" | tr '\n' ' ')" \
            "$SLURMCTLD_LOG" "$SLURMD_LOG"
    log "slurm: test job $jobid (alice) accepted, seen by squeue/scontrol, COMPLETED"
}

# --- 5a. accounts, QOS, associations, the operator --------------------------------
# Every test user has an association with account physics (its default, QOS normal),
# so a job that names no account is charged as before. ivan (tests/integration/
# test_accounts.py) also has chemistry, whose association may use QOS normal and
# high; biology exists with no user, an account ivan may not use. slurmop is the
# operator identity (issue 17's extend): AdminLevel=Operator lets it raise a running
# job's TimeLimit (`scontrol update JobId=N TimeLimit=10`, or `TimeLimit=+5`). Seen
# on a RUNNING job: the owner's raise fails, exit 1, "Access/permission denied for
# job N" (lowering works); another user's fails, exit 1, "Invalid user id for job
# N"; slurmop's works, also over SSH. A PENDING job's owner may raise it.
# AdminLevel lives in slurmdbd: without it only root and SlurmUser may raise.
# sacctmgr names are lower case. Every step asks first, so a re-run adds nothing.
BSX_ACCOUNTS=(physics chemistry biology)

# sacctmgr_list ARGS...: sacctmgr's answer, no header, fields split by |.
sacctmgr_list() { sacctmgr -n -P show "$@"; }

setup_accounts() {
    # One question per kind (each sacctmgr call costs about 0.25 s here).
    local a u accounts qos assocs missing=()
    accounts=$(sacctmgr_list account format=account)
    for a in "${BSX_ACCOUNTS[@]}"; do
        grep -qxF "$a" <<<"$accounts" || missing+=("$a")
    done
    if ((${#missing[@]})); then # one call for all: names joined by commas
        sacctmgr -i add account "$(IFS=,; echo "${missing[*]}")" description=test organization=bsx >/dev/null
    fi
    missing=()
    qos=$(sacctmgr_list qos format=name)
    grep -qxF high <<<"$qos" || sacctmgr -i add qos high priority=10 >/dev/null
    assocs=$(sacctmgr_list assoc cluster=bsx format=user,account,qos)
    for u in "${BSX_TEST_USERS[@]}"; do
        grep -q "^$u|physics|" <<<"$assocs" || missing+=("$u")
    done
    if ((${#missing[@]})); then # one call for all: names joined by commas
        sacctmgr -i add user "$(IFS=,; echo "${missing[*]}")" account=physics defaultaccount=physics >/dev/null
    fi
    grep -q '^ivan|chemistry|' <<<"$assocs" || sacctmgr -i add user ivan account=chemistry >/dev/null
    grep -qxF 'ivan|chemistry|high,normal' <<<"$assocs" ||
        sacctmgr -i modify user ivan where account=chemistry set qos=normal,high >/dev/null
    [[ $(sacctmgr_list user slurmop format=adminlevel) == Operator ]] ||
        sacctmgr -i modify user slurmop set adminlevel=Operator >/dev/null
    log "accounts: ivan has $(sacctmgr_list assoc user=ivan format=account,qos | paste -sd' ')" \
        "(account|QOS); slurmop is $(sacctmgr_list user slurmop format=adminlevel)"
}

# --- 6. the test sshd (login node) ----------------------------------------------

# write_sshd_config CONFIG PORT HOSTKEY PIDFILE: one login node's sshd_config (the
# same for both login nodes but for these four).
write_sshd_config() {
    write_if_changed "$1" 0644 <<EOF
# Written by batchspawner_x ci/cluster/up.sh; overwritten on every run.
# A separate sshd for the test cluster; the system sshd (if any) is untouched.
Port $2
ListenAddress $BSX_SSH_HOST
HostKey $3
PidFile $4
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
# short-lived user certificates signed by the hub's CA log in as their principal
TrustedUserCAKeys $BSX_USER_CA.pub
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
MaxSessions 50
MaxStartups 50:30:100
PrintMotd no
X11Forwarding no
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
}

# host_key FILE: make the sshd host key FILE (and FILE.pub) unless it exists.
host_key() {
    local key=$1
    if [[ ! -s $key ]]; then
        log "sshd: generating host key $key"
        rm -f "$key" "$key.pub"
        ssh-keygen -q -t ed25519 -N '' -C batchspawner-x-test-host -f "$key"
    fi
    [[ -s $key.pub ]] || ssh-keygen -y -f "$key" >"$key.pub"
    chmod 0600 "$key"
    chmod 0644 "$key.pub"
}

# known_hosts_line PORT HOSTKEY: "[host]:port type key", straight from the public key.
known_hosts_line() {
    local type key _
    read -r type key _ <"$2.pub"
    printf '[%s]:%s %s %s\n' "$BSX_SSH_HOST" "$1" "$type" "$key"
}

# start_sshd CONFIG PORT HOSTKEY PIDFILE LOG: write the config and start that sshd,
# unless it runs with an unchanged config (a changed one restarts it, and only it).
start_sshd() {
    local config=$1 port=$2 hostkey=$3 pidfile=$4 logfile=$5 conf_changed=0
    write_sshd_config "$config" "$port" "$hostkey" "$pidfile" && conf_changed=1
    /usr/sbin/sshd -t -f "$config" || die "sshd -t rejects $config"

    if pid_from_file "$pidfile" /usr/sbin/sshd >/dev/null; then
        if ((conf_changed)); then
            log "sshd: config $config changed, restarting"
            stop_pidfile sshd "$pidfile" /usr/sbin/sshd
        else
            log "sshd: already running on $BSX_SSH_HOST:$port"
            return
        fi
    fi
    log "sshd: starting on $BSX_SSH_HOST:$port"
    # Daemonises; -E sends its log to a file (there is no syslog daemon).
    /usr/sbin/sshd -f "$config" -E "$logfile" ||
        die "sshd failed to start" "$logfile"
    local i
    for ((i = 0; i < 100; i++)); do
        pid_from_file "$pidfile" /usr/sbin/sshd >/dev/null && return
        sleep 0.1
    done
    die "sshd wrote no live pid to $pidfile" "$logfile"
}

setup_sshd() {
    host_key "$BSX_SSH_HOST_KEY"
    host_key "$BSX_SSH_HOST_KEY2"
    if [[ ! -s $BSX_USER_CA ]]; then
        log "sshd: generating the user certificate authority"
        rm -f "$BSX_USER_CA" "$BSX_USER_CA.pub"
        ssh-keygen -q -t ed25519 -N '' -C batchspawner-x-test-user-ca -f "$BSX_USER_CA"
    fi
    [[ -s $BSX_USER_CA.pub ]] || ssh-keygen -y -f "$BSX_USER_CA" >"$BSX_USER_CA.pub"
    chmod 0600 "$BSX_USER_CA"
    chmod 0644 "$BSX_USER_CA.pub"

    # both login nodes' host keys, each under its own "[host]:port"
    if {
        known_hosts_line "$BSX_SSH_PORT" "$BSX_SSH_HOST_KEY"
        known_hosts_line "$BSX_SSH_PORT2" "$BSX_SSH_HOST_KEY2"
    } | write_if_changed "$BSX_KNOWN_HOSTS" 0644; then
        log "sshd: wrote $BSX_KNOWN_HOSTS"
    fi

    install -d -m 0755 /run/sshd # privilege-separation directory
    start_sshd "$BSX_SSHD_CONFIG" "$BSX_SSH_PORT" "$BSX_SSH_HOST_KEY" "$BSX_SSHD_PIDFILE" "$BSX_SSHD_LOG"
    start_sshd "$BSX_SSHD2_CONFIG" "$BSX_SSH_PORT2" "$BSX_SSH_HOST_KEY2" "$BSX_SSHD2_PIDFILE" "$BSX_SSHD2_LOG"
}

# Log in over SSH with each test user's key and strict host-key checking.
check_ssh() {
    local u out port logfile
    for port in "$BSX_SSH_PORT" "$BSX_SSH_PORT2"; do
        logfile=$BSX_SSHD_LOG
        [[ $port == "$BSX_SSH_PORT" ]] || logfile=$BSX_SSHD2_LOG
        for u in "${BSX_TEST_USERS[@]}"; do
            out=$(ssh -p "$port" -i "$BSX_KEYS_DIR/$u" \
                -o UserKnownHostsFile="$BSX_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
                -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10 \
                "$u@$BSX_SSH_HOST" squeue --version 2>&1) ||
                die "ssh as $u to $BSX_SSH_HOST:$port failed: $out" "$logfile"
            log "ssh: $u@$BSX_SSH_HOST:$port runs squeue: $out"
        done
    done
}

# --- 7. single-user venv ---------------------------------------------------------

# venv_has DIST [VERSION]: true if DIST (at VERSION, when given) is in the venv.
venv_has() {
    "$BSX_VENV/bin/python" - "$@" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    v = version(sys.argv[1])
except PackageNotFoundError:
    sys.exit(1)
sys.exit(0 if len(sys.argv) < 3 or v == sys.argv[2] else 1)
PY
}

# venv_pip ARGS...: pip in the venv, minus the noise this machine's pip.conf
# makes (a file:// extra index whose missing per-package folders each warn).
venv_pip() {
    "$BSX_VENV/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 |
        { grep -v 'is ignored: it is neither a file nor a directory' || true; }
}

# install_project: pip install --repo's project into the venv, non-editable.
install_project() {
    # Build from a throw-away copy, so pip's in-tree build leaves no build/ or
    # *.egg-info in the work tree; build the wheel once, then install it twice:
    # a plain install pulls missing dependencies, and --force-reinstall
    # --no-deps puts the new code in even when the version did not change.
    local tmp whl=()
    tmp=$(mktemp -d /tmp/bsx-src.XXXXXX)
    mkdir "$tmp/tree" "$tmp/wheels"
    tar -C "$REPO" --exclude=./.venv --exclude=./venv --exclude=./node_modules \
        --exclude=./build --exclude=./dist --exclude='*.egg-info' \
        --exclude=__pycache__ -cf - . | tar -C "$tmp/tree" -xf -
    log "venv: pip install $REPO (non-editable)"
    if venv_pip wheel --quiet --no-deps -w "$tmp/wheels" "$tmp/tree"; then
        whl=("$tmp"/wheels/*.whl)
    fi
    if [[ ! -f ${whl[0]:-} ]] ||
        ! venv_pip install --quiet "${whl[0]}" ||
        ! venv_pip install --quiet --force-reinstall --no-deps "${whl[0]}"; then
        rm -rf "$tmp"
        die "pip install $REPO into $BSX_VENV failed (output above)"
    fi
    rm -rf "$tmp"
}

setup_venv() {
    # Debian's python, NOT /root's pyenv python: users cannot read /root.
    if [[ ! -x $BSX_VENV/bin/python ]] || ! "$BSX_VENV/bin/python" -c 'import sys' 2>/dev/null; then
        log "venv: creating $BSX_VENV from /usr/bin/python3"
        rm -rf "$BSX_VENV"
        install -d -m 0755 "$(dirname "$BSX_VENV")"
        /usr/bin/python3 -m venv "$BSX_VENV"
    fi

    if venv_has jupyterhub "$JUPYTERHUB_VERSION" && venv_has jupyterlab; then
        log "venv: jupyterhub $JUPYTERHUB_VERSION and jupyterlab already installed"
    else
        log "venv: installing jupyterhub==$JUPYTERHUB_VERSION jupyterlab"
        venv_pip install --quiet "jupyterhub==$JUPYTERHUB_VERSION" jupyterlab
    fi

    if [[ -n $REPO ]]; then
        if [[ -f $REPO/pyproject.toml ]]; then
            install_project
            PROJECT_NOTE=", project installed from $REPO"
        else
            log "venv: $REPO has no pyproject.toml yet; skipping the project install"
            PROJECT_NOTE=", project NOT installed ($REPO has no pyproject.toml)"
        fi
    fi
    # World-readable, so the single-user server can run as alice/bob.
    chmod -R a+rX "$BSX_VENV"
    runuser -u alice -- "$BSX_VENV/bin/python" -c 'import jupyterhub, jupyterlab' ||
        die "alice cannot import jupyterhub/jupyterlab from $BSX_VENV"
}

# --- 8. cluster.env ----------------------------------------------------------------

write_cluster_env() {
    local chp
    chp=$(command -v configurable-http-proxy)
    if write_if_changed "$BSX_CLUSTER_ENV" 0644 <<EOF
BSX_SSH_HOST=$BSX_SSH_HOST
BSX_SSH_PORT=$BSX_SSH_PORT
BSX_SSH_PORT2=$BSX_SSH_PORT2
BSX_SSHD2_PIDFILE=$BSX_SSHD2_PIDFILE
BSX_SSHD2_CONFIG=$BSX_SSHD2_CONFIG
BSX_SSHD2_LOG=$BSX_SSHD2_LOG
BSX_KNOWN_HOSTS=$BSX_KNOWN_HOSTS
BSX_KEYS_DIR=$BSX_KEYS_DIR
BSX_USER_CA=$BSX_USER_CA
BSX_USERS="${BSX_TEST_USERS[*]}"
BSX_VENV=$BSX_VENV
BSX_CHP=$chp
BSX_NODE_ENV_JH41=$BSX_NODE_ENV_JH41
BSX_NODE_ENV_JH5X=$BSX_NODE_ENV_JH5X
EOF
    then
        log "env: wrote $BSX_CLUSTER_ENV"
    fi
}

# --- main --------------------------------------------------------------------------

install_packages
setup_users
setup_munge
setup_mariadb
setup_slurm # starts slurmdbd first
setup_accounts
check_slurm_job
setup_sshd
check_ssh
setup_venv
"$HERE/node-envs.sh" # the bare node environments of tests/integration/test_node_side.py
"$HERE/labext.sh"    # the optional JupyterLab extension (labextension/), into the venv
write_cluster_env

cat <<EOF

== batchspawner_x test cluster is up ($((SECONDS - START_TIME)) s) ==
  slurm   : $(sinfo --version), cluster bsx, node localhost $(node_state), partitions debug (default), interactive
            slurmctld pid $(pid_from_file "$SLURMCTLD_PIDFILE" /usr/sbin/slurmctld || echo '?'), slurmd pid $(pid_from_file "$SLURMD_PIDFILE" /usr/sbin/slurmd || echo '?'), munged pid $(pid_from_file "$MUNGED_PIDFILE" /usr/sbin/munged || echo '?')
  accounts: slurmdbd pid $(pid_from_file "$SLURMDBD_PIDFILE" /usr/sbin/slurmdbd || echo '?') on 127.0.0.1:$SLURMDBD_PORT, MariaDB on $MARIADB_SOCKET; accounts ${BSX_ACCOUNTS[*]}, QOS high, operator slurmop
  ssh     : $BSX_SSH_HOST:$BSX_SSH_PORT (sshd pid $(pid_from_file "$BSX_SSHD_PIDFILE" /usr/sbin/sshd || echo '?')), $BSX_SSH_HOST:$BSX_SSH_PORT2 (second login node, sshd pid $(pid_from_file "$BSX_SSHD2_PIDFILE" /usr/sbin/sshd || echo '?')), known_hosts $BSX_KNOWN_HOSTS
  users   : ${BSX_TEST_USERS[*]} (private keys in $BSX_KEYS_DIR)
  venv    : $BSX_VENV (jupyterhub $JUPYTERHUB_VERSION$PROJECT_NOTE)
  env     : $BSX_CLUSTER_ENV
  logs    : $SLURMCTLD_LOG $SLURMD_LOG $MUNGED_LOG $SLURMDBD_LOG $MARIADB_LOG $BSX_SSHD_LOG $BSX_SSHD2_LOG
EOF
