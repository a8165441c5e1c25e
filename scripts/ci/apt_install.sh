#!/usr/bin/env bash
# Install Debian packages for CI (apt-get, as root), starting no service on the way.
#
#   scripts/ci/apt_install.sh PACKAGE...
#
# A package's postinst may start a system-wide service (redis-server listens on 6379); a
# policy-rc.d that denies every service start keeps it from running while we install (CI
# starts what it needs itself, on free ports). Used by redis.sh and chromium.sh.
set -euo pipefail

die() {
    echo "apt_install.sh: $*" >&2
    exit 1
}

[ $# -gt 0 ] || die "usage: apt_install.sh PACKAGE..."
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "apt-get as root is not available to install: $*"
fi
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
# Another apt-get on the machine holds the lock for a while at most: wait for it.
if ! { apt-get -o Acquire::Retries=3 update -q &&
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 "$@"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "apt-get install $* failed"
fi
rm -f "$log"
