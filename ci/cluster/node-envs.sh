#!/usr/bin/env bash
# Build the bare node environments of the node-side tests: venvs made from Debian's
# /usr/bin/python3 holding only jupyterhub (one release line each) and jupyterlab,
# nothing of batchspawner_x, readable by the test users.
#
#   /opt/bsx-node-env/jh41   jupyterhub==4.1.* (the newest 4.1.x) + jupyterlab
#   /opt/bsx-node-env/jh5x   jupyterhub==5.*   (the newest 5.x)   + jupyterlab
#
# and Debian's lmod (Lmod 8.6), with which tests/integration/test_environments.py loads
# jh5x as a module (a job gets `module` from `source /etc/profile.d/lmod.sh`).
#
# Usage: ci/cluster/node-envs.sh      (as root; up.sh runs it)
# Idempotent: an environment whose jupyterhub is on its line, with jupyterlab, and
# without batchspawner-x is left alone (about 1 s); otherwise it is made again. The
# package is installed only when missing (about 13 s the first time).
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

require_root
umask 022
cd /

die() {
    echo "node-envs.sh: ERROR: $1" >&2
    exit 1
}
trap 'echo "node-envs.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

# env_ok DIR PREFIX: true if DIR's jupyterhub version starts with PREFIX, jupyterlab
# is there and batchspawner-x is not.
env_ok() {
    [[ -x $1/bin/python ]] || return 1
    "$1/bin/python" - "$2" <<'PY' 2>/dev/null
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    ok = version("jupyterhub").startswith(sys.argv[1]) and bool(version("jupyterlab"))
except PackageNotFoundError:
    sys.exit(1)
try:
    version("batchspawner-x")
except PackageNotFoundError:
    sys.exit(0 if ok else 1)
sys.exit(1)
PY
}

# build_env DIR SPEC PREFIX: (re)make DIR with SPEC and jupyterlab unless it is right.
build_env() {
    local dir=$1 spec=$2 prefix=$3
    if env_ok "$dir" "$prefix"; then
        log "node env: $dir has jupyterhub $("$dir/bin/python" -c 'import jupyterhub; print(jupyterhub.__version__)')"
        return 0
    fi
    log "node env: building $dir ($spec jupyterlab)"
    # A venv records its own path, so it is built in place; a failed build is found
    # not ok by the next run and made again.
    rm -rf "$dir"
    install -d -m 0755 "$(dirname "$dir")"
    /usr/bin/python3 -m venv "$dir"
    "$dir/bin/python" -m pip --disable-pip-version-check install --quiet "$spec" jupyterlab 2>&1 |
        { grep -v 'is ignored: it is neither a file nor a directory' || true; }
    chmod -R a+rX "$dir"
    env_ok "$dir" "$prefix" || die "node env $dir: jupyterhub $prefix* and jupyterlab did not install"
    runuser -u alice -- "$dir/bin/jupyterhub-singleuser" --version >/dev/null ||
        die "node env $dir: alice cannot run jupyterhub-singleuser"
    log "node env: $dir has jupyterhub $("$dir/bin/python" -c 'import jupyterhub; print(jupyterhub.__version__)')"
}

# Not podman: it runs here rootless (with runc), but its signal proxy races Slurm's
# kill of every process of a job, and the container outlives the job (docs/environments.md).
NODE_TOOLS=(lmod)

# install_node_tools: apt-get the NODE_TOOLS that are missing.
install_node_tools() {
    local missing=() p
    for p in "${NODE_TOOLS[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]})); then
        log "apt: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${NODE_TOOLS[@]}" >/dev/null
    else
        log "apt: ${NODE_TOOLS[*]} already installed"
    fi
    [[ -r /etc/profile.d/lmod.sh ]] || die "lmod: /etc/profile.d/lmod.sh is missing"
}

install_node_tools
build_env "$BSX_NODE_ENV_JH41" 'jupyterhub==4.1.*' 4.1.
build_env "$BSX_NODE_ENV_JH5X" 'jupyterhub==5.*' 5.
