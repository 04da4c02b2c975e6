#!/usr/bin/env bash
# Builds the venuebox SD image: pi-gen (Raspberry Pi OS Lite, 64-bit) plus stage-venuebox.
#
#   board/build-image.sh PI_GEN_DIR path/to/venuebox_<version>_arm64.deb
#
# PI_GEN_DIR is a checkout of pi-gen's arm64 branch (https://github.com/RPi-Distro/pi-gen).
# The console password of FIRST_USER_NAME comes from $FIRST_USER_PASS, or is asked for.
# The image lands in PI_GEN_DIR/deploy/. Needs what pi-gen needs (Debian host, root or Docker).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
if [ "$#" -ne 2 ]; then
  echo "usage: $0 PI_GEN_DIR VENUEBOX_DEB" >&2
  exit 64
fi
pi_gen="$(cd "$1" && pwd)"
deb="$2"
[ -x "$pi_gen/build.sh" ] || { echo "$pi_gen is not a pi-gen checkout" >&2; exit 66; }
[ -f "$deb" ] || { echo "no such package: $deb" >&2; exit 66; }

# shellcheck source=board/config
. "$here/config"
"$here/check-config.sh" "$here/config"

# The technician's console password. pi-gen refuses to build without one when the first-boot
# rename wizard is off (as here: the box boots straight into service). It is never kept in
# board/config (that file is in the repository): take it from the environment, or ask.
if [ -z "${FIRST_USER_PASS:-}" ]; then
  if [ -t 0 ]; then
    read -rsp "Password for the console account ${FIRST_USER_NAME}: " FIRST_USER_PASS; echo
    read -rsp "Again: " again; echo
    [ "$FIRST_USER_PASS" = "$again" ] || { echo "the passwords differ" >&2; exit 65; }
  else
    echo "set FIRST_USER_PASS (the console password for ${FIRST_USER_NAME}) or run this on a terminal" >&2
    exit 65
  fi
fi
if [ "${#FIRST_USER_PASS}" -lt 8 ]; then
  echo "FIRST_USER_PASS must be at least 8 characters" >&2
  exit 65
fi

stage="$pi_gen/stage-venuebox"
rm -rf "$stage"
cp -r "$here/stage-venuebox" "$stage"
cp "$here/config" "$stage/00-venuebox/files/board-config"
cp "$deb" "$stage/00-venuebox/files/venuebox.deb"

# The config holds the console password until the build is done: owner-only, removed after.
trap 'rm -f "$pi_gen/config"' EXIT
(umask 077 && : > "$pi_gen/config")
cat > "$pi_gen/config" <<CONFIG
IMG_NAME=venuebox
RELEASE=bookworm
TARGET_HOSTNAME=${BOX_HOSTNAME}
FIRST_USER_NAME=${FIRST_USER_NAME}
FIRST_USER_PASS=$(printf '%q' "$FIRST_USER_PASS")
DISABLE_FIRST_BOOT_USER_RENAME=1
WPA_COUNTRY=${WIFI_COUNTRY}
LOCALE_DEFAULT=en_GB.UTF-8
ENABLE_SSH=0
STAGE_LIST="stage0 stage1 stage2 stage-venuebox"
CONFIG

# Lite image: stage2 is the last stock stage; only our stage exports an image.
touch "$pi_gen/stage2/SKIP_IMAGES"
cd "$pi_gen"
./build.sh
