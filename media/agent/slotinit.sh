#!/bin/sh
# PID 1 of a release's own initramfs (built by media/releaseboot.py at `image add`):
# boots the release whose squashfs image sits verbatim in slot prov-<S>.
#
#   /proc/cmdline  prov.slot=A|B (GRUB puts it there)
#   prov-<S>       the release, mounted read-only at /lower
#   prov-data      ext4, mounted at /data; the slot's writable layer is
#                  /data/provisioner/overlay/<S>/{upper,work}
#   /newroot       overlay(lower, upper) + the node's settings tree
#                  /data/provisioner/root copied over it, then switch_root.
# Any failure before switch_root: a `provisioner: ...` line and exit 1 (PID 1 exits:
# the kernel panics, panic=10 reboots, GRUB counts a failed try of this slot).

PATH=/bin
export PATH

die() { echo "provisioner: $*; cannot boot this slot" >&2; exit 1; }
say() { echo "provisioner: $*"; }

mount -t proc proc /proc || die "cannot mount /proc"
mount -t sysfs sysfs /sys || die "cannot mount /sys"
mount -t devtmpfs devtmpfs /dev || die "cannot mount /dev"

# shellcheck source=/dev/null  # written by media/releaseboot.py: INIT, INIT_KIND, MODULES
. /etc/release-boot.conf
# shellcheck source=common.sh
. /common.sh  # find_part

SLOT=""
# shellcheck disable=SC2013  # words, not lines
for w in $(cat /proc/cmdline); do
    case "$w" in prov.slot=*) SLOT=${w#prov.slot=} ;; esac
done
case "$SLOT" in
    A|B) ;;
    *) die "prov.slot= on the kernel command line must be A or B, not '$SLOT'" ;;
esac

for m in $MODULES; do modprobe "$m" 2>/dev/null; done

SLOTDEV="" DATADEV=""
i=0
while [ "$i" -lt 120 ]; do  # 30 s: disks can be slow to appear
    SLOTDEV=$(find_part "prov-$SLOT") && DATADEV=$(find_part prov-data) && break
    sleep 0.25
    i=$((i + 1))
done
[ -n "$SLOTDEV" ] || die "no partition named prov-$SLOT after 30 s"
[ -n "$DATADEV" ] || die "no partition named prov-data after 30 s"
[ -b "$SLOTDEV" ] || die "$SLOTDEV is not a block device"

mkdir -p /data /lower /newroot
mount -t ext4 -o rw "$DATADEV" /data || die "cannot mount the data partition $DATADEV"
mount -t squashfs -o ro "$SLOTDEV" /lower || die "cannot mount slot $SLOT ($SLOTDEV) as squashfs"
OVL=/data/provisioner/overlay/$SLOT
mkdir -p "$OVL/upper" "$OVL/work" || die "cannot create $OVL"
mount -t overlay overlay -o "lowerdir=/lower,upperdir=$OVL/upper,workdir=$OVL/work" /newroot \
    || die "cannot mount the overlay of slot $SLOT"
mkdir -p /newroot/data || die "cannot create /newroot/data"
mount --move /data /newroot/data || die "cannot move /data to /newroot/data"
D=/newroot/data/provisioner

if [ -d "$D/root" ]; then
    cp -a "$D/root/." /newroot/ || die "cannot copy the settings tree $D/root"
fi
# One machine-id per node, kept on the data partition: every slot and release boots
# with the same one (a release ships it empty, and systemd would otherwise commit a new
# one into each slot's overlay: another journal directory and, under networkd, another
# DHCP client identifier after every update).
if [ ! -s "$D/machine-id" ]; then
    { mkdir -p "$D" && tr -d '-' < /proc/sys/kernel/random/uuid > "$D/machine-id.new" \
        && mv "$D/machine-id.new" "$D/machine-id"; } || die "cannot write $D/machine-id"
fi
cp "$D/machine-id" /newroot/etc/machine-id || die "cannot install the machine-id"
mkdir -p /newroot/etc/provisioner /newroot/usr/lib/provisioner || die "cannot write /etc"
if [ -f "$D/credential" ]; then
    (umask 077 && cp "$D/credential" /newroot/etc/provisioner/credential) \
        || die "cannot install the credential"
    chmod 600 /newroot/etc/provisioner/credential || die "cannot protect the credential"
fi
echo "$SLOT" > /newroot/etc/provisioner/slot || die "cannot write /etc/provisioner/slot"
if [ -f "$D/boot/$SLOT/release" ]; then
    cp "$D/boot/$SLOT/release" /newroot/etc/provisioner/release
else
    : > /newroot/etc/provisioner/release
fi

# the reporter runs with our static busybox: a minbase release needs no wget or ip
L=/newroot/usr/lib/provisioner
for f in busybox:/bin/busybox boot-report:/boot-report.sh common.sh:/common.sh; do
    cp "${f#*:}" "$L/${f%%:*}" || die "cannot install the reporter's ${f%%:*}"
done
chmod 755 "$L/busybox" "$L/boot-report" || die "cannot install the reporter"
if [ -f /grubenv.sh ]; then cp /grubenv.sh "$L/" || die "cannot install grubenv.sh"; fi

if [ "$INIT_KIND" = systemd ]; then
    U=/newroot/etc/systemd/system
    mkdir -p "$U/multi-user.target.wants" || die "cannot write $U"
    cat > "$U/provisioner-report.service" <<EOF || die "cannot write the reporter's unit"
[Unit]
Description=Report this node to its provisioner
After=network.target

[Service]
ExecStart=/usr/lib/provisioner/boot-report
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
EOF
    ln -sf ../provisioner-report.service "$U/multi-user.target.wants/provisioner-report.service"
    if [ -f /newroot/etc/systemd/network/10-provisioner.network ]; then
        ln -sf /lib/systemd/system/systemd-networkd.service \
            "$U/multi-user.target.wants/systemd-networkd.service"
    fi
fi

say "slot $SLOT ($SLOTDEV) up as an overlay on $DATADEV; starting $INIT"
for fs in proc sys dev; do
    mkdir -p "/newroot/$fs" && mount --move "/$fs" "/newroot/$fs"
done
[ -x "/newroot$INIT" ] || [ -L "/newroot$INIT" ] || die "$INIT is missing in the release"
exec switch_root /newroot "$INIT"
