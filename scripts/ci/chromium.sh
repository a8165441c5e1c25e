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
    "$(dirname "$0")/apt_install.sh" chromium || die "no chromium on PATH, and it could not be installed"
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
