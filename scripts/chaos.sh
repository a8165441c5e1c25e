#!/bin/sh
# The chaos and security suite at ten times its default counts, figures printed.
#
#   scripts/chaos.sh                          # WEBCHAT_CHAOS_SCALE=10
#   WEBCHAT_CHAOS_SCALE=3 scripts/chaos.sh    # another scale
#   scripts/chaos.sh -k drops                 # extra pytest arguments pass through
set -eu
cd "$(dirname "$0")/.."
WEBCHAT_CHAOS_SCALE="${WEBCHAT_CHAOS_SCALE:-10}"
export WEBCHAT_CHAOS_SCALE
exec python -m pytest -q -s tests/chaos "$@"
