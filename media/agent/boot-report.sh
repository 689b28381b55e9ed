#!/usr/lib/provisioner/busybox sh
# The installed system's reporter, installed as /usr/lib/provisioner/boot-report by
# the slot's initramfs (media/agent/slotinit.sh). It runs on busybox applets only
# (/usr/lib/provisioner/busybox), so a release needs no wget, ip or awk of its own.
#
# 1. Marks this boot good in GRUB's environment block (grubenv.sh: genv_confirm).
# 2. Forever: POST $SERVER/node/report (Bearer credential; form fields mac, slot,
#    release, kernel, addresses, uptime) and act on the text/plain answer:
#    ACTION=none|switch|reboot, INTERVAL=<seconds>.
#
# /etc/provisioner/node.conf (KEY=value lines, parsed, never sourced):
#   SERVER=http://ip:port  MAC=aa:bb:..  INTERVAL=60  ENV_OFFSET=<byte offset of the
#   GRUB environment block in the prov-esp partition>

LIB=${PROVISIONER_LIB:-/usr/lib/provisioner}
ETC=${PROVISIONER_ETC:-/etc/provisioner}
RUN=/run/provisioner
mkdir -p "$RUN/bin" 2>/dev/null || { RUN=/tmp/provisioner; mkdir -p "$RUN/bin"; }
"$LIB/busybox" --install -s "$RUN/bin"
PATH=$RUN/bin:$PATH
export PATH
# shellcheck source=common.sh
. "$LIB/common.sh"  # urlenc, find_part

log() { echo "provisioner-report: $*"; }
CR=$(printf '\r')

SERVER="" MAC="" INTERVAL=60 ENV_OFFSET=""
if [ -f "$ETC/node.conf" ]; then
    while IFS='=' read -r k v; do
        case "$k" in
            SERVER) SERVER=$v ;;
            MAC) MAC=$v ;;
            INTERVAL) case "$v" in ''|*[!0-9]*) ;; *) INTERVAL=$v ;; esac ;;
            ENV_OFFSET) case "$v" in ''|*[!0-9]*) ;; *) ENV_OFFSET=$v ;; esac ;;
        esac
    done < "$ETC/node.conf"
fi
CREDENTIAL=$(cat "$ETC/credential" 2>/dev/null)
SLOT=$(cat "$ETC/slot" 2>/dev/null)
RELEASE=$(cat "$ETC/release" 2>/dev/null)
if [ -z "$MAC" ]; then
    for d in /sys/class/net/*; do
        [ "${d##*/}" = lo ] && continue
        MAC=$(cat "$d/address") && break
    done
fi

ESP=""
env_ok() {  # the GRUB environment block can be read and written
    [ -f "$LIB/grubenv.sh" ] && [ -n "$ENV_OFFSET" ] && ESP=$(find_part prov-esp)
}

# -- 1. this boot is good ----------------------------------------------------------
if env_ok; then
    # shellcheck source=/dev/null  # the loader's helper
    . "$LIB/grubenv.sh"
    if genv_read "$ESP" "$ENV_OFFSET" && genv_confirm "$SLOT" && genv_write "$ESP" "$ENV_OFFSET"
    then
        sync
        log "slot $SLOT marked good in the boot environment ($ESP at byte $ENV_OFFSET)"
    else
        log "could not mark slot $SLOT good in $ESP at byte $ENV_OFFSET"
    fi
else
    log "no boot environment block (grubenv.sh, ENV_OFFSET or prov-esp missing): not marking"
fi

restart() {
    sync
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl reboot
    else
        reboot -f
    fi
}

switch_slot() {
    case "$SLOT" in A) other=B ;; B) other=A ;; *) log "switch: unknown slot '$SLOT'"; return 1 ;; esac
    env_ok || { log "switch: no boot environment block to write"; return 1; }
    if ! { genv_read "$ESP" "$ENV_OFFSET" && genv_activate "$other" \
        && genv_write "$ESP" "$ENV_OFFSET"; }; then
        log "switch: could not write the boot environment"
        return 1
    fi
    log "switch: slot $other activated, rebooting"
    restart
}

# -- 2. report forever ----------------------------------------------------------------
# Until the first report got through (the network may still be coming up when this
# starts: systemd orders it after network.target only), the first 20 tries come
# every 3 seconds; then, and after it got through, every INTERVAL.
REPORTED="" TRIED=0
pause() {
    if [ -z "$REPORTED" ] && [ "$TRIED" -lt 20 ] && [ "$INTERVAL" -gt 3 ]; then
        echo 3
    else
        echo "$INTERVAL"
    fi
}
[ -n "$SERVER" ] || { log "no SERVER= in $ETC/node.conf: nothing to report to"; exit 1; }
while :; do
    addresses=$(ip -o -4 addr show | awk '$2 != "lo" {print $4}' | tr '\n' ' ')
    addresses=${addresses% }
    data="mac=$(urlenc "$MAC")&slot=$(urlenc "$SLOT")&release=$(urlenc "$RELEASE")"
    data="$data&kernel=$(urlenc "$(uname -r)")&addresses=$(urlenc "$addresses")"
    data="$data&uptime=$(cut -d' ' -f1 /proc/uptime)"
    rm -f "$RUN/answer"
    TRIED=$((TRIED + 1))
    if timeout 20 wget -q -O "$RUN/answer" --header "Authorization: Bearer $CREDENTIAL" \
        --post-data "$data" "$SERVER/node/report" 2>"$RUN/wget.err"; then
        action=none
        while IFS='=' read -r k v; do
            v=${v%"$CR"}
            case "$k" in
                ACTION) action=$v ;;
                INTERVAL) case "$v" in ''|*[!0-9]*) ;; *) INTERVAL=$v ;; esac ;;
            esac
        done < "$RUN/answer"
        [ "$INTERVAL" -ge 1 ] || INTERVAL=1
        REPORTED=1
        log "reported to $SERVER: action $action, next in ${INTERVAL}s"
        case "$action" in
            none) ;;
            switch) switch_slot ;;
            reboot) log "reboot requested"; restart ;;
            *) log "unknown action '$action' ignored" ;;
        esac
    else
        log "server $SERVER unreachable ($(head -c 200 "$RUN/wget.err")); retrying in $(pause)s"
    fi
    sleep "$(pause)"
done
