#!/usr/bin/env bash
# Builds the venuebox SD image: pi-gen (Raspberry Pi OS Lite, 64-bit) plus stage-venuebox.
#
#   board/build-image.sh PI_GEN_DIR path/to/venuebox_<version>_arm64.deb
#
# PI_GEN_DIR is a checkout of pi-gen's arm64 branch (https://github.com/RPi-Distro/pi-gen).
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

stage="$pi_gen/stage-venuebox"
rm -rf "$stage"
cp -r "$here/stage-venuebox" "$stage"
cp "$here/config" "$stage/00-venuebox/files/board-config"
cp "$deb" "$stage/00-venuebox/files/venuebox.deb"

cat > "$pi_gen/config" <<CONFIG
IMG_NAME=venuebox
RELEASE=bookworm
TARGET_HOSTNAME=${BOX_HOSTNAME}
FIRST_USER_NAME=${FIRST_USER_NAME}
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
