# Shell functions shared by the installer agent (agent.sh) and the installed
# system's reporter (boot-report.sh); sourced, POSIX sh for busybox.

urlenc() {  # enough for our form values (messages are plain text)
    printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/ /%20/g' -e 's/&/%26/g' -e 's/=/%3D/g' \
        -e 's/+/%2B/g' -e 's/#/%23/g' | tr '\n' ' '
}

find_part() {  # find_part NAME -> /dev/<partition> whose GPT name is NAME (no udev needed)
    for u in /sys/class/block/*/uevent; do
        grep -qx "PARTNAME=$1" "$u" 2>/dev/null || continue
        echo "/dev/$(sed -n 's/^DEVNAME=//p' "$u")"
        return 0
    done
    return 1
}
