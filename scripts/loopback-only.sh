#!/usr/bin/env bash
# Runs a command in a network namespace that has only loopback: nothing it starts can reach
# beyond this machine, and WebRTC uses 127.0.0.1 candidates only. Falls back to an
# unprivileged namespace (unshare -rn), then to the host network with a warning. The default
# route goes into loopback too: Firefox gathers ICE candidates only on the default route's
# interface (nothing leaves the machine either way).
set -euo pipefail
command=$(printf '%q ' "$@")
if unshare -n true 2>/dev/null; then
  exec unshare -n sh -c "ip link set lo up && ip route add default dev lo src 127.0.0.1 && $command"
elif unshare -rn true 2>/dev/null; then
  exec unshare -rn sh -c "ip link set lo up && ip route add default dev lo src 127.0.0.1 && $command"
else
  echo "warning: cannot create a network namespace here; running on the host network" >&2
  exec "$@"
fi
