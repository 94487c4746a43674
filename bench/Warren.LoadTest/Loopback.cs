using System.Net;
using System.Net.Sockets;

namespace Warren.LoadTest;

/// <summary>
/// HTTP clients whose every connection goes to 127.0.0.1:port whatever the URL's host says (so URLs can carry the
/// published hostname), with TCP_NODELAY, spread over several loopback source addresses (127.0.0.2, .3, ...):
/// the edge caps connections per client IP, and the harness is one host pretending to be many clients.
/// </summary>
internal static class Loopback
{
    private static int s_next;

    public static SocketsHttpHandler Handler(int port, int sources) => new()
    {
        UseProxy = false,
        AllowAutoRedirect = false,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                if (sources > 0)
                {
                    var n = (uint)Interlocked.Increment(ref s_next) % (uint)sources;
                    socket.Bind(new IPEndPoint(new IPAddress([127, 0, 0, (byte)(2 + n)]), 0));
                }
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
