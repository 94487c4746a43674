using System.Net.Security;
using System.Net.Sockets;

namespace Warren.Agent.Services;

/// <summary>
/// What the agent does to a backend connection when the tunnel stream it serves is cut: reset it. A plain close
/// (FIN) would tell the backend that its client finished; a database, an SSH server or an upload handler would then
/// take a truncated exchange for a complete one. Linger 0 turns the close into an RST (RELIABILITY (a) D3; the edge
/// does the same to the client when the backend's side is cut).
/// </summary>
internal static class BackendConnection
{
    /// <summary>
    /// Closes <paramref name="target"/>'s socket (as LocalService.DialAsync made it) with an RST, now. Linger 0 alone
    /// is not enough: disposing a NetworkStream that owns its socket shuts both directions down first, and that FIN
    /// reaches the backend before the RST, which reads it as a clean end. The stream's own dispose later finds the
    /// socket closed and sends nothing.
    /// </summary>
    public static void Reset(Stream target)
    {
        var socket = SocketOf(target);
        try
        {
            socket?.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed by the backend: nothing left to reset.
        }
        socket?.Dispose();
    }

    /// <summary>
    /// Ends what <paramref name="target"/> sends towards the edge, as if the backend had finished (shutdown of the
    /// socket's receive side: the splice reads end-of-stream and passes a FIN on), without touching what goes to the
    /// backend: the client closes on that FIN, and its close reaches the backend as a FIN too. How a drain's timeout
    /// closes a long-lived TCP stream cleanly (docs/operations.md, "Restarts and upgrades").
    /// </summary>
    public static void EndInput(Stream target)
    {
        try
        {
            SocketOf(target)?.Shutdown(SocketShutdown.Receive);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed: nothing left to end.
        }
    }

    private static Socket? SocketOf(Stream target) => target switch
    {
        NetworkStream network => network.Socket,
        TlsStream tls => tls.Socket,
        _ => null,
    };

    /// <summary>TLS to an https:// target, keeping its socket reachable for <see cref="Reset"/>.</summary>
    internal sealed class TlsStream(NetworkStream inner) : SslStream(inner, leaveInnerStreamOpen: false)
    {
        public Socket Socket { get; } = inner.Socket;
    }
}
