#!/usr/bin/env bash
# Runs end2end/tests/contract.spec.ts against the course's Node server instead of ours, to
# check that what the contract tests expect is what the course's server does. Both run inside
# a loopback-only network namespace. Usage: scripts/contract-reference.sh [reference dir]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--inside" ]; then
  scripts/reference.sh "${1:-../shared/reference/seed-node}"
  exec scripts/loopback-only.sh "$0" --inside
fi
port=3100
PORT=$port node target/reference-seed-node/server.js >/dev/null &
reference=$!
trap 'kill $reference' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.1
done
export PATH="$PWD/node_modules/.bin:$PATH"
CONTRACT_URL="http://127.0.0.1:$port" playwright test -c end2end/playwright.config.ts contract.spec
