#!/usr/bin/env bash
# Cancel every Slurm and Grid Engine job of the test users, so a test run starts
# from an empty queue. A run that was killed leaves its jobs behind (pending ones
# start later, with no hub to talk to), and the tests would count them as the
# users' own. Only the test users' jobs are touched, and each one is logged.
#
# Usage: ci/cluster/clear-jobs.sh      (as root, after up.sh and sge-up.sh)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"
# shellcheck source-path=SCRIPTDIR source=sge-lib.sh
. "$HERE/sge-lib.sh"

require_root

users=$(IFS=,; echo "${BSX_TEST_USERS[*]}")

out=$(squeue -h -u "$users" -o '%A %u %T') || { warn "squeue failed: $out"; exit 1; }
ids=()
while read -r id user state; do
    [[ -n $id ]] || continue
    log "slurm: cancelling job $id ($user, $state) left by an earlier run"
    ids+=("$id")
done <<<"$out"
((${#ids[@]} == 0)) || scancel -- "${ids[@]}"

# sge-up.sh writes sge.env once its daemons are up: without it there is no Grid Engine cluster.
if [[ -f $BSX_SGE_ENV ]]; then
    out=$(in_sge_ns qstat -u "$users") || { warn "qstat failed: $out"; exit 1; }
    # qstat prints a header and a line of dashes, then one job per line.
    if [[ -n $out ]]; then
        tail -n +3 <<<"$out" | while read -r id _ _ user state _; do
            log "gridengine: deleting job $id ($user, $state) left by an earlier run"
        done
        in_sge_ns qdel -u "$users" >/dev/null
    fi
fi
