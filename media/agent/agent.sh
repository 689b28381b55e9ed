#!/bin/sh
# The provisioner installer agent (POSIX sh on busybox), versioned with the server.
#
# Input: dot-options on /proc/cmdline (the kernel hands dotted words to no one
# else): server.<url> token.<secret> action.<install|wipe|rollback|rescue>
# [disk.<name>] [ip. submask. gw. dns.] [BOOTIF=01-<mac>].
#
# Disk layout (GPT), see docs/installer.md:
#   1 prov-bios   1 MiB   GRUB's core image (BIOS boot partition; the MBR code points here)
#   2 prov-esp    32 MiB  EFI system partition: GRUB for UEFI, grub.cfg, grubenv (slot choice)
#   3 prov-state  1 MiB   two copies of a small checksummed state record (A/B marker)
#   4 prov-A      slot    system instance A: the release's squashfs image, verbatim
#   5 prov-B      slot    system instance B
#   6 prov-data   rest    ext4: the data (instances/ holds the bundled VM files;
#                         provisioner/ the slots' kernels, settings and overlays)
# (A disk partitioned before the loader existed has only 3-6: it updates as before
# but boots nothing of its own; action wipe gives it the loader.)
# Blank disk: partition + format everything, write slot A, mark A active.
# Existing install: write only the inactive slot, verify it, then flip the marker
# and then the loader's slot choice (one sector of grubenv).
# The data partition and the active slot are never written by an update; the marker
# flips only after the new slot's sha256 checked out, so a failure at any step
# leaves the previously active slot bootable.

CR=$(printf '\r')
TYPE_LINUX=0FC63DAF-8483-4772-8E79-3D69D8477DE4
TYPE_BIOS=21686148-6449-6E6F-744E-656564454649
TYPE_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
CHUNK=$((8 * 1024 * 1024))        # bytes per HTTP Range request while writing a slot
STATE_COPY_SECTORS=16              # state copy 1 starts 16 x 4 KiB = 64 KiB in

log() { echo "provisioner: [$(cut -d" " -f1 /proc/uptime)] $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }

# shellcheck source=common.sh
. /common.sh  # urlenc

# report STEP STATUS MESSAGE [key=value ...]: best effort, three tries.
report() {
    step=$1 status=$2 msg=$3
    shift 3
    data="step=$(urlenc "$step")&status=$status&message=$(urlenc "$msg")&uptime=$(uptime_s)"
    for kv in "$@"; do data="$data&${kv%%=*}=$(urlenc "${kv#*=}")"; done
    log "$step $status: $msg"
    [ -n "$SERVER" ] || return 0
    for _ in 1 2 3; do
        timeout 20 wget -q -O /dev/null --header "Authorization: Bearer $TOKEN" \
            --post-data "$data" "$SERVER/agent/report" && return 0
        sleep 2
    done
    log "could not report $step $status to $SERVER"
}

fail() {  # fail STEP MESSAGE
    report "$1" failed "$2" "result=failed"
    exit 1
}

# -- command line --------------------------------------------------------------
SERVER="" TOKEN="" ACTION=install DISK="" BOOTIF="" IP="" MASK="" GW="" DNS=""
# shellcheck disable=SC2013  # words, not lines
for w in $(cat /proc/cmdline); do
    case "$w" in
        server.*)  SERVER=${w#server.} ;;
        token.*)   TOKEN=${w#token.} ;;
        action.*)  ACTION=${w#action.} ;;
        disk.*)    DISK=${w#disk.} ;;
        BOOTIF=*)  BOOTIF=${w#BOOTIF=} ;;
        ip.*)      IP=${w#ip.} ;;
        submask.*) MASK=${w#submask.} ;;
        gw.*)      GW=${w#gw.} ;;
        dns.*)     DNS=${w#dns.} ;;
    esac
done
T_AGENT=$(uptime_s)

# -- network ---------------------------------------------------------------------
want=$(echo "${BOOTIF#01-}" | tr '-' ':' | tr 'A-F' 'a-f')
IFACE=""
for _ in $(seq 1 40); do
    for d in /sys/class/net/*; do
        i=${d##*/}
        [ "$i" = lo ] && continue
        if [ -z "$want" ] || [ "$(cat "$d/address")" = "$want" ]; then IFACE=$i; break; fi
    done
    [ -n "$IFACE" ] && break
    sleep 0.25
done
[ -n "$IFACE" ] || { log "no network interface (BOOTIF=$BOOTIF)"; exit 1; }
MAC=$(cat "/sys/class/net/$IFACE/address")
ip link set lo up
ip link set "$IFACE" up
if [ -n "$IP" ]; then
    eval "$(ipcalc -p "$IP" "${MASK:-255.255.255.0}")"
    ip addr add "$IP/$PREFIX" dev "$IFACE"
    [ -n "$GW" ] && ip route add default via "$GW" dev "$IFACE"
    [ -n "$DNS" ] && echo "nameserver ${DNS%%,*}" > /etc/resolv.conf
    NET=static
else
    udhcpc -i "$IFACE" -n -q -t 8 -T 2 -s /udhcpc.sh >/tmp/udhcpc.log 2>&1 \
        || { cat /tmp/udhcpc.log; log "DHCP failed on $IFACE"; exit 1; }
    NET=dhcp
fi
MYIP=$(ip -4 -o addr show dev "$IFACE" | awk '{print $4}')
T_NET=$(uptime_s)
[ -n "$SERVER" ] || { log "no server.<url> on the command line"; exit 1; }
[ -n "$TOKEN" ] || { log "no token.<secret> on the command line"; exit 1; }
report boot running "agent up on $IFACE $MAC $MYIP ($NET)" "kernel_to_agent=$T_AGENT" \
    "net_ready=$T_NET" "ip=$MYIP"

# -- manifest ------------------------------------------------------------------------
# key=value lines; parsed, never sourced.
timeout 60 wget -q -O /tmp/manifest --header "Authorization: Bearer $TOKEN" \
    "$SERVER/agent/manifest" || fail manifest "cannot fetch $SERVER/agent/manifest"
NFILES=0 BOOT_TRIES=3 LOADER_ENV_OFFSET=""
LOADER_MBR_URL="" LOADER_CORE_URL="" LOADER_ESP_URL="" BOOT_KERNEL_URL="" BOOT_INITRD_URL=""
while IFS='=' read -r k v; do
    case "$k" in
        ACTION) ACTION=$v ;;
        RELEASE) RELEASE=$v ;;
        IMAGE_URL) IMAGE_URL=$v ;;
        IMAGE_SIZE) IMAGE_SIZE=$v ;;
        IMAGE_SHA256) IMAGE_SHA256=$v ;;
        SLOT_MIB) SLOT_MIB=$v ;;
        DISK) [ -z "$DISK" ] && DISK=$v ;;
        FILES) NFILES=$v ;;
        TRIES) BOOT_TRIES=$v ;;
        LOADER_ENV_OFFSET) LOADER_ENV_OFFSET=$v ;;
        LOADER_*_URL|LOADER_*_SIZE|LOADER_*_SHA256|BOOT_*_URL|BOOT_*_SIZE|BOOT_*_SHA256)
            case "$v" in *[!A-Za-z0-9._:/?=\&%+-]*) fail manifest "bad value for $k" ;; esac
            case "$k" in *[!A-Z0-9_]*) fail manifest "bad key $k" ;; esac
            eval "$k=\$v" ;;
        FILE[0-9]*_NAME|FILE[0-9]*_URL|FILE[0-9]*_SIZE|FILE[0-9]*_SHA256)
            case "$v" in *[!A-Za-z0-9._:/?=\&%+-]*) fail manifest "bad value for $k" ;; esac
            eval "$k=\$v" ;;
    esac
done < /tmp/manifest
case "$IMAGE_SHA256$IMAGE_SIZE$SLOT_MIB$NFILES$BOOT_TRIES$LOADER_ENV_OFFSET" in
    *[!0-9a-f]*) fail manifest "malformed manifest" ;;
esac
[ -f /grubenv.sh ] && . /grubenv.sh

# -- disk ------------------------------------------------------------------------------
pick_disk() {
    for b in /sys/block/vd* /sys/block/sd* /sys/block/nvme*n* /sys/block/hd*; do
        [ -e "$b" ] || continue
        [ "$(cat "$b/removable" 2>/dev/null)" = 1 ] && continue
        [ "$(cat "$b/size")" -gt 0 ] 2>/dev/null || continue
        echo "${b##*/}"
        return 0
    done
    return 1
}
[ -n "$DISK" ] || DISK=$(pick_disk) || fail disk "no disk found"
DEV=/dev/$DISK
[ -b "$DEV" ] || fail disk "$DEV is not a block device"

part_by_name() {  # part_by_name NAME -> /dev/<partition> (GPT PARTNAME)
    for u in /sys/class/block/"$DISK"*/uevent; do
        grep -qx "PARTNAME=$1" "$u" 2>/dev/null || continue
        echo "/dev/$(sed -n 's/^DEVNAME=//p' "$u")"
        return 0
    done
    return 1
}

ours() { part_by_name prov-state >/dev/null && part_by_name prov-A >/dev/null \
         && part_by_name prov-B >/dev/null && part_by_name prov-data >/dev/null; }

has_loader() { part_by_name prov-esp >/dev/null && part_by_name prov-bios >/dev/null; }

blank() { [ "$(dd if="$DEV" bs=1M count=1 2>/dev/null | tr -d '\000' | wc -c)" -eq 0 ]; }

partition() {
    log "partitioning $DEV: boot loader, state, two ${SLOT_MIB} MiB slots, data"
    printf 'label: gpt\n%s\n%s\n%s\n%s\n%s\n%s\n' \
        "start=2048, size=1MiB, type=$TYPE_BIOS, name=\"prov-bios\"" \
        "start=4096, size=32MiB, type=$TYPE_ESP, name=\"prov-esp\"" \
        "size=1MiB, type=$TYPE_LINUX, name=\"prov-state\"" \
        "size=${SLOT_MIB}MiB, type=$TYPE_LINUX, name=\"prov-A\"" \
        "size=${SLOT_MIB}MiB, type=$TYPE_LINUX, name=\"prov-B\"" \
        "type=$TYPE_LINUX, name=\"prov-data\"" \
        | /sbin/sfdisk --quiet --wipe always --wipe-partitions always "$DEV" >/tmp/sfdisk.log 2>&1 \
        || { cat /tmp/sfdisk.log; fail partition "sfdisk failed on $DEV (disk too small?)"; }
    for _ in $(seq 1 40); do ours && break; sleep 0.25; done
    ours || fail partition "partitions did not appear"
    log "partitioned"
    dd if=/dev/zero of="$(part_by_name prov-state)" bs=64k count=16 conv=fsync 2>/dev/null
    /sbin/mke2fs -q -F -t ext4 -E lazy_itable_init=1,lazy_journal_init=1 -L prov-data "$(part_by_name prov-data)" >/tmp/mke2fs.log 2>&1 \
        || { cat /tmp/mke2fs.log; fail format "mke2fs failed"; }
    log "data partition formatted (ext4)"
    install_loader
}

# -- the boot loader (GRUB for BIOS and UEFI; docs/installer.md "Boot loader") --------------
# install_loader: the MBR's boot code (440 bytes: the partition table stays), GRUB's core
# image in prov-bios, the EFI system partition (GRUB, grub.cfg, grubenv) in prov-esp.
install_loader() {
    [ -n "$LOADER_ESP_URL" ] || { log "the server has no boot loader to install"; return 0; }
    report bootloader running "installing the boot loader (BIOS and UEFI)"
    fetch "$LOADER_MBR_URL" "$LOADER_MBR_SIZE" /tmp/mbr.bin bootloader
    verify /tmp/mbr.bin "$LOADER_MBR_SIZE" "$LOADER_MBR_SHA256" || fail bootloader "MBR code: sha256 mismatch"
    fetch "$LOADER_CORE_URL" "$LOADER_CORE_SIZE" "$(part_by_name prov-bios)" bootloader
    verify "$(part_by_name prov-bios)" "$LOADER_CORE_SIZE" "$LOADER_CORE_SHA256" \
        || fail bootloader "GRUB core image: sha256 mismatch"
    fetch "$LOADER_ESP_URL" "$LOADER_ESP_SIZE" "$(part_by_name prov-esp)" bootloader
    verify "$(part_by_name prov-esp)" "$LOADER_ESP_SIZE" "$LOADER_ESP_SHA256" \
        || fail bootloader "EFI system partition: sha256 mismatch"
    dd if=/tmp/mbr.bin of="$DEV" bs=440 count=1 conv=notrunc,fsync 2>/dev/null \
        || fail bootloader "cannot write the MBR boot code"
    sync
    log "boot loader installed"
}

# env_ready: this disk has the loader and we know where its environment block is
env_ready() {
    has_loader && [ -n "$LOADER_ENV_OFFSET" ] && command -v genv_read >/dev/null
}

# activate SLOT: the loader boots SLOT next (its tries reset), with one sector write.
activate() {
    env_ready || return 0
    esp=$(part_by_name prov-esp)
    genv_read "$esp" "$LOADER_ENV_OFFSET"
    TRIES=$BOOT_TRIES
    genv_activate "$1"
    genv_write "$esp" "$LOADER_ENV_OFFSET" || fail state "cannot write the loader's slot choice"
    log "loader: slot $1 active ($TRIES tries)"
}

# loader_slot: the slot the loader boots now (it may have fallen back from the
# state record's active slot), empty when the disk has no loader
loader_slot() {
    env_ready || return 0
    genv_read "$(part_by_name prov-esp)" "$LOADER_ENV_OFFSET"
    for s in $ORDER; do  # genv_read lets only "A B" or "B A" through
        ok=""
        eval "ok=\$${s}_OK"
        [ "$ok" = 1 ] && { echo "$s"; return 0; }
    done
}

# -- the state record (two copies, highest valid seq wins) -----------------------------
STATE_SEQ=-1 STATE_COPY=1 ACTIVE=none SLOT_A="" SLOT_B=""
read_state() {
    sdev=$(part_by_name prov-state) || return 1
    for c in 0 1; do
        dd if="$sdev" bs=4096 skip=$((c * STATE_COPY_SECTORS)) count=1 2>/dev/null \
            | tr -d '\000' > /tmp/state.$c
        grep -v '^sum ' /tmp/state.$c > /tmp/state.$c.body
        sum=$(sed -n 's/^sum //p' /tmp/state.$c)
        [ "$(head -n1 /tmp/state.$c.body)" = "PROVISIONER-STATE 1" ] || continue
        [ "$(sha256sum < /tmp/state.$c.body | cut -d' ' -f1)" = "$sum" ] || continue
        seq=$(sed -n 's/^seq //p' /tmp/state.$c.body)
        [ "$seq" -gt "$STATE_SEQ" ] 2>/dev/null || continue
        STATE_SEQ=$seq STATE_COPY=$c
        ACTIVE=$(sed -n 's/^active //p' /tmp/state.$c.body)
        SLOT_A=$(sed -n 's/^slot A //p' /tmp/state.$c.body)
        SLOT_B=$(sed -n 's/^slot B //p' /tmp/state.$c.body)
    done
}

write_state() {  # into the copy that does not hold the current record
    sdev=$(part_by_name prov-state)
    c=$(( (STATE_COPY + 1) % 2 ))
    STATE_SEQ=$((STATE_SEQ + 1))
    {
        echo "PROVISIONER-STATE 1"
        echo "seq $STATE_SEQ"
        echo "active $ACTIVE"
        [ -n "$SLOT_A" ] && echo "slot A $SLOT_A"
        [ -n "$SLOT_B" ] && echo "slot B $SLOT_B"
        echo "mac $MAC"
    } > /tmp/newstate
    echo "sum $(sha256sum < /tmp/newstate | cut -d' ' -f1)" >> /tmp/newstate
    dd if=/tmp/newstate of="$sdev" bs=4096 seek=$((c * STATE_COPY_SECTORS)) count=1 \
        conv=sync,notrunc,fsync 2>/dev/null || fail state "cannot write the state record"
    STATE_COPY=$c
    sync
}

# -- downloading with resume ----------------------------------------------------------------
# get_range URL START END OUT: one HTTP/1.0 Range request over busybox nc (busybox
# wget refuses a 206 it did not ask for itself). OUT gets the body bytes that arrived
# (maybe fewer on a dropped connection); a wrong status or Content-Range is fatal.
get_range() {
    hostport=${1#http://}
    hostport=${hostport%%/*}
    path=/${1#http://*/}
    host=${hostport%:*}
    port=${hostport##*:}
    [ "$port" = "$hostport" ] && port=80
    rm -f "$4" /tmp/resp
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\nRange: bytes=%s-%s\r\nConnection: close\r\n\r\n' \
        "$path" "$hostport" "$2" "$3" | timeout 300 nc "$host" "$port" > /tmp/resp
    [ -s /tmp/resp ] || return 0
    exec 3< /tmp/resp
    IFS=' ' read -r _ _code _ <&3
    _cr=""
    while IFS= read -r _hdr <&3; do
        _hdr=${_hdr%"$CR"}
        [ -z "$_hdr" ] && break
        case "$_hdr" in [Cc]ontent-[Rr]ange:*) _cr=${_hdr#*: } ;; esac
    done
    case "$_code" in
        206) case "$_cr" in "bytes $2-"*) ;; *) exec 3<&-; fail image "$1: bad Content-Range '$_cr'" ;; esac ;;
        200) [ "$2" -eq 0 ] || { exec 3<&-; fail image "$1: the server ignored the Range request"; } ;;
        *) exec 3<&-; log "$1: HTTP $_code"; return 0 ;;
    esac
    cat <&3 > "$4"
    exec 3<&-
}

# fetch URL SIZE TARGET STEP: bytes 0..SIZE-1 of URL into TARGET (a device or file),
# CHUNK bytes per Range request, each through RAM (/tmp) so we know exactly how many
# bytes arrived; a dropped connection resumes at the byte it reached.
fetch() {
    url=$1 size=$2 target=$3 step=$4
    off=0 tries=0 last_pct=-1
    while [ "$off" -lt "$size" ]; do
        end=$((off + CHUNK - 1))
        [ "$end" -ge "$size" ] && end=$((size - 1))
        want=$((end - off + 1))
        get_range "$url" "$off" "$end" /tmp/chunk
        got=$(stat -c %s /tmp/chunk 2>/dev/null || echo 0)
        if [ "$got" -gt "$want" ]; then  # a 200 with the whole file (no Range support)
            { [ "$off" -eq 0 ] && [ "$got" -eq "$size" ]; } \
                || fail "$step" "$url: got $got bytes for a $want-byte range"
            end=$((size - 1))
        fi
        if [ "$got" -gt 0 ]; then
            dd if=/tmp/chunk of="$target" bs=64k oflag=seek_bytes seek="$off" conv=notrunc \
                2>/dev/null || fail "$step" "cannot write to $target at byte $off"
        fi
        off=$((off + got))
        if [ "$got" -eq 0 ] || [ "$off" -le "$end" ]; then
            tries=$((tries + 1))
            [ "$tries" -gt 8 ] && fail "$step" "download of $url stalled at byte $off"
            log "connection dropped at byte $off of $url, resuming (try $tries)"
            sleep "$tries"
            continue
        fi
        tries=0
        pct=$((off * 100 / size))
        if [ $((pct / 25)) -ne $((last_pct / 25)) ] && [ "$off" -lt "$size" ]; then
            report "$step" running "$pct% written" "bytes=$off" "total=$size"
            last_pct=$pct
        fi
    done
}

verify() {  # verify TARGET SIZE SHA256
    [ "$(head -c "$2" "$1" | sha256sum | cut -d' ' -f1)" = "$3" ]
}

# -- actions ------------------------------------------------------------------------------------
do_rollback() {
    ours || fail rollback "no provisioner install on $DEV"
    read_state
    case "$ACTIVE" in A) other=B; rec=$SLOT_B ;; B) other=A; rec=$SLOT_A ;;
                      *) fail rollback "no active slot recorded" ;; esac
    [ -n "$rec" ] || fail rollback "slot $other holds no release to roll back to"
    ACTIVE=$other
    write_state
    activate "$other"
    report "done" ok "rolled back to slot $other ($rec)" "result=ok" "active=$ACTIVE" \
        "slot_a=$SLOT_A" "slot_b=$SLOT_B"
}

# get_authed PATH OUT: a file the server renders for this node (build token)
get_authed() {
    timeout 60 wget -q -O "$2" --header "Authorization: Bearer $TOKEN" "$SERVER$1"
}

# slot_boot_files (data partition mounted on /data): what the loader needs to boot the
# new slot (its release's kernel and initramfs, boot.cfg), a fresh overlay for it, the
# node's settings and a new credential for the installed system's reports.
BOOTABLE="" CREDENTIAL="" LOADER_NOTE=""
slot_boot_files() {
    if ! has_loader; then
        LOADER_NOTE="; this disk has no boot loader (partitioned before it existed): action wipe adds one"
        return 0
    fi
    if [ -z "$BOOT_KERNEL_URL" ]; then
        LOADER_NOTE="; release $RELEASE has no boot files on the server: the loader keeps the old slot"
        return 0
    fi
    report bootfiles running "kernel, initramfs and settings for slot $TARGET"
    b=/data/provisioner/boot
    rm -rf "$b/$TARGET.new" "/data/provisioner/overlay/$TARGET"
    mkdir -p "$b/$TARGET.new"
    fetch "$BOOT_KERNEL_URL" "$BOOT_KERNEL_SIZE" "$b/$TARGET.new/vmlinuz" bootfiles
    verify "$b/$TARGET.new/vmlinuz" "$BOOT_KERNEL_SIZE" "$BOOT_KERNEL_SHA256" \
        || fail bootfiles "kernel: sha256 mismatch"
    fetch "$BOOT_INITRD_URL" "$BOOT_INITRD_SIZE" "$b/$TARGET.new/initrd.img" bootfiles
    verify "$b/$TARGET.new/initrd.img" "$BOOT_INITRD_SIZE" "$BOOT_INITRD_SHA256" \
        || fail bootfiles "initramfs: sha256 mismatch"
    get_authed "/agent/boot.cfg?slot=$TARGET" "$b/$TARGET.new/boot.cfg" \
        || fail bootfiles "cannot fetch the slot's boot.cfg"
    echo "$RELEASE" > "$b/$TARGET.new/release"
    rm -rf "${b:?}/${TARGET:?}"
    mv "$b/$TARGET.new" "$b/$TARGET"
    rm -rf /data/provisioner/root.new
    mkdir -p /data/provisioner/root.new
    get_authed /agent/settings.tar /tmp/settings.tar || fail bootfiles "cannot fetch the node's settings"
    tar -x -f /tmp/settings.tar -C /data/provisioner/root.new || fail bootfiles "cannot unpack the node's settings"
    rm -rf /data/provisioner/root
    mv /data/provisioner/root.new /data/provisioner/root
    CREDENTIAL=$(head -c 64 /dev/urandom | sha256sum | cut -c1-64)
    (umask 077 && echo "$CREDENTIAL" > /data/provisioner/credential.new)
    mv /data/provisioner/credential.new /data/provisioner/credential
    sync
    BOOTABLE=1
}

do_install() {
    [ -n "$IMAGE_URL" ] || fail manifest "no release image assigned to this node"
    if [ "$ACTION" = wipe ]; then
        report disk running "wiping $DEV (action wipe)"
        partition
        MODE=fresh
    elif ours; then
        MODE=update
    elif blank; then
        report disk running "blank disk $DEV: formatting everything"
        partition
        MODE=fresh
    else
        fail disk "$DEV holds a partition table or data that is not a provisioner install; refusing to overwrite it (set the node's action to wipe to reformat)"
    fi
    read_state
    booted=$(loader_slot)
    if [ -n "$booted" ] && [ "$booted" != "$ACTIVE" ] && [ "$ACTIVE" != none ]; then
        log "the loader fell back from slot $ACTIVE to slot $booted: keeping $booted"
        ACTIVE=$booted
    fi
    case "$ACTIVE" in A) TARGET=B ;; *) TARGET=A ;; esac
    slotdev=$(part_by_name "prov-$TARGET")
    slotsize=$(( $(cat "/sys/class/block/${slotdev#/dev/}/size") * 512 ))
    [ "$IMAGE_SIZE" -le "$slotsize" ] \
        || fail image "image is $IMAGE_SIZE bytes, slot $TARGET holds $slotsize (action wipe repartitions)"
    report image running "writing $RELEASE to slot $TARGET ($MODE)" "slot=$TARGET" \
        "mode=$MODE" "total=$IMAGE_SIZE"
    T_IMAGE=$(uptime_s)
    fetch "$IMAGE_URL" "$IMAGE_SIZE" "$slotdev" image
    sync
    # the server takes "done" only after "image ok" and then "verify ok" (in that order)
    report image ok "wrote $IMAGE_SIZE bytes to slot $TARGET" "slot=$TARGET" \
        "bytes=$IMAGE_SIZE" "total=$IMAGE_SIZE"
    verify "$slotdev" "$IMAGE_SIZE" "$IMAGE_SHA256" \
        || fail verify "slot $TARGET does not read back as sha256 $IMAGE_SHA256"
    report verify ok "slot $TARGET reads back as sha256 $IMAGE_SHA256" "slot=$TARGET"
    T_IMAGE_DONE=$(uptime_s)

    mount -t ext4 "$(part_by_name prov-data)" /data || fail files "cannot mount the data partition"
    slot_boot_files
    if [ "$NFILES" -gt 0 ]; then
        mkdir -p /data/instances
        i=1
        while [ "$i" -le "$NFILES" ]; do
            n="" u="" s="" h=""
            eval "n=\$FILE${i}_NAME u=\$FILE${i}_URL s=\$FILE${i}_SIZE h=\$FILE${i}_SHA256"
            if [ -f "/data/instances/$n" ] && verify "/data/instances/$n" "$s" "$h"; then
                log "instance file $n already present"
            else
                report files running "copying $n" "file=$n"
                fetch "$u" "$s" "/data/instances/.$n.part" files
                verify "/data/instances/.$n.part" "$s" "$h" || fail files "$n: sha256 mismatch"
                mv "/data/instances/.$n.part" "/data/instances/$n"
            fi
            i=$((i + 1))
        done
    fi
    sync
    umount /data

    record="$RELEASE $IMAGE_SHA256 $IMAGE_SIZE $(date +%s)"
    if [ "$TARGET" = A ]; then SLOT_A=$record; else SLOT_B=$record; fi
    ACTIVE=$TARGET
    write_state
    [ -n "$BOOTABLE" ] && activate "$TARGET"
    T_DONE=$(uptime_s)
    report "done" ok "installed $RELEASE in slot $TARGET ($MODE)$LOADER_NOTE" "result=ok" \
        "mode=$MODE" "active=$ACTIVE" "slot_a=$SLOT_A" "slot_b=$SLOT_B" "image_start=$T_IMAGE" \
        "image_done=$T_IMAGE_DONE" "done=$T_DONE" ${CREDENTIAL:+"credential=$CREDENTIAL"}
}

case "$ACTION" in
    install|wipe) do_install ;;
    rollback) do_rollback ;;
    rescue) report rescue ok "rescue shell on the console of $MAC ($MYIP)" "result=ok" ;;
    *) fail boot "unknown action $ACTION" ;;
esac
exit 0
