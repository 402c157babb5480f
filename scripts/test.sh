#!/usr/bin/env bash
# Runs every check pushpull has, in order, stopping at the first failure:
# set-up, release build, formatting, lints, unit and integration tests, the
# chat page's tests in headless Chromium, and the Autobahn conformance gates
# (sections 1 to 13, permessage-deflate included) for server and client.
# The last line says PASSED or names the step that failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

BINARY="${CARGO_TARGET_DIR:-target}/release/pushpull"
PYTHON=.venv/bin/python
CLIENT_TEMPLATE="$BINARY autobahn-client --url {url}"

# Runs one named step; on failure prints the final verdict and exits.
step() {
    local name="$1"
    shift
    printf '\n==> %s\n' "$name"
    if ! "$@"; then
        printf '\npushpull tests: FAILED at step "%s"\n' "$name"
        exit 1
    fi
}

run_cargo_tests() {
    # Integration tests drive reference peers with the venv's interpreter.
    PUSHPULL_PYTHON="$PWD/$PYTHON" cargo test --release
}

# The page's end-to-end tests start the release binary built above
# (tests/browser/helpers.js finds it under $CARGO_TARGET_DIR or target/).
browser_tests() {
    node --test --test-concurrency=1 tests/browser/
}

server_gate() {
    "$PYTHON" scripts/autobahn.py server "$BINARY"
}

# Our WebSocket client against kosoku's fuzzingserver.
client_gate() {
    "$PYTHON" scripts/autobahn.py client "$CLIENT_TEMPLATE"
}

main() {
    step "set-up" scripts/setup.sh
    step "build (release)" cargo build --release
    step "format" cargo fmt --check
    step "lints" cargo clippy --all-targets -- -D warnings
    step "tests (release)" run_cargo_tests
    step "browser tests" browser_tests
    step "autobahn server gate" server_gate
    step "autobahn client gate" client_gate
    printf '\npushpull tests: PASSED\n'
}

main "$@"
