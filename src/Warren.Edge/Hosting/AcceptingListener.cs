using System.Net;
using System.Net.Sockets;

namespace Warren.Edge.Hosting;

/// <summary>
/// The accept loop of the edge's two listeners that bypass Kestrel: the agents listener (Agents/AgentListener.cs,
/// docs/performance.md) and the edge-to-edge listener (Cluster/PeerListener.cs, docs/cluster.md "Forwarding"). It
/// accepts on a socket that already listens, refuses a connection over <c>maxConnections</c> before reading anything
/// from it, and hands each other one to the owner's <c>serve</c>, which goes off the accept loop itself (its own
/// <c>await Task.Yield()</c>: no extra await or allocation here per connection), runs TLS and its handler, and calls
/// <see cref="Release"/> when the connection ends. Disposing stops accepting, cuts the connections still open and
/// waits for their handlers.
/// </summary>
internal sealed class AcceptingListener : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly int _maxConnections;
    private readonly Func<Socket, EndPoint?, Task> _serve;
    private readonly Action<string?, int> _refused;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();
    private readonly HashSet<Socket> _connections = [];
    private readonly List<Task> _running = [];
    private Task _acceptLoop = Task.CompletedTask;

    /// <param name="socket">Bound and listening; owned from here on.</param>
    /// <param name="maxConnections">Connections open at once; one more is closed on accept.</param>
    /// <param name="serve">Serves one accepted connection (the socket, and its remote address read at accept: by the time
    /// <c>serve</c> runs, a listener being disposed may have closed the socket); must call <see cref="Release"/> at its end.</param>
    /// <param name="refused">Logs a connection refused for the cap (its remote address, the cap).</param>
    public AcceptingListener(Socket socket, int maxConnections, Func<Socket, EndPoint?, Task> serve, Action<string?, int> refused)
    {
        _socket = socket;
        _maxConnections = maxConnections;
        _serve = serve;
        _refused = refused;
    }

    /// <summary>The bound address (with the port chosen for port 0).</summary>
    public EndPoint LocalEndPoint => _socket.LocalEndPoint!;

    /// <summary>Cancelled when the listener stops accepting (handshakes in progress give up on it).</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Starts the accept loop (once the owner is ready to serve).</summary>
    public void Start() => _acceptLoop = AcceptLoopAsync();

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _socket.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }
                continue; // one failed accept (the client left first) is no reason to stop listening
            }
            var remote = client.RemoteEndPoint;
            lock (_lock)
            {
                if (_connections.Count >= _maxConnections)
                {
                    _refused(remote?.ToString(), _maxConnections);
                    client.Dispose();
                    continue;
                }
                _connections.Add(client);
                _running.RemoveAll(t => t.IsCompleted);
                _running.Add(_serve(client, remote));
            }
        }
    }

    /// <summary>The connection <paramref name="client"/> ended: it leaves the count and is closed.</summary>
    public void Release(Socket client)
    {
        lock (_lock)
        {
            _connections.Remove(client);
        }
        client.Dispose();
    }

    /// <summary>Stops accepting; connections already open stay.</summary>
    public void StopAccepting()
    {
        if (!_stopping.IsCancellationRequested)
        {
            _stopping.Cancel();
        }
        _socket.Dispose();
    }

    /// <summary>Stops accepting and cuts every connection still open; waits for their handlers to end.</summary>
    public async ValueTask DisposeAsync()
    {
        StopAccepting();
        await _acceptLoop.ConfigureAwait(false);
        Task[] running;
        lock (_lock)
        {
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }
            running = [.. _running];
        }
        // A handler logs its own failures; one that still faults must not fail the edge's shutdown (nor hide the others).
        await Task.WhenAll(running).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
    }
}
