using System.Threading.Tasks.Sources;
using Warren.Protocol.Framing;

namespace Warren.Protocol.Streams;

/// <summary>
/// The send half of a stream: the one pending write (the caller's buffer, framed straight into the transport by the
/// session's writer, no copy in between), the send window (docs/protocol.md §6.1), and the control frames the stream
/// still owes (ACCEPT, FIN). Guarded by the owning stream's lock. A write's continuation always runs on the thread
/// pool, so completing it under the lock is safe and never runs application code on the writer.
/// </summary>
internal sealed class StreamSender(int peerInitialWindow) : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private ReadOnlyMemory<byte> _pending;
    private CancellationTokenRegistration _cancellation;

    /// <summary>Bytes the peer still lets us send.</summary>
    public long Window { get; private set; } = peerInitialWindow;

    public bool WriteInProgress { get; private set; }

    /// <summary>The application half-closed (or disposed): a FIN follows the bytes already written.</summary>
    public bool FinRequested { get; set; }

    /// <summary>A stream the peer opened: ACCEPT requested, not yet written.</summary>
    public bool AcceptPending { get; set; }

    public bool AcceptSent { get; set; }

    /// <summary>In the writer's queue of ready streams (at most once).</summary>
    public bool Scheduled { get; set; }

    /// <summary>Bytes can go out now: a write is pending and the window is open.</summary>
    public bool CanSendData => WriteInProgress && Window > 0;

    public short Begin(ReadOnlyMemory<byte> buffer)
    {
        _core.Reset();
        _pending = buffer;
        WriteInProgress = true;
        return _core.Version;
    }

    public void SetCancellation(CancellationTokenRegistration registration) => _cancellation = registration;

    /// <summary>WINDOW_UPDATE arrived; a window past 2^31-1 is a FLOW_CONTROL_ERROR (§6.1).</summary>
    public void AddWindow(uint increment, uint streamId)
    {
        Window += increment;
        if (Window > int.MaxValue)
        {
            throw new ProtocolException(ErrorCode.FlowControlError, $"WINDOW_UPDATE pushes stream {streamId}'s window past 2^31-1");
        }
    }

    /// <summary>The next DATA payload: at most <paramref name="maxPayload"/> and the window; <paramref name="last"/> when it ends the write.</summary>
    public ReadOnlySpan<byte> TakeNext(int maxPayload, out bool last)
    {
        var count = (int)Math.Min(Math.Min(_pending.Length, maxPayload), Window);
        var payload = _pending.Span[..count];
        Window -= count;
        last = count == _pending.Length;
        _pending = last ? default : _pending[count..];
        return payload;
    }

    /// <summary>Ends the pending write, successfully or with <paramref name="error"/>; its continuation is queued, never run here.</summary>
    public void Complete(Exception? error)
    {
        if (!WriteInProgress)
        {
            return;
        }
        WriteInProgress = false;
        _pending = default;
        // Unregister, not Dispose: this may run inside the registration's own callback (a cancelled write aborts).
        _cancellation.Unregister();
        _cancellation = default;
        if (error is null)
        {
            _core.SetResult(true);
        }
        else
        {
            _core.SetException(error);
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
