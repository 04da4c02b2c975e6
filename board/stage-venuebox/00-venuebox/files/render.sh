#!/usr/bin/env bash
# Renders the venue configuration from board/config into a root filesystem directory.
# Used by the pi-gen stage, and by tests/board.sh to check the result without building an image.
#
#   render.sh BOARD_CONFIG ROOT_DIR
set -euo pipefail

config="$1"
root="$2"
# shellcheck source=board/config
. "$config"

put() { # put MODE PATH: writes stdin to ROOT/PATH with MODE
  mkdir -p "$(dirname "${root}/$2")"
  cat > "${root}/$2"
  chmod "$1" "${root}/$2"
}

# The hotspot: WPA2-PSK (RSN/CCMP only), NetworkManager's shared mode hands out addresses and
# answers DNS through its own dnsmasq. Client isolation (ap-isolation, NetworkManager 1.28+):
# every guest knows the passphrase, so phones may talk to the box but not to each other or to
# the staff laptops.
put 600 etc/NetworkManager/system-connections/venuebox-hotspot.nmconnection <<NM
[connection]
id=venuebox-hotspot
type=wifi
interface-name=wlan0
autoconnect=true
autoconnect-priority=100

[wifi]
mode=ap
ssid=${WIFI_SSID}
band=bg
channel=${WIFI_CHANNEL}
ap-isolation=1

[wifi-security]
key-mgmt=wpa-psk
proto=rsn
pairwise=ccmp
group=ccmp
psk=${WIFI_PASSPHRASE}

[ipv4]
method=shared
address1=${BOX_ADDRESS}/24

[ipv6]
method=ignore
NM

# A name for the box that works everywhere: mDNS (avahi) for most devices, plain DNS from the
# hotspot's dnsmasq for older Android that cannot resolve .local.
put 644 etc/NetworkManager/dnsmasq-shared.d/venuebox.conf <<DNS
address=/${BOX_HOSTNAME}.lan/${BOX_ADDRESS}
address=/${BOX_HOSTNAME}.local/${BOX_ADDRESS}
DNS
put 644 etc/avahi/services/venuebox.service <<'AVAHI'
<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name replace-wildcards="yes">venuebox on %h</name>
  <service>
    <type>_http._tcp</type>
    <port>3000</port>
  </service>
</service-group>
AVAHI

# The radio stays off until the regulatory domain is set.
put 644 etc/modprobe.d/venuebox-wifi-country.conf <<REG
options cfg80211 ieee80211_regdom=${WIFI_COUNTRY}
REG

# HDMI on even when the projector is switched on after the box; no overscan borders.
put 644 boot/firmware/config.txt.venuebox <<'HDMI'

# venuebox: video on the HDMI output
[all]
hdmi_force_hotplug=1
disable_overscan=1
dtoverlay=vc4-kms-v3d
HDMI

# The data partition (made on first boot by venuebox-datafs) holds /var/lib/venuebox; it is not
# part of the root filesystem, so it stays writable with a read-only or overlay root.
put 644 etc/venuebox/fstab.append <<'FSTAB'
LABEL=VBDATA /var/lib/venuebox ext4 defaults,noatime,nofail,x-systemd.device-timeout=10s 0 2
FSTAB
put 644 etc/venuebox/datafs.conf <<DATAFS
ROOT_SIZE_GIB=${ROOT_SIZE_GIB}
DATAFS
install -D -m 755 "$(dirname "$0")/venuebox-datafs" "${root}/usr/local/sbin/venuebox-datafs"
put 644 etc/systemd/system/venuebox-datafs.service <<'UNIT'
[Unit]
Description=venuebox data partition (first boot: grow root, make /var/lib/venuebox)
DefaultDependencies=no
After=local-fs-pre.target
Before=local-fs.target venuebox.service
ConditionPathExists=!/etc/venuebox/datafs-done

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/venuebox-datafs
RemainAfterExit=yes

[Install]
WantedBy=local-fs.target
UNIT

# The clock after a power cut. A Pi has no battery clock and the venue no internet: fake-hwclock
# (installed by the stage) puts the clock back to the last time it saved at boot. It saves at
# shutdown and hourly; a power cut is not a shutdown, so the box saves every five minutes and
# comes back at most five minutes behind.
put 644 etc/systemd/system/venuebox-clock-save.service <<'UNIT'
[Unit]
Description=venuebox: save the clock for the next boot (fake-hwclock)

[Service]
Type=oneshot
ExecStart=/sbin/fake-hwclock save
UNIT
put 644 etc/systemd/system/venuebox-clock-save.timer <<'UNIT'
[Unit]
Description=venuebox: save the clock every five minutes

[Timer]
OnBootSec=5min
OnUnitActiveSec=5min

[Install]
WantedBy=timers.target
UNIT

# What a technician sees on the HDMI console before logging in.
put 644 etc/issue.d/venuebox.issue <<ISSUE
venuebox: Wi-Fi "${WIFI_SSID}", console http://${BOX_HOSTNAME}.local:3000 (or http://${BOX_ADDRESS}:3000)
(staff password: log in here or over SSH and run  sudo venuebox admin-password; it is never shown on this screen)

ISSUE
