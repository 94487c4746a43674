#!/usr/bin/env bash
# Builds Warren's release artefacts into artifacts/release/ (docs/operations.md, "Installing"):
#   warren-VERSION-linux-x64, warren-VERSION-linux-arm64   self-contained single-file binaries (no .NET needed)
#   warren-VERSION-linux-x64-small, ...-linux-arm64-small       the same without precompiled code: for small hosts
#   warren-agent-VERSION-linux-x64, ...-linux-arm64         the agent alone, Native AOT (src/Warren.AgentCli): about
#                                                           22 MB of RSS; built only for the architecture this runs on
#   warren-VERSION-framework-dependent.tar.gz               for hosts with the ASP.NET Core 10 runtime
#   warren-VERSION-systemd.tar.gz                           the systemd units and example configs
#   warren.VERSION.nupkg                                    the .NET tool package (dotnet tool install -g warren)
#   SHA256SUMS                                              checksums of all of the above
# Usage: deploy/package.sh [VERSION] [RID...]   (default version: 0.0.0-dev; default RIDs: linux-x64 linux-arm64)
# Container images are built from deploy/container/ with a container engine (docs/operations.md, "Containers").
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

version=${1:-0.0.0-dev}
shift || true
rids=("$@")
[ ${#rids[@]} -gt 0 ] || rids=(linux-x64 linux-arm64)
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "package.sh: version '$version' is not MAJOR.MINOR.PATCH[-suffix]" >&2
  exit 2
fi

out=artifacts/release
work=artifacts/release-work
rm -rf "$out" "$work"
mkdir -p "$out" "$work"

for rid in "${rids[@]}"; do
  # One file, trimmed and precompiled (ReleaseBinary in Directory.Build.props). The small one leaves the
  # precompiled code out: about 18 MB less RSS for edge and agent, twice the start time (docs/operations.md,
  # "A smaller binary for small hosts").
  for variant in "" -small; do
    name=warren-$version-$rid$variant
    precompiled=true
    [ "$variant" = -small ] && precompiled=false
    echo "== $name (self-contained, single file, trimmed$([ "$precompiled" = true ] && echo ", ReadyToRun"))"
    dotnet publish src/Warren.Cli/Warren.Cli.csproj -c Release -r "$rid" -p:ReleaseBinary=true \
      -p:PublishReadyToRun=$precompiled -p:Version="$version" -o "$work/$name" -nologo -v quiet
    cp "$work/$name/warren" "$out/$name"
    chmod 0755 "$out/$name"
  done
  # The agent's own binary. Native AOT links against the target's system libraries, so it is built on a machine of
  # that architecture (a release of both runs this script on an x64 and on an arm64 machine).
  name=warren-agent-$version-$rid
  case "$rid:$(uname -m)" in
    linux-x64:x86_64 | linux-arm64:aarch64)
      echo "== $name (Native AOT, the agent alone)"
      dotnet publish src/Warren.AgentCli/Warren.AgentCli.csproj -c Release -r "$rid" -p:Version="$version" \
        -o "$work/$name" -nologo -v quiet
      cp "$work/$name/warren-agent" "$out/$name"
      chmod 0755 "$out/$name" ;;
    *) echo "== $name skipped: Native AOT builds it on a $rid machine, and this one is $(uname -m)" ;;
  esac
done

echo "== warren $version (framework-dependent)"
dotnet publish src/Warren.Cli/Warren.Cli.csproj -c Release --no-self-contained -p:DebugType=none \
  -p:Version="$version" -o "$work/fdd/warren-$version" -nologo -v quiet
tar -C "$work/fdd" -czf "$out/warren-$version-framework-dependent.tar.gz" "warren-$version"

echo "== warren $version (.NET tool package)"
dotnet pack src/Warren.Cli/Warren.Cli.csproj -c Release -p:Version="$version" -o "$out" -nologo -v quiet

echo "== systemd units and example configs"
mkdir -p "$work/systemd/warren-$version-systemd"
cp deploy/systemd/*.service deploy/examples/*.yaml "$work/systemd/warren-$version-systemd/"
tar -C "$work/systemd" -czf "$out/warren-$version-systemd.tar.gz" "warren-$version-systemd"

(cd "$out" && sha256sum -- * > SHA256SUMS)
rm -rf "$work"
echo "== artefacts in $out:"
cat "$out/SHA256SUMS"
