using System.Net.Sockets;
using Warren.Edge.Routing;

namespace Warren.Edge.Tcp;

/// <summary>
/// A TCP service the operator drains or holds in maintenance (docs/operations.md, "Draining a service and
/// maintenance") refuses new connections: each is reset before any byte (linger 0), as a refused connection reads,
/// while the open ones go on. The port itself stays bound, so nothing else can take it meanwhile and the service
/// comes back at once when the hold ends. Called by TcpServiceHost as soon as it knows the connection's service.
/// </summary>
internal static class TcpServiceControl
{
    /// <summary>True when <paramref name="service"/> is held: <paramref name="client"/> is then set to reset on close.</summary>
    public static bool Refuses(Socket client, ServiceEntry service)
    {
        if (service.Control is null)
        {
            return false;
        }
        client.LingerState = new LingerOption(true, 0);
        return true;
    }
}
