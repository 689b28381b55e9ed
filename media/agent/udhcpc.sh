#!/bin/sh
# shellcheck disable=SC2154  # interface, ip, mask, router, dns come from udhcpc
# busybox udhcpc hook inside the boot environment: apply the lease to $interface.
case "$1" in
    deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
    bound|renew)
        ip addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        if [ -n "$router" ]; then
            ip route del default 2>/dev/null
            ip route add default via "${router%% *}" dev "$interface"
        fi
        : > /etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
        ;;
esac
exit 0
