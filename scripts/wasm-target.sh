#!/usr/bin/env bash
# The wasm32-unknown-unknown standard library: rustup's when rustup can fetch it; otherwise
# Debian's rustc-web + rust-web-src + lld, building std from source (see DEVELOPERS.md).
#
#   scripts/wasm-target.sh check     exit 0 when a wasm build can run
#   scripts/wasm-target.sh install   get one of the two
#   scripts/wasm-target.sh env       print the environment the build needs (empty for rustup)
set -euo pipefail
cd "$(dirname "$0")/.."

has_rustup_target() {
  command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown
}

# Debian's rustc-web and the std sources it can build for wasm32.
debian_rustc() { [ -x /usr/bin/rustc ] && /usr/bin/rustc --print target-list 2>/dev/null | grep -qx wasm32-unknown-unknown; }
debian_std_src() { ls -d /usr/src/rustc-*/library 2>/dev/null | sort -V | tail -n1; }
debian_linker() {
  local l; for l in wasm-ld-22 wasm-ld-21 wasm-ld-20 wasm-ld-19 wasm-ld rust-lld; do
    command -v "$l" >/dev/null && { command -v "$l"; return; }; done
}
has_debian_fallback() { debian_rustc && [ -n "$(debian_std_src)" ] && [ -n "$(debian_linker)" ]; }

case "${1:-check}" in
  check) has_rustup_target || has_debian_fallback ;;
  install)
    if has_rustup_target || has_debian_fallback; then exit 0; fi
    if command -v rustup >/dev/null && rustup target add wasm32-unknown-unknown; then exit 0; fi
    echo "==> rustup cannot fetch the wasm32 target; falling back to Debian's rustc-web" >&2
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo
    $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y rustc-web rust-web-src lld-22 \
      || $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y rustc-web rust-web-src lld
    has_debian_fallback || { echo "No wasm32 standard library could be installed." >&2; exit 1; }
    ;;
  env)
    if has_rustup_target; then exit 0; fi
    has_debian_fallback || { echo "no wasm32 target: run scripts/wasm-target.sh install" >&2; exit 1; }
    cat <<ENV
export RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1
export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export __CARGO_TESTS_ONLY_SRC_ROOT=$(debian_std_src)
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=$(debian_linker)
ENV
    ;;
  *) echo "usage: $0 [check|install|env]" >&2; exit 2 ;;
esac
