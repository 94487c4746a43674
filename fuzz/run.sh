#!/usr/bin/env bash
# Fuzzes one target of fuzz/Warren.Fuzz for a chosen time with AFL++ and SharpFuzz (docs/reliability.md):
#
#   bash fuzz/run.sh <frames|control|session|registration> <seconds>
#
# Builds the targets, instruments Warren.Protocol.dll for AFL, runs afl-fuzz from fuzz/corpus/<target>, then
# copies every crash and hang into fuzz/crashes/<target>/ and replaces fuzz/corpus/<target>/ with the minimised
# (afl-cmin) union of the old corpus and what the run found. Review with `git status` and commit what is new; the
# replay tests (tests/Warren.FuzzTests) run every kept file. Work files go to artifacts/fuzz/<target>/.
# Needs Debian's afl++ package (installed here when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-}
seconds=${2:-}
case "$target" in frames | control | session | registration) ;; *) echo "usage: bash fuzz/run.sh <frames|control|session|registration> <seconds>" >&2; exit 2 ;; esac
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "seconds must be a positive integer, not '$seconds'" >&2; exit 2; }

if ! command -v afl-fuzz >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "afl-fuzz is missing: apt-get install afl++" >&2; exit 1; }
  apt-get install -y -qq afl++ >/dev/null
fi

work=artifacts/fuzz/$target
build=artifacts/fuzz/build
rm -rf "$work" "$build"
mkdir -p "$work" "fuzz/crashes/$target"
dotnet build fuzz/Warren.Fuzz -c Release -nologo -v quiet -o "$build"
# The protocol for every target; the edge and its configuration rules for the registration target.
(cd fuzz && dotnet tool restore >/dev/null && for dll in Warren.Protocol Warren.Configuration Warren.Edge; do dotnet tool run sharpfuzz "../$build/$dll.dll"; done)

# dotnet is not an AFL-instrumented binary (the IL is), and this is not a tuned fuzzing host.
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
export AFL_FORKSRV_INIT_TMOUT=30000 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_TieredPGO=0
# -t: an input that runs longer than this is a hang; the session target gives itself 10 s before it calls one.
afl-fuzz -i "fuzz/corpus/$target" -o "$work/out" -t 20000 -m none -V "$seconds" -- dotnet "$build/Warren.Fuzz.dll" "$target" \
  >"$work/afl.log" 2>&1 || { tail -n 30 "$work/afl.log"; exit 1; }

stats=$work/out/default/fuzzer_stats
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs) ' "$stats" || true

found=0
for kind in crashes hangs; do
  for file in "$work/out/default/$kind"/id:*; do
    [ -f "$file" ] || continue
    name=$(sha1sum "$file" | cut -c1-16)
    cp "$file" "fuzz/crashes/$target/$kind-$name"
    found=$((found + 1))
  done
done

# Minimise the old corpus and the new queue together; keep only inputs that add coverage.
mkdir -p "$work/all"
cp "fuzz/corpus/$target"/* "$work/out/default/queue"/id:* "$work/all/" 2>/dev/null || true
if afl-cmin -i "$work/all" -o "$work/min" -t 20000 -m none -- "$(command -v dotnet)" "$build/Warren.Fuzz.dll" "$target" >"$work/cmin.log" 2>&1; then
  rm -f "fuzz/corpus/$target"/*
  for file in "$work/min"/*; do
    cp "$file" "fuzz/corpus/$target/$(sha1sum "$file" | cut -c1-16)"
  done
else
  echo "afl-cmin failed (see $work/cmin.log); corpus left as it was" >&2
fi
echo "$target: corpus $(ls "fuzz/corpus/$target" | wc -l) files, $found crash/hang inputs saved to fuzz/crashes/$target/"
