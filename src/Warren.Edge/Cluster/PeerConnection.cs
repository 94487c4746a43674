using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Warren.Protocol.Framing;
using Warren.Protocol.Streams;

namespace Warren.Edge.Cluster;

/// <summary>
/// One HTTP stream from another edge, as a Kestrel connection (Cluster/PeerHttpTransport.cs): the holding edge runs
/// its whole request pipeline on it, with the client's address and the scheme the forwarding edge's client used
/// (<see cref="PeerOrigin"/>) as if the client had connected here.
/// </summary>
internal sealed class PeerConnection : ConnectionContext, IConnectionLifetimeFeature, IConnectionEndPointFeature, IConnectionIdFeature, IConnectionItemsFeature
{
    private static long s_nextId;
    private readonly MuxStream _stream;
    private readonly CancellationTokenSource _closed = new();
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private int _disposed;

    public PeerConnection(MuxStream stream, IPEndPoint client, IPEndPoint local, PeerOrigin origin)
    {
        _stream = stream;
        _input = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        _output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
        Transport = new DuplexPipe(_input, _output);
        RemoteEndPoint = client;
        LocalEndPoint = local;
        ConnectionId = "peer-" + Interlocked.Increment(ref s_nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set(origin);
    }

    public override string ConnectionId { get; set; }
    public override IFeatureCollection Features { get; } = new FeatureCollection();
    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();
    public override IDuplexPipe Transport { get; set; }
    public override EndPoint? RemoteEndPoint { get; set; }
    public override EndPoint? LocalEndPoint { get; set; }
    public override CancellationToken ConnectionClosed { get => _closed.Token; set => throw new NotSupportedException(); }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _stream.Abort(ErrorCode.Cancel);
        _ = _closed.CancelAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await base.DisposeAsync().ConfigureAwait(false);
            return;
        }
        await _input.CompleteAsync().ConfigureAwait(false);
        await _output.CompleteAsync().ConfigureAwait(false);
        if (_stream.ResetCode is null)
        {
            // Kestrel ended the connection (Connection: close, keep-alive timeout): a FIN after the response, then the
            // forwarding edge's end of the stream, so no reset can overtake the last response bytes.
            _stream.CompleteWrites();
            await DrainAsync().ConfigureAwait(false);
        }
        await _stream.DisposeAsync().ConfigureAwait(false); // released when both sides ended, else a reset
        await _closed.CancelAsync().ConfigureAwait(false);
        _closed.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Reads what the forwarding edge still sends until its FIN, for at most <see cref="CloseWait"/>.</summary>
    private async Task DrainAsync()
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(512);
        try
        {
            using var limit = new CancellationTokenSource(CloseWait);
            while (await _stream.ReadAsync(buffer, limit.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // Reset, gone, or too slow: the dispose below resets what is left.
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>How long a closing connection waits for the forwarding edge to end its side of the stream.</summary>
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(5);

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
