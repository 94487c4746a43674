using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Warren.OperationsTests.Harness;

/// <summary>A TCP connection to an edge port published for the test's echo backend: send a line, read it back.</summary>
internal sealed class EchoConnection : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };

    public static async Task<EchoConnection> ConnectAsync(int port, CancellationToken cancellationToken)
    {
        var connection = new EchoConnection();
        try
        {
            await connection._socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancellationToken);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Sends <paramref name="text"/> and returns what came back once as many bytes arrived (or the connection ended).</summary>
    public async Task<string> EchoAsync(string text, CancellationToken cancellationToken)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await _socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
        var buffer = new byte[bytes.Length];
        var received = 0;
        while (received < buffer.Length)
        {
            var n = await _socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, cancellationToken);
            if (n == 0)
            {
                break;
            }
            received += n;
        }
        return Encoding.UTF8.GetString(buffer, 0, received);
    }

    /// <summary>Reads until the edge ends the connection cleanly (a FIN); a reset throws.</summary>
    public async Task<string> ReadToEndAsync(CancellationToken cancellationToken)
    {
        var received = new MemoryStream();
        var buffer = new byte[256];
        int n;
        while ((n = await _socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken)) > 0)
        {
            received.Write(buffer, 0, n);
        }
        return Encoding.UTF8.GetString(received.ToArray());
    }

    public void Dispose() => _socket.Dispose();
}
