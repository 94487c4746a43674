using System.Buffers;
using System.Collections.Concurrent;

namespace Warren.Protocol.Buffers;

/// <summary>
/// Fixed-size blocks for the streams' inbound buffers (Streams/StreamReceiver.cs), kept for reuse. <see cref="ArrayPool{T}.Shared"/> keeps only a
/// few arrays per size and core, so when thousands of blocks are in flight (many streams, or one stream buffering a
/// grown window) most returns were dropped and most rents allocated: 5-14 KB of garbage per 16 KiB DATA frame. Here a
/// block is rented on the session's reader loop and returned on whichever thread consumed it, and the pool keeps up to
/// <see cref="MaxRetained"/> of them, handing idle ones back to the GC over time (as Kestrel's block pool does).
/// </summary>
public sealed class BlockPool : MemoryPool<byte>
{
    /// <summary>One block holds a default-sized DATA frame (16 KiB), so a frame seldom spans two pipe segments.</summary>
    public const int BlockSize = 16 * 1024;

    private static readonly TimeSpan TrimInterval = TimeSpan.FromSeconds(10);

    private readonly ConcurrentQueue<Block> _free = new();
    private readonly ITimer? _trimTimer;
    private int _freeCount;
    private int _lowWater;
    private long _outstanding;

    /// <param name="maxRetained">Most idle blocks kept; beyond that returned blocks go to the GC.</param>
    /// <param name="timeProvider">Drives trimming; null disables it (tests trim by hand).</param>
    public BlockPool(int maxRetained, TimeProvider? timeProvider)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxRetained);
        MaxRetained = maxRetained;
        _trimTimer = timeProvider?.CreateTimer(static pool => ((BlockPool)pool!).Trim(), this, TrimInterval, TrimInterval);
    }

    /// <summary>The process-wide pool the sessions use: keeps up to 64 MiB of idle blocks.</summary>
    public static new BlockPool Shared { get; } = new(maxRetained: 4096, TimeProvider.System);

    public int MaxRetained { get; }

    public override int MaxBufferSize => BlockSize;

    /// <summary>Blocks rented and not yet returned: data buffered in streams (returns to its baseline when streams end).</summary>
    public long Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>Idle blocks kept for reuse.</summary>
    public int Retained => Volatile.Read(ref _freeCount);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        return RentBlock();
    }

    /// <summary>A whole block, empty (<see cref="Block.Start"/> = <see cref="Block.End"/> = 0); dispose it to return it.</summary>
    internal Block RentBlock()
    {
        Block? block;
        if (_free.TryDequeue(out block))
        {
            var free = Interlocked.Decrement(ref _freeCount);
            if (free < Volatile.Read(ref _lowWater))
            {
                Volatile.Write(ref _lowWater, free);
            }
        }
        else
        {
            block = new Block(this);
        }
        block.OnRent();
        Interlocked.Increment(ref _outstanding);
        return block;
    }

    /// <summary>
    /// Releases the blocks that stayed idle through the whole last interval (the low-water mark of the free count):
    /// a burst's blocks go back to the GC once the burst is over, a steady load keeps what it uses.
    /// </summary>
    public void Trim()
    {
        var idle = Interlocked.Exchange(ref _lowWater, Volatile.Read(ref _freeCount));
        for (var i = 0; i < idle && _free.TryDequeue(out _); i++)
        {
            Interlocked.Decrement(ref _freeCount);
        }
        Volatile.Write(ref _lowWater, Volatile.Read(ref _freeCount));
    }

    /// <summary>
    /// Releases every idle block at once, for when the whole process has gone quiet (<see cref="IdleMemory"/>): the
    /// next burst rents new ones. Returns how many were released.
    /// </summary>
    public int ReleaseIdle()
    {
        var released = 0;
        while (_free.TryDequeue(out _))
        {
            Interlocked.Decrement(ref _freeCount);
            released++;
        }
        Volatile.Write(ref _lowWater, Volatile.Read(ref _freeCount));
        return released;
    }

    private void Return(Block block)
    {
        Interlocked.Decrement(ref _outstanding);
        if (Interlocked.Increment(ref _freeCount) <= MaxRetained)
        {
            _free.Enqueue(block);
        }
        else
        {
            Interlocked.Decrement(ref _freeCount);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _trimTimer?.Dispose();
        }
    }

    /// <summary>
    /// A block is its own owner object, reused with it: renting allocates nothing once the pool is warm. A stream's
    /// receive buffer chains its blocks through <see cref="Next"/> and tracks the unread bytes with
    /// <see cref="Start"/>..<see cref="End"/>; those fields belong to whoever rented the block.
    /// </summary>
    internal sealed class Block(BlockPool pool) : IMemoryOwner<byte>
    {
        // Pinned: blocks live long and may be handed to sockets; the pinned heap keeps them out of compaction.
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        private int _rented;

        public Memory<byte> Memory => Volatile.Read(ref _rented) == 1
            ? _array
            : throw new ObjectDisposedException(nameof(Block), "the block was returned to its pool");

        /// <summary>The block's bytes, for its renter (no check that it is still rented: the renter's own rule).</summary>
        internal byte[] Array => _array;

        internal int Start;
        internal int End;
        internal Block? Next;

        public void OnRent()
        {
            Start = 0;
            End = 0;
            Next = null;
            Volatile.Write(ref _rented, 1);
        }

        public void Dispose()
        {
            // A second Dispose must not enqueue the block twice: two owners of one buffer would corrupt data.
            if (Interlocked.Exchange(ref _rented, 0) == 1)
            {
                pool.Return(this);
            }
        }
    }
}
