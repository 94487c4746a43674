using System.Net;
using System.Net.Sockets;

namespace Warren.Edge.Hosting;

/// <summary>
/// Every listening socket of the edge, by name: <c>http</c>, <c>https</c>, <c>admin</c>, <c>agents</c> and
/// <c>tcp:PORT</c> for each TCP service. A new edge that takes over from a running one (Hosting/EdgeHandover.cs)
/// starts with the old one's sockets here and listens on those very sockets; otherwise each is bound fresh. The
/// edge can then hand what it holds to its own successor.
/// <para>
/// Why the sockets themselves and not SO_REUSEPORT: with SO_REUSEPORT each process has its own socket and its own
/// accept queue, and Linux spreads new connections over them; when the old process closes its socket, the
/// connections already queued on it (handshake done, not accepted yet) are reset, which under load is a handful of
/// refused clients at every upgrade (unless the host enables net.ipv4.tcp_migrate_req, Linux 5.14). A socket passed
/// over a unix socket (SCM_RIGHTS) is one socket with one queue in both processes: whatever the old one leaves in it,
/// the new one accepts. It needs no host setting and works whatever user and capabilities the new process has, since
/// it binds nothing (ports below 1024 included).
/// </para>
/// </summary>
internal sealed class ListenSockets
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Socket> _inherited;
    private readonly Dictionary<string, Socket> _held = new(StringComparer.Ordinal);

    public ListenSockets(IReadOnlyDictionary<string, Socket>? inherited = null) =>
        _inherited = new Dictionary<string, Socket>(inherited ?? new Dictionary<string, Socket>(), StringComparer.Ordinal);

    /// <summary>How many sockets came from the previous edge and were taken (logged at start).</summary>
    public int Reused { get; private set; }

    /// <summary>
    /// The socket for <paramref name="name"/>, bound to <paramref name="endPoint"/> (not listening yet: the caller
    /// listens): the previous edge's when it has one on the same address (and the same port, or any port for port
    /// 0), else a new one. A port in use is an <see cref="IOException"/> naming the listener.
    /// </summary>
    public Socket Bind(string name, IPEndPoint endPoint)
    {
        lock (_lock)
        {
            if (_inherited.Remove(name, out var inherited))
            {
                if (inherited.LocalEndPoint is IPEndPoint bound && bound.Address.Equals(endPoint.Address) && (endPoint.Port == 0 || bound.Port == endPoint.Port))
                {
                    _held[name] = inherited;
                    Reused++;
                    return inherited;
                }
                Close(inherited); // the address changed: the old edge's socket closes when it drains
            }
        }
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            socket.Bind(endPoint);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new IOException($"cannot listen on {endPoint} ({Describe(name)}): {ex.Message}", ex);
        }
        lock (_lock)
        {
            _held[name] = socket;
        }
        return socket;
    }

    /// <summary>Kestrel's SocketTransportOptions.CreateBoundListenSocket: the socket bound for that address by <see cref="Bind"/>.</summary>
    public Socket ForKestrel(EndPoint endPoint)
    {
        lock (_lock)
        {
            foreach (var socket in _held.Values)
            {
                if (socket.LocalEndPoint is IPEndPoint bound && bound.Equals(endPoint))
                {
                    return socket;
                }
            }
        }
        throw new InvalidOperationException($"no listening socket was bound for {endPoint}");
    }

    /// <summary>What this edge listens on now, for a successor.</summary>
    public IReadOnlyList<(string Name, Socket Socket)> Held
    {
        get
        {
            lock (_lock)
            {
                return [.. _held.Select(p => (p.Key, p.Value))];
            }
        }
    }

    /// <summary>
    /// The edge hands its sockets on, or has handed them on: from now on closing any of them (which Kestrel and the
    /// listeners do as they stop) leaves the socket itself open for the successor (SocketPassing.Detach).
    /// </summary>
    public void DetachAll()
    {
        lock (_lock)
        {
            foreach (var socket in _held.Values)
            {
                Detach(socket);
            }
            _held.Clear();
        }
    }

    /// <summary>Closes a listening socket this edge no longer needs, leaving it open where another process shares it.</summary>
    public void Close(Socket socket)
    {
        lock (_lock)
        {
            foreach (var (name, held) in _held)
            {
                if (held == socket)
                {
                    _held.Remove(name);
                    break;
                }
            }
        }
        Detach(socket);
        socket.Dispose();
    }

    /// <summary>The previous edge's sockets this edge did not take (a TCP port it no longer knows): closed here, open in the old edge until it drains.</summary>
    public void CloseUnclaimed()
    {
        List<Socket> unclaimed;
        lock (_lock)
        {
            unclaimed = [.. _inherited.Values];
            _inherited.Clear();
        }
        foreach (var socket in unclaimed)
        {
            Detach(socket);
            socket.Dispose();
        }
    }

    private static void Detach(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // no handover there: nothing shares the socket
        }
        try
        {
            SocketPassing.Detach(socket);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static string Describe(string name) => name.StartsWith("tcp:", StringComparison.Ordinal) ? "TCP service port" : $"listen.{name}";
}
