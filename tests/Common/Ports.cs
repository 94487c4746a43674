using System.Net;
using System.Net.Sockets;

namespace Warren.Tests.Common;

public static class Ports
{
    /// <summary>A loopback port that was free a moment ago (for listeners whose port must be known before they start).</summary>
    public static int Free()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>A loopback port with nothing listening on it (bound, never listened, then released).</summary>
    public static int Closed()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
