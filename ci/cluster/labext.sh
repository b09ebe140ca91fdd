#!/usr/bin/env bash
# Build the optional JupyterLab extension (labextension/, the batchspawner-x-lab package)
# with npm and pip, and install it into a node environment (default: the single-user venv).
#
# Usage: ci/cluster/labext.sh [VENV]      (as root; up.sh runs it)
# Env:   BSX_LABEXT_BUILD_DIR  where node_modules and the build live
#                              (default /var/cache/batchspawner-x-test/labext)
#
# The build runs in a copy of labextension/ outside the work tree, so node_modules
# (npm ci, from package-lock.json) and npm's own cache are kept between runs and the
# work tree stays clean. Idempotent: when VENV already holds a build of the same sources
# for its JupyterLab, nothing is done (well under a second); `npm ci` runs again only
# when package-lock.json changed. It prints how long it took.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

require_root
umask 022
START=$SECONDS
SRC=$(cd "$HERE/../../labextension" && pwd)
VENV=${1:-$BSX_VENV}
BUILD=${BSX_LABEXT_BUILD_DIR:-/var/cache/batchspawner-x-test/labext}
STAMP=$VENV/etc/batchspawner-x-lab.source

die() {
    echo "labext.sh: ERROR: $1" >&2
    exit 1
}
trap 'echo "labext.sh: ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

[[ -x $VENV/bin/python ]] || die "$VENV is not a venv (up.sh builds $BSX_VENV)"
command -v npm >/dev/null || die "npm is not on PATH (up.sh installs nodejs and npm)"
# The core package the extension is built against: the venv's own JupyterLab.
read -r LAB_VERSION CORE < <("$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.util, os
from importlib.metadata import version
spec = importlib.util.find_spec("jupyterlab")
print(version("jupyterlab"), os.path.join(spec.submodule_search_locations[0], "staging"))
PY
) || true
[[ -n ${CORE:-} && -f $CORE/package.json ]] || die "$VENV has no jupyterlab"

# The sources that make the package, and the JupyterLab they are built against.
SOURCES=(package.json package-lock.json tsconfig.json pyproject.toml README.md src style batchspawner_x_lab jupyter-config)
source_hash() {
    (
        cd "$SRC"
        find "${SOURCES[@]}" -type f ! -path 'batchspawner_x_lab/labextension/*' ! -name '*.pyc' -print0 |
            LC_ALL=C sort -z | xargs -0 sha256sum
        echo "jupyterlab $LAB_VERSION"
    ) | sha256sum | cut -d' ' -f1
}
HASH=$(source_hash)
if [[ -f $STAMP && $(cat "$STAMP") == "$HASH" && -n $(shopt -s nullglob; echo "$VENV"/lib/python3*/site-packages/batchspawner_x_lab/__init__.py) ]]; then
    log "batchspawner-x-lab: $VENV is up to date (jupyterlab $LAB_VERSION; $((SECONDS - START)) s)"
    exit 0
fi

log "batchspawner-x-lab: building in $BUILD against jupyterlab $LAB_VERSION"
install -d -m 0755 "$BUILD"
# The sources afresh; node_modules and npm's lockfile copy stay.
find "$BUILD" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
for s in "${SOURCES[@]}"; do cp -a "$SRC/$s" "$BUILD/"; done
rm -rf "$BUILD/batchspawner_x_lab/labextension" "$BUILD/lib"
cd "$BUILD"
if ! cmp -s package-lock.json node_modules/.bsx-package-lock.json; then
    log "batchspawner-x-lab: npm ci"
    npm ci --no-audit --no-fund --prefer-offline --loglevel=error
    cp package-lock.json node_modules/.bsx-package-lock.json
fi
node_modules/.bin/tsc
node_modules/.bin/build-labextension --core-path "$CORE" . >build.log 2>&1 || {
    cat build.log >&2
    die "build-labextension failed (output above)"
}
grep -qi 'compiled successfully' build.log || {
    cat build.log >&2
    die "build-labextension did not compile cleanly (output above)"
}
rm -rf dist
"$VENV/bin/python" -m pip --disable-pip-version-check wheel --quiet --no-deps -w dist . 2>&1 |
    { grep -v 'is ignored: it is neither a file nor a directory' || true; }
wheels=(dist/batchspawner_x_lab-*.whl)
[[ -f ${wheels[0]} ]] || die "pip wheel made no wheel"
"$VENV/bin/python" -m pip --disable-pip-version-check install --quiet --force-reinstall --no-deps "${wheels[0]}" 2>&1 |
    { grep -v 'is ignored: it is neither a file nor a directory' || true; }
chmod -R a+rX "$VENV"

# What a user's server will load: the server extension and the prebuilt front end.
listed=$(runuser -u alice -- "$VENV/bin/jupyter" server extension list 2>&1)
grep -q 'batchspawner_x_lab.*enabled' <<<"$listed" ||
    die "the server extension batchspawner_x_lab is not enabled in $VENV: $listed"
listed=$(runuser -u alice -- "$VENV/bin/jupyter" labextension list 2>&1)
grep -q 'batchspawner-x-lab.*enabled.*OK' <<<"$listed" ||
    die "the prebuilt extension batchspawner-x-lab is not enabled in $VENV: $listed"
echo "$HASH" >"$STAMP"
log "batchspawner-x-lab: installed into $VENV ($((SECONDS - START)) s)"
