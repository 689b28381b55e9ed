#!/bin/sh
# PID 1 of the provisioner boot environment. Mounts the kernel filesystems,
# loads drivers, then runs the installer agent (/agent.sh) and reboots when it
# returns -- also when it fails: a failed agent has already reported why and left
# the previously active system slot untouched.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /run /tmp /data /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
echo 0 > /proc/sys/kernel/printk 2>/dev/null

# NICs, disks and file systems a box (or a VM) may need; missing ones are skipped.
for m in e1000 e1000e igb ixgbe r8169 tg3 bnx2 virtio_pci virtio_net virtio_blk virtio_scsi \
         ahci ata_piix sd_mod nvme loop squashfs ext4 crc32c_generic virtio_rng; do
    modprobe -q "$m" 2>/dev/null
done
mdev -s 2>/dev/null

/bin/sh /agent.sh
rc=$?
echo "provisioner: agent finished with status $rc"
sync
if grep -qw 'action.rescue' /proc/cmdline; then
    exec setsid cttyhack /bin/sh
fi
sleep 2
reboot -f
sleep 30
poweroff -f
