#!/usr/bin/env bash
# `make run`: two simulated engines and the gateway in front of them, on the
# default ports (engines 8001/8002, gateway 30000, metrics 29000). Ctrl-C stops all.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
GW_PORT=${SMG_PORT:-30000}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT INT TERM
for port in 8001 8002; do
    "$BUILD/smg-sim" --host 127.0.0.1 --port "$port" --model sim-model --itl-ms 20 &
    pids+=($!)
done
sleep 0.3
cat <<EOT

smg is starting on http://127.0.0.1:$GW_PORT in front of two simulated engines
(model "sim-model"). Try, from another terminal:

  curl -s http://127.0.0.1:$GW_PORT/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model":"sim-model","messages":[{"role":"user","content":"Hello!"}],"max_tokens":16}'

  curl -sN http://127.0.0.1:$GW_PORT/v1/chat/completions -H 'Content-Type: application/json' \\
       -d '{"model":"sim-model","messages":[{"role":"user","content":"Hello!"}],"stream":true}'

Workers: curl -s http://127.0.0.1:$GW_PORT/workers    Metrics: curl -s http://127.0.0.1:29000/metrics
Ctrl-C stops everything.

EOT
"$BUILD/smg" --port "$GW_PORT" --worker-urls http://127.0.0.1:8001 http://127.0.0.1:8002 \
    --policy round_robin --health-check-interval-secs 5 --shutdown-grace-period-secs 4 &
pids+=($!)
wait "${pids[-1]}"
