using System.Diagnostics;
using System.Net.Http;

namespace Warren.SecurityTests.Harness;

/// <summary>
/// The legitimate transfer every test runs alongside its attack: a download of /bytes/N from the sample backend
/// (byte i is i mod 251, so every byte is checked without a second copy). It is read slowly (about 320 KB/s)
/// until <see cref="CompleteAsync"/> releases it, so it is provably still in flight while the attack happens;
/// then it is read at full speed and verified.
/// </summary>
internal sealed class PacedDownload
{
    private const int Chunk = 16 * 1024;
    private static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(50);
    private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task<long> _run = Task.FromResult(0L);
    private long _received;
    private long _receivedAtRelease = -1;

    private PacedDownload(long size) => Size = size;

    public long Size { get; }

    public long Received => Interlocked.Read(ref _received);

    /// <summary>Starts the download and returns once its first bytes arrived.</summary>
    public static async Task<PacedDownload> StartAsync(HttpClient client, Uri uri, string host, long size = 5 * 1024 * 1024)
    {
        var download = new PacedDownload(size);
        download._run = Task.Run(() => download.RunAsync(client, uri, host));
        await Wait.WithTimeoutAsync(Task.WhenAny(download._started.Task, download._run), Wait.DefaultTimeout, "the legitimate download to start").ConfigureAwait(false);
        if (download._run.IsFaulted)
        {
            await download._run.ConfigureAwait(false); // surfaces why
        }
        return download;
    }

    /// <summary>Lets the download finish, and asserts it was still in flight at that point and arrived intact.</summary>
    public async Task CompleteAsync(TimeSpan? timeout = null)
    {
        _release.TrySetResult();
        var total = await Wait.WithTimeoutAsync(_run, timeout ?? TimeSpan.FromSeconds(30), "the legitimate download to finish").ConfigureAwait(false);
        Assert.Equal(Size, total);
        Assert.True(Interlocked.Read(ref _receivedAtRelease) < Size,
            $"the legitimate download had already finished ({_receivedAtRelease} bytes) before the attack ended: it did not overlap");
    }

    private async Task<long> RunAsync(HttpClient client, Uri uri, string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        request.Headers.Host = host;
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Size, response.Content.Headers.ContentLength);
        await using var body = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
        var buffer = new byte[64 * 1024];
        long offset = 0;
        var paced = Stopwatch.StartNew();
        while (true)
        {
            var released = _release.Task.IsCompleted;
            if (released)
            {
                Interlocked.CompareExchange(ref _receivedAtRelease, offset, -1);
            }
            else if (offset > 0)
            {
                var wait = Pace - paced.Elapsed;
                if (wait > TimeSpan.Zero)
                {
                    await Task.WhenAny(Task.Delay(wait), _release.Task).ConfigureAwait(false);
                }
                paced.Restart();
            }
            var n = await body.ReadAsync(buffer.AsMemory(0, released ? buffer.Length : Chunk)).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            for (var i = 0; i < n; i++)
            {
                if (buffer[i] != (byte)((offset + i) % 251))
                {
                    throw new InvalidDataException($"byte {offset + i} of the legitimate download is corrupt");
                }
            }
            offset += n;
            Interlocked.Exchange(ref _received, offset);
            _started.TrySetResult();
        }
        Interlocked.CompareExchange(ref _receivedAtRelease, offset, -1);
        return offset;
    }
}
