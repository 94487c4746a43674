using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Warren.Edge.Hosting;

/// <summary>
/// The running edge's side of an upgrade (Hosting/EdgeHandover.cs): <c>{data}/edge.sock</c>, where a new edge asks for
/// the listening sockets. <see cref="Superseded"/> completes when the new edge serves; the edge then drains.
/// </summary>
internal sealed partial class HandoverListener : IAsyncDisposable
{
    private const int SoPeerCred = 17;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _listener;
    private readonly ListenSockets _sockets;
    private readonly Func<Task> _prepare;
    private readonly ILogger _logger;
    private readonly TaskCompletionSource _superseded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _acceptLoop;
    private int _busy;
    private int _sent;

    private HandoverListener(Socket listener, ListenSockets sockets, Func<Task> prepare, ILogger logger)
    {
        _listener = listener;
        _sockets = sockets;
        _prepare = prepare;
        _logger = logger;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Completes when a new edge took the sockets over and serves: this one must drain now.</summary>
    public Task Superseded => _superseded.Task;

    /// <summary>Whether the sockets went to another process (even one whose start then failed): they are shared from then on, and must be let go of, never closed (SocketPassing.Detach).</summary>
    public bool SocketsSent => Volatile.Read(ref _sent) != 0;

    /// <summary>
    /// Listens on <c>{data}/edge.sock</c>, replacing the previous edge's (a rename, so a new edge never finds no
    /// socket there); null where upgrades are not possible (not Linux, or a path too long for a unix socket).
    /// <paramref name="prepare"/> runs before the sockets are sent (warren.db gets the routes the new edge restores).
    /// </summary>
    public static HandoverListener? Start(string dataDirectory, ListenSockets sockets, Func<Task> prepare, ILogger logger)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        var path = EdgeHandover.PathOf(dataDirectory);
        var temporary = $"{path}.{Environment.ProcessId}";
        UnixDomainSocketEndPoint endPoint;
        try
        {
            endPoint = new UnixDomainSocketEndPoint(temporary);
        }
        catch (ArgumentOutOfRangeException)
        {
            Log.PathTooLong(logger, path);
            return null;
        }
        File.Delete(temporary);
        var listener = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        try
        {
            listener.Bind(endPoint);
            listener.Listen(4);
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            listener.Dispose();
            File.Delete(temporary);
            throw;
        }
        return new HandoverListener(listener, sockets, prepare, logger);
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket connection;
            try
            {
                connection = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }
                continue;
            }
            _ = HandleAsync(connection);
        }
    }

    private async Task HandleAsync(Socket connection)
    {
        using var _ = connection;
        var peer = Peer(connection);
        if (peer.User != SocketPassing.EffectiveUser && peer.User != 0)
        {
            Log.RefusedUser(_logger, peer.Pid, peer.User);
            return;
        }
        var buffer = new byte[64];
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(RequestTimeout);
            var length = await connection.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            if (Encoding.ASCII.GetString(buffer, 0, length) != "handover 1")
            {
                return;
            }
            if (_superseded.Task.IsCompleted || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            {
                return; // one handover at a time; the closed connection tells the other new edge so
            }
            try
            {
                await _prepare().ConfigureAwait(false);
                var held = _sockets.Held;
                Volatile.Write(ref _sent, 1);
                foreach (var (name, socket) in held)
                {
                    SocketPassing.Send(connection, Encoding.ASCII.GetBytes("socket " + name), (int)socket.SafeHandle.DangerousGetHandle());
                }
                SocketPassing.Send(connection, "end"u8, -1);
                Log.HandedOver(_logger, held.Count, peer.Pid);
                // Now the new edge starts on them; it says "ready" when it serves, or closes when its start failed.
                length = await connection.ReceiveAsync(buffer, SocketFlags.None, _stopping.Token).ConfigureAwait(false);
                if (Encoding.ASCII.GetString(buffer, 0, length) == "ready")
                {
                    Log.Superseded(_logger, peer.Pid);
                    _superseded.TrySetResult();
                }
                else
                {
                    Log.SuccessorFailed(_logger, peer.Pid);
                }
            }
            finally
            {
                Volatile.Write(ref _busy, 0);
            }
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            if (!_stopping.IsCancellationRequested)
            {
                Log.HandoverFailed(_logger, peer.Pid, ex.Message);
            }
        }
    }

    /// <summary>SO_PEERCRED: struct ucred { pid_t pid; uid_t uid; gid_t gid; }.</summary>
    private static (int Pid, uint User) Peer(Socket connection)
    {
        Span<byte> credentials = stackalloc byte[12];
        connection.GetRawSocketOption(1, SoPeerCred, credentials);
        return (BitConverter.ToInt32(credentials), BitConverter.ToUInt32(credentials[4..]));
    }

    /// <summary>No further handover (the edge drains): the socket file stays, and a new edge finds nobody listening on it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(1111, LogLevel.Information, "Upgrade: handed {Count} listening sockets to a new edge (pid {Pid}); serving on until it is up", EventName = "HandoverSent")]
        public static partial void HandedOver(ILogger logger, int count, int pid);

        [LoggerMessage(1112, LogLevel.Information, "Upgrade: the new edge (pid {Pid}) serves; this one lets go of the listening sockets and drains", EventName = "HandoverSuperseded")]
        public static partial void Superseded(ILogger logger, int pid);

        [LoggerMessage(1113, LogLevel.Warning, "Upgrade: the new edge (pid {Pid}) did not start; this one goes on serving", EventName = "HandoverSuccessorFailed")]
        public static partial void SuccessorFailed(ILogger logger, int pid);

        [LoggerMessage(1114, LogLevel.Warning, "Upgrade: handover to pid {Pid} failed: {Message}", EventName = "HandoverFailed")]
        public static partial void HandoverFailed(ILogger logger, int pid, string message);

        [LoggerMessage(1115, LogLevel.Warning, "Upgrade: refused a handover request from pid {Pid} (user {User}): only this edge's user or root may ask", EventName = "HandoverRefusedUser")]
        public static partial void RefusedUser(ILogger logger, int pid, uint user);

        [LoggerMessage(1116, LogLevel.Warning, "Upgrade without refusing anyone is off: {Path} is too long for a unix socket (108 bytes); use a shorter data directory", EventName = "HandoverPathTooLong")]
        public static partial void PathTooLong(ILogger logger, string path);
    }
}
