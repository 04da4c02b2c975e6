#!/usr/bin/env bash
# The whole test suite (the README's test command). On a fresh machine it first installs what
# the tests need, idempotently: Debian packages (Node.js and npm, mpv and ffmpeg, the aarch64
# cross linker and libc, qemu-user, shellcheck, Chromium for the console, libfaketime for the
# clock's jumps), the rustup aarch64 target, cargo-deb and cargo-deny, and the npm test clients
# (socket.io-client, ws, playwright-core). Then the Rust tests, the end-to-end tests (the console in headless Chromium among them), and the
# Raspberry Pi side (tests/pi.sh: aarch64 build and tests under qemu, .deb, systemd unit,
# SD-image stage).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: command → package.
missing=()
for pair in node:nodejs npm:npm mpv:mpv ffmpeg:ffmpeg aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu \
  qemu-aarch64:qemu-user shellcheck:shellcheck systemd-analyze:systemd dpkg-deb:dpkg \
  chromium:chromium faketime:faketime; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "tests/run.sh: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The aarch64 C library's headers and link files, for crates that compile C (ring) and for
# linking. No command to probe for it; the runtime libc.so.6 alone comes with the cross gcc, so
# look for a header only the -dev package has.
if [ ! -e /usr/aarch64-linux-gnu/include/bits/libc-header-start.h ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libc6-dev-arm64-cross
fi
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install cargo-deb --locked --version 3.8.0
fi
if ! cargo deny --version >/dev/null 2>&1; then
  cargo install cargo-deny --locked --version 0.20.2 --no-default-features
fi

# What may be linked into the box (deny.toml): permissive licences only, each crate once
# unless deny.toml says why not.
cargo deny --log-level error check licenses bans

# The real socket.io-client 4.x the GM stations use, ws, and playwright-core (it drives Debian's
# Chromium; it downloads no browser of its own), pinned by tests/node/package-lock.json.
if [ ! -d tests/node/node_modules/socket.io-client ] || [ ! -d tests/node/node_modules/playwright-core ] \
  || [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi

# The benchmark peer: a plain Node.js server on socket.io 4.x, pinned by its package-lock.json.
if [ ! -d bench/peer-node/node_modules/socket.io ] \
  || [ bench/peer-node/package-lock.json -nt bench/peer-node/node_modules/.package-lock.json ]; then
  (cd bench/peer-node && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo build --locked --bin venuebox --example loadgen --example floor
cargo test --locked
# A test that hangs fails after 5 minutes with its name instead of holding CI to its limit.
VENUEBOX_BIN="$PWD/target/debug/venuebox" \
  node --test --test-concurrency=1 --test-timeout=300000 tests/node/*.test.mjs
# Every benchmark scenario, tiny, against all three servers: keeps the harness from rotting.
./target/debug/examples/loadgen smoke >/dev/null
bash tests/pi.sh
