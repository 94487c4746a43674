using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Warren.FaultTests.Harness;

/// <summary>
/// A client on a raw socket to one of the edge's public ports, so a test decides exactly what is sent, when it
/// stops reading, and how it goes away (a reset, as a crashed client or a pulled cable leaves it).
/// </summary>
internal sealed class ClientConnection : IDisposable
{
    private ClientConnection(Socket socket) => Socket = socket;

    public Socket Socket { get; }

    public static async Task<ClientConnection> ConnectAsync(int port, CancellationToken cancellationToken, int? receiveBufferSize = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBufferSize is { } size)
        {
            // Before connecting, so the window the client advertises is small from the start.
            socket.ReceiveBufferSize = size;
        }
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new ClientConnection(socket);
    }

    public async Task SendAsync(string text, CancellationToken cancellationToken) =>
        await Socket.SendAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None, cancellationToken).ConfigureAwait(false);

    /// <summary>Reads a response head; returns its status code and whatever body bytes came in the same reads.</summary>
    public async Task<(int Status, string Head, byte[] BodyStart)> ReadResponseHeadAsync(CancellationToken cancellationToken)
    {
        var received = new List<byte>();
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var n = await Socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException($"the edge closed the connection after {received.Count} bytes of response head");
            }
            received.AddRange(buffer.AsSpan(0, n));
            var end = received.ToArray().AsSpan().IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                var head = Encoding.ASCII.GetString(received.ToArray(), 0, end);
                var status = int.Parse(head.AsSpan(9, 3), provider: System.Globalization.CultureInfo.InvariantCulture);
                return (status, head, received.Skip(end + 4).ToArray());
            }
        }
    }

    /// <summary>Vanishes: closes with a TCP reset (linger 0), no FIN, no goodbye.</summary>
    public void Abort()
    {
        Socket.LingerState = new LingerOption(true, 0);
        Socket.Close();
    }

    public void Dispose() => Socket.Dispose();
}
