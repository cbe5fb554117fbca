#!/usr/bin/env bash
# Runs the Playwright suite (and the servers it starts) on loopback only (see
# loopback-only.sh). Extra arguments go to `playwright test` (e.g. a file name or --grep).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
exec scripts/loopback-only.sh playwright test -c end2end/playwright.config.ts "$@"
