using System.Text;
using Microsoft.Extensions.Primitives;
using Microsoft.Extensions.Time.Testing;
using Warren.Configuration;
using Warren.Edge.Policy;

namespace Warren.Edge.Tests.Policy;

/// <summary>
/// basic_auth's verdict cache and its bcrypt queue (docs/security.md, "Policies"): a header that verified is not
/// verified again until the cache lifetime passes, wrong passwords are never remembered, and past the queue bound a
/// cache miss is answered Busy without verifying.
/// </summary>
public sealed class BasicAuthenticatorTests
{
    private static BasicAuthenticator Create(TimeProvider time, int cost = 4) =>
        BasicAuthenticator.Compile(new BasicAuthConfig { Users = [$"alice:{BCrypt.Net.BCrypt.HashPassword("correct horse", cost)}"] }, time)!;

    private static StringValues Basic(string user, string password) =>
        "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    [Fact]
    public async Task A_cache_miss_is_verified_off_the_calling_thread()
    {
        // The public listener runs requests inline on socket threads: bcrypt (cost 12, a few hundred milliseconds)
        // must not run there, so the call returns before the verification is done.
        var basic = Create(TimeProvider.System, cost: 12);
        var pending = basic.AuthenticateAsync(Basic("alice", "correct horse"), CancellationToken.None);
        Assert.False(pending.IsCompleted, "bcrypt ran on the calling thread");
        Assert.Equal(BasicVerdict.Accepted, await pending);

        var wrong = basic.AuthenticateAsync(Basic("alice", "wrong"), CancellationToken.None);
        Assert.False(wrong.IsCompleted, "bcrypt ran on the calling thread");
        Assert.Equal(BasicVerdict.Rejected, await wrong);
    }

    [Fact]
    public async Task A_verified_header_is_answered_from_the_cache_until_its_lifetime_passes()
    {
        var time = new FakeTimeProvider();
        var basic = Create(time);
        var alice = Basic("alice", "correct horse");

        Assert.Equal(BasicVerdict.Accepted, await basic.AuthenticateAsync(alice, CancellationToken.None));
        Assert.Equal(1, basic.Verifications);
        for (var i = 0; i < 5; i++)
        {
            var cached = basic.AuthenticateAsync(alice, CancellationToken.None);
            Assert.True(cached.IsCompletedSuccessfully); // answered on the calling thread, no bcrypt
            Assert.Equal(BasicVerdict.Accepted, await cached);
        }
        Assert.Equal(1, basic.Verifications);

        time.Advance(BasicAuthenticator.CacheLifetime);
        Assert.Equal(BasicVerdict.Accepted, await basic.AuthenticateAsync(alice, CancellationToken.None));
        Assert.Equal(2, basic.Verifications);
    }

    [Fact]
    public async Task Wrong_passwords_and_unknown_users_are_verified_every_time_and_never_accepted()
    {
        var basic = Create(TimeProvider.System);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(BasicVerdict.Rejected, await basic.AuthenticateAsync(Basic("alice", "wrong"), CancellationToken.None));
            Assert.Equal(BasicVerdict.Rejected, await basic.AuthenticateAsync(Basic("mallory", "correct horse"), CancellationToken.None));
        }
        Assert.Equal(6, basic.Verifications);
        // Not Basic, not base64, no colon: refused without bcrypt.
        Assert.Equal(BasicVerdict.Rejected, await basic.AuthenticateAsync("Bearer x", CancellationToken.None));
        Assert.Equal(BasicVerdict.Rejected, await basic.AuthenticateAsync("Basic !!!", CancellationToken.None));
        Assert.Equal(BasicVerdict.Rejected, await basic.AuthenticateAsync("Basic " + Convert.ToBase64String("alice"u8.ToArray()), CancellationToken.None));
        Assert.Equal(6, basic.Verifications);
    }

    [Fact]
    public async Task Past_the_queue_bound_a_cache_miss_is_answered_busy_without_verifying()
    {
        var basic = Create(TimeProvider.System);
        // Started together from this thread, far more than can wait: bcrypt (one slot per two cores) finishes a few
        // meanwhile at most, so the queue fills and the rest are refused on the spot.
        const int guesses = BasicAuthenticator.MaxQueuedVerifications * 4;
        var verdicts = Enumerable.Range(0, guesses).Select(i => basic.AuthenticateAsync(Basic("alice", $"guess {i}"), CancellationToken.None).AsTask()).ToArray();
        var answered = await Task.WhenAll(verdicts);

        var busy = answered.Count(v => v == BasicVerdict.Busy);
        Assert.True(busy > 0, "no guess was refused as busy");
        Assert.Equal(guesses - busy, answered.Count(v => v == BasicVerdict.Rejected));
        Assert.Equal(guesses - busy, basic.Verifications); // a busy answer cost no bcrypt
        // Once the queue drained, the right password is verified as usual.
        Assert.Equal(BasicVerdict.Accepted, await basic.AuthenticateAsync(Basic("alice", "correct horse"), CancellationToken.None));
    }

    [Fact]
    public async Task Parallel_requests_with_one_header_share_one_verification()
    {
        var basic = Create(TimeProvider.System, cost: 12);
        var alice = Basic("alice", "correct horse");
        var verdicts = Enumerable.Range(0, 8).Select(_ => basic.AuthenticateAsync(alice, CancellationToken.None).AsTask()).ToArray();

        Assert.All(await Task.WhenAll(verdicts), v => Assert.Equal(BasicVerdict.Accepted, v));
        Assert.Equal(1, basic.Verifications);
    }
}
