#!/usr/bin/env bash
# bench/profile/link.sh: what the agent link costs a byte and a round trip (docs/performance.md, "Bulk" and "TCP round
# trip").
#
#   --bulk (default): one 1 GiB download (a sparse file from nginx) and one 1 GiB upload (to warren-loadtest's
#     /discard) direct, through the bare YARP hop and through Warren, three rounds, once with the TLS agent link and
#     once with a plain one (agent_tls.insecure, tests only): MB/s, and Warren's edge and agent CPU per GiB from
#     /proc/PID/stat.
#   --pgbench: `pgbench -S -c8` against a throwaway PostgreSQL direct, through HAProxy (TCP mode) and through a Warren
#     TCP service, two rounds: tps, CPU per transaction of HAProxy and of Warren's edge and agent, then per-transaction
#     syscalls, thread wake-ups (futex) and context switches from `perf stat`.
# Everything on 127.0.0.1; every process it starts is stopped at exit. Run it with the machine otherwise idle.
# Needs nginx, curl, perf; --pgbench also haproxy, postgresql and pgbench (apt-get installs them).
# Usage: bash bench/profile/link.sh [--bulk | --pgbench] [--prebuilt DIR] (DIR from bench/run.sh --publish).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd); cd "$ROOT"
OUT=$ROOT/artifacts/profile; W=$OUT/link; MODE=bulk; PREBUILT=""
while (($#)); do
  case $1 in
    --bulk) MODE=bulk ;;
    --pgbench) MODE=pgbench ;;
    --prebuilt) PREBUILT=${2:-$ROOT/.devicekit}; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
P=${WARREN_PROFILE_PORT:-18380}; BACKEND=$P YARP=$((P+1)) HTTP=$((P+2)) AGENTS=$((P+3)) PG=$((P+4)) HAPROXY=$((P+5)) PG_EDGE=$((P+6)) KESTREL=$((P+7))
need() { command -v "$1" >/dev/null || { apt-get install -y -qq "$2" >/dev/null 2>&1 || { echo "needs $1 ($2)" >&2; exit 1; }; }; }
need nginx nginx-light; need curl curl; need perf linux-perf
if [[ $MODE == pgbench ]]; then need haproxy haproxy; need pgbench postgresql-client; [[ -d /usr/lib/postgresql ]] || apt-get install -y -qq postgresql >/dev/null; fi
rm -rf "$W"; mkdir -p "$W/www" "$W/tmp"
if [[ -z $PREBUILT ]]; then
  dotnet publish src/Warren.Cli -c Release -r "$(dotnet --info | awk '$1 == "RID:" {print $2; exit}')" -p:ReleaseBinary=true -o "$OUT/warren" -nologo -v q -clp:ErrorsOnly
  dotnet publish bench/Warren.YarpHop -c Release -o "$OUT/yarphop" -nologo -v q
  dotnet publish bench/Warren.LoadTest -c Release -o "$OUT/loadtest" -nologo -v q
  BIN=$OUT
else BIN=$PREBUILT; fi
WARREN=$BIN/warren/warren
export WARREN_BENCH_TOKEN=link-profile-token-0123456789abcdef

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system ticks
TICK_MS=$((1000 / $(getconf CLK_TCK)))

start_warren() { # SERVICES_YAML [insecure]: edge + agent; sets EP, AP
  local insecure=${2:-} fp=""
  rm -rf "$W/edge-data"
  { printf 'listen:\n  http: 127.0.0.1:%d\n  https:\n  agents: 127.0.0.1:%d\ndata: %s/edge-data\n' "$HTTP" "$AGENTS" "$W"
    printf 'tokens:\n  - name: bench\n    token: ${WARREN_BENCH_TOKEN}\n    allow_hosts: ["*.bench"]\n    allow_ports: [%d]\n' "$PG_EDGE"
    printf 'limits:\n  max_request_body_size: 4GB\n  max_tcp_connections_per_ip: 20000\n'
    [[ -n $insecure ]] && printf 'agent_tls:\n  insecure: true\n'; } >"$W/edge.yaml"
  "$WARREN" edge --config "$W/edge.yaml" >"$W/edge.log" 2>&1 & EP=$!; PIDS+=("$EP")
  if [[ -z $insecure ]]; then
    for _ in $(seq 150); do
      fp=$(grep -oE 'SHA-256 [0-9a-fA-F]{64}' "$W/edge.log" | awk '{print $2}' | tail -1 || true)
      [[ -n $fp ]] && break; sleep 0.1
    done
    [[ -n $fp ]] || { echo "the edge did not start:" >&2; cat "$W/edge.log" >&2; exit 1; }
  else sleep 1; fi
  { printf 'edge: 127.0.0.1:%d\ntoken: ${WARREN_BENCH_TOKEN}\nname: bench\n' "$AGENTS"
    if [[ -n $insecure ]]; then printf 'insecure: true\n'; else printf 'edge_fingerprint: %s\n' "$fp"; fi
    printf 'services:\n%s\n' "$1"; } >"$W/agent.yaml"
  "$WARREN" agent --config "$W/agent.yaml" >"$W/agent.log" 2>&1 & AP=$!; PIDS+=("$AP")
}
stop_warren() { kill "$AP" 2>/dev/null || true; wait "$AP" 2>/dev/null || true; kill "$EP" 2>/dev/null || true; wait "$EP" 2>/dev/null || true; }

if [[ $MODE == bulk ]]; then
  truncate -s 1024M "$W/www/1g" # sparse: from the page cache
  cat >"$W/nginx.conf" <<EOC
worker_processes 1; daemon off; pid $W/nginx.pid; error_log $W/nginx-error.log warn;
events { worker_connections 1024; }
http { access_log off; sendfile on; keepalive_requests 1000000;
  client_body_temp_path $W/tmp/b; proxy_temp_path $W/tmp/p; fastcgi_temp_path $W/tmp/f; uwsgi_temp_path $W/tmp/u; scgi_temp_path $W/tmp/s;
  types { } default_type application/octet-stream;
  server { listen 127.0.0.1:$BACKEND; root $W/www; } }
EOC
  nginx -c "$W/nginx.conf" & PIDS+=($!)
  "$BIN/loadtest/warren-loadtest" backend --port "$KESTREL" >"$W/kestrel.log" 2>&1 & PIDS+=($!)
  "$BIN/yarphop/warren-yarphop" --port "$YARP" --backend "http://127.0.0.1:$BACKEND" --routes "up.bench=http://127.0.0.1:$KESTREL" >"$W/yarp.log" 2>&1 & PIDS+=($!)
  dl() { curl -s -o /dev/null -H 'Host: web.bench' -w '%{speed_download}' "http://127.0.0.1:$1/1g" | awk '{printf "%.0f", $1 / 1e6}'; }
  up() { curl -s -o /dev/null -H 'Host: up.bench' -H 'Expect:' -T "$W/www/1g" -w '%{speed_upload}' "http://127.0.0.1:$1/discard" | awk '{printf "%.0f", $1 / 1e6}'; }
  for link in tls plain; do
    start_warren "  - name: web
    hostnames: [web.bench]
    target: http://127.0.0.1:$BACKEND
  - name: up
    hostnames: [up.bench]
    target: http://127.0.0.1:$KESTREL" "$([[ $link == plain ]] && echo insecure)"
    for _ in $(seq 100); do [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: web.bench' "http://127.0.0.1:$HTTP/none") == 404 ]] && break; sleep 0.2; done
    for port in "$BACKEND" "$YARP" "$HTTP"; do dl "$port" >/dev/null; done # warm-up
    for port in "$KESTREL" "$YARP" "$HTTP"; do up "$port" >/dev/null; done
    for round in 1 2 3; do
      echo "link $link, round $round: download direct $(dl "$BACKEND"), YARP one-hop $(dl "$YARP"), Warren $(dl "$HTTP") MB/s;" \
        "upload direct $(up "$KESTREL"), YARP one-hop $(up "$YARP"), Warren $(up "$HTTP") MB/s"
    done
    e0=$(cpu "$EP"); a0=$(cpu "$AP"); mbs=$(dl "$HTTP"); e1=$(cpu "$EP"); a1=$(cpu "$AP")
    echo "link $link, download: Warren $mbs MB/s; CPU per GiB: edge $(((e1 - e0) * TICK_MS)) ms, agent $(((a1 - a0) * TICK_MS)) ms"
    e0=$(cpu "$EP"); a0=$(cpu "$AP"); mbs=$(up "$HTTP"); e1=$(cpu "$EP"); a1=$(cpu "$AP")
    echo "link $link, upload: Warren $mbs MB/s; CPU per GiB: edge $(((e1 - e0) * TICK_MS)) ms, agent $(((a1 - a0) * TICK_MS)) ms"
    stop_warren
  done
  exit 0
fi

# ---------------------------------------------------------------- --pgbench
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
mkdir -p "$W/pg" "$W/pgsock"
as_postgres() { if ((EUID == 0)); then chown -R postgres: "$W/pg" "$W/pgsock"; runuser -u postgres -- "$@"; else "$@"; fi; }
as_postgres "$PG_BIN/initdb" -D "$W/pg" -U postgres --auth=trust --no-sync -E UTF8 >"$W/initdb.log" 2>&1
if ((EUID == 0)); then
  runuser -u postgres -- "$PG_BIN/postgres" -D "$W/pg" -h 127.0.0.1 -p "$PG" -k "$W/pgsock" -c fsync=off -c synchronous_commit=off >"$W/pg.log" 2>&1 &
else
  "$PG_BIN/postgres" -D "$W/pg" -h 127.0.0.1 -p "$PG" -k "$W/pgsock" -c fsync=off -c synchronous_commit=off >"$W/pg.log" 2>&1 &
fi
PIDS+=($!)
for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p "$PG" && break; sleep 0.1; done
pgbench -i -q -s 1 -h 127.0.0.1 -p "$PG" -U postgres postgres >"$W/pgbench-init.log" 2>&1
printf 'global\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 1h\n  timeout server 1h\nlisten pg\n  bind 127.0.0.1:%d\n  server pg 127.0.0.1:%d\n' "$HAPROXY" "$PG" >"$W/haproxy.cfg"
haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 & HP=$!; PIDS+=("$HP")
start_warren "  - name: pg
    port: $PG_EDGE
    target: tcp://127.0.0.1:$PG"
for _ in $(seq 100); do pg_isready -q -h 127.0.0.1 -p "$PG_EDGE" && break; sleep 0.2; done
pb() { pgbench -S -n -c 8 -j 2 -T "${2:-8}" -h 127.0.0.1 -p "$1" -U postgres postgres 2>&1 | awk '/^tps = / {printf "%.0f", $3}'; }
us_per_tx() { echo $((($2 - $1) * TICK_MS * 1000 / ($3 * 8))); } # ticks before, after, tps (8 s runs)
for port in "$PG" "$HAPROXY" "$PG_EDGE"; do pb "$port" 5 >/dev/null; done # warm-up
for round in 1 2; do
  direct=$(pb "$PG")
  h0=$(cpu "$HP"); haproxy=$(pb "$HAPROXY"); h1=$(cpu "$HP")
  e0=$(cpu "$EP"); a0=$(cpu "$AP"); warren=$(pb "$PG_EDGE"); e1=$(cpu "$EP"); a1=$(cpu "$AP")
  echo "round $round: tps direct $direct, HAProxy $haproxy, Warren $warren; CPU µs per transaction: HAProxy $(us_per_tx "$h0" "$h1" "$haproxy"), Warren edge $(us_per_tx "$e0" "$e1" "$warren") + agent $(us_per_tx "$a0" "$a1" "$warren")"
done
EVENTS=task-clock,context-switches,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait
per_tx() { # STATFILE TRANSACTIONS: one line of per-transaction counts
  awk -v tx="$2" '/task-clock/ {printf "CPU %.1f µs", $1 * 1000 / tx} /context-switches|sys_enter/ {n = $2; sub(/syscalls:sys_enter_/, "", n); printf ", %s %.2f", n, $1 / tx} END {print ""}' "$1"
}
tx_of() { awk '/^number of transactions actually processed: / {print $6}' "$1"; }
perf stat -e "$EVENTS" -p "$HP" -o "$W/haproxy.stat" -- sleep 6 & s1=$!
pgbench -S -n -c 8 -j 2 -T 5 -h 127.0.0.1 -p "$HAPROXY" -U postgres postgres >"$W/pgbench-haproxy.out" 2>&1; wait "$s1"
perf stat -e "$EVENTS" -p "$EP" -o "$W/edge.stat" -- sleep 6 & s1=$!
perf stat -e "$EVENTS" -p "$AP" -o "$W/agent.stat" -- sleep 6 & s2=$!
pgbench -S -n -c 8 -j 2 -T 5 -h 127.0.0.1 -p "$PG_EDGE" -U postgres postgres >"$W/pgbench-warren.out" 2>&1; wait "$s1" "$s2"
echo "per transaction, HAProxy: $(per_tx "$W/haproxy.stat" "$(tx_of "$W/pgbench-haproxy.out")")"
echo "per transaction, Warren edge: $(per_tx "$W/edge.stat" "$(tx_of "$W/pgbench-warren.out")")"
echo "per transaction, Warren agent: $(per_tx "$W/agent.stat" "$(tx_of "$W/pgbench-warren.out")")"
