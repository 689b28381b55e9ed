#!/usr/bin/env bash
# DHCPv4 throughput of this project's server against Kea (memfile), dnsmasq and a
# Python asyncio ceiling probe, measured with ISC's perfdhcp inside two private
# network namespaces.  See README.md for the method and the caveats.
#
#   sudo ./run.sh                  # default set (10 configs), 3 interleaved ramps, 4 s steps (~18 min)
#   sudo ./run.sh --quick          # kea-memfile-4way, dnsmasq-4way, python-ceiling-2way; 1 ramp, 2 s steps (~1.5 min)
#   sudo ./run.sh --only kea-memfile-4way,dnsmasq-2way --reps 5 --step-secs 6
#   sudo ./run.sh --no-pin         # let server and perfdhcp float over both cores
#   sudo ./run.sh --only dnsmasq-4way --fixed-rate 500 --step-secs 10 --reps 3   # "does it sustain 500/s?"
#   sudo ./run.sh --server 'mine=/path/to/server --iface {iface} --pool {pool_start}-{pool_end}' \
#                 --only kea-memfile-4way,mine-4way,kea-memfile-2way,mine-2way --reps 5      # ratio vs Kea
#   sudo ./run.sh --provisioner --only kea-memfile-4way,provisioner-4way,dnsmasq-4way \
#                 --reps 3                            # this project's server (provisioner-dhcp.sh)
#       --provisioner adds provisioner-{4way,2way} (full mode, SQLite), provisioner-pg-*
#       (full mode, PostgreSQL: a private cluster started here) and provisioner-proxy-*
#       (proxy mode; perfdhcp sends a PXE ROM's options 60/93/94)
#
# Needs: root, iproute2, util-linux (taskset), coreutils (timeout), python3,
#        /usr/sbin/perfdhcp (kea-admin), /usr/sbin/kea-dhcp4 (kea-dhcp4-server), /usr/sbin/dnsmasq.
# Never touches the host's main namespace: it only creates two namespaces and a
# veth pair between them (192.0.2.1/24 <-> 192.0.2.2/24), and deletes them on exit.
# Results: ./results/NAME.{json,txt} and NAME-steps.log; NAME = latest (--quick: quick; or --name NAME).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPS=3 STEP=4 ONLY="" SRV_CPU=1 CLI_CPU=0 KEEP=0 BUDGET=5400 EXTRA=() NAME="" PG=0
# what a BIOS PXE ROM puts in its DISCOVER: vendor class (60), architecture 0 (93), UNDI 2.1 (94)
PXE_ARGS="-o 60,505845436c69656e743a417263683a30303030303a554e44493a303032303031 -o 93,0000 -o 94,010201"
while (($#)); do
    case $1 in
        --quick) REPS=1 STEP=2 ONLY=quick ;;
        --reps) REPS=$2; shift ;;
        --step-secs) STEP=$2; shift ;;
        --only) ONLY=$2; shift ;;
        --no-pin) SRV_CPU="" CLI_CPU="" ;;
        --keep-work) KEEP=1 ;;
        --name) NAME=$2; shift ;;                              # results/NAME.{json,txt}
        --budget) BUDGET=$2; shift ;;
        --clients) EXTRA+=(--clients "$2"); shift ;;          # perfdhcp -R (default 1e8)
        --fixed-rate) EXTRA+=(--fixed-rate "$2"); shift ;;    # one step at this rate, no ramp
        --server) EXTRA+=(--server "$2"); shift ;;            # NAME=CMD: extra server under test
        --server-perfdhcp) EXTRA+=(--server-perfdhcp "$2"); shift ;;  # NAME=ARGS: more perfdhcp arguments
        --provisioner)  # ours: full mode on SQLite, full mode on PostgreSQL, proxy mode
            PROV="$HERE/provisioner-dhcp.sh {iface} {srv_addr} {work} {pool_start} {pool_end}"
            EXTRA+=(--server "provisioner=$PROV full sqlite" --server "provisioner-pg=$PROV full postgres"
                    --server "provisioner-proxy=$PROV proxy sqlite"
                    --server-perfdhcp "provisioner-proxy=$PXE_ARGS")
            PG=1 ;;
        --perfdhcp-multi) EXTRA+=(--perfdhcp-threads multi) ;; # perfdhcp -g multi (default -g single)
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

[[ -n $NAME ]] || { [[ $ONLY == quick ]] && NAME=quick || NAME=latest; }
[[ $NAME =~ ^[A-Za-z0-9._-]+$ ]] || { echo "run.sh: --name: letters, digits, . _ - only" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "run.sh: needs root (network namespaces)" >&2; exit 2; }
for b in /usr/sbin/perfdhcp /usr/sbin/kea-dhcp4 /usr/sbin/dnsmasq /usr/bin/python3 ip taskset timeout ss; do
    command -v "$b" >/dev/null || { echo "run.sh: missing $b (apt-get install kea-admin kea-dhcp4-server dnsmasq-base)" >&2; exit 2; }
done
if [[ -n $SRV_CPU ]] && (( $(nproc) < 2 )); then SRV_CPU="" CLI_CPU=""; fi

TAG=$$
NS_SRV=dhcpb-srv-$TAG NS_CLI=dhcpb-cli-$TAG
IF_SRV=dbs$TAG IF_CLI=dbc$TAG           # <= 15 chars
WORK=$(mktemp -d /tmp/dhcpbench.XXXXXX)
OUTDIR=${DHCPBENCH_RESULTS:-$HERE/results}   # set DHCPBENCH_RESULTS where this folder is read-only
mkdir -p "$OUTDIR"
: >"$WORK/pids"
DRV="" PG_DIR="" PG_BIN=""

alive() {  # exists and is not a zombie
    local st
    st=$(awk '{print $3}' /proc/"$1"/stat 2>/dev/null) || return 1
    [[ -n $st && $st != Z ]]
}

stop_pid() {  # stop one `timeout` process we started (and its child) by PID
    local p=$1 kids="" i
    [[ "$(cat /proc/"$p"/comm 2>/dev/null)" == timeout ]] || return 0
    kids=$(cat /proc/"$p"/task/*/children 2>/dev/null || true)
    kill -TERM "$p" 2>/dev/null || true
    for i in 1 2 3 4 5 6 7 8 9 10; do
        alive "$p" || break
        sleep 0.5
    done
    alive "$p" || return 0
    for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
    kill -KILL "$p" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    [[ -n $DRV ]] && stop_pid "$DRV"   # the driver first, so it starts nothing new
    if [[ -s $WORK/pids ]]; then
        tac "$WORK/pids" | while read -r p; do stop_pid "$p"; done
    fi
    if [[ -n $PG_DIR ]]; then
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null
        rm -rf "$PG_DIR"
    fi
    ip netns del "$NS_SRV" 2>/dev/null
    ip netns del "$NS_CLI" 2>/dev/null
    [[ -f $WORK/steps.log ]] && cp "$WORK/steps.log" "$OUTDIR/$NAME-steps.log"
    if ((KEEP)); then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- topology: netns A (server) 192.0.2.1/24 <-veth-> netns B (client) 192.0.2.2/24
ip netns add "$NS_SRV"
ip netns add "$NS_CLI"
ip link add "$IF_SRV" netns "$NS_SRV" type veth peer name "$IF_CLI" netns "$NS_CLI"
ip -n "$NS_SRV" addr add 192.0.2.1/24 dev "$IF_SRV"
ip -n "$NS_CLI" addr add 192.0.2.2/24 dev "$IF_CLI"
for ns in "$NS_SRV" "$NS_CLI"; do ip -n "$ns" link set lo up; done
ip -n "$NS_SRV" link set "$IF_SRV" up
ip -n "$NS_CLI" link set "$IF_CLI" up

# ---- PostgreSQL for provisioner-pg: a private cluster, Unix socket only (no TCP),
# durable settings (fsync on); every step gets a fresh database (provisioner-dhcp.sh)
if ((PG)); then
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [[ -x $PG_BIN/initdb ]]; then
        PG_DIR=$(mktemp -d /tmp/dhcpbench-pg.XXXXXX)
        chown postgres: "$PG_DIR"
        runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres -E UTF8 >/dev/null
        runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
            -o "-k $PG_DIR -c listen_addresses=''" start >/dev/null
        export PROV_BENCH_PG_HOST=$PG_DIR
    else
        echo "run.sh: no PostgreSQL (apt-get install postgresql): provisioner-pg configs will fail" >&2
    fi
fi

# ---- versions / host
{
    echo "date: $(date -Is)"
    echo "host: $(uname -srm); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "os: Debian $(cat /etc/debian_version)"
    echo "kea-dhcp4: $(/usr/sbin/kea-dhcp4 -v 2>&1 | head -1)  (dpkg: $(dpkg-query -W -f='${Version}' kea-dhcp4-server 2>/dev/null))"
    echo "perfdhcp: $(/usr/sbin/perfdhcp -v 2>&1 | head -1)  (dpkg kea-admin: $(dpkg-query -W -f='${Version}' kea-admin 2>/dev/null))"
    echo "dnsmasq: $(/usr/sbin/dnsmasq --version | head -1)"
    echo "python3: $(/usr/bin/python3 --version 2>&1)"
    [[ -n $PG_BIN ]] && echo "postgresql: $("$PG_BIN/postgres" --version)"
    echo "pinning: server CPU ${SRV_CPU:-any} (MT/nopin configs: any), perfdhcp CPU ${CLI_CPU:-any}"
    echo "params: reps=$REPS step=${STEP}s only=${ONLY:-default} extra: ${EXTRA[*]:-none}"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$WORK/meta.txt"

RES=$WORK/results.json
timeout -k 5 "$BUDGET" /usr/bin/python3 "$HERE/bench.py" --work "$WORK" \
    --ns-srv "$NS_SRV" --ns-cli "$NS_CLI" --if-srv "$IF_SRV" \
    --srv-cpu "$SRV_CPU" --cli-cpu "$CLI_CPU" --reps "$REPS" --step-secs "$STEP" \
    --only "$ONLY" --results "$RES" "${EXTRA[@]}" &
DRV=$!
wait "$DRV"

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$WORK/meta.txt"
cp "$RES" "$OUTDIR/$NAME.json"
{
    cat "$WORK/meta.txt"
    echo
    /usr/bin/python3 "$HERE/report.py" "$RES"
} >"$OUTDIR/$NAME.txt"
echo
/usr/bin/python3 "$HERE/report.py" "$RES"
