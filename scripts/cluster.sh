#!/usr/bin/env bash
# `make cluster`: Redis, two Switchboard nodes and HAProxy on loopback, as deploy/haproxy.cfg
# describes them; prints the one URL to open and stops everything on Ctrl-C.
#
#   node 1: 127.0.0.1:3001 (data in data/node1)   node 2: 127.0.0.1:3002 (data in data/node2)
#   their /metrics: 127.0.0.1:9101 and 127.0.0.1:9102
#   Redis:  127.0.0.1:6380 (data in data/redis)   HAProxy: http://127.0.0.1:8080
set -euo pipefail
cd "$(dirname "$0")/.."

BINARY=target/release/switchboard
REDIS_PORT=6380
PUBLIC=http://127.0.0.1:8080
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT INT TERM

for port in 3001 3002 9101 9102 8080 $REDIS_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "Port $port is already in use: stop what listens there first." >&2
    exit 1
  fi
done

mkdir -p data/redis
# Its own Redis (never the system's service). `appendonly yes` keeps the chat history across a
# Redis restart.
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/data/redis" \
  --save '' --appendonly yes --protected-mode yes >data/redis/redis.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null && break; sleep 0.05; done

for n in 1 2; do
  # Each node's SFU has a UDP port of its own: browsers send a room's media to its node directly.
  "$BINARY" --port "300$n" --media-port "348$n" --data-dir "data/node$n" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
    --public-url "$PUBLIC" --max-connections-per-ip 0 --trusted-proxy 127.0.0.1 \
    --metrics-bind "127.0.0.1:910$n" --log-level warn $* \
    >"data/node$n.log" 2>&1 &
  pids+=($!)
done
for port in 3001 3002; do
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
done

haproxy -f deploy/haproxy.cfg -db >data/haproxy.log 2>&1 &
pids+=($!)

echo
echo "Switchboard is running as a cluster of two nodes."
echo "  Open:    $PUBLIC"
echo "  Nodes:   http://127.0.0.1:3001 and http://127.0.0.1:3002 (logs in data/node1.log, data/node2.log)"
echo "  Metrics: http://127.0.0.1:9101/metrics and http://127.0.0.1:9102/metrics"
echo "  Redis:   127.0.0.1:$REDIS_PORT"
echo "Press Ctrl-C to stop everything."
wait -n "${pids[@]}" || true
echo "One of the processes stopped (see data/*.log); stopping the others." >&2
