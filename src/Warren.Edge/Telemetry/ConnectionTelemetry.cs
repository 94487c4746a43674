using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.Connections;
using Prometheus;

namespace Warren.Edge.Telemetry;

/// <summary>
/// Bytes moved on one client connection (after TLS), kept as a connection feature. A request reads the counters
/// when it starts and when it ends: the difference is what it moved, headers included, with no per-request
/// allocation. On HTTP/2, where requests share a connection concurrently, the access log falls back to
/// Content-Length (docs/observability.md).
/// </summary>
internal sealed class ConnectionBytes
{
    internal long _received;
    internal long _sent;

    public long Received => Volatile.Read(ref _received);
    public long Sent => Volatile.Read(ref _sent);
}

/// <summary>Connection middleware for a listener: counts connections (total, open) and the bytes each one moves.</summary>
internal static class ConnectionTelemetry
{
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware(EdgeMetrics metrics, string listener, bool countBytes)
    {
        var open = metrics.ConnectionsOpen.WithLabels(listener);
        var total = metrics.Connections.WithLabels(listener);
        return next => async connection =>
        {
            total.Inc();
            open.Inc();
            var original = connection.Transport;
            if (countBytes)
            {
                var bytes = new ConnectionBytes();
                connection.Features.Set(bytes);
                connection.Transport = new CountingDuplexPipe(original, bytes);
            }
            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                connection.Transport = original;
                open.Dec();
            }
        };
    }

    private sealed class CountingDuplexPipe(IDuplexPipe inner, ConnectionBytes bytes) : IDuplexPipe
    {
        public PipeReader Input { get; } = new CountingReader(inner.Input, bytes);
        public PipeWriter Output { get; } = new CountingWriter(inner.Output, bytes);
    }

    /// <summary>
    /// Counts what the application consumes. A read that waits completes through this reader's own value-task source
    /// (one per connection), not an async method: a keep-alive connection's every request starts with such a read.
    /// </summary>
    private sealed class CountingReader(PipeReader inner, ConnectionBytes bytes) : PipeReader, IValueTaskSource<ReadResult>
    {
        private ReadOnlySequence<byte> _last;
        private ManualResetValueTaskSourceCore<ReadResult> _core;
        private ValueTask<ReadResult> _pending;
        private Action? _onPendingCompleted;

        public override bool TryRead(out ReadResult result)
        {
            var ok = inner.TryRead(out result);
            if (ok)
            {
                _last = result.Buffer;
            }
            return ok;
        }

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var pending = inner.ReadAsync(cancellationToken);
            if (pending.IsCompletedSuccessfully)
            {
                var result = pending.Result;
                _last = result.Buffer;
                return new ValueTask<ReadResult>(result);
            }
            _core.Reset();
            _pending = pending;
            pending.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_onPendingCompleted ??= OnPendingCompleted);
            return new ValueTask<ReadResult>(this, _core.Version);
        }

        private void OnPendingCompleted()
        {
            var pending = _pending;
            _pending = default;
            try
            {
                var result = pending.GetAwaiter().GetResult();
                _last = result.Buffer;
                _core.SetResult(result);
            }
            catch (Exception ex)
            {
                _core.SetException(ex);
            }
        }

        ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        public override void AdvanceTo(SequencePosition consumed)
        {
            Count(consumed);
            inner.AdvanceTo(consumed);
        }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            Count(consumed);
            inner.AdvanceTo(consumed, examined);
        }

        private void Count(SequencePosition consumed)
        {
            if (!_last.IsEmpty)
            {
                Interlocked.Add(ref bytes._received, _last.Slice(_last.Start, consumed).Length);
            }
            _last = default;
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();
        public override void Complete(Exception? exception = null) => inner.Complete(exception);
        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }

    private sealed class CountingWriter(PipeWriter inner, ConnectionBytes bytes) : PipeWriter
    {
        public override void Advance(int count)
        {
            Interlocked.Add(ref bytes._sent, count);
            inner.Advance(count);
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        public override void CancelPendingFlush() => inner.CancelPendingFlush();
        public override void Complete(Exception? exception = null) => inner.Complete(exception);
        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes;
    }
}
