#!/bin/sh
# The worker fleet under fire: W worker processes (webchat-async worker), a real Redis
# (WEBCHAT_REDIS_URL, or redis-server from PATH on a free port), the simulator with C chats
# of 50 agent messages each answered by an echo handler; one worker is killed with SIGKILL
# and another stopped with SIGTERM mid-run (each replaced by a new one). Counts the guest's
# messages of every chat on the simulator. Its last line:
#
#   fleet: C chats, W workers, killed K, handled E events, lost 0, replies duplicated 0, orphaned 0, failover p50 X s p99 Y s
#
#   scripts/fleet_chaos.sh                        # 300 chats, 3 workers (a few minutes)
#   scripts/fleet_chaos.sh --chats 30 --workers 3 # smaller
#   scripts/fleet_chaos.sh --lease 10             # the default lease (failover ~10 s)
set -eu
cd "$(dirname "$0")/.."
exec python tests/worker/fleet_chaos.py "$@"
