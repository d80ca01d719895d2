#!/usr/bin/env bash
# A local ember cluster of three nodes on one machine, for people (`make cluster`) and for
# CI (ci/cluster.py).
#   ci/cluster.sh start BIN DIR PORT1 PORT2 PORT3   start (or restart) the nodes, join them,
#                                                   spread the slots, wait for cluster_state:ok
#   ci/cluster.sh stop DIR                          stop the nodes started from DIR (data kept)
# Each node keeps its data, log and pid under DIR/PORT. The first node bootstraps the
# cluster; the others are met through it; the slots are then spread evenly.
set -euo pipefail

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

wait_for() {
    local what="$1" deadline=$((SECONDS + 60))
    shift
    until "$@" >/dev/null 2>&1; do
        if (( SECONDS > deadline )); then
            echo "cluster.sh: timed out waiting for $what" >&2
            return 1
        fi
        sleep 0.2
    done
}

state_ok() { cli "$1" CLUSTER INFO | grep -q '^cluster_state:ok'; }
spread() { [ "$(cli "$1" CLUSTER INFO | tr -d '\r' | sed -n 's/^cluster_size://p')" = 3 ]; }
knows_all() { [ "$(cli "$1" CLUSTER NODES | wc -l)" -ge 3 ]; }

start() {
    local bin="$1" dir="$2"
    shift 2
    local ports=("$@") first="$1"
    for port in "${ports[@]}"; do
        mkdir -p "$dir/$port"
        if [ -f "$dir/$port/pid" ] && kill -0 "$(cat "$dir/$port/pid")" 2>/dev/null; then
            continue
        fi
        local extra=()
        [ "$port" = "$first" ] && extra=(--cluster-bootstrap)
        "$bin" --port "$port" --data-dir "$dir/$port" --cluster-enabled yes "${extra[@]}" \
            >"$dir/$port/log" 2>&1 &
        echo $! >"$dir/$port/pid"
    done
    for port in "${ports[@]}"; do
        wait_for "node $port" cli "$port" PING
    done
    for port in "${ports[@]:1}"; do
        cli "$first" CLUSTER MEET 127.0.0.1 "$port" >/dev/null
    done
    wait_for "every node to know the others" knows_all "$first"
    if ! spread "$first"; then
        # The bootstrap node owns every slot: give each node a third.
        local n=${#ports[@]} per=$((16384 / ${#ports[@]})) start=0
        cli "$first" CLUSTER DELSLOTSRANGE "$per" 16383 >/dev/null
        for i in $(seq 1 $((n - 1))); do
            start=$((i * per))
            local end=$(((i + 1) * per - 1))
            (( i == n - 1 )) && end=16383
            cli "${ports[$i]}" CLUSTER ADDSLOTSRANGE "$start" "$end" >/dev/null
        done
    fi
    for port in "${ports[@]}"; do
        wait_for "cluster_state:ok on $port" state_ok "$port"
    done
    cli "$first" CLUSTER INFO
}

stop() {
    local dir="$1"
    for pidfile in "$dir"/*/pid; do
        [ -f "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        fi
        rm -f "$pidfile"
    done
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) echo "usage: $0 start BIN DIR PORT... | stop DIR" >&2; exit 2 ;;
esac
