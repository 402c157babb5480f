#!/usr/bin/env bash
# Prepares a fresh machine for pushpull's tests. Safe to run again: every step
# checks whether its work is already done and returns quickly if so.
#
# Steps are functions called from main at the bottom; add a new tool as one
# more function and one more line there.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"

# Pinned Python tools: kosoku runs the Autobahn cases, websockets serves as a
# reference peer in integration tests.
PYTHON_PACKAGES=(
    "kosoku==0.1.0"
    "websockets==17.4"
)

log() {
    printf 'setup: %s\n' "$*"
}

# rustfmt and clippy ship with rustup's default profile; a minimal toolchain
# lacks them, and scripts/test.sh needs both.
ensure_rust_components() {
    local component
    for component in rustfmt clippy; do
        if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
            log "adding rust component $component"
            rustup component add "$component"
        fi
    done
}

# Creates the virtual environment at the repo root unless it already works.
ensure_venv() {
    if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        return
    fi
    log "creating $VENV"
    python3 -m venv "$VENV"
}

# True when the installed version of every pinned package matches its pin.
python_packages_present() {
    "$VENV/bin/python" - "${PYTHON_PACKAGES[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    try:
        if version(name) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

# Installs the pinned Python packages into the venv unless already there.
ensure_python_packages() {
    if python_packages_present; then
        return
    fi
    log "installing ${PYTHON_PACKAGES[*]}"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "${PYTHON_PACKAGES[@]}"
}

# Installs Debian packages, refreshing the package lists once per run of this
# script (a fresh machine has none, and an install without them finds nothing).
APT_UPDATED=0
apt_install() {
    if [[ "$APT_UPDATED" == 0 ]]; then
        log "apt-get update"
        apt-get update
        APT_UPDATED=1
    fi
    log "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"
}

# The browser tests drive Debian's chromium; a browser downloaded by a test
# tool would not be the one the project pins, so the tests never fetch one.
ensure_chromium() {
    if [[ -x /usr/bin/chromium ]]; then
        return
    fi
    apt_install chromium
}

# playwright-core, pinned in package-lock.json, drives chromium from node.
ensure_node_packages() {
    if [[ -f "$REPO_ROOT/node_modules/playwright-core/package.json" ]]; then
        return
    fi
    log "installing node packages (playwright-core)"
    (cd "$REPO_ROOT" && npm ci --no-audit --no-fund)
}

# tshark dissects the loopback captures of tests/tshark_*.rs. Debian asks
# whether non-root users may capture; the noninteractive frontend takes the
# default (no), which is fine because the tests capture as root.
ensure_tshark() {
    if command -v tshark >/dev/null 2>&1; then
        return
    fi
    apt_install tshark
}

main() {
    ensure_rust_components
    ensure_venv
    ensure_python_packages
    ensure_chromium
    ensure_node_packages
    ensure_tshark
    log "ready ($VENV)"
}

main "$@"
