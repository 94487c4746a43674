using System.Buffers;
using System.Threading.Tasks.Sources;
using Warren.Protocol.Buffers;

namespace Warren.Protocol.Streams;

/// <summary>
/// The receive half of a stream: bytes the peer sent that the application has not read yet, in pooled blocks, and the
/// one read that may wait for more. A read that finds nothing buffered waits with its buffer; the session's reader
/// loop then copies DATA straight into that buffer (one copy, no intermediate block) and completes the read. All
/// members are called under the owning stream's lock, except <see cref="Complete"/>, which runs the reader's
/// continuation and must be called outside it.
/// </summary>
internal sealed class StreamReceiver(BlockPool pool) : IValueTaskSource<int>, IThreadPoolWorkItem
{
    // Bytes received by every stream of the process and not yet read or discarded (a gauge for soak runs: it must
    // return to zero once traffic stops).
    private static long s_buffered;

    private BlockPool.Block? _head;
    private BlockPool.Block? _tail;

    // The waiting read. Its continuation runs where Complete is called: inline on the session's reader loop for the
    // last DATA of a batch, else on the thread pool (MuxSession.Receive.cs).
    private ManualResetValueTaskSourceCore<int> _core;
    private Memory<byte> _waitBuffer;
    // The rest of a filled read's buffer while its continuation has not been started: later DATA of the same batch
    // goes on filling it (TryExtend), so a reader with a large buffer gets a batch's frames in one read.
    private Memory<byte> _spare;
    private CancellationTokenRegistration _cancellation;
    private int _result;
    private Exception? _error;

    public static long BufferedBytesInProcess => Volatile.Read(ref s_buffered);

    /// <summary>Bytes buffered and not yet read.</summary>
    public long Buffered { get; private set; }

    /// <summary>A read is waiting (registered, not yet completed).</summary>
    public bool IsWaiting { get; private set; }

    /// <summary>Whether the waiting read brought a buffer to fill (not a zero-byte read).</summary>
    public bool WaiterWantsBytes => IsWaiting && !_waitBuffer.IsEmpty;

    public short Version => _core.Version;

    /// <summary>Copies buffered bytes into <paramref name="destination"/>; returns how many.</summary>
    public int CopyTo(Span<byte> destination)
    {
        var total = 0;
        while (!destination.IsEmpty && _head is { } block)
        {
            var n = Math.Min(destination.Length, block.End - block.Start);
            block.Array.AsSpan(block.Start, n).CopyTo(destination);
            block.Start += n;
            destination = destination[n..];
            total += n;
            if (block.Start == block.End)
            {
                _head = block.Next;
                if (_head is null)
                {
                    _tail = null;
                }
                block.Dispose();
            }
        }
        Release(total);
        return total;
    }

    /// <summary>Buffers <paramref name="payload"/> at the end, in blocks from the pool.</summary>
    public void Append(in ReadOnlySequence<byte> payload)
    {
        foreach (var segment in payload)
        {
            var span = segment.Span;
            while (!span.IsEmpty)
            {
                if (_tail is null || _tail.End == BlockPool.BlockSize)
                {
                    var block = pool.RentBlock();
                    if (_tail is null)
                    {
                        _head = block;
                    }
                    else
                    {
                        _tail.Next = block;
                    }
                    _tail = block;
                }
                var n = Math.Min(span.Length, BlockPool.BlockSize - _tail.End);
                span[..n].CopyTo(_tail.Array.AsSpan(_tail.End));
                _tail.End += n;
                span = span[n..];
            }
        }
        Buffered += payload.Length;
        Interlocked.Add(ref s_buffered, payload.Length);
    }

    /// <summary>Drops everything buffered (the stream was reset or disposed): the blocks go back to the pool now.</summary>
    public void Discard()
    {
        while (_head is { } block)
        {
            _head = block.Next;
            block.Dispose();
        }
        _tail = null;
        Release(Buffered);
    }

    /// <summary>Registers the waiting read with the buffer it fills; the caller returns <c>new ValueTask&lt;int&gt;(this, Version)</c>.</summary>
    public void BeginWait(Memory<byte> buffer)
    {
        _core.Reset();
        _waitBuffer = buffer;
        _result = 0;
        _error = null;
        IsWaiting = true;
    }

    /// <summary>The waiting read's cancellation, registered after <see cref="BeginWait"/> outside the lock (the callback takes it).</summary>
    public void SetCancellation(CancellationTokenRegistration registration) => _cancellation = registration;

    /// <summary>The token the waiting read registered: a callback for any other token is stale and ignored.</summary>
    public CancellationToken CancellationToken => _cancellation.Token;

    /// <summary>
    /// DATA arrived while a read waits with a buffer: copies what fits straight into it and ends the wait with that
    /// count. Returns the number of bytes taken; the caller buffers the rest.
    /// </summary>
    public int FillWaiter(in ReadOnlySequence<byte> payload)
    {
        var n = (int)Math.Min(_waitBuffer.Length, payload.Length);
        payload.Slice(0, n).CopyTo(_waitBuffer.Span);
        var spare = _waitBuffer[n..];
        EndWait(n, null);
        _spare = spare;
        return n;
    }

    /// <summary>
    /// More DATA for a read that <see cref="FillWaiter"/> ended and whose continuation has not been started: copies
    /// what fits into the rest of its buffer and adds it to the read's count. Returns the bytes taken (0: none fit).
    /// </summary>
    public int TryExtend(in ReadOnlySequence<byte> payload)
    {
        if (_spare.IsEmpty)
        {
            return 0;
        }
        var n = (int)Math.Min(_spare.Length, payload.Length);
        payload.Slice(0, n).CopyTo(_spare.Span);
        _spare = _spare[n..];
        _result += n;
        return n;
    }

    /// <summary>The ended read's continuation is about to start (here or on the pool): its buffer is the reader's again.</summary>
    public void StopExtending() => _spare = default;

    /// <summary>Ends the wait with <paramref name="result"/> bytes or <paramref name="error"/>; call <see cref="Complete"/> after leaving the lock.</summary>
    public void EndWait(int result, Exception? error)
    {
        IsWaiting = false;
        _waitBuffer = default;
        _spare = default;
        _result = result;
        _error = error;
    }

    /// <summary>Runs the ended read's continuation. Outside the stream's lock: the continuation may call back into the stream.</summary>
    public void Complete()
    {
        // Unregister, not Dispose: this may run inside the registration's own callback, where Dispose would wait for itself.
        _cancellation.Unregister();
        _cancellation = default;
        _spare = default;
        if (_error is { } error)
        {
            _core.SetException(error);
        }
        else
        {
            _core.SetResult(_result);
        }
    }

    void IThreadPoolWorkItem.Execute() => Complete();

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private void Release(long count)
    {
        Buffered -= count;
        Interlocked.Add(ref s_buffered, -count);
    }
}
