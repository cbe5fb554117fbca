#!/usr/bin/env bash
# Runs a command in a network namespace that has only loopback: nothing it starts can reach
# beyond this machine, and WebRTC uses 127.0.0.1 candidates only. Falls back to an
# unprivileged namespace (unshare -rn), then to the host network with a warning.
set -euo pipefail
command=$(printf '%q ' "$@")
if unshare -n true 2>/dev/null; then
  exec unshare -n sh -c "ip link set lo up && $command"
elif unshare -rn true 2>/dev/null; then
  exec unshare -rn sh -c "ip link set lo up && $command"
else
  echo "warning: cannot create a network namespace here; running on the host network" >&2
  exec "$@"
fi
