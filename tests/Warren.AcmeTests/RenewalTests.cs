using System.Net.Http;
using Microsoft.Extensions.Time.Testing;
using Warren.Cli.Commands;
using Xunit.Abstractions;

namespace Warren.AcmeTests;

/// <summary>
/// Renewal on the edge's schedule clock (a FakeTimeProvider the test moves; Pebble and the sockets run in real
/// time): certificates are renewed at two thirds of their lifetime while connections go on, a CA that is down
/// leaves the old certificate in service and is retried with back-off, and a restarted edge orders nothing.
/// </summary>
public sealed class RenewalTests(ITestOutputHelper output) : AcmeTest(output)
{
    private const int DownloadSize = 32 * 1024 * 1024;

    [Fact]
    public async Task A_certificate_is_renewed_before_it_expires_while_a_long_download_on_its_hostname_continues()
    {
        const string host = "app.renew.test";
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (pebble, tunnel) = await StartAsync(p => AcmeFor(p, "http-01"), [host], h => [h.HttpService("app", host)],
            new PebbleOptions { Validity = TimeSpan.FromHours(1) }, time);
        var first = await WaitForValidAsync(tunnel, host);
        var firstCertificate = await GetEchoOverHttpsAsync(tunnel, pebble, host);

        // A download on the same hostname, over the first certificate, read only in part before the renewal.
        using var client = TrustingClient(tunnel, pebble, host, out var _);
        using var response = await client.GetAsync(new Uri($"https://{host}/bytes/{DownloadSize}"), HttpCompletionOption.ResponseHeadersRead).WaitAsync(TestTimeout);
        response.EnsureSuccessStatusCode();
        await using var body = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64 * 1024];
        long received = await ReadVerifiedAsync(body, buffer, 0, 1024 * 1024);

        var renewAt = first.RenewAt!.Value;
        Assert.True(renewAt < first.NotAfter!.Value, "renewal is planned before expiry");
        Assert.True(renewAt >= first.NotAfter.Value - TimeSpan.FromHours(1) / 3 - TimeSpan.FromMinutes(5), $"renewal at two thirds of the lifetime (minus jitter): {renewAt:u} for a certificate expiring {first.NotAfter:u}");
        time.Advance(renewAt - time.GetUtcNow() + TimeSpan.FromSeconds(1));
        var renewed = await WaitForValidAsync(tunnel, host, s => s.IssuedAt > first.IssuedAt);
        Assert.True(time.GetUtcNow() < first.NotAfter.Value, "renewed while the first certificate was still valid");

        var secondCertificate = await GetEchoOverHttpsAsync(tunnel, pebble, host);
        Assert.NotEqual(firstCertificate.SerialNumber, secondCertificate.SerialNumber);
        Assert.Equal(2, pebble.OrdersCreated);
        Assert.Equal(0, renewed.Failures);

        // The download that started before the renewal finishes intact on its first connection.
        received = await ReadVerifiedAsync(body, buffer, received, DownloadSize);
        Assert.Equal(DownloadSize, received);
        Assert.Equal(0, await body.ReadAsync(buffer));
    }

    [Fact]
    public async Task When_the_CA_is_down_the_old_certificate_stays_in_service_renewal_backs_off_and_is_reported()
    {
        const string host = "app.outage.test";
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var (pebble, tunnel) = await StartAsync(p => AcmeFor(p, "http-01"), [host], h => [h.HttpService("app", host)],
            new PebbleOptions { Validity = TimeSpan.FromHours(1) }, time);
        var first = await WaitForValidAsync(tunnel, host);
        var served = await GetEchoOverHttpsAsync(tunnel, pebble, host);

        await pebble.StopCaAsync();
        time.Advance(first.RenewAt!.Value - time.GetUtcNow() + TimeSpan.FromSeconds(1));
        var failing = await WaitForStateAsync(tunnel, host, s => s.State == "renewal_failing" && s.Failures == 1);
        Assert.Contains("could not reach the CA", failing.LastError, StringComparison.Ordinal);
        // Back-off: the first retry a minute later (±10%), not at once.
        var wait = failing.NextAttempt!.Value - failing.LastErrorAt!.Value;
        Assert.InRange(wait, TimeSpan.FromSeconds(54), TimeSpan.FromSeconds(66));

        // Still served, the same certificate.
        Assert.Equal(served.SerialNumber, (await GetEchoOverHttpsAsync(tunnel, pebble, host)).SerialNumber);

        // Reported: status, metrics and log.
        using var admin = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var status = await admin.GetStringAsync(new Uri($"http://127.0.0.1:{tunnel.Edge.AdminPort}/api/status"));
        Assert.Contains("\"state\":\"renewal_failing\"", status, StringComparison.Ordinal);
        Assert.Contains("could not reach the CA", status, StringComparison.Ordinal);
        var metrics = await admin.GetStringAsync(new Uri($"http://127.0.0.1:{tunnel.Edge.AdminPort}/metrics"));
        Assert.Contains("warren_edge_acme_certificates{state=\"renewal_failing\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains($"warren_edge_acme_certificate_failures{{certificate=\"{host}\"}} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("warren_edge_acme_issuances_total{result=\"failed\"} 1", metrics, StringComparison.Ordinal);
        Assert.True(Log.Contains("AcmeRenewalFailed"), "the failed renewal is logged");
        var statusOutput = new StringWriter();
        Assert.Equal(0, await StatusCommand.RunAsync($"127.0.0.1:{tunnel.Edge.AdminPort}", null, statusOutput, new StringWriter(), CancellationToken.None));
        var certificateLine = statusOutput.ToString().Split('\n').SkipWhile(l => l != "CERTIFICATES").Single(l => l.Contains(host, StringComparison.Ordinal));
        Assert.Contains("renewal_failing", certificateLine, StringComparison.Ordinal);
        Assert.Contains("could not reach the CA", certificateLine, StringComparison.Ordinal);

        // The second retry waits twice as long.
        time.Advance(failing.NextAttempt.Value - time.GetUtcNow() + TimeSpan.FromSeconds(1));
        var again = await WaitForStateAsync(tunnel, host, s => s.Failures == 2);
        Assert.InRange(again.NextAttempt!.Value - again.LastErrorAt!.Value, TimeSpan.FromSeconds(108), TimeSpan.FromSeconds(132));

        // The CA comes back (a new Pebble: it has forgotten the account, which the edge registers again).
        await pebble.StartCaAsync();
        time.Advance(again.NextAttempt.Value - time.GetUtcNow() + TimeSpan.FromSeconds(1));
        var recovered = await WaitForValidAsync(tunnel, host, s => s.IssuedAt > first.IssuedAt);
        Assert.Equal(0, recovered.Failures);
        Assert.NotEqual(served.SerialNumber, (await GetEchoOverHttpsAsync(tunnel, pebble, host)).SerialNumber);
    }

    [Fact]
    public async Task A_restarted_edge_serves_the_stored_certificate_and_orders_nothing()
    {
        const string host = "app.restart.test";
        var (pebble, tunnel) = await StartAsync(p => AcmeFor(p, "http-01"), [host], h => [h.HttpService("app", host)]);
        await WaitForValidAsync(tunnel, host);
        var before = await GetEchoOverHttpsAsync(tunnel, pebble, host);
        Assert.Equal(1, pebble.OrdersCreated);
        Assert.Equal(1, pebble.AccountsCreated);

        await tunnel.StopAgentAsync();
        await tunnel.StopEdgeAsync();
        await tunnel.StartEdgeAsync();
        // Served from the store at once, before any agent registers the name again.
        var stored = Assert.Single(tunnel.Edge.Acme!.Snapshot());
        Assert.Equal("valid", stored.State);
        await tunnel.StartAgentAsync();

        var after = await GetEchoOverHttpsAsync(tunnel, pebble, host);
        Assert.Equal(before.SerialNumber, after.SerialNumber);
        Assert.Equal(0, tunnel.Edge.Acme.OrdersCreated);
        Assert.Equal(1, pebble.OrdersCreated);
        Assert.Equal(1, pebble.AccountsCreated);
        Assert.True(Log.Contains("AcmeStoredLoaded"), "the stored certificate was loaded");
    }

    private static async Task<Edge.Acme.CertificateStatus> WaitForStateAsync(WarrenHarness tunnel, string name, Func<Edge.Acme.CertificateStatus, bool> condition)
    {
        Edge.Acme.CertificateStatus? status = null;
        await Wait.UntilAsync(() =>
        {
            status = tunnel.Edge.Acme!.Snapshot().FirstOrDefault(c => c.Name == name);
            return status is not null && condition(status);
        }, $"the certificate for {name} reaches the expected state (last seen: {status})", IssueTimeout);
        return status!;
    }

    /// <summary>Reads until <paramref name="until"/> bytes in all, checking the backend's pattern (byte i = i mod 251).</summary>
    private static async Task<long> ReadVerifiedAsync(Stream body, byte[] buffer, long offset, long until)
    {
        while (offset < until)
        {
            var n = await body.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, until - offset))).AsTask().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(n > 0, $"the download ended early at {offset} bytes");
            for (var i = 0; i < n; i++)
            {
                if (buffer[i] != (byte)((offset + i) % 251))
                {
                    Assert.Fail($"byte {offset + i} is {buffer[i]}, expected {(offset + i) % 251}");
                }
            }
            offset += n;
        }
        return offset;
    }
}
