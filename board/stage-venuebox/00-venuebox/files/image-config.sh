#!/usr/bin/env bash
# Turns the installed package's config into the SD image's: on the image /var/lib/venuebox is a
# partition of its own, so the box must wait for it rather than write to the root filesystem
# underneath (docs/technicians.md, "The data partition").
#
#   image-config.sh /etc/venuebox/venuebox.toml
set -euo pipefail

config="$1"
sed -i 's/^require_data_mount = false$/require_data_mount = true/' "$config"
grep -qx 'require_data_mount = true' "$config" || {
  echo "image-config.sh: $config has no 'require_data_mount = false' line to turn on" >&2
  exit 1
}
