using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Warren.FaultTests.Harness;

/// <summary>What a <see cref="FaultRelay"/> does to the bytes it carries (switchable while connections are live).</summary>
public enum RelayMode
{
    /// <summary>Forward as read.</summary>
    Pass,

    /// <summary>
    /// A partition without a reset: bytes are read and dropped in both directions, sockets stay open, and no FIN
    /// or RST is passed on. Sticky per connection: a connection that was blackholed never forwards again (its
    /// stream has a hole), while connections accepted after the relay returns to <see cref="Pass"/> are healthy.
    /// </summary>
    Blackhole,

    /// <summary>Each chunk is held <see cref="FaultRelay.Delay"/> after it was read, then forwarded; order is kept.</summary>
    Delay,

    /// <summary>At most <see cref="FaultRelay.BytesPerSecond"/> per direction per connection.</summary>
    Bandwidth,

    /// <summary>Every chunk is written in pieces of 1 to <see cref="FaultRelay.MaxSlice"/> bytes, each its own send.</summary>
    Slice,

    /// <summary>Every connection, live or new, is reset: SO_LINGER 0 then close, so the peers see an RST.</summary>
    Reset,
}

/// <summary>
/// A TCP relay on 127.0.0.1 placed between two peers (agent and edge, or client and edge) that injects faults:
/// see <see cref="RelayMode"/>, in the spirit of frp's half-open relay and toxiproxy's toxics, with no iptables.
/// Each direction of a connection is a reader and a writer joined by a bounded queue of pooled 16 KiB chunks, so a
/// connection never holds more than 2 × <see cref="QueueChunks"/> chunks whatever the mode. Every connection ever
/// accepted stays in <see cref="Connections"/> so a test can watch it close.
/// </summary>
internal sealed class FaultRelay : IAsyncDisposable
{
    private const int ChunkSize = 16 * 1024;
    private const int QueueChunks = 16;

    private readonly Socket _listener;
    private readonly IPEndPoint _target;
    private readonly TestLog _log;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentQueue<RelayConnection> _connections = new();
    private readonly Task _acceptLoop;
    private volatile RelayMode _mode;
    private long _forwarded;
    private int _nextId;

    private FaultRelay(IPEndPoint target, TestLog log)
    {
        _target = target;
        _log = log;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(128);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>Starts relaying from a fresh loopback port to <paramref name="targetPort"/> on 127.0.0.1.</summary>
    public static FaultRelay Start(int targetPort, TestLog log) => new(new IPEndPoint(IPAddress.Loopback, targetPort), log);

    public int Port { get; }

    /// <summary>"127.0.0.1:port", for an agent's <c>edge</c> setting.</summary>
    public string Address => $"127.0.0.1:{Port}";

    public TimeSpan Delay { get; set; } = TimeSpan.FromMilliseconds(20);

    public int BytesPerSecond { get; set; } = 1024 * 1024;

    public int MaxSlice { get; set; } = 7;

    /// <summary>Bytes written to either side so far.</summary>
    public long BytesForwarded => Interlocked.Read(ref _forwarded);

    public IReadOnlyList<RelayConnection> Connections => [.. _connections];

    public RelayMode Mode
    {
        get => _mode;
        set
        {
            _mode = value;
            _log.Write("relay", $"mode {value}");
            foreach (var connection in _connections)
            {
                if (value == RelayMode.Blackhole)
                {
                    connection.Blackholed = true;
                }
                else if (value == RelayMode.Reset)
                {
                    connection.Reset();
                }
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            var connection = new RelayConnection(Interlocked.Increment(ref _nextId), client, _log);
            _connections.Enqueue(connection);
            _ = RunAsync(connection);
        }
    }

    private async Task RunAsync(RelayConnection connection)
    {
        if (_mode == RelayMode.Reset)
        {
            connection.Reset();
            return;
        }
        connection.Blackholed = _mode == RelayMode.Blackhole;
        try
        {
            await connection.Server.ConnectAsync(_target, connection.Aborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            _log.Write("relay", $"#{connection.Id}: cannot reach {_target}: {ex.Message}");
            connection.Reset();
            return;
        }
        _log.Write("relay", $"#{connection.Id}: {connection.Client.RemoteEndPoint} <-> {_target}");
        await Task.WhenAll(
            PumpAsync(connection, connection.Client, connection.Server, "up"),
            PumpAsync(connection, connection.Server, connection.Client, "down")).ConfigureAwait(false);
        connection.Finish();
    }

    /// <summary>One direction: a reader fills the bounded queue, a writer empties it applying the current mode.</summary>
    private async Task PumpAsync(RelayConnection connection, Socket from, Socket to, string direction)
    {
        var queue = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(QueueChunks) { SingleReader = true, SingleWriter = true });
        var reader = ReadAsync(connection, from, queue.Writer);
        var writer = WriteAsync(connection, to, queue.Reader);
        var ended = await Task.WhenAll(reader, writer).ContinueWith(t => t.Exception?.GetBaseException(), TaskScheduler.Default).ConfigureAwait(false);
        while (queue.Reader.TryRead(out var left))
        {
            ArrayPool<byte>.Shared.Return(left.Buffer);
        }
        if (ended is not null && ended is not OperationCanceledException && !connection.Blackholed)
        {
            // A reset or failure on one side is passed on as a reset, as a router would not do but a proxy does.
            _log.Write("relay", $"#{connection.Id} {direction}: {ended.GetType().Name}: {ended.Message}; resetting");
            connection.Reset();
        }
    }

    private static async Task ReadAsync(RelayConnection connection, Socket from, ChannelWriter<Chunk> queue)
    {
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                int n;
                try
                {
                    n = await from.ReceiveAsync(buffer.AsMemory(0, ChunkSize), SocketFlags.None, connection.Aborted).ConfigureAwait(false);
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw;
                }
                if (n == 0 || connection.Blackholed)
                {
                    // A blackholed connection drops what arrives (and keeps reading, so it sees the peer leave).
                    ArrayPool<byte>.Shared.Return(buffer);
                    if (n == 0)
                    {
                        break;
                    }
                    continue;
                }
                await queue.WriteAsync(new Chunk(buffer, n, Stopwatch.GetTimestamp()), connection.Aborted).ConfigureAwait(false);
            }
            queue.Complete();
        }
        catch (Exception ex)
        {
            queue.Complete(ex);
            throw;
        }
    }

    private async Task WriteAsync(RelayConnection connection, Socket to, ChannelReader<Chunk> queue)
    {
        await foreach (var chunk in queue.ReadAllAsync(connection.Aborted).ConfigureAwait(false))
        {
            try
            {
                if (connection.Blackholed)
                {
                    continue;
                }
                var data = chunk.Buffer.AsMemory(0, chunk.Length);
                switch (_mode)
                {
                    case RelayMode.Delay:
                        var due = Delay - Stopwatch.GetElapsedTime(chunk.ReadAt);
                        if (due > TimeSpan.Zero)
                        {
                            await Task.Delay(due, connection.Aborted).ConfigureAwait(false);
                        }
                        await SendAllAsync(to, data, connection.Aborted).ConfigureAwait(false);
                        break;
                    case RelayMode.Bandwidth:
                        // Paced per chunk: a chunk of n bytes takes n / rate seconds, so the rate never exceeds the cap.
                        var started = Stopwatch.GetTimestamp();
                        await SendAllAsync(to, data, connection.Aborted).ConfigureAwait(false);
                        var rest = TimeSpan.FromSeconds((double)data.Length / Math.Max(1, BytesPerSecond)) - Stopwatch.GetElapsedTime(started);
                        if (rest > TimeSpan.Zero)
                        {
                            await Task.Delay(rest, connection.Aborted).ConfigureAwait(false);
                        }
                        break;
                    case RelayMode.Slice:
                        for (var offset = 0; offset < data.Length;)
                        {
                            var size = Math.Min(data.Length - offset, Random.Shared.Next(1, Math.Max(1, MaxSlice) + 1));
                            await SendAllAsync(to, data.Slice(offset, size), connection.Aborted).ConfigureAwait(false);
                            offset += size;
                        }
                        break;
                    default:
                        await SendAllAsync(to, data, connection.Aborted).ConfigureAwait(false);
                        break;
                }
                Interlocked.Add(ref _forwarded, data.Length);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(chunk.Buffer);
            }
        }
        if (!connection.Blackholed)
        {
            // The reader saw a FIN: pass the half-close on.
            to.Shutdown(SocketShutdown.Send);
        }
    }

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var sent = await socket.SendAsync(data, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            data = data[sent..];
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        foreach (var connection in _connections)
        {
            connection.Reset();
        }
        _stopping.Dispose();
    }

    private readonly record struct Chunk(byte[] Buffer, int Length, long ReadAt);
}

/// <summary>One relayed connection: the accepted socket, the one to the target, and how it ended.</summary>
internal sealed class RelayConnection
{
    private readonly CancellationTokenSource _abort = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TestLog _log;
    private volatile bool _blackholed;

    public RelayConnection(int id, Socket client, TestLog log)
    {
        Id = id;
        Client = client;
        _log = log;
        Client.NoDelay = true;
        Server.NoDelay = true;
    }

    public int Id { get; }

    public Socket Client { get; }

    public Socket Server { get; } = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    /// <summary>Once set, stays set (see <see cref="RelayMode.Blackhole"/>).</summary>
    public bool Blackholed
    {
        get => _blackholed;
        set => _blackholed |= value;
    }

    /// <summary>Completes when both sockets are closed (both peers left, or a reset).</summary>
    public Task Closed => _closed.Task;

    public bool IsClosed => _closed.Task.IsCompleted;

    internal CancellationToken Aborted => _abort.Token;

    /// <summary>Resets both sides (RST, not FIN) and ends the pumps.</summary>
    public void Reset()
    {
        if (IsClosed)
        {
            return;
        }
        foreach (var socket in new[] { Client, Server })
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }
        }
        Finish();
    }

    /// <summary>Both directions ended (or a reset): close the sockets and report it.</summary>
    internal void Finish()
    {
        if (!_closed.TrySetResult())
        {
            return;
        }
        try
        {
            _abort.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
        Client.Dispose();
        Server.Dispose();
        _log.Write("relay", $"#{Id}: closed");
    }
}
