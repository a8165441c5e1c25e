#!/usr/bin/env bash
# Headless Chromium for the console's browser tests (tests/console/, Playwright for Python
# driving the system's browser: Playwright's own browser download needs the internet), used
# by .ci/run.
#
#   scripts/ci/chromium.sh install   # Debian's chromium (apt-get, as root) unless one is on PATH
#   scripts/ci/chromium.sh path      # print the browser's path (exit 1 if there is none)
set -euo pipefail

die() {
    echo "chromium.sh: $*" >&2
    exit 1
}

browser() {
    command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || true
}

version() {
    # Debian's wrapper script prints a harmless shell warning on stderr.
    "$1" --version 2>/dev/null | head -1
}

cmd_install() {
    local found
    found=$(browser)
    if [ -n "$found" ]; then
        echo "chromium: already installed: $(version "$found") ($found)"
        return 0
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        die "no chromium on PATH, and apt-get as root is not available to install one"
    fi
    # No service comes with the package; a policy-rc.d that denies every service start
    # still guards against a dependency that would start one (as scripts/ci/redis.sh).
    local policy=/usr/sbin/policy-rc.d own_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        own_policy=1
        trap 'rm -f "$policy"' EXIT
    fi
    local log
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    # Another apt-get on the machine holds the lock for a while at most: wait for it.
    if ! { apt-get -o Acquire::Retries=3 update -q &&
        apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
            chromium; } >"$log" 2>&1; then
        cat "$log" >&2
        die "apt-get install chromium failed"
    fi
    rm -f "$log"
    if [ -n "$own_policy" ]; then
        rm -f "$policy"
        trap - EXIT
    fi
    found=$(browser)
    [ -n "$found" ] || die "apt-get installed chromium, but it is not on PATH"
    echo "chromium: installed $(version "$found") ($found)"
}

cmd_path() {
    local found
    found=$(browser)
    [ -n "$found" ] || die "no chromium on PATH (run: scripts/ci/chromium.sh install)"
    echo "$found"
}

case "${1:-}" in
install) cmd_install ;;
path) cmd_path ;;
*) die "usage: chromium.sh install | path" ;;
esac
