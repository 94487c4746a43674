using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Warren.Net.Time;

namespace Warren.Admin;

/// <summary>
/// The console's clock and its Server-Sent Events (docs/console.md, "Live charts"): once a second <c>sample</c>
/// runs (the owner reads its counters into <see cref="SeriesRing"/>s), then every open event stream writes its charts'
/// new points. The first event of a stream carries each chart's history, so a page draws two minutes at once. Open
/// streams are bounded (<see cref="MaxClients"/>), so a forgotten tab or a script cannot pile them up.
/// </summary>
internal sealed class LiveFeed : IDisposable
{
    public const int MaxClients = 32;

    private readonly Action<long> _sample;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private TaskCompletionSource<long> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _clients;

    public LiveFeed(TimeProvider time, Action<long> sample)
    {
        _time = time;
        _sample = sample;
        _timer = time.CreateAligned(static s => ((LiveFeed)s!).Tick(), this, TimeSpan.FromSeconds(1));
    }

    public int Clients => Volatile.Read(ref _clients);

    /// <summary>Runs one sample now (the timer does it every second; tests call it to avoid waiting).</summary>
    internal void Tick()
    {
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        try
        {
            _sample(now);
        }
        finally
        {
            Interlocked.Exchange(ref _next, new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(now);
        }
    }

    /// <summary>
    /// Streams events until the client goes: <paramref name="charts"/> lists the (key, ring) pairs this page shows,
    /// asked again each second so services and sessions that come and go appear and disappear.
    /// </summary>
    public async Task StreamAsync(HttpContext context, Func<IEnumerable<(string Key, SeriesRing Ring)>> charts)
    {
        if (Interlocked.Increment(ref _clients) > MaxClients)
        {
            Interlocked.Decrement(ref _clients);
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            await context.Response.WriteAsync($"more than {MaxClients} live views are open; close some\n").ConfigureAwait(false);
            return;
        }
        try
        {
            var response = context.Response;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-store";
            response.Headers["X-Accel-Buffering"] = "no";
            var aborted = context.RequestAborted;
            var history = true;
            var now = _time.GetUtcNow().ToUnixTimeSeconds();
            var buffer = new ArrayBufferWriter<byte>(4096);
            while (!aborted.IsCancellationRequested)
            {
                var next = Volatile.Read(ref _next).Task; // taken before writing, so a tick meanwhile is not missed
                buffer.ResetWrittenCount();
                buffer.Write("data: "u8);
                using (var json = new Utf8JsonWriter(buffer))
                {
                    json.WriteStartObject();
                    json.WriteNumber("t", now);
                    json.WriteBoolean("history", history);
                    json.WriteStartObject("charts");
                    foreach (var (key, ring) in charts())
                    {
                        json.WritePropertyName(key);
                        if (history)
                        {
                            ring.WriteHistory(json);
                        }
                        else
                        {
                            ring.WriteLatest(json);
                        }
                    }
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
                buffer.Write("\n\n"u8);
                await response.Body.WriteAsync(buffer.WrittenMemory, aborted).ConfigureAwait(false);
                await response.Body.FlushAsync(aborted).ConfigureAwait(false);
                history = false;
                now = await next.WaitAsync(aborted).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // the page was closed
        }
        catch (IOException)
        {
            // the connection went away mid-write
        }
        finally
        {
            Interlocked.Decrement(ref _clients);
        }
    }

    public void Dispose() => _timer.Dispose();
}
