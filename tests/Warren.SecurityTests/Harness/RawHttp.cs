using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Warren.SecurityTests.Harness;

/// <summary>Hand-written HTTP/1.1 on a raw socket, for requests no well-behaved client would send.</summary>
internal static class RawHttp
{
    /// <summary>Sends <paramref name="request"/> as is and returns the response head (status line and headers).</summary>
    public static async Task<string> SendAsync(int port, string request, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Wait.DefaultTimeout);
        using var socket = await ConnectAsync(port, null, cts.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), cts.Token);
        return await ReadHeadAsync(stream, cts.Token);
    }

    /// <summary>
    /// Sends <paramref name="request"/> as is from <paramref name="from"/> (another loopback address, e.g. 127.0.0.2,
    /// to be a second client) and returns everything the edge sent until it closed the connection.
    /// </summary>
    public static async Task<string> ExchangeAsync(int port, string request, IPAddress? from = null)
    {
        using var socket = await ConnectAsync(port, from, CancellationToken.None);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        return (await ReadUntilClosedAsync(stream, Stopwatch.StartNew(), Wait.DefaultTimeout)).Received;
    }

    /// <summary>A TCP connection to the edge on loopback, from <paramref name="from"/> when given (Linux routes all of 127/8 to lo).</summary>
    public static async Task<Socket> ConnectAsync(int port, IPAddress? from, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (from is not null)
            {
                socket.Bind(new IPEndPoint(from, 0));
            }
            await socket.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Reads up to the end of the response head, or to the end of the stream.</summary>
    public static async Task<string> ReadHeadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var head = new StringBuilder();
        var buffer = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(buffer, cancellationToken) == 0)
            {
                break;
            }
            head.Append((char)buffer[0]);
        }
        return head.ToString();
    }

    public static int StatusOf(string head)
    {
        var parts = head.Split(' ', 3);
        return parts.Length >= 2 && int.TryParse(parts[1], out var status) ? status : 0;
    }

    /// <summary>
    /// Reads until the peer closes the connection (end of stream or reset) and returns how long that took and what
    /// arrived; fails past <paramref name="timeout"/>.
    /// </summary>
    public static async Task<(TimeSpan Elapsed, string Received)> ReadUntilClosedAsync(Stream stream, Stopwatch clock, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var received = new StringBuilder();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var n = await stream.ReadAsync(buffer, cts.Token);
                if (n == 0)
                {
                    break;
                }
                received.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
        }
        catch (IOException)
        {
            // reset by the peer: closed as well
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"the peer did not close the connection within {timeout.TotalSeconds:0.#} s; received: {received}");
        }
        return (clock.Elapsed, received.ToString());
    }
}
