using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Warren.Agent.Connection;
using Warren.Configuration;

namespace Warren.Agent.Tests.Connection;

/// <summary>The agent's dial to the edge: a pinned certificate or nothing, and a dial that gives up (WarrenAgentOptions.DialTimeout).</summary>
public sealed class EdgeDialerTests : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public EdgeDialerTests() => _listener.Start();

    private int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    [Fact]
    public async Task Edge_that_accepts_and_never_answers_TLS_fails_the_dial_with_a_timeout_naming_the_limit()
    {
        var dialer = new EdgeDialer(Config(fingerprint: new string('a', 64)), TimeSpan.FromMilliseconds(300), NullLogger.Instance);

        var failure = await Assert.ThrowsAsync<TimeoutException>(() => dialer.DialAsync(CancellationToken.None).WaitAsync(Wait.DefaultTimeout));

        Assert.Equal("no TLS session with the edge within 0.3 s", failure.Message);
    }

    [Fact]
    public async Task Certificate_that_does_not_match_the_pin_is_refused_and_the_pinned_one_accepted()
    {
        using var certificate = SelfSigned();
        var server = ServeTlsAsync(certificate, connections: 2);
        var wrong = new EdgeDialer(Config(fingerprint: new string('0', 64)), Wait.DefaultTimeout, NullLogger.Instance);
        var pinned = new EdgeDialer(Config(fingerprint: Convert.ToHexStringLower(SHA256.HashData(certificate.RawData))), Wait.DefaultTimeout, NullLogger.Instance);

        await Assert.ThrowsAsync<AuthenticationException>(() => wrong.DialAsync(CancellationToken.None));
        var (stream, link) = await pinned.DialAsync(CancellationToken.None);
        await using (stream)
        {
            Assert.IsType<SslStream>(stream);
            Assert.True(link.Socket.Connected);
        }
        await server.WaitAsync(Wait.DefaultTimeout);
    }

    [Fact]
    public void Edge_address_without_a_port_is_a_format_error() =>
        Assert.Throws<FormatException>(() => EdgeDialer.ParseEndpoint("edge.example.com"));

    private AgentConfig Config(string fingerprint) => new()
    {
        Edge = $"127.0.0.1:{Port}",
        Token = "token",
        EdgeFingerprint = fingerprint,
        Services = [new ServiceConfig { Name = "web", Hostnames = ["web.test"], Target = new Uri("http://127.0.0.1:1") }],
    };

    /// <summary>Accepts <paramref name="connections"/> connections and completes a TLS handshake on each (a refused one ends it early).</summary>
    private async Task ServeTlsAsync(X509Certificate2 certificate, int connections)
    {
        for (var i = 0; i < connections; i++)
        {
            using var socket = await _listener.AcceptSocketAsync();
            await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: false));
            try
            {
                await tls.AuthenticateAsServerAsync(certificate);
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException)
            {
                // the client refused the certificate
            }
        }
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=edge.test", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }

    public void Dispose() => _listener.Dispose();
}
