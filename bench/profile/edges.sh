#!/usr/bin/env bash
# bench/profile/edges.sh: which build of the edge (or of the agent) costs less once every process has settled
# (docs/performance.md, "The edge compiled ahead of time, optimized for speed").
#
#   bash bench/profile/edges.sh [--rotations N] [--prebuilt DIR] [--counters PATH] [NAME=EDGE[,AGENT] ...]
#
# Starts an nginx backend, the bare YARP hop (bench/Warren.YarpHop) and, for each NAME, an edge from the binary EDGE
# with an agent of its own (AGENT: a warren-agent binary, or `jit` for `warren agent` from DIR's release binary;
# DIR/warren-agent/warren-agent when left out), all with bench/run.sh's edge settings and one `web` service. Every
# target is warmed for 20 s at c64, then each rotation runs every target for 3 s at c64 in turn, the order shifted and
# reversed from one rotation to the next, as bench/run.sh's alternated pairs do. So all builds are measured in the
# same minutes, each as a long-lived process (a fresh process per run favours the build that needs no warm-up).
# Prints one line per run (req/s, CPU of edge + agent per 1,000 requests from /proc) and per target the medians, its
# median ratio to the YARP hop's run in the same rotation, and RSS after start and at the end.
# Without NAME=...: release=DIR/warren/warren and, when DIR has it, aot=DIR/warren-aot/warren (bench/run.sh --edge aot
# --publish DIR). DIR: bench/run.sh --publish DIR; defaults to artifacts/bench. --counters PATH (a dotnet-counters
# executable: `dotnet tool install dotnet-counters --tool-path DIR`) adds, after the rotations, the bytes each process
# allocates per request at c64 (the allocation target of docs/performance.md; "?" for a process with no diagnostics
# port, such as the native warren-agent). Needs wrk, nginx and curl. Everything
# listens on 127.0.0.1 from WARREN_EDGES_PORT (default 18480); every process it starts is stopped by pid at exit.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd); cd "$ROOT"
ROTATIONS=8 BIN=$ROOT/artifacts/bench SPECS=() DUR=3 SETTLE=20 CONNS=64 COUNTERS=""
while (($#)); do
  case $1 in
    --counters) [[ -x ${2:-} ]] || { echo "--counters needs the dotnet-counters executable" >&2; exit 2; }; COUNTERS=$2; shift ;;
    --rotations) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "--rotations takes a whole number" >&2; exit 2; }; ROTATIONS=$2; shift ;;
    --prebuilt) [[ -n ${2:-} ]] || { echo "--prebuilt needs a folder" >&2; exit 2; }; BIN=$(cd "$2" && pwd); shift ;;
    *=*) SPECS+=("$1") ;;
    *) echo "unknown argument: $1 (NAME=EDGE[,AGENT], --rotations N, --prebuilt DIR, --counters PATH)" >&2; exit 2 ;;
  esac
  shift
done
if ((${#SPECS[@]} == 0)); then
  SPECS=("release=$BIN/warren/warren")
  [[ -x $BIN/warren-aot/warren ]] && SPECS+=("aot=$BIN/warren-aot/warren")
fi
for t in wrk nginx curl; do command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 1; }; done
for b in "$BIN/yarphop/warren-yarphop" "$BIN/warren-agent/warren-agent"; do [[ -x $b ]] || { echo "missing $b (bash bench/run.sh --publish ${BIN#"$ROOT"/})" >&2; exit 1; }; done

W=$ROOT/artifacts/profile/edges
P=${WARREN_EDGES_PORT:-18480}
BACKEND=$P YARP=$((P + 2))
export WARREN_BENCH_TOKEN="bench-token-0123456789abcdef"
rm -rf "$W"; mkdir -p "$W/www" "$W/tmp"; chmod 755 "$W" "$W/www"
printf 'hello\n' >"$W/www/6b"; chmod 644 "$W/www/6b"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
cat >"$W/backend.conf" <<EOC
worker_processes 1; worker_rlimit_nofile 16384; pid $W/backend.pid; error_log $W/backend-error.log warn;
events { worker_connections 8192; multi_accept on; }
http { access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 10000000; keepalive_timeout 120s;
  client_body_temp_path $W/tmp/b; proxy_temp_path $W/tmp/p; fastcgi_temp_path $W/tmp/f; uwsgi_temp_path $W/tmp/u; scgi_temp_path $W/tmp/s;
  types { } default_type application/octet-stream; server { listen 127.0.0.1:$BACKEND; root $W/www; } }
EOC
nginx -e "$W/backend-error.log" -c "$W/backend.conf" -g 'daemon off;' >/dev/null 2>&1 & PIDS+=($!)
"$BIN/yarphop/warren-yarphop" --port "$YARP" --backend "http://127.0.0.1:$BACKEND" >"$W/yarp.log" 2>&1 & PIDS+=($!)
declare -A PORT GROUP
NAMES=(yarp) PORT[yarp]=$YARP GROUP[yarp]=$!

routable() { # PORT: wait until web.bench answers 200 through it
  for _ in $(seq 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: web.bench' "http://127.0.0.1:$1/6b" || true) == 200 ]] && return 0
    sleep 0.1
  done
  return 1
}
start_edge() { # NAME EDGE AGENT BASEPORT: an edge with bench/run.sh's settings and an agent with one web service
  local name=$1 edge=$2 agent=$3 http=$(($4 + 10)) admin=$(($4 + 11)) agents=$(($4 + 12)) e g fp=""
  mkdir -p "$W/data-$name"
  cat >"$W/edge-$name.yaml" <<EOC
listen:
  http: 127.0.0.1:$http
  agents: 127.0.0.1:$agents
  admin: 127.0.0.1:$admin
data: $W/data-$name
tokens:
  - name: bench
    token: \${WARREN_BENCH_TOKEN}
    allow_hosts: ["*.bench"]
limits:
  max_request_body_size: 4GB
  max_connections: 20000
  max_connections_per_ip: 20000
  max_requests_per_ip_per_service: 100000
EOC
  "$edge" edge --config "$W/edge-$name.yaml" >"$W/edge-$name.log" 2>&1 & e=$!; PIDS+=($e)
  for _ in $(seq 200); do
    fp=$(grep -aoE 'SHA-256 [0-9a-fA-F]{64}' "$W/edge-$name.log" | awk '{print $2}' | tail -1 || true)
    [[ -n $fp ]] && break
    sleep 0.1
  done
  [[ -n $fp ]] || { echo "edge $name did not start:" >&2; cat "$W/edge-$name.log" >&2; exit 1; }
  cat >"$W/agent-$name.yaml" <<EOC
edge: 127.0.0.1:$agents
token: \${WARREN_BENCH_TOKEN}
edge_fingerprint: $fp
name: bench
services:
  - name: web
    hostnames: [web.bench]
    target: http://127.0.0.1:$BACKEND
    max_concurrency: 2048
EOC
  if [[ $agent == jit ]]; then
    "$BIN/warren/warren" agent --config "$W/agent-$name.yaml" >"$W/agent-$name.log" 2>&1 & g=$!
  else
    "$agent" --config "$W/agent-$name.yaml" >"$W/agent-$name.log" 2>&1 & g=$!
  fi
  PIDS+=($g)
  routable "$http" || { echo "$name: web.bench not routable:" >&2; cat "$W/edge-$name.log" "$W/agent-$name.log" >&2; exit 1; }
  NAMES+=("$name") PORT[$name]=$http GROUP[$name]="$e $g"
}
base=$((P + 20))
for spec in "${SPECS[@]}"; do
  name=${spec%%=*} rest=${spec#*=}
  edge=${rest%%,*} agent=$BIN/warren-agent/warren-agent
  [[ $rest == *,* ]] && agent=${rest#*,}
  [[ $name =~ ^[a-z0-9-]+$ && $name != yarp ]] || { echo "name '$name': lower-case letters, digits and -, not yarp" >&2; exit 2; }
  [[ -x $edge ]] || { echo "$name: $edge is not an executable" >&2; exit 1; }
  [[ $agent == jit || -x $agent ]] || { echo "$name: agent $agent is not an executable (or jit)" >&2; exit 1; }
  start_edge "$name" "$edge" "$agent" "$base"
  base=$((base + 20))
done

ticks() { local s=0 p; for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$s"; }
rss() { local s=0 p; for p in "$@"; do s=$((s + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status"))); done; echo $((s / 1024)); }
declare -A RSS_START
for t in "${NAMES[@]:1}"; do RSS_START[$t]=$(rss ${GROUP[$t]}); done
echo "warming each target for ${SETTLE} s at c$CONNS: ${NAMES[*]}"
for t in "${NAMES[@]}"; do wrk -t2 -c"$CONNS" -d"${SETTLE}s" -H 'Host: web.bench' "http://127.0.0.1:${PORT[$t]}/6b" >/dev/null; done
HZ=$(getconf CLK_TCK) K=${#NAMES[@]}
: >"$W/runs.txt"
for i in $(seq "$ROTATIONS"); do
  order=()
  for j in $(seq 0 $((K - 1))); do order+=("${NAMES[$(((i + j) % K))]}"); done
  ((i % 2)) || mapfile -t order < <(printf '%s\n' "${order[@]}" | tac)
  for t in "${order[@]}"; do
    # shellcheck disable=SC2086
    c0=$(ticks ${GROUP[$t]})
    out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -H 'Host: web.bench' "http://127.0.0.1:${PORT[$t]}/6b")
    # shellcheck disable=SC2086
    c1=$(ticks ${GROUP[$t]})
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    errors=$(awk '/Non-2xx|Socket errors/' <<<"$out" | tr -s ' ' | tr '\n' ' ')
    cpu=$(awk -v d="$((c1 - c0))" -v hz="$HZ" -v n="${n:-0}" 'BEGIN {printf "%.1f", (n > 0 ? d * 1000 / hz * 1000 / n : 0)}')
    echo "$i $t $rps $cpu${errors:+ $errors}" | tee -a "$W/runs.txt"
  done
done
echo
printf '%-12s %12s %16s %18s %14s %12s\n' target "req/s (med)" "ratio to YARP" "CPU ms/1k (med)" "RSS start MB" "RSS end MB"
for t in "${NAMES[@]}"; do
  read -r med ratio cpu < <(awk -v t="$t" '
    {r[$1 " " $2] = $3; c[$1 " " $2] = $4; if ($2 == t) {n++; rs[n] = $3; cs[n] = $4; rot[n] = $1}}
    function median(a, k,   i, j, x) { for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
      return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
    END { for (i = 1; i <= n; i++) q[i] = rs[i] / r[rot[i] " yarp"]; printf "%.0f %.2f %.1f\n", median(rs, n), median(q, n), median(cs, n) }' "$W/runs.txt")
  if [[ $t == yarp ]]; then start=- end=$(rss ${GROUP[yarp]}); else start=${RSS_START[$t]} end=$(rss ${GROUP[$t]}); fi
  printf '%-12s %12s %16s %18s %14s %12s\n' "$t" "$med" "$ratio" "$cpu" "$start" "$end"
done
[[ -n $COUNTERS ]] || exit 0

# Bytes allocated per request, per process: dotnet-counters' dotnet.gc.heap.total_allocated (reported as bytes per
# second) over 6 s in the middle of a 10 s c64 run, divided by the requests wrk counted in those seconds (its rate).
echo
printf '%-12s %12s %s\n' target "req/s" "bytes allocated per request, per process"
for t in "${NAMES[@]}"; do
  wrk -t2 -c"$CONNS" -d10s -H 'Host: web.bench' "http://127.0.0.1:${PORT[$t]}/6b" >"$W/alloc-$t.wrk" & w=$!
  sleep 2
  cps=()
  for p in ${GROUP[$t]}; do
    "$COUNTERS" collect -p "$p" --counters 'System.Runtime[dotnet.gc.heap.total_allocated]' --format csv -o "$W/alloc-$t-$p.csv" \
      --duration 00:00:00:06 >/dev/null 2>&1 & cps+=($!)
  done
  wait "${cps[@]}" "$w" || true
  rps=$(awk '/Requests\/sec/ {print $2}' "$W/alloc-$t.wrk")
  line=""
  for p in ${GROUP[$t]}; do
    # rows: timestamp,provider,counter,type,value; the first and last intervals may be partial: the middle ones count
    b=$(awk -F, -v rps="$rps" '/total_allocated/ {v[++n] = $NF} END {s = 0; k = 0; for (i = 2; i < n; i++) {s += v[i]; k++}
      if (k > 0 && rps > 0) printf "%.0f", s / k / rps; else printf "?"}' "$W/alloc-$t-$p.csv" 2>/dev/null || echo "?")
    line+=" $(tr '\0' ' ' <"/proc/$p/cmdline" | awk '{print $2 == "edge" ? "edge" : ($2 == "agent" || $1 ~ /warren-agent$/ ? "agent" : "hop")}') $b"
  done
  printf '%-12s %12s%s\n' "$t" "${rps%.*}" "$line"
done
