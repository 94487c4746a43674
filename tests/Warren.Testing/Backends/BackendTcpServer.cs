using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Warren.Testing.Backends;

/// <summary>
/// A raw TCP backend on loopback: every accepted connection is handed to <c>serve</c>, which owns what goes on
/// the wire byte by byte (HTTP responses cut at an exact offset, resets instead of FINs). Exceptions in
/// <c>serve</c> end that connection only.
/// </summary>
internal sealed class BackendTcpServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<Socket, CancellationToken, Task> _serve;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _connections = [];
    private readonly Task _acceptLoop;
    private int _accepted;

    private BackendTcpServer(Func<Socket, CancellationToken, Task> serve)
    {
        _serve = serve;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    public Uri HttpUri => new($"http://127.0.0.1:{Port}");

    public Uri TcpUri => new($"tcp://127.0.0.1:{Port}");

    public int Accepted => Volatile.Read(ref _accepted);

    public static BackendTcpServer Start(Func<Socket, CancellationToken, Task> serve) => new(serve);

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            Interlocked.Increment(ref _accepted);
            lock (_connections)
            {
                _connections.Add(ServeAsync(socket));
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        await Task.Yield();
        using (socket)
        {
            try
            {
                await _serve(socket, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
            {
                // The peer went away or the test ended: that connection is over, the server goes on.
            }
        }
    }

    /// <summary>Reads an HTTP/1.1 request head (up to the blank line) and returns it; the request has no body.</summary>
    public static async Task<string> ReadRequestHeadAsync(Socket socket, CancellationToken cancellationToken)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || !(head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await socket.ReceiveAsync(one, SocketFlags.None, cancellationToken).ConfigureAwait(false) == 0)
            {
                throw new IOException($"the connection closed after {head.Count} bytes of request head");
            }
            head.Add(one[0]);
        }
        return Encoding.ASCII.GetString([.. head]);
    }

    /// <summary>Ends a connection mid-response: a TCP reset (linger 0) as a crashed process leaves it, or a FIN both ways.</summary>
    public static void Die(Socket socket, bool reset)
    {
        if (reset)
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        else
        {
            socket.Shutdown(SocketShutdown.Both);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        Task[] connections;
        lock (_connections)
        {
            connections = [.. _connections];
        }
        await Task.WhenAll(connections).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
