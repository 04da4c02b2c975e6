#!/usr/bin/env bash
# Checks the pi-gen stage without building an image (that needs pi-gen and a Debian builder;
# board/README.md): shellcheck on every script, board/config validation, and the stage's files
# rendered into a directory and checked one by one.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "tests/board.sh: $*" >&2; exit 1; }

mapfile -t scripts < <(find board -type f \( -name '*.sh' -o -name 'venuebox-datafs' \))
shellcheck -x "${scripts[@]}" packaging/debian/postinst packaging/debian/postrm tests/*.sh .ci/run

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cfg="$work/config"
sed -e 's/^WIFI_PASSPHRASE=.*/WIFI_PASSPHRASE="quiz-night-2026"/' -e 's/^WIFI_SSID=.*/WIFI_SSID="Quiz Box"/' \
  board/config >"$cfg"
board/check-config.sh "$cfg" >/dev/null || fail "a good config was refused"
refused() { # refused SED_EXPRESSION: the config with that change must be refused
  sed "$1" "$cfg" >"$work/bad"
  if board/check-config.sh "$work/bad" >/dev/null 2>&1; then fail "accepted a config with $1"; fi
}
refused 's/^WIFI_PASSPHRASE=.*/WIFI_PASSPHRASE="short"/'
refused 's/^WIFI_COUNTRY=.*/WIFI_COUNTRY=""/'
refused 's/^WIFI_CHANNEL=.*/WIFI_CHANNEL="36"/'
refused 's/^ROOT_SIZE_GIB=.*/ROOT_SIZE_GIB="2"/'
if board/check-config.sh board/config >/dev/null 2>&1; then fail "the default passphrase was accepted"; fi

# build-image.sh against a stand-in for pi-gen that applies pi-gen's own rule (with the first-boot
# rename off, FIRST_USER_PASS must be set) and keeps the config it was given.
fake_pigen="$work/pi-gen"
mkdir -p "$fake_pigen/stage2"
cat >"$fake_pigen/build.sh" <<'PIGEN'
#!/usr/bin/env bash
set -euo pipefail
# shellcheck disable=SC1091
. ./config
if [ "${DISABLE_FIRST_BOOT_USER_RENAME:-0}" = "1" ] && [ -z "${FIRST_USER_PASS:-}" ]; then
  echo "FIRST_USER_PASS needs to be set" >&2; exit 1
fi
printf '%s' "$FIRST_USER_PASS" >password-seen
stat -c %a config >config-mode
PIGEN
chmod +x "$fake_pigen/build.sh"
: >"$work/venuebox.deb"
export VENUEBOX_ALLOW_DEFAULT_PASSPHRASE=1
# Quotes, a dollar sign and a semicolon: written to pi-gen's config, it must come back as typed.
# shellcheck disable=SC2016
tricky='s3cret "pass" $HOME; x'
FIRST_USER_PASS="$tricky" board/build-image.sh "$fake_pigen" "$work/venuebox.deb" </dev/null >/dev/null \
  || fail "build-image.sh failed with FIRST_USER_PASS set"
[ "$(cat "$fake_pigen/password-seen")" = "$tricky" ] || fail "pi-gen did not get the password as typed"
[ "$(cat "$fake_pigen/config-mode")" = 600 ] || fail "pi-gen's config (with the password) is not private"
[ ! -e "$fake_pigen/config" ] || fail "the password stayed in pi-gen's config after the build"
if env -u FIRST_USER_PASS board/build-image.sh "$fake_pigen" "$work/venuebox.deb" </dev/null >/dev/null 2>&1; then
  fail "build-image.sh went on without a console password and no terminal to ask on"
fi
if FIRST_USER_PASS=short board/build-image.sh "$fake_pigen" "$work/venuebox.deb" </dev/null >/dev/null 2>&1; then
  fail "build-image.sh took a console password under 8 characters"
fi
unset VENUEBOX_ALLOW_DEFAULT_PASSPHRASE

root="$work/root"
board/stage-venuebox/00-venuebox/files/render.sh "$cfg" "$root"

nm="$root/etc/NetworkManager/system-connections/venuebox-hotspot.nmconnection"
[ "$(stat -c %a "$nm")" = 600 ] || fail "the hotspot keyfile must be 0600 or NetworkManager ignores it"
for line in 'mode=ap' 'ssid=Quiz Box' 'key-mgmt=wpa-psk' 'proto=rsn' 'pairwise=ccmp' \
  'psk=quiz-night-2026' 'method=shared' 'address1=10.42.0.1/24' 'autoconnect=true' 'ap-isolation=1'; do
  grep -qx "$line" "$nm" || fail "hotspot keyfile lacks $line"
done
python3 - "$nm" <<'PY' || fail "the hotspot keyfile does not parse"
import configparser, sys
c = configparser.ConfigParser(interpolation=None)
c.read(sys.argv[1])
assert set(c.sections()) == {"connection", "wifi", "wifi-security", "ipv4", "ipv6"}, c.sections()
PY
grep -qx 'address=/venuebox.lan/10.42.0.1' "$root/etc/NetworkManager/dnsmasq-shared.d/venuebox.conf" \
  || fail "no DNS name for Android"
grep -qx 'options cfg80211 ieee80211_regdom=GB' "$root/etc/modprobe.d/venuebox-wifi-country.conf" \
  || fail "no Wi-Fi country"
python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$root/etc/avahi/services/venuebox.service" \
  || fail "the avahi service file is not XML"
grep -qx 'hdmi_force_hotplug=1' "$root/boot/firmware/config.txt.venuebox" || fail "HDMI not forced on"
grep -q '^LABEL=VBDATA /var/lib/venuebox ext4 .*nofail' "$root/etc/venuebox/fstab.append" \
  || fail "no data partition in fstab"
[ -x "$root/usr/local/sbin/venuebox-datafs" ] || fail "venuebox-datafs is not installed"
grep -qx 'ROOT_SIZE_GIB=8' "$root/etc/venuebox/datafs.conf" || fail "datafs.conf"
grep -q 'Quiz Box' "$root/etc/issue.d/venuebox.issue" || fail "the console does not name the Wi-Fi"
grep -q 'ln -sf /run/venuebox/console.issue /etc/issue.d/' board/stage-venuebox/00-venuebox/01-run.sh \
  || fail "the console does not show the admin password"
grep -q 'apt-get install -y /tmp/venuebox.deb fake-hwclock' board/stage-venuebox/00-venuebox/01-run.sh \
  || fail "the image does not install fake-hwclock"
grep -q 'systemctl enable fake-hwclock.service venuebox-clock-save.timer' board/stage-venuebox/00-venuebox/01-run.sh \
  || fail "the clock is not saved between boots"
grep -qx 'ExecStart=/sbin/fake-hwclock save' "$root/etc/systemd/system/venuebox-clock-save.service" \
  || fail "the clock-save unit does not save the clock"
grep -qx 'OnUnitActiveSec=5min' "$root/etc/systemd/system/venuebox-clock-save.timer" \
  || fail "the clock is not saved every five minutes"
# The image has /sbin/fake-hwclock; this machine need not.
clock_problems="$(systemd-analyze verify --man=no "$root/etc/systemd/system/venuebox-clock-save.timer" \
  "$root/etc/systemd/system/venuebox-clock-save.service" 2>&1 | grep -v 'fake-hwclock' || true)"
[ -z "$clock_problems" ] || fail "the clock-save units do not verify: $clock_problems"
unit="$root/etc/systemd/system/venuebox-datafs.service"
grep -qx 'Before=local-fs.target venuebox.service' "$unit" || fail "datafs runs too late"
# The image's config: the package's, with the data partition required.
cp packaging/venuebox.toml "$work/venuebox.toml"
board/stage-venuebox/00-venuebox/files/image-config.sh "$work/venuebox.toml" \
  || fail "image-config.sh cannot turn on require_data_mount in the packaged config"
grep -qx 'require_data_mount = true' "$work/venuebox.toml" || fail "the image does not require its data partition"
grep -q 'files/image-config.sh' board/stage-venuebox/00-venuebox/01-run.sh \
  || fail "the stage does not apply image-config.sh"
echo "tests/board.sh: ok"
