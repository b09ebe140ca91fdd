#!/usr/bin/env bash
# Bring up a real Son of Grid Engine (Debian's gridengine 8.1.9) beside the
# Slurm test cluster, for GridengineSpawner's integration tests:
#   sge_qmaster + sge_execd (host "localhost", queue all.q, parallel
#   environment smp, project bsx, a consumable "gpu" complex) inside the
#   network namespace bsxsge, which has only lo (the daemons bind 0.0.0.0);
#   jobs run in the ROOT namespace through a shepherd_cmd wrapper, so that a
#   job's notebook server and the hub reach each other on 127.0.0.1;
#   an sshd inside the namespace (the "login node"), reached through a socat
#   bridge on 127.0.0.1:2223;
#   /etc/batchspawner-x-test/sge.env describing all of it.
#
# Usage: ci/cluster/sge-up.sh      (as root, after ci/cluster/up.sh, which
#                                   creates the test users and their keys)
#
# Idempotent: a daemon already running (live pid from its pidfile) is left
# alone, a changed sshd config restarts that sshd, Grid Engine objects are only
# modified when they differ. Processes are never looked up by name. Stop with
# ci/cluster/sge-down.sh. See /work/shared/cluster.md for the facts this
# relies on.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=sge-lib.sh
. "$HERE/sge-lib.sh"

START_TIME=$SECONDS
CHECK_USER=erin # the Grid Engine suite's own test user

require_root
umask 022
export DEBIAN_FRONTEND=noninteractive
cd /

die() {
    local msg=$1 f
    shift
    echo "sge-up.sh: ERROR: $msg" >&2
    for f in "$@"; do
        if [[ -s $f ]]; then
            echo "----- last 30 lines of $f -----" >&2
            tail -n 30 "$f" >&2
        fi
    done
    exit 1
}
trap 'echo "sge-up.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

# --- 1. packages ----------------------------------------------------------------

install_packages() {
    local want=(gridengine-master gridengine-exec gridengine-client socat) missing=() p
    # slurm-wlm-torque's qsub/qstat conflict with gridengine-client; apt -y
    # would remove it silently, so refuse instead.
    if pkg_installed slurm-wlm-torque; then
        die "slurm-wlm-torque is installed and conflicts with gridengine-client; remove it first"
    fi
    for p in "${want[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "apt: gridengine and socat already installed"
        return
    fi
    # The package lists may be missing or stale on a fresh machine.
    if [[ -z $(apt-cache policy gridengine-master 2>/dev/null | awk '/Candidate:/ && $2 != "(none)"') ]]; then
        log "apt: gridengine-master not in the package lists; apt-get update"
        apt-get update
    fi
    log "apt: installing ${missing[*]}"
    # The packages' postinst initialises the cell (SGE_ROOT=/var/lib/gridengine,
    # cell "default", spool in /var/spool/gridengine); policy-rc.d keeps apt
    # from starting the daemons.
    apt-get install -y -o DPkg::Lock::Timeout=300 "${want[@]}"
}

check_prerequisites() {
    [[ -s /var/spool/gridengine/spooldb/sge ]] ||
        die "the Grid Engine cell was not initialised by the package (no /var/spool/gridengine/spooldb/sge)"
    if ! id -u "$CHECK_USER" >/dev/null 2>&1 || [[ ! -s $BSX_KEYS_DIR/$CHECK_USER || ! -s $BSX_SSHD_CONFIG ]]; then
        die "test user $CHECK_USER, its key or $BSX_SSHD_CONFIG is missing: run ci/cluster/up.sh first"
    fi
}

# --- 2. network namespaces ----------------------------------------------------------

ns_inode() { stat -L -c %i "$1" 2>/dev/null; }

setup_namespaces() {
    if [[ -e $BSX_SGE_NETNS_PATH ]] && [[ $(ns_inode "$BSX_SGE_NETNS_PATH") == "$(ns_inode /proc/self/ns/net)" ]]; then
        die "sge-up.sh runs inside namespace $BSX_SGE_NETNS; run it from the root namespace"
    fi
    if ! in_sge_ns true 2>/dev/null; then
        log "netns: creating $BSX_SGE_NETNS (only lo)"
        ip netns delete "$BSX_SGE_NETNS" 2>/dev/null || true
        ip netns add "$BSX_SGE_NETNS"
    fi
    in_sge_ns ip link set lo up

    # Pin the root namespace (where this script runs) for the shepherd
    # wrapper; /proc/1/ns/net is not readable on these machines.
    local here
    here=$(ns_inode /proc/self/ns/net)
    if [[ $(ns_inode "$BSX_ROOTNS") == "$here" ]]; then
        return
    fi
    if mountpoint -q "$BSX_ROOTNS" 2>/dev/null; then
        die "$BSX_ROOTNS pins another network namespace than this script's; run it from the root namespace"
    fi
    log "netns: pinning the root namespace at $BSX_ROOTNS"
    touch "$BSX_ROOTNS"
    mount --bind /proc/self/ns/net "$BSX_ROOTNS"
}

# --- 3. the cell's host files and the shepherd wrapper -------------------------------

setup_cell_files() {
    local host
    host=$(hostname)
    # Clients resolve 127.0.0.1 to "localhost" but call themselves by the
    # machine's name; without the alias qmaster refuses them ("client IP
    # resolved to host name localhost. This is not identical to clients host name").
    local aliases=$SGE_HOST
    [[ $host == "$SGE_HOST" ]] || aliases+=" $host"
    write_if_changed "$SGE_COMMON/host_aliases" 0644 <<<"$aliases" && log "sge: wrote host_aliases ($aliases)"
    # The package leaves act_qmaster empty (no debconf answer).
    write_if_changed "$SGE_COMMON/act_qmaster" 0644 <<<"$SGE_HOST" && log "sge: wrote act_qmaster"
    chown sgeadmin:sgeadmin "$SGE_COMMON/act_qmaster"

    install -d -m 0755 -o root -g root "$BSX_TEST_DIR" "$BSX_SGE_DIR"
    # execd execs shepherd_cmd with no arguments (instead of its usual
    # "$binary_path/sge_shepherd -bg"); /usr/sbin/sge_shepherd is Debian's
    # wrapper that sets SGE_ROOT/SGE_CELL and execs /usr/lib/gridengine/sge_shepherd.
    if write_if_changed "$BSX_SGE_SHEPHERD" 0755 <<EOF
#!/bin/sh
# Written by batchspawner_x ci/cluster/sge-up.sh. Grid Engine's global
# shepherd_cmd: run the shepherd, and so the job, in the root network
# namespace, while sge_execd stays in namespace $BSX_SGE_NETNS.
exec /usr/bin/nsenter --net=$BSX_ROOTNS /usr/sbin/sge_shepherd -bg
EOF
    then
        log "sge: wrote $BSX_SGE_SHEPHERD"
    fi
}

# --- 4. qmaster and the cluster's configuration ---------------------------------------

qmaster_answers() { in_sge_ns qconf -sh >/dev/null 2>&1; }

start_qmaster() {
    if pid_from_file "$SGE_QMASTER_PIDFILE" "$SGE_QMASTER_EXE" >/dev/null; then
        log "sge: sge_qmaster already running"
    else
        log "sge: starting sge_qmaster in namespace $BSX_SGE_NETNS"
        in_sge_ns /usr/sbin/sge_qmaster || die "sge_qmaster failed to start" "$SGE_QMASTER_LOG"
    fi
    wait_until 30 qmaster_answers || die "sge_qmaster does not answer qconf after 30 s" "$SGE_QMASTER_LOG"
}

# normalized: squeeze blanks, join "\" continuation lines, drop comments.
normalized() {
    sed -e ':a' -e '/\\$/{N;s/\\\n[[:space:]]*/ /;ba}' | tr -s ' \t' '  ' | sed -e 's/ *$//' -e '/^#/d'
}

# apply_object WHAT NAME FILE: add (-A<what>) or modify (-M<what>) a Grid
# Engine object from FILE, only when it is missing or differs.
apply_object() {
    local what=$1 name=$2 file=$3 current
    local -A words=([e]="exec host" [p]="parallel environment" [prj]=project [q]=queue)
    if current=$(in_sge_ns qconf "-s$what" "$name" 2>/dev/null); then
        # Compare only the attributes FILE sets (an exec host also shows
        # its read-only load_values and processors).
        if [[ $(normalized <<<"$current" | awk 'NR == FNR {k[$1]; next} $1 in k' <(normalized <"$file") -) == "$(normalized <"$file")" ]]; then
            return
        fi
        log "sge: updating ${words[$what]} $name"
        in_sge_ns qconf "-M$what" "$file" >/dev/null
    else
        log "sge: adding ${words[$what]} $name"
        in_sge_ns qconf "-A$what" "$file" >/dev/null
    fi
}

configure_cluster() {
    local tmp
    tmp=$(mktemp -d /tmp/bsx-sge.XXXXXX)
    if ! in_sge_ns qconf -ss 2>/dev/null | grep -qx "$SGE_HOST"; then
        in_sge_ns qconf -as "$SGE_HOST" >/dev/null
    fi

    # A consumable "gpu" count (default 0), so that -l gpu=N is a real
    # request; JOB: counted once per job, not per slot of a -pe job.
    in_sge_ns qconf -sc >"$tmp/complex.old"
    { grep -v '^gpu ' "$tmp/complex.old"; echo 'gpu gpu INT <= YES JOB 0 0'; } >"$tmp/complex"
    if [[ $(grep '^gpu ' "$tmp/complex.old" | normalized) != "gpu gpu INT <= YES JOB 0 0" ]]; then
        log "sge: defining the consumable complex gpu"
        in_sge_ns qconf -Mc "$tmp/complex" >/dev/null
    fi

    cat >"$tmp/exechost" <<EOF
hostname              $SGE_HOST
load_scaling          NONE
complex_values        gpu=$BSX_SGE_GPUS
user_lists            NONE
xuser_lists           NONE
projects              NONE
xprojects             NONE
usage_scaling         NONE
report_variables      NONE
EOF
    apply_object e "$SGE_HOST" "$tmp/exechost"

    # Cores are requested as "-pe smp N": all N slots on one host.
    cat >"$tmp/pe" <<EOF
pe_name            $BSX_SGE_PE
slots              999
user_lists         NONE
xuser_lists        NONE
start_proc_args    NONE
stop_proc_args     NONE
allocation_rule    \$pe_slots
control_slaves     FALSE
job_is_first_task  TRUE
urgency_slots      min
accounting_summary FALSE
qsort_args         NONE
EOF
    apply_object p "$BSX_SGE_PE" "$tmp/pe"

    # A project, so that the spawner's account (-P) can be checked.
    printf 'name %s\noticket 0\nfshare 0\nacl NONE\nxacl NONE\n' "$BSX_SGE_PROJECT" >"$tmp/project"
    apply_object prj "$BSX_SGE_PROJECT" "$tmp/project"

    # The queue: 32 slots on the 2-core machine (slots are only bookkeeping), and no
    # load threshold: hubs, Slurm jobs and tests share the 2 cores, and a load alarm
    # ("a" in qstat -f) would hold jobs for a reason unrelated to what a test checks.
    cat >"$tmp/queue" <<EOF
qname                 $BSX_SGE_QUEUE
hostlist              $SGE_HOST
seq_no                0
load_thresholds       NONE
suspend_thresholds    NONE
nsuspend              1
suspend_interval      00:05:00
priority              0
min_cpu_interval      00:05:00
processors            UNDEFINED
qtype                 BATCH INTERACTIVE
ckpt_list             NONE
pe_list               $BSX_SGE_PE
rerun                 FALSE
slots                 32
tmpdir                /tmp
shell                 /bin/bash
prolog                NONE
epilog                NONE
shell_start_mode      posix_compliant
starter_method        NONE
suspend_method        NONE
resume_method         NONE
terminate_method      NONE
notify                00:00:60
owner_list            NONE
user_lists            NONE
xuser_lists           NONE
subordinate_list      NONE
complex_values        NONE
projects              NONE
xprojects             NONE
calendar              NONE
initial_state         default
s_rt                  INFINITY
h_rt                  INFINITY
s_cpu                 INFINITY
h_cpu                 INFINITY
s_fsize               INFINITY
h_fsize               INFINITY
s_data                INFINITY
h_data                INFINITY
s_stack               INFINITY
h_stack               INFINITY
s_core                INFINITY
h_core                INFINITY
s_rss                 INFINITY
h_rss                 INFINITY
s_vmem                INFINITY
h_vmem                INFINITY
EOF
    apply_object q "$BSX_SGE_QUEUE" "$tmp/queue"

    # Scheduler: run every second instead of every 15 s.
    in_sge_ns qconf -ssconf >"$tmp/sconf.old"
    sed -e 's/^schedule_interval .*/schedule_interval                 0:0:1/' "$tmp/sconf.old" >"$tmp/sconf"
    if ! cmp -s "$tmp/sconf.old" "$tmp/sconf"; then
        log "sge: schedule_interval 0:0:1"
        in_sge_ns qconf -Msconf "$tmp/sconf" >/dev/null
    fi

    # Global configuration: the shepherd wrapper, and accounting records
    # written at once (qacct -j right after a job ends), not every 15 s.
    # qconf -Mconf takes the configuration's name from the file's name.
    mkdir "$tmp/conf"
    in_sge_ns qconf -sconf global | normalized >"$tmp/conf/old"
    sed -e "s|^shepherd_cmd .*|shepherd_cmd $BSX_SGE_SHEPHERD|" \
        -e 's|^reporting_params .*|reporting_params accounting=true reporting=false flush_time=00:00:15 joblog=false sharelog=00:00:00 accounting_flush_time=00:00:00|' \
        "$tmp/conf/old" >"$tmp/conf/global"
    if ! cmp -s "$tmp/conf/old" "$tmp/conf/global"; then
        log "sge: global shepherd_cmd and accounting_flush_time"
        in_sge_ns qconf -Mconf "$tmp/conf/global" >/dev/null
    fi
    rm -rf "$tmp"
}

# --- 5. execd -------------------------------------------------------------------------

# The queue instance is usable: execd reported in and no a/u/E/d/s state.
queue_usable() {
    local line
    line=$(in_sge_ns qstat -f -q "$BSX_SGE_QUEUE" 2>/dev/null | awk -v q="$BSX_SGE_QUEUE@$SGE_HOST" '$1 == q')
    [[ -n $line ]] && [[ $line != *-NA-* ]] && [[ -z $(awk '{print $6}' <<<"$line") ]]
}

start_execd() {
    if pid_from_file "$SGE_EXECD_PIDFILE" "$SGE_EXECD_EXE" >/dev/null; then
        log "sge: sge_execd already running"
    else
        log "sge: starting sge_execd in namespace $BSX_SGE_NETNS"
        in_sge_ns /usr/sbin/sge_execd || die "sge_execd failed to start" "$SGE_EXECD_LOG"
    fi
    # Clear an error state left by earlier jobs, and enable the queue.
    in_sge_ns qmod -c "$BSX_SGE_QUEUE" >/dev/null 2>&1 || true
    in_sge_ns qmod -e "$BSX_SGE_QUEUE" >/dev/null 2>&1 || true
    wait_until 60 queue_usable ||
        die "queue $BSX_SGE_QUEUE@$SGE_HOST is not usable after 60 s: $(in_sge_ns qstat -f 2>&1 | tail -n 3)" \
            "$SGE_EXECD_LOG" "$SGE_QMASTER_LOG"
    log "sge: queue $BSX_SGE_QUEUE@$SGE_HOST is usable"
}

# --- 6. the login node: sshd in the namespace, socat bridge ---------------------------

setup_sshd() {
    if [[ ! -s $BSX_SGE_SSH_HOST_KEY ]]; then
        log "sshd: generating the Grid Engine login node's host key"
        rm -f "$BSX_SGE_SSH_HOST_KEY" "$BSX_SGE_SSH_HOST_KEY.pub"
        ssh-keygen -q -t ed25519 -N '' -C batchspawner-x-test-sge-host -f "$BSX_SGE_SSH_HOST_KEY"
    fi
    [[ -s $BSX_SGE_SSH_HOST_KEY.pub ]] || ssh-keygen -y -f "$BSX_SGE_SSH_HOST_KEY" >"$BSX_SGE_SSH_HOST_KEY.pub"
    chmod 0600 "$BSX_SGE_SSH_HOST_KEY"
    chmod 0644 "$BSX_SGE_SSH_HOST_KEY.pub"

    local type key _
    read -r type key _ <"$BSX_SGE_SSH_HOST_KEY.pub"
    write_if_changed "$BSX_SGE_KNOWN_HOSTS" 0644 <<<"[$BSX_SSH_HOST]:$BSX_SGE_SSH_PORT $type $key" &&
        log "sshd: wrote $BSX_SGE_KNOWN_HOSTS"

    # The Slurm login node's settings (key-only, no PAM, MaxSessions ...),
    # with this sshd's own port, host key and pidfile.
    local conf_changed=0
    {
        echo "# Written by batchspawner_x ci/cluster/sge-up.sh from $BSX_SSHD_CONFIG;"
        echo "# runs inside network namespace $BSX_SGE_NETNS. Overwritten on every run."
        sed -e '/^#/d' \
            -e "s|^Port .*|Port $BSX_SGE_INNER_SSH_PORT|" \
            -e "s|^ListenAddress .*|ListenAddress 127.0.0.1|" \
            -e "s|^HostKey .*|HostKey $BSX_SGE_SSH_HOST_KEY|" \
            -e "s|^PidFile .*|PidFile $BSX_SGE_SSHD_PIDFILE|" \
            "$BSX_SSHD_CONFIG"
    } | write_if_changed "$BSX_SGE_SSHD_CONFIG" 0644 && conf_changed=1
    install -d -m 0755 /run/sshd
    /usr/sbin/sshd -t -f "$BSX_SGE_SSHD_CONFIG" || die "sshd -t rejects $BSX_SGE_SSHD_CONFIG"

    if pid_from_file "$BSX_SGE_SSHD_PIDFILE" /usr/sbin/sshd >/dev/null; then
        if ((conf_changed)); then
            log "sshd: config changed, restarting the namespace's sshd"
            stop_pidfile sge-sshd "$BSX_SGE_SSHD_PIDFILE" /usr/sbin/sshd
        else
            log "sshd: already running in namespace $BSX_SGE_NETNS"
            return
        fi
    fi
    log "sshd: starting in namespace $BSX_SGE_NETNS on 127.0.0.1:$BSX_SGE_INNER_SSH_PORT"
    in_sge_ns /usr/sbin/sshd -f "$BSX_SGE_SSHD_CONFIG" -E "$BSX_SGE_SSHD_LOG" ||
        die "sshd failed to start" "$BSX_SGE_SSHD_LOG"
    wait_until 10 pid_from_file "$BSX_SGE_SSHD_PIDFILE" /usr/sbin/sshd ||
        die "sshd wrote no live pid to $BSX_SGE_SSHD_PIDFILE" "$BSX_SGE_SSHD_LOG"
}

# bridge_answers: the sshd's banner arrives through the bridge.
bridge_answers() {
    local banner
    banner=$(
        exec 3<>"/dev/tcp/$BSX_SSH_HOST/$BSX_SGE_SSH_PORT" || exit 1
        read -r -t 5 line <&3 && printf '%s' "$line"
    ) 2>/dev/null || return 1
    [[ $banner == SSH-2.0* ]]
}

setup_bridge() {
    # socat forks per connection and runs this, which enters the namespace
    # and connects to its sshd.
    if write_if_changed "$BSX_SGE_BRIDGE" 0755 <<EOF
#!/bin/sh
# Written by batchspawner_x ci/cluster/sge-up.sh: one SSH connection from
# $BSX_SSH_HOST:$BSX_SGE_SSH_PORT (root namespace) to the sshd in namespace $BSX_SGE_NETNS.
exec /usr/bin/nsenter --net=$BSX_SGE_NETNS_PATH /usr/bin/socat STDIO TCP:127.0.0.1:$BSX_SGE_INNER_SSH_PORT
EOF
    then
        log "bridge: wrote $BSX_SGE_BRIDGE"
    fi
    if pid_from_file "$BSX_SGE_SOCAT_PIDFILE" /usr/bin/socat >/dev/null; then
        log "bridge: socat already listening on $BSX_SSH_HOST:$BSX_SGE_SSH_PORT"
    else
        log "bridge: starting socat on $BSX_SSH_HOST:$BSX_SGE_SSH_PORT"
        # setsid: its own session, so that the caller's end does not take it
        # along. A background job of a script is no group leader, so setsid
        # does not fork and $! is socat's own pid.
        setsid /usr/bin/socat -lf "$BSX_SGE_SOCAT_LOG" \
            "TCP-LISTEN:$BSX_SGE_SSH_PORT,bind=$BSX_SSH_HOST,reuseaddr,fork" \
            "EXEC:$BSX_SGE_BRIDGE" </dev/null >/dev/null 2>&1 &
        echo $! >"$BSX_SGE_SOCAT_PIDFILE"
        wait_until 5 pid_from_file "$BSX_SGE_SOCAT_PIDFILE" /usr/bin/socat ||
            die "socat did not stay up (pid $(cat "$BSX_SGE_SOCAT_PIDFILE"))" "$BSX_SGE_SOCAT_LOG"
    fi
    wait_until 10 bridge_answers ||
        die "no SSH banner through $BSX_SSH_HOST:$BSX_SGE_SSH_PORT" "$BSX_SGE_SOCAT_LOG" "$BSX_SGE_SSHD_LOG"
}

# --- 7. sge.env --------------------------------------------------------------------------

write_sge_env() {
    if write_if_changed "$BSX_SGE_ENV" 0644 <<EOF
BSX_SGE_SSH_PORT=$BSX_SGE_SSH_PORT
BSX_SGE_KNOWN_HOSTS=$BSX_SGE_KNOWN_HOSTS
BSX_SGE_NETNS=$BSX_SGE_NETNS
BSX_SGE_ROOT=$SGE_ROOT
BSX_SGE_CELL=$SGE_CELL
BSX_SGE_QUEUE=$BSX_SGE_QUEUE
BSX_SGE_PE=$BSX_SGE_PE
BSX_SGE_PROJECT=$BSX_SGE_PROJECT
BSX_SGE_GPUS=$BSX_SGE_GPUS
EOF
    then
        log "env: wrote $BSX_SGE_ENV"
    fi
}

# --- 8. a real job as the test user, through the login node --------------------------------

sge_ssh() {
    ssh -p "$BSX_SGE_SSH_PORT" -i "$BSX_KEYS_DIR/$CHECK_USER" \
        -o UserKnownHostsFile="$BSX_SGE_KNOWN_HOSTS" -o StrictHostKeyChecking=yes \
        -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=10 \
        "$CHECK_USER@$BSX_SSH_HOST" "$@"
}

check_job() {
    local out jobid i listed
    out=$(printf 'sleep 1\n' | sge_ssh qsub -terse -N bsx-sge-up-check -o /dev/null -j y -wd /tmp 2>&1) ||
        die "qsub as $CHECK_USER over ssh :$BSX_SGE_SSH_PORT failed: $out" "$SGE_QMASTER_LOG" "$BSX_SGE_SSHD_LOG"
    jobid=${out##*$'\n'}
    [[ $jobid =~ ^[0-9]+$ ]] || die "qsub -terse printed no job id: $out"
    out=$(sge_ssh qstat -u "$CHECK_USER" 2>&1) || die "qstat failed: $out"
    awk -v id="$jobid" '$1 == id {found = 1} END {exit !found}' <<<"$out" ||
        die "qstat does not list job $jobid: $out"
    # Finished jobs leave qstat (without -s z) and reach the accounting file.
    for ((i = 0; i < 60; i++)); do
        listed=$(sge_ssh qstat -u "$CHECK_USER" 2>&1) || die "qstat failed: $listed"
        awk -v id="$jobid" '$1 == id {found = 1} END {exit !found}' <<<"$listed" || break
        sleep 0.5
    done
    out=$(sge_ssh qacct -j "$jobid" 2>&1) || die "job $jobid did not finish in 30 s or has no accounting record: $out" "$SGE_EXECD_LOG"
    out=$(awk '$1 == "exit_status" {print $2}' <<<"$out")
    [[ $out == 0 ]] || die "job $jobid ended with exit_status '$out'" "$SGE_EXECD_LOG"
    log "check: job $jobid ($CHECK_USER, via ssh :$BSX_SGE_SSH_PORT) accepted, listed by qstat, finished, qacct exit_status 0"
}

# --- main -------------------------------------------------------------------------------------

install_packages
check_prerequisites
setup_namespaces
setup_cell_files
start_qmaster
configure_cluster
start_execd
setup_sshd
setup_bridge
write_sge_env
check_job

cat <<EOF

== Son of Grid Engine test cluster is up ($((SECONDS - START_TIME)) s) ==
  daemons : sge_qmaster pid $(pid_from_file "$SGE_QMASTER_PIDFILE" "$SGE_QMASTER_EXE" || echo '?'), sge_execd pid $(pid_from_file "$SGE_EXECD_PIDFILE" "$SGE_EXECD_EXE" || echo '?'), in netns $BSX_SGE_NETNS (jobs run in the root namespace)
  cluster : queue $BSX_SGE_QUEUE@$SGE_HOST, pe $BSX_SGE_PE, project $BSX_SGE_PROJECT, complex gpu=$BSX_SGE_GPUS
  ssh     : $BSX_SSH_HOST:$BSX_SGE_SSH_PORT (socat pid $(pid_from_file "$BSX_SGE_SOCAT_PIDFILE" /usr/bin/socat || echo '?') -> sshd pid $(pid_from_file "$BSX_SGE_SSHD_PIDFILE" /usr/sbin/sshd || echo '?')), known_hosts $BSX_SGE_KNOWN_HOSTS
  env     : $BSX_SGE_ENV
  as root : nsenter --net=$BSX_SGE_NETNS_PATH qstat -u '*'   (or: ip netns exec $BSX_SGE_NETNS qstat ...)
  logs    : $SGE_QMASTER_LOG $SGE_EXECD_LOG $BSX_SGE_SSHD_LOG $BSX_SGE_SOCAT_LOG
EOF
