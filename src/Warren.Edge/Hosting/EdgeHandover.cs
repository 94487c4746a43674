using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Warren.Edge.Hosting;

/// <summary>
/// An edge upgrade without refusing anyone (docs/operations.md, "Upgrading the edge without refusing anyone"). A
/// running edge listens on a unix socket in its data directory, <c>{data}/edge.sock</c>; a new <c>warren edge</c> with
/// the same data directory connects to it before it binds anything, receives every listening socket (public HTTP and
/// HTTPS, admin, agents, each TCP service port: SCM_RIGHTS, Hosting/SocketPassing.cs) and starts on them. Once it
/// serves, it says <c>ready</c>: the old edge then lets go of the sockets without closing them (they stay open, with
/// their queues, in the new one) and drains: GOAWAY to every agent, which connects again at once and lands on the new
/// edge, in-flight requests and streams finish. Meanwhile requests the new edge accepted wait in the grace queue
/// (the services it knows from warren.db, Routing/KnownServices.cs) until the agents are back.
/// <para>
/// The exchange, one SOCK_SEQPACKET message each: the new edge sends <c>handover 1</c>; the old answers
/// <c>socket NAME</c> with the descriptor attached, once per socket, then <c>end</c>; the new one sends <c>ready</c>
/// when it serves (or closes the connection when its start failed: the old edge then goes on as if nothing happened).
/// Only a process of the same user (or root) is answered (SO_PEERCRED), and the data directory is 0700.
/// </para>
/// </summary>
internal static partial class EdgeHandover
{
    public const string SocketFileName = "edge.sock";
    private const string Request = "handover 1";
    private const string Ready = "ready";
    private const string End = "end";
    private const string SocketPrefix = "socket ";
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The control socket of the edge using <paramref name="dataDirectory"/>.</summary>
    public static string PathOf(string dataDirectory) => Path.Combine(Path.GetFullPath(dataDirectory), SocketFileName);

    /// <summary>
    /// Takes the listening sockets of the edge running on <paramref name="dataDirectory"/>; null when none runs (no
    /// control socket, or a stale one nobody listens on) or upgrades are not possible here (not Linux).
    /// </summary>
    public static Predecessor? TakeOver(string dataDirectory, ILogger logger)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        var path = PathOf(dataDirectory);
        if (!File.Exists(path))
        {
            return null;
        }
        var unix = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        try
        {
            unix.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable)
        {
            unix.Dispose();
            return null; // left behind by an edge that stopped
        }
        var sockets = new Dictionary<string, Socket>(StringComparer.Ordinal);
        try
        {
            unix.Send(Encoding.ASCII.GetBytes(Request));
            var buffer = new byte[512];
            while (true)
            {
                if (!unix.Poll(ReplyTimeout, SelectMode.SelectRead))
                {
                    throw new IOException($"the running edge did not hand its sockets over within {ReplyTimeout.TotalSeconds:0} s ({path})");
                }
                var (length, descriptor) = SocketPassing.Receive(unix, buffer);
                var message = Encoding.ASCII.GetString(buffer, 0, length);
                if (descriptor >= 0)
                {
                    var socket = new Socket(new SafeSocketHandle(descriptor, ownsHandle: true));
                    if (!message.StartsWith(SocketPrefix, StringComparison.Ordinal) || !sockets.TryAdd(message[SocketPrefix.Length..], socket))
                    {
                        socket.Dispose();
                        throw new IOException($"the running edge sent an unexpected message: {Printable(message)}");
                    }
                    continue;
                }
                if (message == End)
                {
                    break;
                }
                throw new IOException(length == 0
                    ? "the running edge closed the handover (another upgrade is under way?)"
                    : $"the running edge sent an unexpected message: {Printable(message)}");
            }
        }
        catch
        {
            foreach (var socket in sockets.Values)
            {
                socket.Dispose();
            }
            unix.Dispose();
            throw;
        }
        Log.TookOver(logger, sockets.Count, path);
        return new Predecessor(unix, sockets);
    }

    private static string Printable(string message) => message.Length > 80 ? message[..80] + "..." : message;

    /// <summary>The edge this one takes over from: its sockets, and the connection on which to tell it to drain.</summary>
    internal sealed class Predecessor(Socket connection, IReadOnlyDictionary<string, Socket> sockets) : IDisposable
    {
        public IReadOnlyDictionary<string, Socket> Sockets { get; } = sockets;

        /// <summary>This edge serves: the old one lets go of the sockets and drains.</summary>
        public void Serving()
        {
            try
            {
                connection.Send(Encoding.ASCII.GetBytes(Ready));
            }
            catch (SocketException)
            {
                // The old edge is gone already: nothing to tell.
            }
            connection.Dispose();
        }

        /// <summary>The start failed: the old edge goes on serving.</summary>
        public void Dispose() => connection.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1110, LogLevel.Information, "Upgrade: took over {Count} listening sockets from the running edge ({Path}); it drains once this one serves", EventName = "HandoverTookOver")]
        public static partial void TookOver(ILogger logger, int count, string path);
    }
}
