using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Warren.Testing.Hosting;

/// <summary>The agent's end of the link to an edge's agents port, for tests that drive the agent side by hand.</summary>
internal static class AgentLink
{
    /// <summary>
    /// TCP and TLS to the agents port, verifying the certificate by its SHA-256; from <paramref name="source"/> (another
    /// loopback address, e.g. 127.0.0.2) when given.
    /// </summary>
    public static async Task<SslStream> DialTlsAsync(int port, string fingerprint, CancellationToken cancellationToken, IPAddress? source = null)
    {
        var socket = source is null ? new Socket(SocketType.Stream, ProtocolType.Tcp) : new Socket(source.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.NoDelay = true;
        try
        {
            if (source is not null)
            {
                socket.Bind(new IPEndPoint(source, 0));
            }
            await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                    certificate is not null && Convert.ToHexStringLower(SHA256.HashData(certificate.GetRawCertData())) == fingerprint,
            }, cancellationToken);
            return tls;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
