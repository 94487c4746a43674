#!/usr/bin/env bash
# Soak run (issue 7): mixed, verified traffic through real Release `warren edge` and `warren agent` processes for a
# chosen duration, restarting the agent periodically (SIGTERM and SIGKILL in turn). Not part of .ci/run.
#
#   bash bench/soak.sh --duration 10m                       the run recorded in docs/reliability.md
#   bash bench/soak.sh --duration 90s --restart-every 30s   a quick shake-out
#
# Other options (bench/Warren.Soak/Program.cs): --workers 16, --settle 180s, --op-timeout 60s, --seed 1, --work DIR.
# Everything listens on 127.0.0.1 (free ports); the edge's TCP service port is bound by the edge as any TCP service is.
# Prints a progress line every minute and a Markdown report at the end (also artifacts/soak/report.md); exits
# non-zero on any unexpected error, any wrong byte, or streams/buffers not back to their baseline after traffic.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/artifacts/soak"
mkdir -p "$OUT"
echo "== Build (Release)" >&2
dotnet publish src/Warren.Cli -c Release -r "$(dotnet --info | awk '$1 == "RID:" {print $2; exit}')" -p:ReleaseBinary=true -o "$OUT/warren" -nologo -v q -clp:ErrorsOnly
dotnet build bench/Warren.Soak -c Release -o "$OUT/tool" -nologo -v q
exec "$OUT/tool/warren-soak" --warren "$OUT/warren/warren" --report "$OUT/report.md" --work /tmp/warren-soak \
  --command "bash bench/soak.sh${*:+ $*}" "$@"
