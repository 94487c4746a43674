using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;

namespace Warren.FaultTests.Harness;

/// <summary>How one transfer ended, as the client saw it.</summary>
internal sealed record TransferOutcome(HttpStatusCode? Status, long? ContentLength, long Verified, Exception? Error, long StartedAt, long EndedAt)
{
    /// <summary>200, and every byte the Content-Length promised arrived and was right.</summary>
    public bool Complete => Error is null && Status == HttpStatusCode.OK && ContentLength is { } length && Verified == length;

    /// <summary>The client gave up waiting: the transfer hung.</summary>
    public bool Hung => Error is TimeoutException;

    public override string ToString() =>
        $"status {(Status is { } s ? ((int)s).ToString(CultureInfo.InvariantCulture) : "none")}, {Verified}/{ContentLength} bytes, {(Error is null ? "no error" : $"{Error.GetType().Name}: {Error.Message}")}";
}

/// <summary>Client-side transfers that check every byte (the sample backend's /bytes pattern, /sha256 of a seeded upload).</summary>
internal static class Transfers
{
    /// <summary>
    /// Sends <paramref name="request"/> (a GET of /bytes/n) and reads the body to its end, checking every byte, without
    /// throwing for transport failures: they are the outcome. Once <paramref name="pauseAfter"/> bytes are verified it
    /// signals <paramref name="reached"/> and stops reading until <paramref name="resume"/> completes. Past
    /// <paramref name="cancellationToken"/> the outcome is a <see cref="TimeoutException"/>: the transfer hung.
    /// </summary>
    public static async Task<TransferOutcome> DownloadAsync(HttpClient client, HttpRequestMessage request, CancellationToken cancellationToken,
        long pauseAfter = -1, TaskCompletionSource? reached = null, Task? resume = null)
    {
        var started = Stopwatch.GetTimestamp();
        HttpStatusCode? status = null;
        long? length = null;
        var verifier = new Mod251Verifier();
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            status = response.StatusCode;
            length = response.Content.Headers.ContentLength;
            if (status == HttpStatusCode.OK)
            {
                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
                var buffer = new byte[64 * 1024];
                int n;
                while ((n = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    verifier.Check(buffer.AsSpan(0, n));
                    if (pauseAfter >= 0 && verifier.Verified >= pauseAfter && reached is not null && resume is not null && reached.TrySetResult())
                    {
                        await resume.WaitAsync(cancellationToken);
                    }
                }
            }
            else
            {
                await response.Content.LoadIntoBufferAsync(cancellationToken);
            }
            return new TransferOutcome(status, length, verifier.Verified, null, started, Stopwatch.GetTimestamp());
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return new TransferOutcome(status, length, verifier.Verified, ex, started, Stopwatch.GetTimestamp());
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new TransferOutcome(status, length, verifier.Verified, new TimeoutException("the client was still waiting when the test gave up"), started, Stopwatch.GetTimestamp());
        }
        finally
        {
            reached?.TrySetResult();
        }
    }

    /// <summary>Downloads /bytes/<paramref name="size"/> and asserts it arrived whole and byte-exact.</summary>
    public static async Task AssertDownloadAsync(HttpClient client, HttpRequestMessage request, long size, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        var outcome = await DownloadAsync(client, request, cts.Token);
        Assert.True(outcome.Complete && outcome.Verified == size, $"download of {size} bytes: {outcome}");
    }

    /// <summary>Uploads <paramref name="size"/> seeded bytes to POST /sha256 and asserts the backend hashed exactly those bytes.</summary>
    public static async Task AssertUploadAsync(HttpClient client, HttpRequestMessage request, long size, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        request.Content = new StreamContent(new GeneratorStream(size), 64 * 1024);
        request.Content.Headers.ContentLength = size;
        using var response = await client.SendAsync(request, cts.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var expected = $"{Convert.ToHexStringLower(await SHA256.HashDataAsync(new GeneratorStream(size), cts.Token))} {size}";
        Assert.Equal(expected, await response.Content.ReadAsStringAsync(cts.Token));
    }
}

/// <summary>A 1 GiB download that is reading when the test breaks something: paused once it has checked a first part.</summary>
internal sealed class PausedDownload : IDisposable
{
    private readonly CancellationTokenSource _giveUp = new(TimeSpan.FromSeconds(60));
    private readonly TaskCompletionSource _resume = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PausedDownload(HttpClient client, HttpRequestMessage request, long pauseAfter, TaskCompletionSource reached) =>
        Outcome = Transfers.DownloadAsync(client, request, _giveUp.Token, pauseAfter, reached, _resume.Task);

    /// <summary>How it ended, once resumed; a <see cref="TimeoutException"/> 60 s after the start means it hung.</summary>
    public Task<TransferOutcome> Outcome { get; }

    /// <summary>Starts <paramref name="request"/> (GET /bytes/1GiB) and returns once <paramref name="pauseAfter"/> bytes arrived, checked.</summary>
    public static async Task<PausedDownload> StartAsync(HttpClient client, HttpRequestMessage request, long pauseAfter = 1 << 20)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var download = new PausedDownload(client, request, pauseAfter, reached);
        await Wait.WithTimeoutAsync(reached.Task, TimeSpan.FromSeconds(30), $"the download reaching {pauseAfter} bytes");
        return download;
    }

    /// <summary>Reads on to the end (or the error) and returns the outcome.</summary>
    public Task<TransferOutcome> ResumeAsync()
    {
        _resume.TrySetResult();
        return Outcome;
    }

    public void Dispose() => _giveUp.Dispose();
}
