#!/usr/bin/env bash
# End-to-end benchmark of Warren against direct and an nginx one-hop proxy, in one run (issue 5).
#
#   bash bench/run.sh           full run, about 10 minutes
#   bash bench/run.sh --quick   about 2-3 minutes: 3 s wrk runs, shorter idle and WebSocket windows, 256 MB transfers
#
# Builds Release, installs wrk and nginx-light if missing (apt-get), starts on 127.0.0.1 only:
#   backend nginx (1 worker)  :18080  /6b (6 bytes), /64k (65536 bytes), /1g (sparse 1 GB file)
#   backend Kestrel           :18085  /ws WebSocket echo, /discard (reads and counts an upload)
#   nginx one-hop proxy       :18081  (1 worker, keepalive upstream to :18080)
#   warren edge               :18090 HTTP, :18443 agents (TLS, generated certificate), :18091 admin
#   warren agent              separate process, pins the edge fingerprint, one session, publishes
#                             web.bench -> :18080 and ws.bench -> :18085
# then prints a table and rewrites the "End-to-end" section of docs/benchmarks.md and docs/benchmarks-concurrency.svg.
# Every process it starts is stopped by pid on exit.
set -euo pipefail

QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
COMMAND="bash bench/run.sh${1:+ $1}"
W=/tmp/warren-bench
OUT="$ROOT/artifacts/bench"
RESULTS="$OUT/results.jsonl"

if ((QUICK)); then
  DUR=3; WARM=1; IDLE_57=20; IDLE_OTHER=5; WS_DUR=10; BULK_MB=256
else
  DUR=10; WARM=2; IDLE_57=60; IDLE_OTHER=15; WS_DUR=30; BULK_MB=1024
fi
LEVELS=(1 10 50 64 100 1000)
WS_COUNT=2000
BACKEND=18080 PROXY=18081 KESTREL=18085 EDGE_HTTP=18090 EDGE_AGENTS=18443 EDGE_ADMIN=18091
TOKEN="bench-token-0123456789abcdef"
CLK_TCK=$(getconf CLK_TCK)

PIDS=()
alive() { [[ -e /proc/$1 ]] && [[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]]; }
# stop_pid PID: TERM, wait up to 5 s, then KILL; reaps it when it is our child and forgets it.
stop_pid() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 25); do alive "$1" || break; sleep 0.2; done
  alive "$1" && kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
cleanup() {
  set +e
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { printf '\n== %s\n' "$*" >&2; }
cpu_ms() { # utime + stime of PID in milliseconds
  local f; f=$(sed 's/.*) //' "/proc/$1/stat"); set -- $f
  echo $(( (${12} + ${13}) * 1000 / CLK_TCK ))
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# wait_http URL HOST TRIES: until it answers 200 (every 0.1 s).
wait_http() {
  for _ in $(seq "$3"); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $2" "$1" || true)" == 200 ]] && return 0
    sleep 0.1
  done
  echo "no 200 from $1 (Host: $2)" >&2; return 1
}

# ---------------------------------------------------------------- build and tools
log "Build (Release)"
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null
fi
dotnet publish src/Warren.Cli -c Release -o "$OUT/warren" -nologo -v q
dotnet build bench/Warren.LoadTest -c Release -o "$OUT/loadtest" -nologo -v q
WARREN="$OUT/warren/warren"
LOADTEST="$OUT/loadtest/warren-loadtest"
# 2,000 WebSockets need ~2,000 descriptors in each of client, edge, agent and backend: raise the soft limit as far
# as the hard limit allows (containers often cap it).
hard=$(ulimit -Hn); [[ $hard == unlimited ]] && hard=65536
ulimit -n $((hard < 65536 ? hard : 65536))
((hard >= 8192)) || echo "warning: open-file limit $hard is too low for $WS_COUNT WebSockets" >&2

rm -rf "$W"; mkdir -p "$W/www" "$W/tmp" "$W/edge-data"
chmod 755 "$W" "$W/www"
: >"$RESULTS"
printf 'hello\n' >"$W/www/6b"
head -c 65536 /dev/urandom >"$W/www/64k"
truncate -s "${BULK_MB}M" "$W/www/1g"   # sparse: served from the page cache, so disks do not set the pace
chmod 644 "$W/www/"*

# ---------------------------------------------------------------- nginx backend and proxy
cat >"$W/wrk-report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"duration_us":%d,"bytes":%d,"mean_us":%.1f,"p50_us":%d,"p99_us":%d,"max_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency.mean, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
nginx_conf() { # name, server block
  cat >"$W/$1.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 16384;
pid $W/$1.pid;
error_log $W/$1-error.log warn;
events { worker_connections 8192; multi_accept on; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 10000000; keepalive_timeout 120s;
  client_body_temp_path $W/tmp/$1-body; proxy_temp_path $W/tmp/$1-proxy;
  fastcgi_temp_path $W/tmp/$1-fcgi; uwsgi_temp_path $W/tmp/$1-uwsgi; scgi_temp_path $W/tmp/$1-scgi;
  types { } default_type application/octet-stream;
  $2
}
EOF
}
nginx_conf backend "server { listen 127.0.0.1:$BACKEND; root $W/www; }"
nginx_conf proxy "upstream backend { server 127.0.0.1:$BACKEND; keepalive 1024; }
  server { listen 127.0.0.1:$PROXY; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
nginx -e "$W/backend-error.log" -c "$W/backend.conf" -g 'daemon off;' & PIDS+=($!)
nginx -e "$W/proxy-error.log" -c "$W/proxy.conf" -g 'daemon off;' & PIDS+=($!)
"$LOADTEST" backend --port "$KESTREL" >"$W/kestrel.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$BACKEND/6b" x 100
wait_http "http://127.0.0.1:$PROXY/6b" x 100
wait_http "http://127.0.0.1:$KESTREL/" x 100

# ---------------------------------------------------------------- warren edge
cat >"$W/edge.yaml" <<EOF
listen:
  http: 127.0.0.1:$EDGE_HTTP
  https:
  agents: 127.0.0.1:$EDGE_AGENTS
  admin: 127.0.0.1:$EDGE_ADMIN
data: $W/edge-data
tokens:
  - name: bench
    token: \${WARREN_BENCH_TOKEN}
    allow_hosts: ["*.bench"]
limits:
  max_request_body_size: 4GB
  max_connections: 20000
EOF
EDGE_PID=""
FINGERPRINT=""
start_edge() {
  WARREN_BENCH_TOKEN="$TOKEN" "$WARREN" edge --config "$W/edge.yaml" >"$W/edge.log" 2>&1 & EDGE_PID=$!; PIDS+=($EDGE_PID)
  for _ in $(seq 150); do
    FINGERPRINT=$(grep -oE 'SHA-256 [0-9a-fA-F]{64}' "$W/edge.log" | awk '{print $2}' | tail -1 || true)
    [[ -n "$FINGERPRINT" ]] && return 0
    kill -0 "$EDGE_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the edge did not start:" >&2; cat "$W/edge.log" >&2; exit 1
}
agent_yaml() { # file, services yaml
  cat >"$1" <<EOF
edge: 127.0.0.1:$EDGE_AGENTS
token: $TOKEN
edge_fingerprint: $FINGERPRINT
name: bench
connections: 1
services:
$2
EOF
}

# ---------------------------------------------------------------- (3) services, fresh edge and agent for each N
for N in 1 14 57 500; do
  log "Services: agent with $N services"
  start_edge
  services=""
  for i in $(seq "$N"); do
    services+="  - name: s$i
    hostnames: [s$i.bench]
    target: http://127.0.0.1:$BACKEND
"
  done
  agent_yaml "$W/agent-$N.yaml" "$services"
  wait_http "http://127.0.0.1:$EDGE_ADMIN/healthz" x 100
  ms=$("$LOADTEST" routable --port "$EDGE_HTTP" --count "$N" --path /6b --timeout 60 --pidfile "$W/agent-$N.pid" \
        --log "$W/agent-$N.log" -- "$WARREN" agent --config "$W/agent-$N.yaml")
  AGENT_PID=$(cat "$W/agent-$N.pid"); PIDS+=("$AGENT_PID")
  idle=$IDLE_OTHER; ((N == 57)) && idle=$IDLE_57
  sleep 3   # let start-up work (tiered JIT, first GCs) settle before measuring idle
  e0=$(cpu_ms "$EDGE_PID"); a0=$(cpu_ms "$AGENT_PID")
  sleep "$idle"
  e1=$(cpu_ms "$EDGE_PID"); a1=$(cpu_ms "$AGENT_PID")
  re=$(rss_kb "$EDGE_PID"); ra=$(rss_kb "$AGENT_PID")
  printf '{"kind":"services","n":%d,"routable_ms":%s,"idle_s":%d,"cpu_edge_ms":%d,"cpu_agent_ms":%d,"rss_edge_kb":%d,"rss_agent_kb":%d}\n' \
    "$N" "$ms" "$idle" $((e1 - e0)) $((a1 - a0)) "$re" "$ra" | tee -a "$RESULTS"
  stop_pid "$AGENT_PID"; stop_pid "$EDGE_PID"
done

# ---------------------------------------------------------------- the main edge + agent
log "Edge and agent for the load runs"
start_edge
agent_yaml "$W/agent.yaml" "  - name: web
    hostnames: [web.bench]
    target: http://127.0.0.1:$BACKEND
    max_concurrency: 2048
  - name: ws
    hostnames: [ws.bench]
    target: http://127.0.0.1:$KESTREL
    max_concurrency: 4096"
"$WARREN" agent --config "$W/agent.yaml" >"$W/agent.log" 2>&1 & AGENT_PID=$!; PIDS+=($AGENT_PID)
wait_http "http://127.0.0.1:$EDGE_HTTP/6b" web.bench 300
wait_http "http://127.0.0.1:$EDGE_HTTP/" ws.bench 300

url_of() {
  case "$1" in
    direct) echo "http://127.0.0.1:$BACKEND" ;;
    nginx) echo "http://127.0.0.1:$PROXY" ;;
    warren) echo "http://127.0.0.1:$EDGE_HTTP" ;;
  esac
}
# run_wrk PHASE TARGET CONNS PATH SECONDS [record=1]
run_wrk() {
  local phase=$1 target=$2 c=$3 path=$4 secs=$5 record=${6:-1} t=2 e0=0 a0=0 sampler="" out
  ((c < 2)) && t=1
  if [[ $target == warren ]]; then
    e0=$(cpu_ms "$EDGE_PID"); a0=$(cpu_ms "$AGENT_PID")
    ( me=0; ma=0
      for _ in $(seq $((secs * 5 + 5))); do
        v=$(rss_kb "$EDGE_PID"); ((v > me)) && me=$v
        v=$(rss_kb "$AGENT_PID"); ((v > ma)) && ma=$v
        echo "$me $ma" >"$W/rss-peak"; sleep 0.2
      done ) & sampler=$!; PIDS+=($sampler)
  fi
  out=$(wrk -t"$t" -c"$c" -d"${secs}s" --latency -s "$W/wrk-report.lua" -H "Host: web.bench" "$(url_of "$target")$path" 2>&1 || true)
  local json; json=$(grep '^WRK ' <<<"$out" | sed 's/^WRK //' || true)
  [[ -z "$json" ]] && { echo "wrk failed: $out" >&2; json='{"requests":0,"duration_us":1}'; }
  local extra=""
  if [[ $target == warren ]]; then
    local e1 a1; e1=$(cpu_ms "$EDGE_PID"); a1=$(cpu_ms "$AGENT_PID")
    stop_pid "$sampler"; read -r me ma <"$W/rss-peak"
    extra=$(printf ',"cpu_edge_ms":%d,"cpu_agent_ms":%d,"rss_edge_kb":%d,"rss_agent_kb":%d' $((e1 - e0)) $((a1 - a0)) "$me" "$ma")
  fi
  if ((record)); then
    printf '{"kind":"wrk","phase":"%s","target":"%s","conns":%d%s,"wrk":%s}\n' "$phase" "$target" "$c" "$extra" "$json" >>"$RESULTS"
    printf '%-5s %-7s c=%-5d %s\n' "$phase" "$target" "$c" "$json" >&2
  fi
}

# ---------------------------------------------------------------- (1) concurrency, (5) cost
log "Warm-up"
for target in direct nginx warren; do run_wrk warm "$target" 64 /6b "$WARM" 0; done
log "Concurrency: 6-byte body, ${DUR} s per run"
for c in "${LEVELS[@]}"; do
  for target in direct nginx warren; do run_wrk conc "$target" "$c" /6b "$DUR"; done
done

# ---------------------------------------------------------------- (2) bodies
log "64 KiB bodies at 64 connections"
for target in direct nginx warren; do run_wrk 64k "$target" 64 /64k "$DUR"; done

log "Bulk: one ${BULK_MB} MB download and upload"
bulk() { # dir target url host
  local r
  if [[ $1 == download ]]; then
    r=$(curl -s -o /dev/null -H "Host: $4" -w '%{size_download} %{time_total}' "$3/1g")
  else
    r=$(curl -s -o /dev/null -H "Host: $4" -H 'Expect:' -T "$W/www/1g" -w '%{size_upload} %{time_total}' "$3/discard")
  fi
  read -r bytes secs <<<"$r"
  printf '{"kind":"bulk","dir":"%s","target":"%s","bytes":%s,"seconds":%s}\n' "$1" "$2" "$bytes" "$secs" | tee -a "$RESULTS"
}
bulk download direct "http://127.0.0.1:$BACKEND" x
bulk download warren "http://127.0.0.1:$EDGE_HTTP" web.bench
bulk upload direct "http://127.0.0.1:$KESTREL" x
bulk upload warren "http://127.0.0.1:$EDGE_HTTP" ws.bench

# ---------------------------------------------------------------- (4) WebSockets
log "WebSockets: $WS_COUNT through one session for ${WS_DUR} s (fresh edge and agent, so RSS growth is theirs alone)"
stop_pid "$AGENT_PID"; stop_pid "$EDGE_PID"
start_edge
"$WARREN" agent --config "$W/agent.yaml" >"$W/agent-ws.log" 2>&1 & AGENT_PID=$!; PIDS+=($AGENT_PID)
wait_http "http://127.0.0.1:$EDGE_HTTP/" ws.bench 300
sleep 2
"$LOADTEST" ws --port "$EDGE_HTTP" --host ws.bench --count "$WS_COUNT" --interval 3 --duration "$WS_DUR" \
  --pids "$EDGE_PID,$AGENT_PID" | tee -a "$RESULTS"

# ---------------------------------------------------------------- report
log "Report"
mkdir -p docs
SETUP="Backend: nginx (1 worker) serving static files; baseline: nginx one-hop reverse proxy (1 worker, keepalive upstream);
Warren: \`warren edge\` and \`warren agent\` as separate Release processes, TLS agent link with the pinned generated certificate, one session,
published service \`max_concurrency\` 2048 (4096 for WebSockets). wrk sends \`Host: web.bench\` to every target. Raw results: \`artifacts/bench/results.jsonl\`."
"$LOADTEST" report --results "$RESULTS" --doc docs/benchmarks.md --svg docs/benchmarks-concurrency.svg \
  --levels "$(IFS=,; echo "${LEVELS[*]}")" --command "$COMMAND" --setup "$SETUP" \
  --date "$(date -u '+%Y-%m-%d %H:%M UTC')"
