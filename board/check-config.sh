#!/usr/bin/env bash
# Checks board/config before an image is built: a venue must never get a box whose Wi-Fi
# cannot start (bad passphrase length, no country) or that keeps the default passphrase.
set -euo pipefail

config="${1:-$(dirname "$0")/config}"
# shellcheck source=board/config
. "$config"

fail() { echo "board/config: $*" >&2; exit 65; }

[ -n "${WIFI_SSID:-}" ] || fail "WIFI_SSID is empty"
[ "${#WIFI_SSID}" -le 32 ] || fail "WIFI_SSID is longer than 32 bytes"
if [ "${#WIFI_PASSPHRASE}" -lt 8 ] || [ "${#WIFI_PASSPHRASE}" -gt 63 ]; then
  fail "WIFI_PASSPHRASE must be 8 to 63 characters (WPA2)"
fi
[[ "${WIFI_COUNTRY:-}" =~ ^[A-Z]{2}$ ]] || fail "WIFI_COUNTRY must be a two-letter code such as GB"
[[ "${WIFI_CHANNEL:-}" =~ ^([1-9]|1[0-3])$ ]] || fail "WIFI_CHANNEL must be 1 to 13 (2.4 GHz)"
[[ "${BOX_ADDRESS:-}" =~ ^10\.42\.0\.1$ ]] || fail "BOX_ADDRESS must be 10.42.0.1 (NetworkManager's shared network)"
[[ "${BOX_HOSTNAME:-}" =~ ^[a-z][a-z0-9-]{0,62}$ ]] || fail "BOX_HOSTNAME must be a lowercase host name"
if ! [[ "${ROOT_SIZE_GIB:-}" =~ ^[0-9]+$ ]] || [ "$ROOT_SIZE_GIB" -lt 4 ]; then
  fail "ROOT_SIZE_GIB must be a whole number of GiB, at least 4"
fi
if [ "${WIFI_PASSPHRASE}" = "change-me-before-the-show" ] && [ -z "${VENUEBOX_ALLOW_DEFAULT_PASSPHRASE:-}" ]; then
  fail "WIFI_PASSPHRASE is still the default; set your own (or VENUEBOX_ALLOW_DEFAULT_PASSPHRASE=1 for a test image)"
fi
echo "board/config: ok (SSID ${WIFI_SSID}, country ${WIFI_COUNTRY})"
