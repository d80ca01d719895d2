#!/usr/bin/env bash
# Starts the given ember-server binary on a free loopback port and drives it with the real
# redis-cli (one-shot commands, RESP3, --pipe mass insertion) and redis-py (ci/compat.py).
set -euo pipefail
binary=${1:?usage: compat.sh path/to/ember-server}
log=$(mktemp)
"$binary" --port 0 --shards 2 > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
    grep -q "ember listening on" "$log" && break
    sleep 0.1
done
addr=$(grep -o "ember listening on [0-9.:]*" "$log" | awk '{print $4}')
port=${addr##*:}
[ -n "$port" ] || { cat "$log"; echo "server did not start"; exit 1; }
cli() { redis-cli -p "$port" "$@"; }
expect() {
    local want=$1; shift
    local got
    got=$(cli "$@")
    if [ "$got" != "$want" ]; then
        echo "redis-cli $*: expected [$want], got [$got]"; exit 1
    fi
}
expect PONG PING
expect OK SET greeting hello
expect hello GET greeting
expect 1 EXISTS greeting
expect 6 APPEND greeting "!"
expect OK SET counter 10
expect 11 INCR counter
expect OK SET temp data EX 60
expect 60 TTL temp
expect string TYPE greeting
expect "ERR unknown command 'NOSUCH', with args beginning with: 'x' " NOSUCH x
[ "$(cli -3 HELLO 3 | head -1)" = "server redis" ] || { echo "HELLO 3 via redis-cli -3 failed"; exit 1; }
cli FLUSHALL > /dev/null
# Mass insertion: redis-cli --pipe must report no errors and every reply.
python3 - > /tmp/ember-pipe.txt <<'PY'
import sys
out = sys.stdout
for i in range(100000):
    k, v = f"key:{i}", f"value:{i}"
    out.write(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(v)}\r\n{v}\r\n")
PY
summary=$(redis-cli -p "$port" --pipe < /tmp/ember-pipe.txt | tail -1)
echo "redis-cli --pipe: $summary"
[ "$summary" = "errors: 0, replies: 100000" ] || { echo "unexpected --pipe summary"; exit 1; }
expect 100000 DBSIZE
for script in "$(dirname "$0")"/compat*.py; do
    python3 "$script" "$port"
done
echo "compatibility checks passed"
