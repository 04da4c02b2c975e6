#!/usr/bin/env bash
# The whole test suite (the README's test command). On a fresh machine it first installs what
# the tests need, idempotently: Node.js and npm, mpv and ffmpeg (Debian packages) and the npm
# test client.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: command → package.
missing=()
for pair in node:nodejs npm:npm mpv:mpv ffmpeg:ffmpeg; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "tests/run.sh: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The real socket.io-client 4.x the GM stations use, pinned by tests/node/package-lock.json.
if [ ! -d tests/node/node_modules/socket.io-client ] \
  || [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi

cargo build --locked --bin venuebox
cargo test --locked
VENUEBOX_BIN="$PWD/target/debug/venuebox" \
  node --test --test-concurrency=1 tests/node/*.test.mjs
