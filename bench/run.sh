#!/usr/bin/env bash
# End-to-end benchmark (issues 5 and 11): Warren beside the baselines a user would compare it with, all in one run,
# so every figure is read as a ratio within that run.
#
#   bash bench/run.sh                  full run: about 28 minutes on 2 cores; rewrites docs/benchmarks.md's
#                                      "End-to-end (N cores)" section and docs/benchmarks-concurrency-Ncores.svg
#   bash bench/run.sh --quick          3-5 minutes: 3 s per wrk run, short idle windows, 256 MB transfers; writes its
#                                      report to artifacts/bench/benchmarks.md only (quick figures are not results)
#   bash bench/run.sh --publish DIR    only publish warren, warren-agent, warren-loadtest and warren-yarphop into
#                                      DIR/{warren,warren-agent,loadtest,yarphop}
#   bash bench/run.sh --agent warren   run the agents as `warren agent` (the JIT-compiled all-in-one binary) instead of
#                                      warren-agent (the agent's own Native AOT binary, the default)
#   bash bench/run.sh --edge aot       run the edges as `warren` published with Native AOT (src/Warren.Cli with
#                                      PublishAot: not the release binary yet; docs/performance.md, "The edge compiled
#                                      ahead of time") instead of the release binary (--edge release, the default)
#   bash bench/run.sh --prebuilt [DIR] run with those published binaries instead of building (DIR defaults to .devicekit)
#   bash bench/run.sh --plan           print the core layout and every command line the run would start, then exit
#   bash bench/run.sh --policy         only the policy phase (issue 13): the policy step's cost at c64, printed and in
#                                      artifacts/bench/policy.md (with --quick: 3 s runs, not results)
#   bash bench/run.sh --idle           only the settled idle window (57 services, 7 min after start, 60 s measured)
#   bash bench/run.sh --cluster        only the cluster phase (issue 17): req/s through HAProxy (TCP mode) in front of
#                                      1, 2 and 3 edges sharing a real redis-server, one agent attached to every edge;
#                                      report in artifacts/bench/cluster.md (with --quick: 3 s runs, not results)
#
# On a machine without .NET or a package registry: `bash ../shared/tools/devicekit.sh` and
# `bash bench/run.sh --publish .devicekit` here, take the project with its .devicekit/ folder there, and run
# `bash bench/run.sh --prebuilt`. When .devicekit/env.sh exists it is sourced first (its .NET runtime, wrk, nginx and
# haproxy come first on PATH). Phases whose tools are missing (sshd, PostgreSQL, HAProxy) are skipped and reported so.
#
# Environment: WARREN_BENCH_CORES=N pretends the machine has N cores (for --plan), WARREN_BENCH_PORT (first port,
# default 18080), WARREN_BENCH_DIR (scratch folder, default /tmp/warren-bench).
#
# Everything listens on 127.0.0.1 (ports PORT..PORT+11 and PORT+363) except the Warren edge's TCP service, which
# the edge binds as any TCP service (all interfaces); traffic only ever goes to 127.0.0.1:
#   backend nginx :PORT    /6b (6 bytes), /64k (65536 bytes), /1g (sparse file; 1 GiB, 256 MiB with --quick)
#   backend Kestrel :+5    /ws WebSocket echo, /discard (reads and counts an upload)
#   PostgreSQL :+7         initdb cluster in the scratch folder, pgbench -i -s 1, started and stopped here
#   nginx one-hop :+1      keepalive upstream to the backend, /discard to Kestrel
#   YARP one-hop :+2       bench/Warren.YarpHop: IHttpForwarder with YARP's defaults (ws.bench goes to Kestrel)
#   ssh -R :+3             OpenSSH client forwarding sshd's :+3 to the backend, through a throwaway sshd on :+4
#                          (its own config, host key and user key in the scratch folder; no system sshd touched)
#   HAProxy :+6            TCP mode, to PostgreSQL: the L4 one-hop
#   warren edge :+10       HTTP, :+11 admin, :+363 agents (TLS, generated certificate); TCP services pg on :+8
#                          and webtcp on :+9
#   warren-agent           one session, pins the edge fingerprint; web.bench -> backend, ws.bench -> Kestrel,
#                          pg -> PostgreSQL, webtcp -> backend (HTTP bytes through a TCP service, beside ssh -R)
# With 8 or more cores, backends, load generators and the proxy under test run on separate cores (taskset): a
# quarter for backends, a quarter for load (wrk and pgbench threads scale to it), the rest for the proxy (nginx
# workers and HAProxy threads match it). Every process it starts is stopped by pid on exit, failure or Ctrl-C.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
ARGS=("$@")
QUICK=0 PLAN=0 PREBUILT="" PUBLISH="" CLUSTER=0 POLICY_ONLY=0 IDLE_ONLY=0 AGENT_BINARY=warren-agent EDGE_BINARY=release
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --cluster) CLUSTER=1 ;;
    --policy) POLICY_ONLY=1 ;;
    --idle) IDLE_ONLY=1 ;;
    --plan) PLAN=1 ;;
    --prebuilt) if [[ -n ${2:-} && $2 != --* ]]; then PREBUILT=$2; shift; else PREBUILT=.devicekit; fi ;;
    --publish) [[ -n ${2:-} ]] || { echo "--publish needs a folder" >&2; exit 2; }; PUBLISH=$2; shift ;;
    --agent) [[ ${2:-} == warren || ${2:-} == warren-agent ]] || { echo "--agent takes warren or warren-agent" >&2; exit 2; }
      AGENT_BINARY=$2; shift ;;
    --edge) [[ ${2:-} == release || ${2:-} == aot ]] || { echo "--edge takes release or aot" >&2; exit 2; }
      EDGE_BINARY=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[[ -z $PREBUILT || $PREBUILT == /* ]] || PREBUILT="$ROOT/$PREBUILT"
[[ -z $PUBLISH || $PUBLISH == /* ]] || PUBLISH="$ROOT/$PUBLISH"
COMMAND="bash bench/run.sh${ARGS[*]:+ ${ARGS[*]}}"
# shellcheck disable=SC1091
[[ -f $ROOT/.devicekit/env.sh ]] && source "$ROOT/.devicekit/env.sh"

publish() { # DIR: the four programs the run starts: warren and warren-agent as released, the other two framework-dependent
  local rid
  rid=$(dotnet --info | awk '$1 == "RID:" {print $2; exit}')
  # The trimmer warns about reflection over Warren's types, which the partial trim keeps (src/Warren.Cli/Warren.Cli.csproj).
  dotnet publish src/Warren.Cli -c Release -r "$rid" -p:ReleaseBinary=true -o "$1/warren" -nologo -v q -clp:ErrorsOnly
  # Native AOT: needs clang on this machine (the publish's link step), not on the one the run goes to.
  dotnet publish src/Warren.AgentCli -c Release -r "$rid" -o "$1/warren-agent" -nologo -v q -clp:ErrorsOnly
  # With --edge aot: warren compiled ahead of time as well (clang, lld and libsqlite3-dev on this machine).
  if [[ $EDGE_BINARY == aot ]]; then
    dotnet publish src/Warren.Cli -c Release -r "$rid" -p:PublishAot=true -o "$1/warren-aot" -nologo -v q -clp:ErrorsOnly
  fi
  dotnet publish bench/Warren.LoadTest -c Release -o "$1/loadtest" -nologo -v q
  dotnet publish bench/Warren.YarpHop -c Release -o "$1/yarphop" -nologo -v q
}
if [[ -n $PUBLISH ]]; then
  publish "$PUBLISH"
  echo "published into $PUBLISH; run there with: bash bench/run.sh --prebuilt ${PUBLISH#"$ROOT"/}" >&2
  exit 0
fi

if ((QUICK)); then
  DUR=3 WARM=1 IDLE_57=10 IDLE_OTHER=4 IDLE_SETTLE=0 WS_DUR=10 BULK_MB=256 AFTER_LOAD=15 SERVICE_COUNTS=(1 57)
else
  DUR=10 WARM=2 IDLE_57=60 IDLE_OTHER=10 IDLE_SETTLE=420 WS_DUR=30 BULK_MB=1024 AFTER_LOAD=60 SERVICE_COUNTS=(1 14 57 500)
fi
# Load a fresh edge and agent take before their hot path runs at full speed (tiered JIT and PGO finishing on 2 busy
# cores): the first 15-20 s of a fresh process ran at half speed in --quick runs, whatever DUR is.
SETTLE=20
LEVELS=(1 10 50 64 100 256 1000)
SSH_LEVELS=(1 64)
# The 6 B targets against the YARP hop are read from alternated pairs at these levels (PAIRS each, the order swapped
# from one pair to the next), not from one run each: this machine's pace drifts by a quarter over tens of minutes,
# which one Warren run and one YARP run minutes apart cannot tell from a difference between them.
PAIR_LEVELS=(64 256 1000)
PAIRS=3
PG_CLIENTS=(8 1)
WS_COUNT=2000
P=${WARREN_BENCH_PORT:-18080}
BACKEND=$P PROXY=$((P + 1)) YARP=$((P + 2)) SSH_FWD=$((P + 3)) SSHD_PORT=$((P + 4)) KESTREL=$((P + 5))
HAPROXY_PORT=$((P + 6)) PG_PORT=$((P + 7)) PG_EDGE=$((P + 8)) WEB_TCP_EDGE=$((P + 9))
EDGE_HTTP=$((P + 10)) EDGE_ADMIN=$((P + 11)) EDGE_AGENTS=$((P + 363))
ALL_PORTS=("$BACKEND" "$PROXY" "$YARP" "$SSH_FWD" "$SSHD_PORT" "$KESTREL" "$HAPROXY_PORT" "$PG_PORT" "$PG_EDGE" "$WEB_TCP_EDGE" "$EDGE_HTTP" "$EDGE_ADMIN" "$EDGE_AGENTS")
export WARREN_BENCH_TOKEN="bench-token-0123456789abcdef"
CLK_TCK=$(getconf CLK_TCK)
OUT="$ROOT/artifacts/bench"
RESULTS="$OUT/results.jsonl"
W=${WARREN_BENCH_DIR:-/tmp/warren-bench}
((PLAN)) && W=$(mktemp -d)

# ---------------------------------------------------------------- cores
# The CPUs this process may use (Cpus_allowed_list, e.g. "0-3,8-11"), or 0..N-1 when WARREN_BENCH_CORES pretends.
if [[ -n ${WARREN_BENCH_CORES:-} ]]; then
  [[ $WARREN_BENCH_CORES =~ ^[1-9][0-9]*$ ]] || { echo "WARREN_BENCH_CORES must be a whole number" >&2; exit 2; }
  mapfile -t CPUS < <(seq 0 $((WARREN_BENCH_CORES - 1)))
else
  CPUS=()
  IFS=, read -ra ranges < <(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status)
  for r in "${ranges[@]}"; do
    if [[ $r == *-* ]]; then mapfile -t -O "${#CPUS[@]}" CPUS < <(seq "${r%-*}" "${r#*-}"); else CPUS+=("$r"); fi
  done
fi
CORES=${#CPUS[@]}
csv() { local IFS=,; echo "$*"; }
PIN_backend=() PIN_load=() PIN_proxy=()
if ((CORES >= 8)); then
  PINNED=1 q=$((CORES / 4))
  N_BACKEND=$q N_LOAD=$q N_PROXY=$((CORES - 2 * q))
  PIN_backend=(taskset -c "$(csv "${CPUS[@]:0:q}")")
  PIN_load=(taskset -c "$(csv "${CPUS[@]:q:q}")")
  PIN_proxy=(taskset -c "$(csv "${CPUS[@]:2*q}")")
  LAYOUT="$CORES cores, pinned with taskset: backends on CPUs ${PIN_backend[2]}, load generators on ${PIN_load[2]}, the proxy under test on ${PIN_proxy[2]}"
else
  PINNED=0 N_LOAD=$CORES N_PROXY=$((CORES / 2 > 0 ? CORES / 2 : 1)) N_BACKEND=$((CORES / 2 > 0 ? CORES / 2 : 1))
  LAYOUT="$CORES cores, not pinned (fewer than 8): backends, load generators and proxies share every core"
fi
LAYOUT+="; wrk and pgbench threads up to $N_LOAD, nginx backend $N_BACKEND worker(s), nginx one-hop $N_PROXY worker(s), HAProxy $N_PROXY thread(s)"

# ---------------------------------------------------------------- processes
PIDS=()
declare -A STOPSIG=()
EDGE_PID="" AGENT_PID="" FINGERPRINT="" NGINX_PROXY_PID="" YARP_PID="" SSH_PID="" SSHD_PID="" HAPROXY_PID="" PG_PID=""
alive() { [[ -e /proc/$1 ]] && [[ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]]; }
forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
# stop_pid PID: its stop signal (TERM unless set), up to 5 s, then KILL; reaps it when it is our child; forgets it.
stop_pid() {
  kill -s "${STOPSIG[$1]:-TERM}" "$1" 2>/dev/null || true
  for _ in $(seq 25); do alive "$1" || break; sleep 0.2; done
  if alive "$1"; then kill -9 "$1" 2>/dev/null || true; fi
  wait "$1" 2>/dev/null || true
  forget "$1"
}
# tree_pids PID...: those still running and all their descendants, as "pid:starttime" (so a reused pid is not taken
# for one of ours later).
tree_pids() {
  local -A kids=() start=()
  local f line pid fields
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    pid=${line%% *}
    read -ra fields <<<"${line##*) }"
    kids[${fields[1]}]+=" $pid"
    start[$pid]=${fields[19]}
  done
  local -a queue=("$@") out=()
  while ((${#queue[@]})); do
    pid=${queue[0]}
    queue=("${queue[@]:1}")
    [[ -n $pid && -n ${start[$pid]:-} ]] || continue
    out+=("$pid:${start[$pid]}")
    read -ra fields <<<"${kids[$pid]:-}"
    queue+=("${fields[@]}")
  done
  echo "${out[*]}"
}
pids_of_tree() { local e out=(); for e in $(tree_pids "$@"); do out+=("${e%%:*}"); done; echo "${out[*]}"; }
tree_csv() { local p; p=$(pids_of_tree "$@"); echo "${p// /,}"; }
cleanup() {
  set +e
  trap - INT TERM ERR
  local tree p e line fields
  tree=$(tree_pids "${PIDS[@]}")
  for p in "${PIDS[@]}"; do kill -s "${STOPSIG[$p]:-TERM}" "$p" 2>/dev/null; done
  # Up to 5 s for all of them together, then KILL what is left.
  for _ in $(seq 25); do
    local left=0
    for p in "${PIDS[@]}"; do alive "$p" && left=1 && break; done
    ((left)) || break
    sleep 0.2
  done
  for p in "${PIDS[@]}"; do
    alive "$p" && kill -9 "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  # Whatever outlived its parent (an sshd session, a PostgreSQL backend), if it is still the same process.
  for e in $tree; do
    p=${e%%:*}
    { read -r line <"/proc/$p/stat"; } 2>/dev/null || continue
    read -ra fields <<<"${line##*) }"
    [[ ${fields[19]} == "${e#*:}" ]] && kill -9 "$p" 2>/dev/null
  done
  ((PLAN)) && rm -rf "$W"
}
trap cleanup EXIT
set -E # the ERR trap below also fires inside functions
trap 'echo "bench/run.sh: line $LINENO failed (status $?): $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM
log() { printf '\n== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }
# show ROLE NAME: one line of --plan's listing, CMD quoted only where a shell needs it.
show() {
  local w words=()
  for w in "${CMD[@]}"; do if [[ $w =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then words+=("$w"); else words+=("'$w'"); fi; done
  printf '  %-7s %-11s %s\n' "$1" "$2" "${words[*]}"
}
# pinned ROLE CMD...: CMD=(taskset for ROLE's cores, CMD...)
pinned() { local -n pin="PIN_$1"; shift; CMD=("${pin[@]}" "$@"); }
# launch ROLE NAME CMD...: CMD in the background on ROLE's cores, output to $W/NAME.log, pid in LAST_PID.
launch() {
  local role=$1 name=$2
  shift 2
  pinned "$role" "$@"
  if ((PLAN)); then show "$role" "$name"; LAST_PID=0; return 0; fi
  "${CMD[@]}" >"$W/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
# run ROLE OUTFILE CMD...: CMD on ROLE's cores, waited for in a way Ctrl-C interrupts at once; output to OUTFILE.
run() {
  local role=$1 outfile=$2 p rc=0
  shift 2
  pinned "$role" "$@"
  if ((PLAN)); then show "$role" "(runs)"; return 0; fi
  "${CMD[@]}" >"$outfile" 2>&1 &
  p=$!
  PIDS+=("$p")
  wait "$p" || rc=$?
  forget "$p"
  return "$rc"
}
# wait_http URL HOST TRIES: until it answers 200; wait_status URL HOST STATUS TRIES: until it answers STATUS (every 0.1 s).
wait_http() { wait_status "$1" "$2" 200 "$3"; }
wait_status() {
  ((PLAN)) && return 0
  for _ in $(seq "$4"); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $2" "$1" || true)" == "$3" ]] && return 0
    sleep 0.1
  done
  echo "no $3 from $1 (Host: $2)" >&2
  return 1
}
# pause SECONDS: sleep in a way a TERM sent to this script interrupts at once (bash runs traps only between commands).
pause() {
  sleep "$1" &
  local p=$!
  PIDS+=("$p")
  wait "$p" || true
  forget "$p"
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- measuring processes
# A group is "name:pid,pid,...": CPU is the sum of utime + stime, memory the sum of VmRSS (shared pages count in
# each process, so a multi-process baseline is if anything over-counted).
cpu_ms() {
  local line f
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || { echo 0; return; }
  read -ra f <<<"${line##*) }"
  echo $(((f[11] + f[12]) * 1000 / CLK_TCK))
}
group_cpu() { local p sum=0 pids=${1#*:}; for p in ${pids//,/ }; do sum=$((sum + $(cpu_ms "$p"))); done; echo "$sum"; }
# group_rss VAR GROUP: VAR = summed VmRSS in KiB (no forks: the sampler runs this 5 times a second).
group_rss() {
  local -n _sum=$1
  local _p _k _v _rest _pids=${2#*:}
  _sum=0
  for _p in ${_pids//,/ }; do
    { while read -r _k _v _rest; do [[ $_k == VmRSS: ]] && { _sum=$((_sum + _v)); break; }; done <"/proc/$_p/status"; } 2>/dev/null || true
  done
}
# groups_of TARGET: the groups whose cost a run through TARGET measures (none for direct).
groups_of() {
  case $1 in
    nginx) echo "nginx:$(tree_csv "$NGINX_PROXY_PID")" ;;
    yarp) echo "yarp:$YARP_PID" ;;
    warren | warren-tcp) echo "edge:$EDGE_PID agent:$AGENT_PID" ;;
    ssh) echo "ssh:$SSH_PID sshd:$(tree_csv "$SSHD_PID")" ;;
    haproxy) echo "haproxy:$HAPROXY_PID" ;;
    *) echo "" ;;
  esac
}
# sampler FILE GROUP...: peak VmRSS of each group every 0.2 s; written to FILE as "name kb" lines when TERM comes.
sampler() {
  local file=$1 g name v
  shift
  local -A peak=()
  trap 'for name in "${!peak[@]}"; do echo "$name ${peak[$name]}"; done >"$file"; exit 0' TERM
  while :; do
    for g in "$@"; do
      name=${g%%:*}
      group_rss v "$g"
      ((v > ${peak[$name]:-0})) && peak[$name]=$v
    done
    sleep 0.2
  done
}
# measure_begin GROUP...; (the load); measure_end: sets M_JSON to ',"procs":{"name":{"cpu_ms":N,"rss_kb":N},...}'
# with the CPU each group used in between and its peak RSS (empty without groups).
measure_begin() {
  M_GROUPS=("$@") M_CPU0=() M_SAMPLER=""
  ((PLAN || $# == 0)) && return 0
  local g
  for g in "$@"; do M_CPU0+=("$(group_cpu "$g")"); done
  : >"$W/rss-peak"
  sampler "$W/rss-peak" "$@" &
  M_SAMPLER=$!
  PIDS+=("$M_SAMPLER")
}
measure_end() {
  M_JSON=""
  ((PLAN || ${#M_GROUPS[@]} == 0)) && return 0
  local i name kb cpus=() parts=()
  for i in "${!M_GROUPS[@]}"; do cpus+=($(($(group_cpu "${M_GROUPS[i]}") - M_CPU0[i]))); done
  stop_pid "$M_SAMPLER"
  local -A peak=()
  while read -r name kb; do peak[$name]=$kb; done <"$W/rss-peak"
  for i in "${!M_GROUPS[@]}"; do
    name=${M_GROUPS[i]%%:*}
    parts+=("$(printf '"%s":{"cpu_ms":%d,"rss_kb":%d}' "$name" "${cpus[i]}" "${peak[$name]:-0}")")
  done
  M_JSON=",\"procs\":{$(csv "${parts[@]}")}"
}
# rss_record WHEN GROUP...: one "rss" line with each group's VmRSS now (and RSS_EXTRA's fields, once).
rss_record() {
  local when=$1 g v parts=()
  shift
  for g in "$@"; do group_rss v "$g"; parts+=("\"${g%%:*}\":$v"); done
  printf '{"kind":"rss","when":"%s"%s,"rss_kb":{%s}}\n' "$when" "${RSS_EXTRA:-}" "$(csv "${parts[@]}")" | tee -a "$RESULTS" >&2
  RSS_EXTRA=""
}

# ---------------------------------------------------------------- tools
# apt_install PKG...: best effort (a machine with no registry keeps what it has); services the packages would start
# at install (sshd, PostgreSQL's main cluster) are held back with a policy-rc.d for the install's duration.
apt_install() {
  command -v apt-get >/dev/null && ((EUID == 0)) || return 0
  local policy=/usr/sbin/policy-rc.d made=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; made=1; fi
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >"$OUT/apt.log" 2>&1 ||
    echo "warning: apt-get install $* failed (see $OUT/apt.log); phases needing them are skipped" >&2
  ((made)) && rm -f "$policy"
  return 0
}
find_pg_bin() { # the folder holding initdb and postgres
  local d
  d=$(dirname "$(command -v initdb 2>/dev/null || true)")
  [[ -x $d/initdb && -x $d/postgres ]] && { echo "$d"; return; }
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [[ -n $d && -x $d/initdb ]]; then echo "$d"; fi
}
mkdir -p "$OUT"
if ((!PLAN)); then
  log "Tools"
  missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || missing+=(nginx-light)
  command -v curl >/dev/null || missing+=(curl)
  command -v haproxy >/dev/null || missing+=(haproxy)
  if ((CLUSTER)); then
    command -v redis-server >/dev/null || missing+=(redis-server)
  else
    { command -v sshd >/dev/null || [[ -x /usr/sbin/sshd ]]; } || missing+=(openssh-server)
    command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
    { [[ -n $(find_pg_bin) ]] && command -v pgbench >/dev/null; } || missing+=(postgresql postgresql-client)
  fi
  ((${#missing[@]})) && apt_install "${missing[@]}"
  for t in wrk nginx curl; do command -v "$t" >/dev/null || { echo "$t is required and could not be installed" >&2; exit 1; }; done
  if ((CLUSTER)); then
    for t in haproxy redis-server; do command -v "$t" >/dev/null || { echo "$t is required for --cluster and could not be installed" >&2; exit 1; }; done
  fi
fi
SSHD_BIN=$(command -v sshd || echo /usr/sbin/sshd)
HAVE_SSH=0 HAVE_PG=0 HAVE_HAPROXY=0
[[ -x $SSHD_BIN ]] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null && ((EUID == 0)) && HAVE_SSH=1
PG_BIN=$(find_pg_bin || true)
[[ -n $PG_BIN ]] && command -v pgbench >/dev/null && { ((EUID != 0)) || id postgres >/dev/null 2>&1; } && HAVE_PG=1
command -v haproxy >/dev/null && HAVE_HAPROXY=1
((PLAN)) && HAVE_SSH=1 HAVE_PG=1 HAVE_HAPROXY=1

if ((!PLAN)); then
  if [[ -n $PREBUILT ]]; then
    log "Prebuilt binaries from $PREBUILT"
  else
    log "Build (Release)"
    publish "$OUT"
    PREBUILT=$OUT
  fi
fi
WARREN="${PREBUILT:-$OUT}/warren/warren"
[[ $EDGE_BINARY == aot ]] && WARREN="${PREBUILT:-$OUT}/warren-aot/warren"
# The agent every phase starts: warren-agent, the agent's own binary, as an agent host would run it; `warren agent`
# with --agent warren.
if [[ $AGENT_BINARY == warren ]]; then AGENT=("$WARREN" agent); else AGENT=("${PREBUILT:-$OUT}/warren-agent/warren-agent"); fi
LOADTEST="${PREBUILT:-$OUT}/loadtest/warren-loadtest"
YARPHOP="${PREBUILT:-$OUT}/yarphop/warren-yarphop"
if ((!PLAN)); then
  for b in "$WARREN" "${AGENT[0]}" "$LOADTEST" "$YARPHOP"; do [[ -x $b ]] || { echo "missing $b (publish it with --publish DIR)" >&2; exit 1; }; done
  for p in "${ALL_PORTS[@]}"; do
    port_open "$p" && { echo "port $p is in use (another benchmark?); pick other ports with WARREN_BENCH_PORT" >&2; exit 1; }
  done
  # 2,000 WebSockets need ~2,000 descriptors in each of client, edge, agent and backend: raise the soft limit as far
  # as the hard limit allows (containers often cap it).
  hard=$(ulimit -Hn)
  [[ $hard == unlimited ]] && hard=65536
  ulimit -n $((hard < 65536 ? hard : 65536))
  ((hard >= 8192)) || echo "warning: open-file limit $hard is too low for $WS_COUNT WebSockets" >&2
  rm -rf "$W"
fi
mkdir -p "$W/www" "$W/tmp" "$W/edge-data"
chmod 755 "$W" "$W/www"
((PLAN)) || : >"$RESULTS"
printf 'hello\n' >"$W/www/6b"
head -c 65536 /dev/urandom >"$W/www/64k"
truncate -s "${BULK_MB}M" "$W/www/1g" # sparse: served from the page cache, so disks do not set the pace
chmod 644 "$W/www/"*

# ---------------------------------------------------------------- configs and launchers
cat >"$W/wrk-report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests":%d,"duration_us":%d,"bytes":%d,"mean_us":%.1f,"p50_us":%d,"p99_us":%d,"max_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency.mean, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
EOF
nginx_conf() { # name, workers, server block
  cat >"$W/$1.conf" <<EOF
worker_processes $2;
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
  $3
}
EOF
}
nginx_conf backend "$N_BACKEND" "server { listen 127.0.0.1:$BACKEND; root $W/www; }"
# proxy_max_temp_file_size 0: a 1 GiB response streams through memory buffers instead of a temp file on disk.
nginx_conf proxy "$N_PROXY" "upstream backend { server 127.0.0.1:$BACKEND; keepalive 1024; }
  upstream kestrel { server 127.0.0.1:$KESTREL; keepalive 64; }
  proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_max_temp_file_size 0;
  server { listen 127.0.0.1:$PROXY;
    location / { proxy_pass http://backend; }
    location /discard { proxy_pass http://kestrel; proxy_request_buffering off; client_max_body_size 0; } }"
cat >"$W/haproxy.cfg" <<EOF
global
  nbthread $N_PROXY
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen pg
  bind 127.0.0.1:$HAPROXY_PORT
  server pg 127.0.0.1:$PG_PORT
EOF
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
    allow_ports: [$PG_EDGE, $WEB_TCP_EDGE]
limits:
  max_request_body_size: 4GB
  max_connections: 20000
  # All load comes from 127.0.0.1, as it would through one load balancer: the per-client limits (docs/security.md)
  # would queue and refuse it as one abusive client. Raised as that deployment would raise them.
  max_connections_per_ip: 20000
  max_requests_per_ip_per_service: 100000
  max_tcp_connections_per_ip: 20000
  max_tcp_connections_per_service: 20000
EOF
start_edge() { # [CONFIG]: edge.yaml unless another is named
  launch proxy edge "$WARREN" edge --config "${1:-$W/edge.yaml}"
  EDGE_PID=$LAST_PID
  ((PLAN)) && { FINGERPRINT="(from the edge's log)"; return 0; }
  for _ in $(seq 150); do
    FINGERPRINT=$(grep -oE 'SHA-256 [0-9a-fA-F]{64}' "$W/edge.log" | awk '{print $2}' | tail -1 || true)
    [[ -n "$FINGERPRINT" ]] && return 0
    alive "$EDGE_PID" || break
    sleep 0.1
  done
  echo "the edge did not start:" >&2
  cat "$W/edge.log" >&2
  exit 1
}
agent_yaml() { # file, services yaml
  cat >"$1" <<EOF
edge: 127.0.0.1:$EDGE_AGENTS
token: \${WARREN_BENCH_TOKEN}
edge_fingerprint: $FINGERPRINT
name: bench
connections: 1
services:
$2
EOF
}
fresh_edge_yaml() { # NAME: edge.yaml with an empty data directory of its own, as $W/edge-NAME.yaml
  rm -rf "$W/edge-data-$1"
  sed "s|^data: .*|data: $W/edge-data-$1|" "$W/edge.yaml" >"$W/edge-$1.yaml"
}
services_yaml() { # N: services s1.bench .. sN.bench, all to the nginx backend
  local i
  for i in $(seq "$1"); do
    printf '  - name: s%d\n    hostnames: [s%d.bench]\n    target: http://127.0.0.1:%d\n' "$i" "$i" "$BACKEND"
  done
}
start_main_agent() { # NAME: the agent of the load runs, as NAME.log
  agent_yaml "$W/agent.yaml" "  - name: web
    hostnames: [web.bench]
    target: http://127.0.0.1:$BACKEND
    max_concurrency: 2048
  - name: ws
    hostnames: [ws.bench]
    target: http://127.0.0.1:$KESTREL
    max_concurrency: 4096
  - name: pg
    port: $PG_EDGE
    target: tcp://127.0.0.1:$PG_PORT
    max_concurrency: 64
  - name: webtcp
    port: $WEB_TCP_EDGE
    target: tcp://127.0.0.1:$BACKEND
    max_concurrency: 2048"
  launch proxy "$1" "${AGENT[@]}" --config "$W/agent.yaml"
  AGENT_PID=$LAST_PID
}
# as_postgres CMD...: PostgreSQL refuses to run as root.
as_postgres() { if ((EUID == 0)); then CMD=(setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"); else CMD=("$@"); fi; }
start_postgres() {
  mkdir -p "$W/pg" "$W/pgsock"
  ((EUID != 0 || PLAN)) || chown postgres: "$W/pg" "$W/pgsock"
  as_postgres "$PG_BIN/initdb" -D "$W/pg" -U postgres --auth=trust --no-sync -E UTF8
  run backend "$W/initdb.log" "${CMD[@]}" || { cat "$W/initdb.log" >&2; return 1; }
  as_postgres "$PG_BIN/postgres" -D "$W/pg" -h 127.0.0.1 -p "$PG_PORT" -k "$W/pgsock" -c fsync=off \
    -c synchronous_commit=off -c max_connections=100 -c shared_buffers=64MB
  launch backend postgres "${CMD[@]}"
  PG_PID=$LAST_PID
  STOPSIG[$PG_PID]=INT # fast shutdown
  ((PLAN)) && return 0
  for _ in $(seq 300); do port_open "$PG_PORT" && break; alive "$PG_PID" || break; sleep 0.1; done
  run load "$W/pgbench-init.log" pgbench -i -q -s 1 -h 127.0.0.1 -p "$PG_PORT" -U postgres postgres ||
    { cat "$W/postgres.log" "$W/pgbench-init.log" >&2; return 1; }
}
start_ssh() {
  local s=$W/ssh
  mkdir -p "$s"
  chmod 700 "$s"
  if ((!PLAN)); then
    ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$s/host_key"
    ssh-keygen -q -t ed25519 -N '' -C bench-user -f "$s/user_key"
    cp "$s/user_key.pub" "$s/authorized_keys"
    echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$s/host_key.pub")" >"$s/known_hosts"
    mkdir -p /run/sshd # the privilege-separation folder sshd insists on
  fi
  cat >"$s/sshd_config" <<EOF
ListenAddress 127.0.0.1:$SSHD_PORT
HostKey $s/host_key
PidFile $s/sshd.pid
AuthorizedKeysFile $s/authorized_keys
AllowUsers $(id -un)
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding remote
GatewayPorts no
X11Forwarding no
PrintMotd no
LogLevel ERROR
EOF
  launch proxy sshd "$SSHD_BIN" -D -e -f "$s/sshd_config"
  SSHD_PID=$LAST_PID
  ((PLAN)) || for _ in $(seq 100); do port_open "$SSHD_PORT" && break; alive "$SSHD_PID" || break; sleep 0.1; done
  launch proxy ssh ssh -N -T -F /dev/null -i "$s/user_key" -p "$SSHD_PORT" -o BatchMode=yes -o ExitOnForwardFailure=yes \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$s/known_hosts" -o GlobalKnownHostsFile=/dev/null \
    -R "127.0.0.1:$SSH_FWD:127.0.0.1:$BACKEND" "$(id -un)@127.0.0.1"
  SSH_PID=$LAST_PID
  wait_http "http://127.0.0.1:$SSH_FWD/6b" web.bench 150 || { cat "$W/sshd.log" "$W/ssh.log" >&2; return 1; }
}

url_of() {
  case "$1" in
    direct) echo "http://127.0.0.1:$BACKEND" ;;
    nginx) echo "http://127.0.0.1:$PROXY" ;;
    yarp) echo "http://127.0.0.1:$YARP" ;;
    ssh) echo "http://127.0.0.1:$SSH_FWD" ;;
    warren) echo "http://127.0.0.1:$EDGE_HTTP" ;;
    warren-tcp) echo "http://127.0.0.1:$WEB_TCP_EDGE" ;;
  esac
}
# run_wrk PHASE TARGET CONNS PATH SECONDS [record=1]: one wrk run, with the CPU and peak RSS of the target's processes.
run_wrk() {
  local phase=$1 target=$2 c=$3 path=$4 secs=$5 record=${6:-1} json
  local t=$((c < N_LOAD ? c : N_LOAD))
  # shellcheck disable=SC2046
  measure_begin $(groups_of "$target")
  run load "$W/wrk.out" wrk -t"$t" -c"$c" -d"${secs}s" --latency -s "$W/wrk-report.lua" -H "Host: ${WRK_HOST:-web.bench}" "$(url_of "$target")$path" || true
  measure_end
  ((PLAN)) && return 0
  json=$(grep '^WRK ' "$W/wrk.out" | sed 's/^WRK //' || true)
  [[ -z "$json" ]] && { echo "wrk failed: $(cat "$W/wrk.out")" >&2; json='{"requests":0,"duration_us":1}'; }
  if ((record)); then
    printf '{"kind":"wrk","phase":"%s","target":"%s","conns":%d%s,"wrk":%s}\n' "$phase" "$target" "$c" "$M_JSON" "$json" >>"$RESULTS"
    printf '%-5s %-7s c=%-5d %s\n' "$phase" "$target" "$c" "$json" >&2
  fi
}
# bulk DIRECTION TARGET: one BULK_MB transfer with curl (download from nginx, upload to Kestrel's /discard).
bulk() {
  local dir=$1 target=$2 url host=web.bench code bytes secs
  url=$(url_of "$target")
  if [[ $dir == upload ]]; then
    host=ws.bench
    [[ $target == direct ]] && url="http://127.0.0.1:$KESTREL"
  fi
  # shellcheck disable=SC2046
  measure_begin $(groups_of "$target")
  if [[ $dir == download ]]; then
    run load "$W/curl.out" curl -s -o /dev/null -H "Host: $host" -w '%{http_code} %{size_download} %{time_total}' "$url/1g" || true
  else
    run load "$W/curl.out" curl -s -o /dev/null -H "Host: $host" -H 'Expect:' -T "$W/www/1g" -w '%{http_code} %{size_upload} %{time_total}' "$url/discard" || true
  fi
  measure_end
  ((PLAN)) && return 0
  read -r code bytes secs <"$W/curl.out" || true
  printf '{"kind":"bulk","dir":"%s","target":"%s","status":%d,"bytes":%s,"seconds":%s%s}\n' "$dir" "$target" "${code:-0}" "${bytes:-0}" "${secs:-0}" "$M_JSON" | tee -a "$RESULTS" >&2
}
# pg_bench TARGET CLIENTS SECONDS [record=1]: pgbench -S (select only) through TARGET.
pg_bench() {
  local target=$1 c=$2 secs=$3 record=${4:-1} port tps lat failed tx
  case $target in direct) port=$PG_PORT ;; haproxy) port=$HAPROXY_PORT ;; warren) port=$PG_EDGE ;; esac
  # shellcheck disable=SC2046
  measure_begin $(groups_of "$target")
  run load "$W/pgbench.out" pgbench -S -n -c "$c" -j $((c < N_LOAD ? c : N_LOAD)) -T "$secs" -h 127.0.0.1 -p "$port" -U postgres postgres || true
  measure_end
  ((PLAN || !record)) && return 0
  tps=$(awk '/^tps = / {print $3; exit}' "$W/pgbench.out")
  lat=$(awk '/^latency average = / {print $4; exit}' "$W/pgbench.out")
  failed=$(awk '/^number of failed transactions: / {print $5; exit}' "$W/pgbench.out")
  tx=$(awk '/^number of transactions actually processed: / {print $6; exit}' "$W/pgbench.out")
  [[ -n $tps ]] || echo "pgbench through $target failed: $(tail -5 "$W/pgbench.out")" >&2
  printf '{"kind":"pgbench","target":"%s","clients":%d,"tps":%s,"latency_ms":%s,"failed":%s,"transactions":%s%s}\n' \
    "$target" "$c" "${tps:-0}" "${lat:-0}" "${failed:-0}" "${tx:-0}" "$M_JSON" | tee -a "$RESULTS" >&2
}

# ---------------------------------------------------------------- cluster (--cluster only)
# Issue 17: req/s of 6-byte responses through HAProxy (TCP mode, round robin over connections) in front of 1, 2 and 3
# edges of one cluster (a real redis-server, no persistence), one agent with a session to every edge. Each edge count
# gets fresh edges, agent and HAProxy, warmed for SETTLE seconds (DUR with --quick), then one run of DUR seconds at
# c$CL_CONNS. Edges and the agent run on the proxy cores, HAProxy and wrk on the load cores, nginx and Redis on the
# backend cores.
CL_CONNS=64 CL_LB=$((P + 20)) CL_REDIS=$((P + 21))
cl_port() { echo $((P + 30 + 10 * $1 + $2)); } # EDGE(1-3) KIND(0 http, 1 agents, 2 admin, 3 peers)
cl_fingerprint() { # LOG: the agent certificate's fingerprint the edge logs at start
  local f
  for _ in $(seq 150); do
    f=$(grep -oE 'SHA-256 [0-9a-fA-F]{64}' "$1" | awk '{print $2}' | tail -1 || true)
    [[ -n $f ]] && { echo "$f"; return 0; }
    sleep 0.1
  done
  echo "no fingerprint in $1:" >&2
  cat "$1" >&2
  return 1
}
cluster_phase() {
  local n i k fp edges_yaml servers pids=() settle=$SETTLE json
  ((QUICK)) && settle=$DUR
  export WARREN_CLUSTER_SECRET="bench-cluster-secret-0123456789abcdef"
  if ((!PLAN)); then
    for n in "$CL_LB" "$CL_REDIS" $(for i in 1 2 3; do for k in 0 1 2 3; do cl_port "$i" "$k"; done; done); do
      port_open "$n" && { echo "port $n is in use; pick other ports with WARREN_BENCH_PORT" >&2; exit 1; }
    done
  fi
  launch backend nginx-backend nginx -e "$W/backend-error.log" -c "$W/backend.conf" -g 'daemon off;'
  mkdir -p "$W/redis"
  launch backend redis redis-server --port "$CL_REDIS" --bind 127.0.0.1 --save "" --appendonly no --dir "$W/redis" --daemonize no
  wait_http "http://127.0.0.1:$BACKEND/6b" x 100
  ((PLAN)) || for _ in $(seq 100); do port_open "$CL_REDIS" && break; sleep 0.1; done
  ((PLAN)) || : >"$OUT/cluster-results.jsonl"
  for n in 1 2 3; do
    log "Cluster: $n edge(s) behind HAProxy, ${DUR} s at c$CL_CONNS"
    pids=() edges_yaml="" servers=""
    for i in $(seq "$n"); do
      mkdir -p "$W/cluster-e$i"
      # The main edge.yaml's tokens and limits, this edge's listeners, data folder and cluster.
      { sed -n '/^tokens:/,$p' "$W/edge.yaml"
        printf 'listen:\n  http: 127.0.0.1:%d\n  https:\n  agents: 127.0.0.1:%d\n  admin: 127.0.0.1:%d\ndata: %s\n' \
          "$(cl_port "$i" 0)" "$(cl_port "$i" 1)" "$(cl_port "$i" 2)" "$W/cluster-e$i"
        # shellcheck disable=SC2016 # ${WARREN_CLUSTER_SECRET} is for the edge to expand
        printf 'cluster:\n  redis: 127.0.0.1:%d\n  name: e%d\n  secret: ${WARREN_CLUSTER_SECRET}\n  listen: 127.0.0.1:%d\n' \
          "$CL_REDIS" "$i" "$(cl_port "$i" 3)"; } >"$W/cluster-e$i.yaml"
      launch proxy "cluster-e$i" "$WARREN" edge --config "$W/cluster-e$i.yaml"
      pids+=("$LAST_PID")
      fp="(from the edge's log)"
      ((PLAN)) || fp=$(cl_fingerprint "$W/cluster-e$i.log")
      edges_yaml+="  - edge: 127.0.0.1:$(cl_port "$i" 1)
    edge_fingerprint: $fp
"
      servers+="  server e$i 127.0.0.1:$(cl_port "$i" 0)
"
    done
    cat >"$W/cluster-agent.yaml" <<EOF
token: \${WARREN_BENCH_TOKEN}
name: bench
connections: 1
edges:
$edges_yaml
services:
  - name: web
    hostnames: [web.bench]
    target: http://127.0.0.1:$BACKEND
    max_concurrency: 2048
EOF
    launch proxy "cluster-agent-$n" "${AGENT[@]}" --config "$W/cluster-agent.yaml"
    pids+=("$LAST_PID")
    cat >"$W/cluster-haproxy.cfg" <<EOF
global
  nbthread $((N_LOAD / 2 > 0 ? N_LOAD / 2 : 1))
  maxconn 4096
defaults
  mode tcp
  balance roundrobin
  timeout connect 5s
  timeout client 1h
  timeout server 1h
listen edges
  bind 127.0.0.1:$CL_LB
$servers
EOF
    launch load "cluster-haproxy-$n" haproxy -db -f "$W/cluster-haproxy.cfg"
    pids+=("$LAST_PID")
    for i in $(seq "$n"); do wait_http "http://127.0.0.1:$(cl_port "$i" 0)/6b" web.bench 300; done
    wait_http "http://127.0.0.1:$CL_LB/6b" web.bench 100
    run load "$W/wrk.out" wrk -t$((CL_CONNS < N_LOAD ? CL_CONNS : N_LOAD)) -c"$CL_CONNS" -d"${settle}s" -H "Host: web.bench" \
      "http://127.0.0.1:$CL_LB/6b" || true
    run load "$W/wrk.out" wrk -t$((CL_CONNS < N_LOAD ? CL_CONNS : N_LOAD)) -c"$CL_CONNS" -d"${DUR}s" --latency -s "$W/wrk-report.lua" \
      -H "Host: web.bench" "http://127.0.0.1:$CL_LB/6b" || true
    if ((!PLAN)); then
      json=$(grep '^WRK ' "$W/wrk.out" | sed 's/^WRK //' || true)
      [[ -n $json ]] || { echo "wrk failed: $(cat "$W/wrk.out")" >&2; json='{"requests":0,"duration_us":1}'; }
      printf '{"kind":"cluster","edges":%d,"conns":%d,"wrk":%s}\n' "$n" "$CL_CONNS" "$json" | tee -a "$OUT/cluster-results.jsonl" >&2
    fi
    ((PLAN)) || for i in "${pids[@]}"; do stop_pid "$i"; done # (--plan starts nothing: its pids are 0)
  done
  ((PLAN)) && return 0
  # The report: req/s per edge count and its ratio to one edge.
  local note=""
  ((QUICK)) && note=" (--quick: not results)"
  {
    echo "| edges | req/s | ratio to 1 edge | p99 ms | socket errors + non-2xx |"
    echo "| ---: | ---: | ---: | ---: | ---: |"
    awk '
      function field(name,   v) { v = $0; if (!sub(".*\"" name "\":", "", v)) return 0; sub(/[,}].*/, "", v); return v + 0 }
      {
        n = field("edges"); rps = field("requests") / (field("duration_us") / 1e6)
        if (n == 1) base = rps
        errors = field("err_connect") + field("err_read") + field("err_write") + field("err_status") + field("err_timeout")
        ratio = ""
        if (base > 0) ratio = sprintf("%.2f", rps / base)
        printf "| %d | %.0f | %s | %.2f | %d |\n", n, rps, ratio, field("p99_us") / 1000, errors
      }' "$OUT/cluster-results.jsonl"
    # shellcheck disable=SC2016 # backquotes for Markdown
    printf '\n`%s`. Layout: %s. HAProxy %s in TCP mode (round robin over connections), redis-server %s, c%d, %d s per run%s.\n' \
      "$COMMAND" "$LAYOUT" "$(haproxy -v 2>/dev/null | grep -oE 'version [0-9.]+' | head -1 | cut -d' ' -f2)" \
      "$(redis-server --version | grep -oE 'v=[0-9.]+' | cut -c3-)" "$CL_CONNS" "$DUR" "$note"
  } >"$OUT/cluster.md"
  cat "$OUT/cluster.md"
  echo "Report: $OUT/cluster.md" >&2
}
# ---------------------------------------------------------------- the policy step's cost (run after the others)
# Issue 13: a request that passes a typical policy stack (an IP allow list, a rate limit that never trips, an API key
# in the query) may cost under 5 % of req/s against the same service without a policy. One edge and agent publish two
# services to the same backend, one with the policy and one without, so the two differ in the policy step alone and not
# in which fresh process ran them. Halfway through, the agent is reloaded (SIGHUP) with the policy moved to the other
# hostname, so no difference between the two hostnames is measured as the policy's; each half runs
# plain-policy-policy-plain, so a drift in speed across the phase falls on both alike (the report takes the median of
# the adjacent pairs' ratios). Both send the key, which the plain service ignores. `--policy` runs this phase alone.
policy_agent_yaml() { # FILE HOST: web.bench and policy.bench, the policy on HOST's service
  local h services=""
  for h in web policy; do
    services+="  - name: $h
    hostnames: [$h.bench]
    target: http://127.0.0.1:$BACKEND
    max_concurrency: 2048
"
    [[ $h == "$2" ]] && services+="    policy:
      ip: {allow: [127.0.0.1/32]}
      rate_limit: {per_ip: {requests: 1000000, per: 1s}}
      api_keys: {keys: [bench-policy-key], query: key}
"
  done
  agent_yaml "$1" "${services%$'\n'}"
}
policy_phase() {
  local guarded host mode
  log "Policy: 6 B at c64, one service with ip + rate_limit + api_keys and one without on one edge and agent, swapped halfway"
  start_edge
  policy_agent_yaml "$W/agent-policy.yaml" policy
  # env --default-signal=HUP: the agent reloads on SIGHUP even when this script runs with it ignored (nohup), which
  # the agent would inherit and keep.
  launch proxy agent-policy env --default-signal=HUP "${AGENT[@]}" --config "$W/agent-policy.yaml"
  AGENT_PID=$LAST_PID
  wait_http "http://127.0.0.1:$EDGE_HTTP/6b?key=bench-policy-key" web.bench 300
  wait_http "http://127.0.0.1:$EDGE_HTTP/6b?key=bench-policy-key" policy.bench 300
  for host in web policy; do WRK_HOST=$host.bench run_wrk warm warren 64 "/6b?key=bench-policy-key" "$SETTLE" 0; done
  for guarded in policy web; do
    if [[ $guarded == web ]]; then
      policy_agent_yaml "$W/agent-policy.yaml" web
      ((PLAN)) || kill -HUP "$AGENT_PID"
      # The reload is in force once web.bench asks for the key and policy.bench no longer does.
      wait_status "http://127.0.0.1:$EDGE_HTTP/6b" web.bench 401 300
      wait_http "http://127.0.0.1:$EDGE_HTTP/6b" policy.bench 300
      for host in web policy; do WRK_HOST=$host.bench run_wrk warm warren 64 "/6b?key=bench-policy-key" "$WARM" 0; done
    fi
    for host in web policy policy web; do
      mode=plain
      [[ $host == "$guarded" ]] && mode=policy
      WRK_HOST=$host.bench run_wrk "policy-$mode" warren 64 "/6b?key=bench-policy-key" "$DUR"
    done
  done
  stop_pid "$AGENT_PID"
  stop_pid "$EDGE_PID"
}

# ---------------------------------------------------------------- idle, settled (full runs and --idle; defined here, run at the end)
# The services phase's idle window starts 3 s after the services are routable, so it measures the tail of the start
# as much as idleness: for minutes after start the tiered JIT compiles, one by one, the methods that timers call, as
# they reach their call counts (docs/performance.md, "Idle"). This window is what a box that has sat idle pays: a fresh
# edge and agent with 57 services, left alone for IDLE_SETTLE seconds (7 min: after the promotions of what 1 s to 10 s
# timers call, before those of 30 s timers at 15 min), then measured for IDLE_57 seconds.
idle_settled_phase() {
  local e0 a0 e1 a1 re ra
  log "Idle, settled: 57 services, left alone ${IDLE_SETTLE} s, then ${IDLE_57} s measured"
  # A data directory of its own: with the shared one the edge restored the 504 services of the earlier phases, and
  # the console's sampler visits every known service each second (0.73 % of a core in the run that showed it).
  fresh_edge_yaml settled
  start_edge "$W/edge-settled.yaml"
  agent_yaml "$W/agent-settled.yaml" "$(services_yaml 57)"
  launch proxy agent-settled "${AGENT[@]}" --config "$W/agent-settled.yaml"
  AGENT_PID=$LAST_PID
  wait_http "http://127.0.0.1:$EDGE_HTTP/6b" s57.bench 300
  pause "$IDLE_SETTLE"
  e0=$(cpu_ms "$EDGE_PID") a0=$(cpu_ms "$AGENT_PID")
  pause "$IDLE_57"
  e1=$(cpu_ms "$EDGE_PID") a1=$(cpu_ms "$AGENT_PID") re=0 ra=0
  group_rss re "edge:$EDGE_PID"
  group_rss ra "agent:$AGENT_PID"
  ((PLAN)) || printf '{"kind":"idle_settled","n":57,"settled_s":%d,"idle_s":%d,"cpu_edge_ms":%d,"cpu_agent_ms":%d,"rss_edge_kb":%d,"rss_agent_kb":%d}\n' \
    "$IDLE_SETTLE" "$IDLE_57" $((e1 - e0)) $((a1 - a0)) "$re" "$ra" | tee -a "$RESULTS" >&2
  stop_pid "$AGENT_PID"
  stop_pid "$EDGE_PID"
}

if ((CLUSTER)); then
  ((PLAN)) && { echo "Layout: $LAYOUT"; echo "Processes it starts (role, name, command line):"; }
  cluster_phase
  exit 0
fi

if ((PLAN)); then
  echo "Layout: $LAYOUT"
  echo "Processes it starts (role, name, command line):"
  launch backend nginx-backend nginx -e "$W/backend-error.log" -c "$W/backend.conf" -g 'daemon off;'
  launch backend kestrel "$LOADTEST" backend --port "$KESTREL"
  start_postgres
  launch proxy nginx-proxy nginx -e "$W/proxy-error.log" -c "$W/proxy.conf" -g 'daemon off;'
  launch proxy yarphop "$YARPHOP" --port "$YARP" --backend "http://127.0.0.1:$BACKEND" --routes "ws.bench=http://127.0.0.1:$KESTREL"
  launch proxy haproxy haproxy -db -f "$W/haproxy.cfg"
  start_edge
  start_main_agent agent
  start_ssh
  echo "Load (one of each kind):"
  run_wrk conc warren 1 /6b "$DUR"
  run_wrk conc warren 1000 /6b "$DUR"
  bulk upload yarp
  pg_bench haproxy 8 "$DUR"
  pinned load "$LOADTEST" routable --port "$EDGE_HTTP" --count 57 -- "${PIN_proxy[@]}" "${AGENT[@]}" --config "$W/agent-57.yaml"
  show load "(runs)"
  exit 0
fi
echo "Layout: $LAYOUT" >&2
printf '{"kind":"layout","cores":%d,"pinned":%s,"text":"%s"}\n' "$CORES" "$PINNED" "$LAYOUT" >>"$RESULTS"

if ((IDLE_ONLY)); then
  launch backend nginx-backend nginx -e "$W/backend-error.log" -c "$W/backend.conf" -g 'daemon off;'
  wait_http "http://127.0.0.1:$BACKEND/6b" x 100
  IDLE_SETTLE=420 IDLE_57=60
  idle_settled_phase
  exit 0
fi
if ((POLICY_ONLY)); then
  launch backend nginx-backend nginx -e "$W/backend-error.log" -c "$W/backend.conf" -g 'daemon off;'
  wait_http "http://127.0.0.1:$BACKEND/6b" x 100
  policy_phase
  run load "$OUT/report.md" "$LOADTEST" report --results "$RESULTS" --doc-in docs/benchmarks.md --doc "$OUT/benchmarks.md" \
    --svg "$OUT/policy.svg" --svg-name policy.svg --levels 64 --command "$COMMAND" --setup "" --date "$(date -u '+%Y-%m-%d %H:%M UTC')"
  sed -n "/^### The policy step's cost/,/^Cost of/p" "$OUT/report.md" | tee "$OUT/policy.md"
  echo "Report: $OUT/policy.md" >&2
  exit 0
fi

# ---------------------------------------------------------------- backends and one-hop baselines
log "Backends and one-hop baselines"
launch backend nginx-backend nginx -e "$W/backend-error.log" -c "$W/backend.conf" -g 'daemon off;'
launch backend kestrel "$LOADTEST" backend --port "$KESTREL"
launch proxy nginx-proxy nginx -e "$W/proxy-error.log" -c "$W/proxy.conf" -g 'daemon off;'
NGINX_PROXY_PID=$LAST_PID
launch proxy yarphop "$YARPHOP" --port "$YARP" --backend "http://127.0.0.1:$BACKEND" --routes "ws.bench=http://127.0.0.1:$KESTREL"
YARP_PID=$LAST_PID
wait_http "http://127.0.0.1:$BACKEND/6b" x 100
wait_http "http://127.0.0.1:$PROXY/6b" x 100
wait_http "http://127.0.0.1:$KESTREL/" x 100
wait_http "http://127.0.0.1:$YARP/6b" web.bench 300

# ---------------------------------------------------------------- services, fresh edge and agent for each N
for N in "${SERVICE_COUNTS[@]}"; do
  log "Services: agent with $N services"
  # A data directory of its own: the services an earlier edge routed would be restored (grace.remember) and counted.
  fresh_edge_yaml "services-$N"
  start_edge "$W/edge-services-$N.yaml"
  agent_yaml "$W/agent-$N.yaml" "$(services_yaml "$N")"
  wait_http "http://127.0.0.1:$EDGE_ADMIN/healthz" x 100
  run load "$W/routable.out" "$LOADTEST" routable --port "$EDGE_HTTP" --count "$N" --path /6b --timeout 60 \
    --pidfile "$W/agent-$N.pid" --log "$W/agent-$N.log" -- "${PIN_proxy[@]}" "${AGENT[@]}" --config "$W/agent-$N.yaml"
  ms=$(tail -1 "$W/routable.out")
  AGENT_PID=$(cat "$W/agent-$N.pid")
  PIDS+=("$AGENT_PID")
  idle=$IDLE_OTHER
  ((N == 57)) && idle=$IDLE_57
  pause 3 # let start-up work (tiered JIT, first GCs) settle before measuring idle
  e0=$(cpu_ms "$EDGE_PID") a0=$(cpu_ms "$AGENT_PID")
  pause "$idle"
  e1=$(cpu_ms "$EDGE_PID") a1=$(cpu_ms "$AGENT_PID") re=0 ra=0
  group_rss re "edge:$EDGE_PID"
  group_rss ra "agent:$AGENT_PID"
  printf '{"kind":"services","n":%d,"routable_ms":%s,"idle_s":%d,"cpu_edge_ms":%d,"cpu_agent_ms":%d,"rss_edge_kb":%d,"rss_agent_kb":%d}\n' \
    "$N" "$ms" "$idle" $((e1 - e0)) $((a1 - a0)) "$re" "$ra" | tee -a "$RESULTS" >&2
  stop_pid "$AGENT_PID"
  stop_pid "$EDGE_PID"
done

# ---------------------------------------------------------------- the main edge + agent, and ssh -R
log "Edge and agent for the load runs"
start_edge
start_main_agent agent
wait_http "http://127.0.0.1:$EDGE_HTTP/6b" web.bench 300
wait_http "http://127.0.0.1:$EDGE_HTTP/" ws.bench 300
TARGETS=(direct nginx yarp warren)
BASELINE_GROUPS=("nginx:$(tree_csv "$NGINX_PROXY_PID")" "yarp:$YARP_PID")
if ((HAVE_SSH)); then
  log "ssh -R through a throwaway sshd on 127.0.0.1:$SSHD_PORT"
  if start_ssh; then
    BASELINE_GROUPS+=("ssh:$SSH_PID" "sshd:$(tree_csv "$SSHD_PID")")
  else
    echo "warning: the ssh -R tunnel did not come up; its runs are skipped" >&2
    HAVE_SSH=0
  fi
fi
pause 3 # as for the services: start-up work settles before the start size is taken
rss_record start "edge:$EDGE_PID" "agent:$AGENT_PID" "${BASELINE_GROUPS[@]}"

# ---------------------------------------------------------------- concurrency and bodies
log "Warm-up"
for target in "${TARGETS[@]}"; do
  case $target in yarp | warren) run_wrk warm "$target" 64 /6b "$SETTLE" 0 ;; *) run_wrk warm "$target" 64 /6b "$WARM" 0 ;; esac
done
((HAVE_SSH)) && run_wrk warm ssh 64 /6b "$WARM" 0
run_wrk warm warren-tcp 64 /6b "$WARM" 0
log "Concurrency: 6-byte body, ${DUR} s per run"
for c in "${LEVELS[@]}"; do
  for target in "${TARGETS[@]}"; do run_wrk conc "$target" "$c" /6b "$DUR"; done
  # ssh -R is a TCP tunnel: beside it, the same HTTP/1.1 bytes through a Warren TCP service (the edge splices them,
  # parsing no HTTP), so both kinds of tunnel are compared like for like as well as Warren's HTTP service.
  if [[ " ${SSH_LEVELS[*]} " == *" $c "* ]]; then
    ((HAVE_SSH)) && run_wrk conc ssh "$c" /6b "$DUR"
    run_wrk conc warren-tcp "$c" /6b "$DUR"
  fi
done
log "Alternated pairs: Warren and the YARP one-hop, $PAIRS pairs at each of $(csv "${PAIR_LEVELS[@]}") connections, ${DUR} s per run"
for c in "${PAIR_LEVELS[@]}"; do
  for i in $(seq "$PAIRS"); do
    if ((i % 2)); then order=(warren yarp); else order=(yarp warren); fi
    for target in "${order[@]}"; do run_wrk "pair$i" "$target" "$c" /6b "$DUR"; done
  done
done
log "64 KiB bodies at 64 connections"
for target in "${TARGETS[@]}"; do run_wrk 64k "$target" 64 /64k "$DUR"; done
log "Bulk: one ${BULK_MB} MiB download and upload"
for dir in download upload; do
  for target in "${TARGETS[@]}"; do bulk "$dir" "$target"; done
done

# ---------------------------------------------------------------- TCP: pgbench direct, HAProxy one-hop, Warren
if ((HAVE_PG)); then
  log "TCP: pgbench -S against PostgreSQL on 127.0.0.1:$PG_PORT, ${DUR} s per run"
  if start_postgres; then
    PG_TARGETS=(direct warren)
    if ((HAVE_HAPROXY)); then
      launch proxy haproxy haproxy -db -f "$W/haproxy.cfg"
      HAPROXY_PID=$LAST_PID
      for _ in $(seq 100); do port_open "$HAPROXY_PORT" && break; sleep 0.1; done
      PG_TARGETS=(direct haproxy warren)
    fi
    for target in "${PG_TARGETS[@]}"; do pg_bench "$target" 8 "$WARM" 0; done
    for c in "${PG_CLIENTS[@]}"; do
      for target in "${PG_TARGETS[@]}"; do pg_bench "$target" "$c" "$DUR"; done
    done
  else
    echo "warning: PostgreSQL did not start; the TCP runs are skipped" >&2
  fi
fi

# ---------------------------------------------------------------- memory after the load
log "Idle after the load: ${AFTER_LOAD} s"
rss_record load_end "edge:$EDGE_PID" "agent:$AGENT_PID" "${BASELINE_GROUPS[@]}"
e0=$(cpu_ms "$EDGE_PID") a0=$(cpu_ms "$AGENT_PID")
pause "$AFTER_LOAD"
e1=$(cpu_ms "$EDGE_PID") a1=$(cpu_ms "$AGENT_PID")
RSS_EXTRA=$(printf ',"seconds":%d,"cpu_ms":{"edge":%d,"agent":%d}' "$AFTER_LOAD" $((e1 - e0)) $((a1 - a0)))
rss_record after_idle "edge:$EDGE_PID" "agent:$AGENT_PID" "${BASELINE_GROUPS[@]}"

# ---------------------------------------------------------------- WebSockets
log "WebSockets: $WS_COUNT through one session for ${WS_DUR} s (fresh edge and agent, so RSS growth is theirs alone)"
stop_pid "$AGENT_PID"
stop_pid "$EDGE_PID"
start_edge
start_main_agent agent-ws
wait_http "http://127.0.0.1:$EDGE_HTTP/" ws.bench 300
pause 2
run load "$W/ws.out" "$LOADTEST" ws --port "$EDGE_HTTP" --host ws.bench --count "$WS_COUNT" --interval 3 --duration "$WS_DUR" \
  --pids "$EDGE_PID,$AGENT_PID" || true
tail -1 "$W/ws.out" | tee -a "$RESULTS" >&2

# ---------------------------------------------------------------- the request log's cost
# Issue 15: the console's request log (one SQLite row per request, on by default) may cost under 5 % of req/s. It is
# edge-wide, so each run has a fresh edge and agent, warmed up for SETTLE seconds (a fresh process still compiles its
# hot path). Three rounds in the order on-off, off-on, on-off, so drift over the phase falls on both; the report takes
# each side's median.
log "Request log: 6 B at c64, request_log on (the default) and off, fresh edge and agent each"
stop_pid "$AGENT_PID"
stop_pid "$EDGE_PID"
{ cat "$W/edge.yaml"; printf 'request_log:\n  enabled: false\n'; } >"$W/edge-no-request-log.yaml"
round=0
for mode in on off off on on off; do
  round=$((round + 1))
  if [[ $mode == on ]]; then start_edge; else start_edge "$W/edge-no-request-log.yaml"; fi
  start_main_agent "agent-rlog-$mode-$round"
  wait_http "http://127.0.0.1:$EDGE_HTTP/6b" web.bench 300
  run_wrk warm warren 64 /6b "$SETTLE" 0
  run_wrk "rlog-$mode" warren 64 /6b "$DUR"
  stop_pid "$AGENT_PID"
  stop_pid "$EDGE_PID"
done

# ---------------------------------------------------------------- the policy step's cost
stop_pid "$AGENT_PID"
stop_pid "$EDGE_PID"
policy_phase

# ---------------------------------------------------------------- idle, settled (full runs only)
((IDLE_SETTLE > 0)) && idle_settled_phase

# ---------------------------------------------------------------- report
log "Report"
EDGE_NOTE=""
[[ $EDGE_BINARY == aot ]] && EDGE_NOTE=" (compiled with Native AOT: \`--edge aot\`)"
SETUP="Backends: nginx serving static files, Kestrel for WebSockets and uploads, PostgreSQL for pgbench. Baselines: nginx one-hop reverse proxy (keepalive
upstream); YARP one-hop (\`bench/Warren.YarpHop\`: \`IHttpForwarder\` with YARP's default client, transformer and request
config, default ASP.NET settings (server GC), no logging); \`ssh -R\` (OpenSSH $(ssh -V 2>&1 | grep -oE 'OpenSSH_[0-9.p]+' | head -1 | cut -c9- || echo '?')
client, default ciphers, one connection to a throwaway sshd on loopback); HAProxy $(haproxy -v 2>/dev/null | grep -oE 'version [0-9.]+' | head -1 | cut -d' ' -f2 || echo '?')
in TCP mode for pgbench. Warren: \`warren edge\`$EDGE_NOTE and \`${AGENT[*]##*/}\` as separate Release processes, TLS agent link with the
pinned generated certificate and sealed records after its handshake (docs/protocol.md §1.1), one session, \`max_concurrency\` 2048 (4096 for WebSockets, 64 for the TCP service).
wrk sends \`Host: web.bench\` to every target. Raw results: \`artifacts/bench/results.jsonl\`."
SVG_NAME="benchmarks-concurrency-${CORES}cores.svg"
if ((QUICK)); then DOC="$OUT/benchmarks.md" SVG="$OUT/$SVG_NAME"; else DOC=docs/benchmarks.md SVG="docs/$SVG_NAME"; fi
run load "$OUT/report.md" "$LOADTEST" report --results "$RESULTS" --doc-in docs/benchmarks.md --doc "$DOC" --svg "$SVG" \
  --svg-name "$SVG_NAME" --levels "$(csv "${LEVELS[@]}")" --command "$COMMAND" --setup "$SETUP" \
  --date "$(date -u '+%Y-%m-%d %H:%M UTC')"
cat "$OUT/report.md"
echo "Report: $DOC" >&2
