using System.Globalization;
using Xunit.Abstractions;

namespace Warren.AcmeTests;

/// <summary>
/// DNS-01 through the operator's hook: a shell script that publishes and clears the TXT record through
/// pebble-challtestsrv's management API (as a real hook would through a DNS provider's). A wildcard grant gets one
/// wildcard certificate that serves every name the agent registers under it.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class DnsHookTests(ITestOutputHelper output) : AcmeTest(output)
{
    [Fact]
    public async Task A_wildcard_grant_gets_one_wildcard_certificate_through_the_dns_hook()
    {
        string[] hosts = ["app.wild.test", "api.wild.test"];
        var hookFolder = TempDirectory("warren-hook-");
        var calls = Path.Combine(hookFolder, "calls.txt");
        var hook = Path.Combine(hookFolder, "dns-hook.sh");
        var (pebble, tunnel) = await StartAsync(
            p =>
            {
                WriteHook(hook, p.DnsManagementUrl, calls);
                return AcmeFor(p) with { DnsHook = hook };
            },
            ["*.wild.test"],
            h => [h.HttpService("app", hosts[0]), h.HttpService("api", hosts[1])]);

        var status = await WaitForValidAsync(tunnel, "*.wild.test");

        foreach (var host in hosts)
        {
            var certificate = await GetEchoOverHttpsAsync(tunnel, pebble, host);
            Assert.Equal(["*.wild.test"], DnsNames(certificate));
        }
        Assert.Equal(1, pebble.OrdersCreated);
        Assert.Equal(["*.wild.test"], tunnel.Edge.Acme!.Snapshot().Select(c => c.Name));
        Assert.Equal("on_demand", status.Source);
        var lines = File.ReadAllLines(calls);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("set _acme-challenge.wild.test. ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("clear _acme-challenge.wild.test. ", lines[1], StringComparison.Ordinal);
        Assert.Equal(lines[0]["set".Length..], lines[1]["clear".Length..]);
    }

    /// <summary>The hook: HOOK set|clear NAME VALUE, as docs/https.md describes, talking to challtestsrv.</summary>
    private static void WriteHook(string path, string managementUrl, string calls)
    {
        var script = string.Create(CultureInfo.InvariantCulture, $$"""
            #!/bin/sh
            # Test DNS hook: publishes the ACME TXT record in pebble-challtestsrv. Arguments: set|clear NAME VALUE.
            set -eu
            echo "$1 $2 $3" >> '{{calls}}'
            case "$1" in
              set)   curl -sf -X POST -d "{\"host\":\"$2\",\"value\":\"$3\"}" '{{managementUrl}}/set-txt' ;;
              clear) curl -sf -X POST -d "{\"host\":\"$2\"}" '{{managementUrl}}/clear-txt' ;;
              *)     echo "unknown action $1" >&2; exit 2 ;;
            esac
            """);
        File.WriteAllText(path, script.Replace("\r\n", "\n", StringComparison.Ordinal) + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
