#!/usr/bin/env bash
# Installs whatever Switchboard's build is missing, only from registries (crates.io, npm,
# Debian), and does nothing for what is already there. Used by `make run` and `make test`.
#
#   scripts/tools.sh build     wasm target, Trunk, wasm-bindgen, npm packages (wasm-opt, ...)
#   scripts/tools.sh test      also Debian's redis-server (the cluster tests start their own)
#                              coturn (its turnutils_uclient tests our TURN relay), HAProxy
#                              (/metrics behind the shipped balancer config) and pebble
#                              (Let's Encrypt's test CA, for --tls acme)
#   scripts/tools.sh browser   also Debian's Chromium and Firefox ESR (and iproute2, curl: the
#                              network namespaces of relay-netns.spec.ts), for the browser tests
#   scripts/tools.sh bench     the browser's, and coturn (`bench turn` measures it beside ours)
#   scripts/tools.sh cluster   also redis-server, HAProxy and curl, for `make cluster`
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs a system package install as root, with sudo when we are not root.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "Need root to run: $*" >&2; exit 1; fi
}

apt_install() {
  say "Installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" \
    || { as_root apt-get update && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; }
}

need_command() {
  command -v "$1" >/dev/null || { echo "$1 is required: $2" >&2; exit 1; }
}

wasm_bindgen_version() {
  sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;}' Cargo.lock
}

ensure_build_tools() {
  need_command cargo "install Rust with rustup (https://rustup.rs)"
  need_command npm "install Node.js 20 or newer"
  # C toolchain and headers for the crates that build C (SQLite, ring, the test client's TLS).
  local missing=()
  command -v cc >/dev/null || missing+=(build-essential)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  [ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

  scripts/wasm-target.sh check >/dev/null || scripts/wasm-target.sh install

  if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    say "Installing Trunk $TRUNK_VERSION from crates.io"
    cargo install trunk --version "$TRUNK_VERSION" --locked
  fi
  local wbg; wbg=$(wasm_bindgen_version)
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $wbg" ]; then
    # Without --locked: the registry index lags behind some of its pinned dependencies.
    say "Installing wasm-bindgen-cli $wbg (the version in Cargo.lock) from crates.io"
    cargo install wasm-bindgen-cli --version "$wbg"
  fi
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    say "Installing npm packages (wasm-opt, socket.io client, Playwright, puppeteer-core)"
    # puppeteer-core downloads nothing itself; the variable keeps it so if that ever changes.
    PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund
  fi
}

ensure_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
}

# Stops and disables the system service a package just installed (only that service, by its
# own init system: nothing else is killed); the tests start their own servers.
stop_service() {
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    as_root systemctl disable --now "$1" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$1" ]; then
    as_root service "$1" stop >/dev/null 2>&1 || true
  fi
}

# coturn's test client, turnutils_uclient, for the relay's interop test. The package also
# installs a turnserver service; the tests never use it, so it is stopped and disabled.
ensure_coturn() {
  command -v turnutils_uclient >/dev/null && return
  apt_install coturn
  stop_service coturn
}

# HAProxy, for the test that /metrics stays private behind deploy/haproxy.cfg. Its package's
# service is stopped like coturn's (the test starts its own HAProxy).
ensure_haproxy() {
  command -v haproxy >/dev/null && return
  apt_install haproxy
  stop_service haproxy
}

# Let's Encrypt's test CA and its DNS stand-in, for the --tls acme test.
ensure_pebble() {
  command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null && return
  apt_install pebble
}

ensure_cluster() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v haproxy >/dev/null || missing+=(haproxy)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

ensure_browser() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  # Calls and meetings are tested between Chromium and Firefox too (puppeteer-core drives it).
  [ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
  command -v unshare >/dev/null || missing+=(util-linux)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v curl >/dev/null || missing+=(curl)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
}

case "${1:-build}" in
  build) ensure_build_tools ;;
  test) ensure_build_tools; ensure_redis; ensure_coturn; ensure_haproxy; ensure_pebble ;;
  browser) ensure_build_tools; ensure_redis; ensure_browser ;;
  bench) ensure_build_tools; ensure_redis; ensure_browser; ensure_coturn ;;
  cluster) ensure_build_tools; ensure_cluster ;;
  *) echo "usage: $0 [build|test|browser|bench|cluster]" >&2; exit 2 ;;
esac
