#!/usr/bin/env bash
# A throwaway Redis 7 server on 127.0.0.1 for the tests (the fleet's store), used by .ci/run.
#
#   scripts/ci/redis.sh install      # Debian's redis-server (apt-get, as root) unless a Redis >= 7
#                                    # is already on PATH
#   scripts/ci/redis.sh start DIR    # start one on a free port, no persistence, files in DIR;
#                                    # prints its URL: redis://127.0.0.1:PORT/0
#   scripts/ci/redis.sh stop DIR     # stop the one started in DIR (no-op if none runs)
set -euo pipefail

REDIS_MIN_MAJOR=7

die() {
    echo "redis.sh: $*" >&2
    exit 1
}

redis_major() {
    redis-server --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9]*\)\..*/\1/p'
}

have_redis() {
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 &&
        [ "$(redis_major)" -ge "$REDIS_MIN_MAJOR" ] 2>/dev/null
}

cmd_install() {
    if have_redis; then
        echo "redis: already installed: $(redis-server --version)"
        return 0
    fi
    "$(dirname "$0")/apt_install.sh" redis-server || die "no Redis >= $REDIS_MIN_MAJOR on PATH, and it could not be installed"
    have_redis || die "installed $(redis-server --version 2>&1), need Redis >= $REDIS_MIN_MAJOR"
    echo "redis: installed $(redis-server --version)"
}

free_port() {
    # The kernel picks a free port; the short window before redis binds it is covered by
    # the retries in cmd_start.
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ping() {
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
}

cmd_start() {
    local dir=${1:?usage: redis.sh start DIR}
    have_redis || die "no Redis >= $REDIS_MIN_MAJOR on PATH (run: scripts/ci/redis.sh install)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local attempt port _
    for attempt in 1 2 3; do
        port=$(free_port)
        rm -f "$dir/redis.pid"
        # No RDB snapshots, no AOF: a test store that vanishes with the server.
        redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
            --save '' --appendonly no --dir "$dir" \
            --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" ||
            continue
        for _ in $(seq 1 100); do # up to 10 s
            if ping "$port"; then
                echo "$port" >"$dir/redis.port"
                echo "redis://127.0.0.1:$port/0"
                return 0
            fi
            sleep 0.1
        done
        echo "redis.sh: attempt $attempt on port $port did not answer" >&2
        cmd_stop "$dir"
    done
    [ -f "$dir/redis.log" ] && tail -20 "$dir/redis.log" >&2
    die "could not start redis-server (log: $dir/redis.log)"
}

cmd_stop() {
    local dir=${1:?usage: redis.sh stop DIR}
    local pidfile="$dir/redis.pid" pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    # Only a redis-server of ours: the pid file may be stale and its pid reused.
    if [[ "$pid" =~ ^[0-9]+$ ]] && grep -q '^redis' "/proc/$pid/comm" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        local _
        for _ in $(seq 1 100); do # up to 10 s
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile" "$dir/redis.port"
}

case "${1:-}" in
install) cmd_install ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
*) die "usage: redis.sh install | start DIR | stop DIR" ;;
esac
