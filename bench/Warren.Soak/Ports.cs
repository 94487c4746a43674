using System.Net;
using System.Net.Sockets;

namespace Warren.Soak;

internal static class Ports
{
    /// <summary>
    /// A loopback port that was free a moment ago: the soak writes its ports into edge.yaml and agent.yaml before the
    /// processes start. (The tests reserve ports instead: tests/Warren.Testing/PortReservation.cs.)
    /// </summary>
    public static int Free()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
