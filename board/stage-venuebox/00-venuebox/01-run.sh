#!/bin/bash -e
# pi-gen step: install the venuebox package and lay down the venue configuration
# (hotspot, names, display, data partition) rendered from board/config.
here="$(dirname "$0")"

"${here}/files/render.sh" "${here}/files/board-config" "${ROOTFS_DIR}"

install -m 644 "${here}/files/venuebox.deb" "${ROOTFS_DIR}/tmp/venuebox.deb"
on_chroot <<CHROOT
"${here}/files/image-config.sh" "${ROOTFS_DIR}/etc/venuebox/venuebox.toml"
apt-get install -y /tmp/venuebox.deb fake-hwclock
rm /tmp/venuebox.deb
systemctl enable NetworkManager avahi-daemon venuebox-datafs.service venuebox.service
systemctl enable fake-hwclock.service venuebox-clock-save.timer
ln -sf /run/venuebox/console.issue /etc/issue.d/venuebox-status.issue
CHROOT

# Display and console: keep HDMI on without a screen at boot, never blank the console.
cat "${ROOTFS_DIR}/boot/firmware/config.txt.venuebox" >> "${ROOTFS_DIR}/boot/firmware/config.txt"
rm "${ROOTFS_DIR}/boot/firmware/config.txt.venuebox"
cmdline="${ROOTFS_DIR}/boot/firmware/cmdline.txt"
# The data partition takes the card's free space, so the stock first-boot resize (which would
# give it all to the root filesystem) is replaced by venuebox-datafs.
sed -i -e 's| init=/usr/lib/raspberrypi-sys-mods/firstboot||' -e 's|$| consoleblank=0|' "${cmdline}"
cat "${ROOTFS_DIR}/etc/venuebox/fstab.append" >> "${ROOTFS_DIR}/etc/fstab"
