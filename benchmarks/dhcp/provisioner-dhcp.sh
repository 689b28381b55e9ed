#!/bin/sh
# Our DHCP server as a dhcpbench "--server": full mode on the benchmark's veth,
# relayed requests answered from the 198.18.0.0/15 pool, a fresh data directory
# (empty lease table, SQLite) for every step, no per-packet log lines (Kea runs
# with severity WARN and dnsmasq with --quiet-dhcp in the same harness).
#   usage: provisioner-dhcp.sh IFACE SRV_ADDR WORK POOL_START POOL_END
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PROVISIONER_PYTHON:-$HERE/../../.venv/bin/python}
state="$3/provisioner"
rm -rf "$state"
exec "$PY" -m provisioner.dhcp --dhcp full --interface "$1" --server-ip "$2" \
    --pool "$4-$5" --netmask 255.254.0.0 --data-dir "$state" --log-level WARNING
