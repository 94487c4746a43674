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
    public static async Task<string> ExchangeAsync(int port, string request, IPAddress? from = null, IPAddress? to = null)
    {
        using var socket = await ConnectAsync(port, from, CancellationToken.None, to: to);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        return (await ReadUntilClosedAsync(stream, Stopwatch.StartNew(), Wait.DefaultTimeout)).Received;
    }

    /// <summary>
    /// A TCP connection to the edge on loopback (127.0.0.1, or <paramref name="to"/>: ::1 for IPv6), from
    /// <paramref name="from"/> when given (Linux routes all of 127/8 to lo); <paramref name="configure"/> sets socket
    /// options before the connection is made (<see cref="LikeARealLink"/>).
    /// </summary>
    public static async Task<Socket> ConnectAsync(int port, IPAddress? from, CancellationToken cancellationToken, Action<Socket>? configure = null, IPAddress? to = null)
    {
        to ??= IPAddress.Loopback;
        var socket = new Socket(to.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            configure?.Invoke(socket);
            if (from is not null)
            {
                socket.Bind(new IPEndPoint(from, 0));
            }
            await socket.ConnectAsync(to, port, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A connection for a flood: null when the edge refused it at once (on loopback its reset can arrive before
    /// connect() returns). Connections that go through stay open until the caller disposes them.
    /// </summary>
    public static async Task<Socket?> TryConnectAsync(int port, IPAddress? from)
    {
        try
        {
            using var cts = new CancellationTokenSource(Wait.DefaultTimeout);
            return await ConnectAsync(port, from, cts.Token);
        }
        catch (SocketException)
        {
            return null;
        }
    }

    /// <summary>
    /// Socket options that make a loopback connection buffer like an internet one: a 1,200-byte segment size (loopback's
    /// is 64 KiB, which lets the kernel queue about 3 MB for a reader that does not read) and a 4 KiB receive buffer.
    /// A slow reader is then held back by the edge after some 200 KB instead of megabytes. Linux only (TCP_MAXSEG = 2).
    /// </summary>
    public static void LikeARealLink(Socket socket)
    {
        socket.ReceiveBufferSize = 4096;
        socket.SetRawSocketOption(6 /* IPPROTO_TCP */, 2 /* TCP_MAXSEG */, BitConverter.GetBytes(1200));
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
