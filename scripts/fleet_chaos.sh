#!/bin/sh
# The worker fleet under fire: W worker processes (webchat-async worker), a real Redis, the
# simulator with C chats of 50 agent messages each answered by an echo handler, and one
# fault mid-run (--fault):
#
#   kill           one worker killed with SIGKILL, another stopped with SIGTERM (each
#                  replaced by a new one); Redis: WEBCHAT_REDIS_URL, or redis-server from
#                  PATH on a free port
#   redis-restart  a redis-server of the run's own killed and started again empty on the
#                  same port (no persistence), workers up
#   redis-stall    that redis-server frozen (SIGSTOP) for --stall seconds (2), then SIGCONT
#
# --protocol webchat|messaging|mixed: the chats' protocol (Web Chat v2, the default; Web
# Messaging; or every other chat of each, held by the same workers).
#
# Counts the guest's messages of every chat on the simulator. Its last line:
#
#   fleet: [PROTOCOL, ][FAULT, ]C chats, W workers, killed K, handled E events, lost 0, replies duplicated 0, orphaned 0, failover p50 X s p99 Y s
#
#   scripts/fleet_chaos.sh                        # 300 chats, 3 workers (a few minutes)
#   scripts/fleet_chaos.sh --chats 30 --workers 3 # smaller
#   scripts/fleet_chaos.sh --lease 10             # the default lease (failover ~10 s)
#   scripts/fleet_chaos.sh --fault redis-restart --chats 60
#   scripts/fleet_chaos.sh --fault redis-stall --stall 3 --chats 60
#   scripts/fleet_chaos.sh --protocol mixed --chats 60  # Web Chat v2 and Web Messaging
set -eu
cd "$(dirname "$0")/.."
exec python tests/worker/fleet_chaos.py "$@"
