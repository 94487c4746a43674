#!/usr/bin/env bash
# bench/profile/profile.sh: where a proxied request's CPU goes (docs/performance.md).
#
# Starts an nginx backend, a bare YARP one-hop (bench/Warren.YarpHop) and Warren (edge + agent, TLS agent link, one
# session, an HTTP service and a TCP service in front of the same backend), then for each of Warren HTTP, Warren TCP
# (HTTP/1.1 through a TCP service: one TCP round trip per request) and the YARP hop:
#   - per request, at 1 and 64 connections: CPU (task-clock), context switches and the syscalls that matter, from
#     `perf stat` over a fixed wrk window (load independent of req/s, so a busy machine skews them little);
#   - at 64 connections: `perf record` call stacks, attributed by bench/profile/classify.py to components (Kestrel,
#     YARP, HttpClient, the multiplexer, TLS, logging, kernel by syscall, GC and runtime).
# With --bodies instead: 64 KiB responses at 64 connections through Warren HTTP and the YARP hop, two rounds, with
# req/s, latency and per request CPU, context switches, sendto, recvfrom and futex, then `perf record` of each by
# component (docs/performance.md, "Bodies").
# With --policy instead: 6 B at 64 connections to web.bench (no policy) and policy.bench (the bench/run.sh policy: an
# IP allow list, a per-IP rate limit that never trips, an API key in the query) on the same edge and agent, three
# alternated rounds: per request CPU from perf stat, and the edge's samples whose first frame of ours is the policy
# step (docs/performance.md, "Policy").
# Needs perf (linux-perf), wrk and nginx (apt-get installs them). Everything on 127.0.0.1; every process it starts is
# stopped by pid at exit. Usage: bash bench/profile/profile.sh [--bodies | --policy] [--prebuilt DIR] (DIR from bench/run.sh --publish).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd); cd "$ROOT"
OUT=$ROOT/artifacts/profile; W=$OUT/run; PREBUILT=""; BODIES=0 POLICY=0
[[ ${1:-} == --bodies ]] && { BODIES=1; shift; }
[[ ${1:-} == --policy ]] && { POLICY=1; shift; }
[[ ${1:-} == --prebuilt ]] && PREBUILT=${2:-$ROOT/.devicekit}
P=${WARREN_PROFILE_PORT:-18180}; BACKEND=$P YARP=$((P+2)) HTTP=$((P+10)) AGENTS=$((P+13)) ADMIN=$((P+11)) TCP=$((P+15))
need() { command -v "$1" >/dev/null || { apt-get install -y -qq "$2" >/dev/null 2>&1 || { echo "needs $1 ($2)" >&2; exit 1; }; }; }
need wrk wrk; need nginx nginx-light; need perf linux-perf; need curl curl
rm -rf "$W"; mkdir -p "$W/www" "$W/tmp" "$W/edge-data"
if [[ -z $PREBUILT ]]; then
  dotnet publish src/Warren.Cli -c Release -o "$OUT/warren" -nologo -v q
  dotnet publish bench/Warren.YarpHop -c Release -o "$OUT/yarphop" -nologo -v q
  BIN=$OUT
else BIN=$PREBUILT; fi

PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
printf 'hello\n' > "$W/www/6b"
cat > "$W/backend.conf" <<EOC
worker_processes 1; pid $W/backend.pid; error_log $W/backend-error.log warn;
events { worker_connections 8192; multi_accept on; }
http { access_log off; tcp_nodelay on; keepalive_requests 10000000; keepalive_timeout 120s;
  client_body_temp_path $W/tmp/b; proxy_temp_path $W/tmp/p; fastcgi_temp_path $W/tmp/f; uwsgi_temp_path $W/tmp/u; scgi_temp_path $W/tmp/s;
  types { } default_type application/octet-stream;
  server { listen 127.0.0.1:$BACKEND; root $W/www; } }
EOC
nginx -e "$W/backend-error.log" -c "$W/backend.conf" -g 'daemon off;' >/dev/null 2>&1 & PIDS+=($!)
# Perf maps for JIT-compiled code; W^X off so the maps name the code perf samples (it runs from a double mapping).
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
"$BIN/yarphop/warren-yarphop" --port "$YARP" --backend "http://127.0.0.1:$BACKEND" >"$W/yarp.log" 2>&1 & YARP_PID=$!; PIDS+=($!)
cat > "$W/edge.yaml" <<EOC
listen: { http: 127.0.0.1:$HTTP, agents: 127.0.0.1:$AGENTS, admin: 127.0.0.1:$ADMIN }
data: $W/edge-data
tokens:
  - { name: bench, token: bench-token-0123456789abcdef, allow_hosts: ["*.bench"], allow_ports: [$TCP] }
limits: { max_connections: 20000 }
EOC
"$BIN/warren/warren" edge --config "$W/edge.yaml" >"$W/edge.log" 2>&1 & EDGE_PID=$!; PIDS+=($!)
fp=""; for _ in $(seq 200); do fp=$(grep -aoE 'SHA-256 [0-9a-fA-F]{64}' "$W/edge.log" | awk '{print $2}' | tail -1 || true); [[ -n $fp ]] && break; sleep 0.1; done
[[ -n $fp ]] || { echo "edge did not start:" >&2; cat "$W/edge.log" >&2; exit 1; }
cat > "$W/agent.yaml" <<EOC
edge: 127.0.0.1:$AGENTS
token: bench-token-0123456789abcdef
edge_fingerprint: $fp
name: bench
services:
  - { name: web, hostnames: [web.bench], target: "http://127.0.0.1:$BACKEND", max_concurrency: 2048 }
  - { name: tcp, port: $TCP, target: "tcp://127.0.0.1:$BACKEND" }
  - name: policy
    hostnames: [policy.bench]
    target: "http://127.0.0.1:$BACKEND"
    max_concurrency: 2048
    policy:
      ip: {allow: [127.0.0.1/32]}
      rate_limit: {per_ip: {requests: 1000000, per: 1s}}
      api_keys: {keys: [bench-policy-key], query: key}
EOC
"$BIN/warren/warren" agent --config "$W/agent.yaml" >"$W/agent.log" 2>&1 & AGENT_PID=$!; PIDS+=($!)
for url in "http://127.0.0.1:$HTTP/6b" "http://127.0.0.1:$TCP/6b" "http://127.0.0.1:$YARP/6b"; do
  ok=""; for _ in $(seq 200); do [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: web.bench' "$url") == 200 ]] && { ok=1; break; }; sleep 0.1; done
  [[ -n $ok ]] || { echo "$url never answered" >&2; exit 1; }
done

if ((BODIES)); then
  head -c 65536 /dev/urandom > "$W/www/64k"
  declare -A BASE=([warren]="http://127.0.0.1:$HTTP" [yarp]="http://127.0.0.1:$YARP") WHOSE=([warren]="$EDGE_PID,$AGENT_PID" [yarp]="$YARP_PID")
  for k in yarp warren; do wrk -t2 -c64 -d5s -H 'Host: web.bench' "${BASE[$k]}/64k" >/dev/null; done # warm-up
  ev=task-clock,context-switches,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_futex
  for round in 1 2; do for k in yarp warren; do
    wrk -t2 -c64 -d6s --latency -H 'Host: web.bench' "${BASE[$k]}/64k" > "$W/wrk.out" & WRK=$!; sleep 0.5
    perf stat -e "$ev" -p "${WHOSE[$k]}" -o "$W/stat.txt" -- sleep 5 >/dev/null 2>&1; wait $WRK
    reqs=$(grep -oE '[0-9]+ requests in' "$W/wrk.out" | awk '{print $1}'); rps=$(grep 'Requests/sec' "$W/wrk.out" | awk '{print $2}')
    p50=$(grep -E '^ +50%' "$W/wrk.out" | awk '{print $2}'); p99=$(grep -E '^ +99%' "$W/wrk.out" | awk '{print $2}')
    awk -v r=$((reqs * 5 / 6)) -v k="$k" -v rps="$rps" -v p50="$p50" -v p99="$p99" '
      /task-clock/ {gsub(",","",$1); cpu=$1*1000/r} /context-switches/ {gsub(",","",$1); cs=$1/r}
      /syscalls:sys_enter_/ {gsub(",","",$1); n=$2; sub("syscalls:sys_enter_","",n); v[n]=$1/r}
      END {printf "%-7s 64 KiB c64: %s req/s, p50 %s, p99 %s; per request: CPU %.0f us, %.2f context switches, %.2f sendto, %.2f recvfrom, %.2f futex\n", k, rps, p50, p99, cpu, cs, v["sendto"], v["recvfrom"], v["futex"]}' "$W/stat.txt"
  done; done
  for k in warren yarp; do # where the CPU goes, by component
    wrk -t2 -c64 -d12s -H 'Host: web.bench' "${BASE[$k]}/64k" >/dev/null & WRK=$!; sleep 1
    perf record -F 499 -g -p "${WHOSE[$k]}" -o "$W/bodies-$k.perf" -- sleep 10 >/dev/null 2>&1; wait $WRK
    echo "### $k, 64 KiB, c64 (perf record, 499 Hz, 10 s)"
    perf script -F comm,pid,tid,time,ip,sym,dso -i "$W/bodies-$k.perf" 2>/dev/null \
      | python3 bench/profile/classify.py "$EDGE_PID=edge" "$AGENT_PID=agent" "$YARP_PID=yarp"
  done
  exit 0
fi

if ((POLICY)); then
  url="http://127.0.0.1:$HTTP/6b?key=bench-policy-key"
  [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: policy.bench' "$url") == 200 ]] || { echo "policy.bench refused the key" >&2; exit 1; }
  for h in web policy; do wrk -t2 -c64 -d20s -H "Host: $h.bench" "$url" >/dev/null; done # warm-up: JIT tiers settle
  for round in 1 2 3; do
    order="web policy"; ((round == 2)) && order="policy web"
    for h in $order; do
      wrk -t2 -c64 -d12s -H "Host: $h.bench" "$url" > "$W/wrk.out" & WRK=$!; sleep 1
      perf stat -e task-clock -p "$EDGE_PID,$AGENT_PID" -o "$W/stat.txt" -- sleep 5 >/dev/null 2>&1
      perf record -F 999 -g -p "$EDGE_PID" -o "$W/$h.perf" -- sleep 5 >/dev/null 2>&1; wait $WRK
      reqs=$(grep -oE '[0-9]+ requests in' "$W/wrk.out" | awk '{print $1}'); rps=$(grep 'Requests/sec' "$W/wrk.out" | awk '{print $2}')
      non=$(grep -oE 'Non-2xx or 3xx responses: [0-9]+' "$W/wrk.out" | awk '{print $NF}' || true); owner=$(perf script -F comm,pid,tid,time,ip,sym,dso -i "$W/$h.perf" 2>/dev/null \
        | python3 bench/profile/classify.py "$EDGE_PID=edge" | grep -oE 'owner:.*' | grep -oE 'edge policy [0-9.]+%' || echo 'edge policy 0%')
      awk -v r=$((reqs * 5 / 12)) -v h="$h" -v rps="$rps" -v non="${non:-0}" -v owner="$owner" '
        /task-clock/ {gsub(",","",$1); cpu=$1*1000/r}
        END {printf "%-6s 6 B c64: %s req/s, non-2xx %s; edge + agent CPU %.0f us per request; edge samples owned by the policy step: %s\n", h, rps, non, cpu, owner}' "$W/stat.txt"
    done
  done
  exit 0
fi

declare -A URL=([warren-http]="http://127.0.0.1:$HTTP/6b" [warren-tcp]="http://127.0.0.1:$TCP/6b" [yarp]="http://127.0.0.1:$YARP/6b")
declare -A WHO=([warren-http]="$EDGE_PID,$AGENT_PID" [warren-tcp]="$EDGE_PID,$AGENT_PID" [yarp]="$YARP_PID")
load() { local c=$1 s=$2 url=$3 t=2; ((c < 2)) && t=1; wrk -t$t -c"$c" -d"${s}s" -H 'Host: web.bench' "$url"; }
echo "warming up (JIT tiers settle)..." >&2
for k in warren-http warren-tcp yarp; do load 64 15 "${URL[$k]}" >/dev/null; done

ev=task-clock,context-switches; for s in futex sendto recvfrom epoll_wait sched_yield write; do ev="$ev,syscalls:sys_enter_$s"; done
REPORT=$OUT/profile.md
{ echo "# Profile, $(date -u '+%F %H:%M') UTC, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"; echo
  echo "## Per request (perf stat over 5 s of a wrk run; edge + agent together for Warren)"; echo
  echo "| path | conns | req/s | CPU µs | context switches | futex | sendto | recvfrom | epoll_wait | write |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"; } > "$REPORT"
for k in warren-http warren-tcp yarp; do
  for c in 1 64; do
    load "$c" 7 "${URL[$k]}" > "$W/wrk.out" & WRK=$!; sleep 1
    perf stat -e "$ev" -p "${WHO[$k]}" -o "$W/stat.txt" -- sleep 5 >/dev/null 2>&1; wait $WRK
    reqs=$(grep -oE '[0-9]+ requests in' "$W/wrk.out" | awk '{print $1}'); rps=$(grep 'Requests/sec' "$W/wrk.out" | awk '{print $2}')
    awk -v r=$((reqs * 5 / 7)) -v k="$k" -v c="$c" -v rps="$rps" '
      /task-clock/ {gsub(",","",$1); cpu=$1*1000/r} /context-switches/ {gsub(",","",$1); cs=$1/r}
      /syscalls:sys_enter_/ {gsub(",","",$1); n=$2; sub("syscalls:sys_enter_","",n); v[n]=$1/r}
      END {printf "| %s | %d | %s | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", k, c, rps, cpu, cs, v["futex"], v["sendto"], v["recvfrom"], v["epoll_wait"], v["write"]}' "$W/stat.txt" >> "$REPORT"
  done
done
echo >> "$REPORT"; echo "## Where the CPU goes at 64 connections (perf record, 499 Hz, 10 s)" >> "$REPORT"
for k in warren-http warren-tcp yarp; do
  load 64 13 "${URL[$k]}" >/dev/null & WRK=$!; sleep 1.5
  perf record -F 499 -g -p "${WHO[$k]}" -o "$W/$k.perf" -- sleep 10 >/dev/null 2>&1; wait $WRK
  { echo; echo "### $k"; echo; echo '```'
    perf script -F comm,pid,tid,time,ip,sym,dso -i "$W/$k.perf" 2>/dev/null \
      | python3 bench/profile/classify.py "$EDGE_PID=edge" "$AGENT_PID=agent" "$YARP_PID=yarp"
    echo '```'; } >> "$REPORT"
done
cat "$REPORT"
echo "written to ${REPORT#"$ROOT"/}" >&2
