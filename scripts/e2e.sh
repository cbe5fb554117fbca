#!/usr/bin/env bash
# Runs the Playwright suite (and the servers it starts) in a network namespace with only
# loopback: no test traffic can leave the machine, and WebRTC uses 127.0.0.1 candidates only.
# Extra arguments go to `playwright test` (e.g. a file name or --grep).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

suite="playwright test -c end2end/playwright.config.ts $(printf '%q ' "$@")"
if unshare -n true 2>/dev/null; then
  exec unshare -n sh -c "ip link set lo up && $suite"
elif unshare -rn true 2>/dev/null; then
  exec unshare -rn sh -c "ip link set lo up && $suite"
else
  echo "warning: cannot create a network namespace here; running the browser tests on the host network" >&2
  exec sh -c "$suite"
fi
