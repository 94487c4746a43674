using System.Threading.RateLimiting;
using Warren.Net.RateLimiting;

namespace Warren.Edge.Tests.Limits;

/// <summary>
/// The partitioned limiter under every per-client limit: the library's semantics (a limiter per key, replenished by
/// one timer), and a timer that stops once every partition has idled out, so an idle edge does not wake 10 times a
/// second per limiter.
/// </summary>
public sealed class PartitionedLimiterTests
{
    [Fact]
    public async Task Partitions_idle_out_and_the_timer_stops_then_the_next_acquire_starts_it_again()
    {
        using var limiter = new PartitionedLimiter<string, string>(
            key => RateLimitPartition.GetConcurrencyLimiter(key, _ => new ConcurrencyLimiterOptions { PermitLimit = 1 }),
            idleLimit: TimeSpan.FromMilliseconds(50));
        Assert.False(limiter.IsTicking);

        using (var lease = limiter.AttemptAcquire("a"))
        {
            Assert.True(lease.IsAcquired);
            Assert.True(limiter.IsTicking);
            // Held: the partition is not idle, so it stays, and keeps counting.
            await Task.Delay(300);
            Assert.Equal(1, limiter.PartitionCount);
            using var second = limiter.AttemptAcquire("a");
            Assert.False(second.IsAcquired);
        }

        await Wait.UntilAsync(() => limiter.PartitionCount == 0 && !limiter.IsTicking, "the idle partition goes, and the timer with it");

        using var again = limiter.AttemptAcquire("a");
        Assert.True(again.IsAcquired);
        Assert.True(limiter.IsTicking);
    }

    [Fact]
    public async Task Token_buckets_are_replenished_by_the_limiters_timer()
    {
        using var limiter = new PartitionedLimiter<string, string>(key => RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = 1,
            TokensPerPeriod = 1,
            ReplenishmentPeriod = TimeSpan.FromMilliseconds(100),
        }));

        using (var first = limiter.AttemptAcquire("client"))
        {
            Assert.True(first.IsAcquired);
        }
        using (var second = limiter.AttemptAcquire("client"))
        {
            Assert.False(second.IsAcquired);
        }
        using (var other = limiter.AttemptAcquire("other"))
        {
            Assert.True(other.IsAcquired); // a bucket per key
        }

        await Wait.UntilAsync(() =>
        {
            using var lease = limiter.AttemptAcquire("client");
            return lease.IsAcquired;
        }, "the bucket refills");
    }

    [Fact]
    public async Task Queued_acquires_wait_for_a_permit_in_order()
    {
        using var limiter = new PartitionedLimiter<string, string>(key => RateLimitPartition.GetConcurrencyLimiter(key, _ => new ConcurrencyLimiterOptions
        {
            PermitLimit = 1,
            QueueLimit = 2,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        }));
        var held = limiter.AttemptAcquire("k");
        var waiting = limiter.AcquireAsync("k").AsTask();
        Assert.False(waiting.IsCompleted);

        held.Dispose();

        using var granted = await waiting.WaitAsync(Wait.DefaultTimeout);
        Assert.True(granted.IsAcquired);
    }

    [Fact]
    public void A_disposed_limiter_refuses_use()
    {
        var limiter = new PartitionedLimiter<string, string>(key => RateLimitPartition.GetNoLimiter(key));
        limiter.AttemptAcquire("k").Dispose();
        limiter.Dispose();

        Assert.Throws<ObjectDisposedException>(() => limiter.AttemptAcquire("k"));
    }
}
