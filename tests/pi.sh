#!/usr/bin/env bash
# The Raspberry Pi side of the suite, called by tests/run.sh: the aarch64 release build (with
# both GPIO backends), its unit tests and one end-to-end test under qemu-user, the .deb and its
# contents, the systemd unit, and the SD-image stage. Prerequisites are installed by run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
fail() { echo "tests/pi.sh: $*" >&2; exit 1; }

echo "== aarch64 release build (gpiocdev and rppal backends)"
cargo build --locked --release --target "$target" --features rppal
bin="target/$target/release/venuebox"
aarch64-linux-gnu-readelf -h "$bin" | grep -q 'Machine:.*AArch64' || fail "$bin is not an aarch64 binary"

echo "== aarch64 unit tests under qemu (domain, store, hardware logic)"
cargo test --locked --release --target "$target" --features rppal --lib

echo "== the aarch64 binary end to end under qemu, with the real socket.io-client"
"${qemu[@]}" "$bin" --version
VENUEBOX_BIN="$PWD/$bin" VENUEBOX_RUNNER="${qemu[*]}" \
  node --test --test-concurrency=1 tests/node/readme.test.mjs tests/node/realtime.test.mjs

echo "== the .deb"
cargo deb --target "$target" --no-build --no-strip --output "target/$target/debian/" >/dev/null
version="$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["packages"][0]["version"])')"
deb="target/$target/debian/venuebox_${version}_arm64.deb"
[ -f "$deb" ] || fail "expected $deb"
contents="$(dpkg-deb -c "$deb")"
for path in ./usr/bin/venuebox ./etc/venuebox/venuebox.toml ./usr/share/venuebox/demo-tokens.json \
  ./var/lib/venuebox/media/README.txt ./usr/share/doc/venuebox/README.md \
  ./usr/share/doc/venuebox/docs/technicians.md ./usr/share/doc/venuebox/docs/configuration.md; do
  grep -q " ${path}\$" <<<"$contents" || fail "$deb lacks $path"
done
grep -Eq " \./(usr/)?lib/systemd/system/venuebox.service\$" <<<"$contents" || fail "$deb lacks the unit"
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || fail "$deb is not arm64"
dpkg-deb -f "$deb" Depends | grep -q adduser || fail "$deb does not depend on adduser"
scripts="$(mktemp -d)"
dpkg-deb -e "$deb" "$scripts"
grep -q 'adduser --system' "$scripts/postinst" || fail "postinst does not create the user"
grep -q 'systemctl' "$scripts/postinst" || fail "postinst does not enable the service"
grep -q '/etc/venuebox/venuebox.toml' "$scripts/conffiles" || fail "the config is not a conffile"
sh -n "$scripts/postinst" && sh -n "$scripts/postrm"
# On the box, a technician's commands find the service's data dir with no flag: they read the
# packaged config (here through VENUEBOX_CONFIG, as this machine has no /etc/venuebox).
installed="$(mktemp -d)"
dpkg-deb -x "$deb" "$installed"
for command in admin-password viewer-pin check; do
  out="$(VENUEBOX_CONFIG="$installed/etc/venuebox/venuebox.toml" "${qemu[@]}" \
    "$installed/usr/bin/venuebox" "$command" 2>&1 || true)"
  grep -q '/var/lib/venuebox' <<<"$out" \
    || fail "the packaged \`venuebox $command\` does not look in /var/lib/venuebox: $out"
done
rm -rf "$installed"
# The packaged config is one the box accepts (the GPIO lines are only looked up at start).
# Under systemd the box also writes the console banner into its RuntimeDirectory.
mkdir "$scripts/run"
RUNTIME_DIRECTORY="$scripts/run" ./target/debug/venuebox serve --config packaging/venuebox.toml \
  --data "$scripts/data" --listen 127.0.0.1:0 --hardware sim >"$scripts/serve.log" 2>&1 & pid=$!
# Wait for the banner (written once the box listens), or the box's exit: never a fixed sleep.
for _ in $(seq 600); do
  [ -s "$scripts/run/console.issue" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
kill -0 "$pid" 2>/dev/null || fail "the packaged config was refused: $(cat "$scripts/serve.log")"
grep -q 'sudo venuebox admin-password' "$scripts/run/console.issue" \
  || fail "the console banner does not tell the technician how to get the password"
# The banner is on the venue's screen whenever mpv is idle: never the password itself.
password="$(./target/debug/venuebox admin-password --data "$scripts/data" | sed 's/^admin password: //')"
[ "${#password}" -eq 12 ] || fail "admin-password did not show the generated password"
! grep -qF "$password" "$scripts/run/console.issue" || fail "the console banner shows the admin password"
kill "$pid"; wait "$pid" || true
rm -rf "$scripts"

echo "== the systemd unit"
unit_dir="$(mktemp -d)"
# verify needs the ExecStart program to exist: point it at this build.
sed "s|^ExecStart=/usr/bin/venuebox|ExecStart=$PWD/target/debug/venuebox|" systemd/venuebox.service \
  >"$unit_dir/venuebox.service"
verify_out="$(systemd-analyze verify "$unit_dir/venuebox.service" 2>&1 || true)"
# Any remark about the unit is a problem (verify exits 0 even for unknown keys); only remarks
# about this machine (no systemd running as PID 1 in a container) are not.
problems="$(grep -v -e 'Failed to connect to' -e 'System has not been booted' -e '^$' <<<"$verify_out" || true)"
[ -z "$problems" ] || fail "systemd-analyze verify: $problems"
rm -rf "$unit_dir"
for key in Type=notify WatchdogSec= Restart=on-failure StateDirectory=venuebox User=venuebox \
  'SupplementaryGroups=gpio video' ProtectSystem=strict NoNewPrivileges=yes LimitNOFILE= MemoryMax=; do
  grep -q "^$key" systemd/venuebox.service || fail "the unit lacks $key"
done

echo "== the SD-image stage"
bash tests/board.sh
echo "tests/pi.sh: ok"
