using System.Buffers;
using Warren.Protocol.Buffers;

namespace Warren.Protocol.Tests.Buffers;

/// <summary>The inbound block pool: reuse without allocation, one owner per block, bounded retention, trimming.</summary>
public sealed class BlockPoolTests
{
    [Fact]
    public void Rent_and_return_of_a_warm_pool_allocate_nothing()
    {
        using var pool = new BlockPool(maxRetained: 64, timeProvider: null);
        var warm = Enumerable.Range(0, 32).Select(_ => pool.Rent()).ToArray();
        foreach (var block in warm)
        {
            block.Dispose();
        }
        var owners = new IMemoryOwner<byte>[32];
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var round = 0; round < 100; round++)
        {
            for (var i = 0; i < owners.Length; i++)
            {
                owners[i] = pool.Rent(BlockPool.BlockSize);
            }
            for (var i = 0; i < owners.Length; i++)
            {
                owners[i].Dispose();
            }
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(0, pool.Outstanding);
        Assert.Equal(32, pool.Retained);
    }

    [Fact]
    public void A_block_disposed_twice_is_returned_once_and_unusable_after_return()
    {
        using var pool = new BlockPool(maxRetained: 8, timeProvider: null);
        var block = pool.Rent();
        Assert.Equal(BlockPool.BlockSize, block.Memory.Length);
        block.Dispose();
        block.Dispose();
        Assert.Equal(1, pool.Retained);
        Assert.Equal(0, pool.Outstanding);
        Assert.Throws<ObjectDisposedException>(() => block.Memory);

        // Two owners at once get two different buffers even after the double dispose.
        using var first = pool.Rent();
        using var second = pool.Rent();
        Assert.False(first.Memory.Span.Overlaps(second.Memory.Span));
    }

    [Fact]
    public void Rent_larger_than_a_block_is_refused()
    {
        using var pool = new BlockPool(maxRetained: 8, timeProvider: null);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Rent(BlockPool.BlockSize + 1));
    }

    [Fact]
    public void Returns_beyond_MaxRetained_go_to_the_GC()
    {
        using var pool = new BlockPool(maxRetained: 4, timeProvider: null);
        var blocks = Enumerable.Range(0, 10).Select(_ => pool.Rent()).ToArray();
        Assert.Equal(10, pool.Outstanding);
        foreach (var block in blocks)
        {
            block.Dispose();
        }
        Assert.Equal(4, pool.Retained);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Trim_releases_blocks_left_idle_through_a_whole_interval_and_keeps_those_in_use()
    {
        using var pool = new BlockPool(maxRetained: 100, timeProvider: null);
        var burst = Enumerable.Range(0, 50).Select(_ => pool.Rent()).ToArray();
        foreach (var block in burst)
        {
            block.Dispose();
        }
        pool.Trim(); // starts an interval with 50 idle
        // A steady load that uses 10 blocks at a time during the interval.
        var steady = Enumerable.Range(0, 10).Select(_ => pool.Rent()).ToArray();
        foreach (var block in steady)
        {
            block.Dispose();
        }
        pool.Trim(); // 40 stayed idle all along: released
        Assert.Equal(10, pool.Retained);
        pool.Trim(); // nothing was rented since: the rest goes too
        Assert.Equal(0, pool.Retained);
    }

    [Fact]
    public void ReleaseIdle_drops_every_idle_block_and_leaves_rented_ones_with_their_owners()
    {
        using var pool = new BlockPool(maxRetained: 100, timeProvider: null);
        var burst = Enumerable.Range(0, 30).Select(_ => pool.Rent()).ToArray();
        foreach (var block in burst[..20])
        {
            block.Dispose();
        }
        Assert.Equal(20, pool.Retained);

        Assert.Equal(20, pool.ReleaseIdle());
        Assert.Equal(0, pool.Retained);
        Assert.Equal(10, pool.Outstanding);
        foreach (var block in burst[20..])
        {
            Assert.Equal(BlockPool.BlockSize, block.Memory.Length);
            block.Dispose();
        }
        Assert.Equal(10, pool.Retained); // the pool goes on keeping returns after a release
        Assert.Equal(0, pool.Outstanding);
    }
}
