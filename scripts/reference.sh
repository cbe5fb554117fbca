#!/usr/bin/env bash
# Prepares the course's Node server for `bench compare`: copies it (server.js and its lock
# file, never committed here) into target/reference-seed-node and installs its packages from
# the npm registry. Usage: scripts/reference.sh <directory of the reference server>
set -euo pipefail
cd "$(dirname "$0")/.."
source_dir=${1:-../shared/reference/seed-node}
target_dir=target/reference-seed-node
if [ ! -f "$source_dir/server.js" ]; then
  echo "No reference server at $source_dir (set REFERENCE_DIR=...): skipping the comparison." >&2
  exit 1
fi
mkdir -p "$target_dir"
for file in package.json package-lock.json server.js; do
  cp "$source_dir/$file" "$target_dir/$file"
done
if [ ! -d "$target_dir/node_modules" ] || [ "$target_dir/package-lock.json" -nt "$target_dir/node_modules" ]; then
  (cd "$target_dir" && npm ci --no-audit --no-fund)
fi
