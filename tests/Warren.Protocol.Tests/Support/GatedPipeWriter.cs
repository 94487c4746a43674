using System.IO.Pipelines;

namespace Warren.Protocol.Tests.Support;

/// <summary>
/// The session's output with a latch: once <see cref="Hold"/> is called, the next flush started by a thread of a flow
/// that called <see cref="MarkThisFlow"/> blocks that thread until <see cref="Release"/>. A session's producer flushes
/// inline while it holds the writer's gate, so this pins the gate to that producer for as long as a test needs.
/// Everything else passes straight through.
/// </summary>
internal sealed class GatedPipeWriter(PipeWriter inner) : PipeWriter
{
    private static readonly AsyncLocal<bool> s_marked = new();
    private readonly ManualResetEventSlim _released = new(initialState: true);
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _armed;

    /// <summary>Completes once a marked flow's flush is blocked.</summary>
    public Task Entered => _entered.Task;

    /// <summary>Flushes of the calling flow (this thread and what it awaits) are the ones <see cref="Hold"/> blocks.</summary>
    public static void MarkThisFlow() => s_marked.Value = true;

    public void Hold()
    {
        _released.Reset();
        _armed = true;
    }

    public void Release() => _released.Set();

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_armed && s_marked.Value)
        {
            _armed = false;
            _entered.TrySetResult();
            if (!_released.Wait(Wait.Deadline, cancellationToken))
            {
                throw new TimeoutException("the test never released the held flush");
            }
        }
        return inner.FlushAsync(cancellationToken);
    }

    public override void Advance(int bytes) => inner.Advance(bytes);

    public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

    public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

    public override void CancelPendingFlush() => inner.CancelPendingFlush();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

    public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

    public override long UnflushedBytes => inner.UnflushedBytes;
}
