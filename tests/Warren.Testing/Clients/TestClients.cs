using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;

namespace Warren.Testing.Clients;

/// <summary>The HTTP clients tests drive the edge with: no proxy, no redirects, no cookies, no decompression.</summary>
internal static class TestClients
{
    /// <param name="maxConnections">Connections per server (many transfers in parallel need many).</param>
    /// <param name="receiveBufferSize">
    /// A fixed socket receive buffer (no autotuning), so a client that reads slowly holds the response back through
    /// the edge and the tunnel instead of the kernel soaking up megabytes: the transfer stays in flight end to end.
    /// </param>
    /// <param name="port">Every connection goes to 127.0.0.1:<paramref name="port"/> whatever the URL's host, so
    /// URLs can carry the published hostname; null: the URL's host and port.</param>
    /// <param name="timeout">The whole request; 60 s by default.</param>
    /// <param name="tls">For https:// URLs: the SNI name, trust and validation callback; null: the URL's host and the system's roots.</param>
    public static HttpClient Create(int maxConnections = 2048, int? receiveBufferSize = null, int? port = null, TimeSpan? timeout = null, SslClientAuthenticationOptions? tls = null) =>
        new(new SocketsHttpHandler
        {
            SslOptions = tls ?? new SslClientAuthenticationOptions(),
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = maxConnections,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectCallback = (context, cancellationToken) => ConnectAsync(port is { } p ? new IPEndPoint(IPAddress.Loopback, p) : context.DnsEndPoint, receiveBufferSize, cancellationToken),
        })
        {
            Timeout = timeout ?? TimeSpan.FromSeconds(60),
        };

    /// <summary>A TCP connection with Nagle off (and a fixed receive buffer when asked), as a stream for a ConnectCallback.</summary>
    public static async ValueTask<Stream> ConnectAsync(EndPoint endPoint, int? receiveBufferSize, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (receiveBufferSize is { } size)
            {
                // Before connecting, so the window the client advertises is small from the start.
                socket.ReceiveBufferSize = size;
            }
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
