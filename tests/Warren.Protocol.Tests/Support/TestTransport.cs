using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Warren.Protocol.Transport;

namespace Warren.Protocol.Tests.Support;

/// <summary>One end of a test transport: the pipe a session runs on, how to tear it down, and what owns it.</summary>
internal sealed record TransportEnd(IDuplexPipe Pipe, Action? Abort, IDisposable? Owner);

internal static class TestTransport
{
    /// <summary>Two connected ends over <paramref name="kind"/>. The caller disposes the owners after the sessions end.</summary>
    public static async Task<(TransportEnd Client, TransportEnd Server)> CreateAsync(TransportKind kind)
    {
        if (kind == TransportKind.InMemory)
        {
            var (c, s) = StreamTransport.CreateInMemoryPair();
            return (new TransportEnd(c, null, null), new TransportEnd(s, null, null));
        }
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var accept = listener.AcceptSocketAsync();
        await client.ConnectAsync(listener.LocalEndpoint).ConfigureAwait(false);
        var server = await accept.ConfigureAwait(false);
        server.NoDelay = true;
        if (kind is TransportKind.Tls or TransportKind.Sealed)
        {
            return await WrapTlsAsync(client, server, seal: kind == TransportKind.Sealed).ConfigureAwait(false);
        }
        return (Wrap(client), Wrap(server));

        static TransportEnd Wrap(Socket socket)
        {
            var stream = new NetworkStream(socket, ownsSocket: true);
            return new TransportEnd(StreamTransport.Create(stream), stream.Dispose, stream);
        }
    }

    /// <summary>The edge's certificate, made once per test run: a key and a PKCS#12 round trip per connection cost more than the handshake.</summary>
    private static readonly Lazy<(X509Certificate2 Certificate, string Pin)> s_serverCertificate = new(() =>
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=link.test", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        // A certificate with its key in a form SslStream on Linux can use for the server side.
        return (X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null), certificate.GetCertHashString(HashAlgorithmName.SHA256));
    });

    private static async Task<(TransportEnd Client, TransportEnd Server)> WrapTlsAsync(Socket client, Socket server, bool seal)
    {
        var (serverCertificate, pin) = s_serverCertificate.Value; // pinned, as the agent pins the edge
        var clientLink = new LinkStream(client, ownsSocket: true);
        var serverLink = new LinkStream(server, ownsSocket: true);
        var clientTls = clientLink.StartTls(leaveInnerStreamOpen: false);
        var serverTls = serverLink.StartTls(leaveInnerStreamOpen: false);
        List<SslApplicationProtocol>? protocols = seal ? [SealedLinkStream.Protocol] : null;
        await Task.WhenAll(
            clientTls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "link.test",
                RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && presented.GetCertHashString(HashAlgorithmName.SHA256) == pin,
                ApplicationProtocols = protocols,
            }),
            serverTls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = serverCertificate, ApplicationProtocols = protocols })).ConfigureAwait(false);
        if (!seal)
        {
            return (new TransportEnd(StreamTransport.Create(clientTls, clientLink), clientTls.Dispose, clientTls),
                new TransportEnd(StreamTransport.Create(serverTls, serverLink), serverTls.Dispose, serverTls));
        }
        if (clientTls.NegotiatedApplicationProtocol != SealedLinkStream.Protocol || serverTls.NegotiatedApplicationProtocol != SealedLinkStream.Protocol)
        {
            throw new InvalidOperationException("TLS did not agree sealed records");
        }
        var clientStart = SealedLinkStream.StartAsync(clientTls, clientLink, isClient: true, ownsSocket: true, CancellationToken.None);
        var serverStart = SealedLinkStream.StartAsync(serverTls, serverLink, isClient: false, ownsSocket: true, CancellationToken.None);
        var clientSealed = await clientStart.ConfigureAwait(false);
        var serverSealed = await serverStart.ConfigureAwait(false);
        await clientTls.DisposeAsync().ConfigureAwait(false); // leaves the sockets to the sealed streams
        await serverTls.DisposeAsync().ConfigureAwait(false);
        return (new TransportEnd(StreamTransport.Create(clientSealed), clientSealed.Dispose, clientSealed),
            new TransportEnd(StreamTransport.Create(serverSealed), serverSealed.Dispose, serverSealed));
    }
}
