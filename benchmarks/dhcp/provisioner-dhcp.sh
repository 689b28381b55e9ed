#!/bin/sh
# Our DHCP server as a dhcpbench "--server" on the benchmark's veth, relayed
# requests answered on SRV_ADDR, no per-packet log lines (Kea runs with severity
# WARN and dnsmasq with --quiet-dhcp in the same harness).
#   usage: provisioner-dhcp.sh IFACE SRV_ADDR WORK POOL_START POOL_END [MODE [DB]]
#   MODE full (default): addresses from the 198.18.0.0/15 pool, leases persisted;
#        proxy: proxyDHCP, no addresses; every (unknown) PXE client gets the menu.
#   DB   sqlite (default): a fresh data directory per step;
#        postgres: a fresh database per step on the private cluster run.sh started
#        (Unix socket dir in PROV_BENCH_PG_HOST, no TCP).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PROVISIONER_PYTHON:-$HERE/../../.venv/bin/python}
mode=${6:-full}
db=${7:-sqlite}
state="$3/provisioner-$mode-$db"
rm -rf "$state"
set -- "$1" "$2" "$3" "$4" "$5" --data-dir "$state"
if [ "$db" = postgres ]; then
    host=${PROV_BENCH_PG_HOST:?run.sh starts PostgreSQL only with --provisioner}
    for sql in 'DROP DATABASE IF EXISTS dhcpbench WITH (FORCE)' 'CREATE DATABASE dhcpbench'; do
        "$PY" -c 'import sys, psycopg
with psycopg.connect(host=sys.argv[1], user="postgres", dbname="postgres", autocommit=True) as c:
    c.execute(sys.argv[2])' "$host" "$sql"
    done
    set -- "$@" --database-url "postgresql+psycopg://postgres@/dhcpbench?host=$host"
fi
if [ "$mode" = proxy ]; then
    exec "$PY" -m provisioner.dhcp --dhcp proxy --interface "$1" --server-ip "$2" \
        --unknown-macs menu "$6" "$7" ${8:+"$8"} ${9:+"$9"} --log-level WARNING
fi
exec "$PY" -m provisioner.dhcp --dhcp full --interface "$1" --server-ip "$2" \
    --pool "$4-$5" --netmask 255.254.0.0 "$6" "$7" ${8:+"$8"} ${9:+"$9"} --log-level WARNING
