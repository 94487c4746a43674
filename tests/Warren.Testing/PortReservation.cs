using System.Net;
using System.Net.Sockets;

namespace Warren.Testing;

/// <summary>
/// A loopback port bound (port 0, chosen by the OS) but never listened on, held until disposed. Nothing else can
/// be handed the port meanwhile, and a connection to it is refused, so it serves two needs without the race of
/// pick-then-release:
/// <list type="bullet">
/// <item>a port where nothing listens (a backend that is down);</item>
/// <item>a TCP service port the agent must name before the edge listens on it: on Linux a socket may bind a port
/// that another holds without listening when both set SO_REUSEADDR, and .NET sets it on every TCP socket it binds
/// on Unix, so the edge's listener takes the port while this reservation keeps it from anybody else.</item>
/// </list>
/// Every other port (the edge's listeners, backends, agent admin) is bound to 0 and read back from the listener,
/// the edge's log line or the admin API.
/// </summary>
internal sealed class PortReservation : IDisposable
{
    private readonly Socket _socket;

    private PortReservation()
    {
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
        Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
    }

    public int Port { get; }

    public static PortReservation Reserve() => new();

    public void Dispose() => _socket.Dispose();
}
